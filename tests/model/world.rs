//! Worlds: the tables one machine drives, how its operations are generated, and how a
//! case runs from first operation to the final checks.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use proptest::prelude::*;
use proptest::strategy::Union;
use tenant_query::prelude::*;
use uuid::Uuid;

use crate::dsl::{self, data_value, pick};
use crate::entities::{Project, Task};
use crate::ops::{self, Case, EOp, ErrKind, Op, Pick, RelOp, Step, call, entity_op};
use crate::reference::rows_admit;
use crate::spec::{Modeled, Spec};
use crate::val::{RowKey, Val};

#[allow(async_fn_in_trait)]
pub trait World {
    fn specs() -> Vec<&'static Spec>;
    async fn entity(case: &mut Case, table: usize, tenant: usize, in_tx: bool, op: &EOp) -> Step;
    async fn relation(_case: &mut Case, _tenant: usize, _in_tx: bool, _op: &RelOp) -> Step {
        unreachable!("no relation in this world")
    }
    async fn check_rows(case: &mut Case) -> Step;
}

/// One entity alone.
pub struct One<E>(PhantomData<E>);

impl<E: Modeled> World for One<E> {
    fn specs() -> Vec<&'static Spec> {
        vec![E::spec()]
    }
    async fn entity(case: &mut Case, table: usize, tenant: usize, in_tx: bool, op: &EOp) -> Step {
        entity_op::<E>(case, table, tenant, in_tx, op).await
    }
    async fn check_rows(case: &mut Case) -> Step {
        ops::check_rows::<E>(case, 0).await?;
        ops::check_history::<E>(case).await
    }
}

/// Projects and their tasks (`belongs_to`), with the batch loaders.
pub struct Relations;

impl World for Relations {
    fn specs() -> Vec<&'static Spec> {
        vec![Project::spec(), Task::spec()]
    }
    async fn entity(case: &mut Case, table: usize, tenant: usize, in_tx: bool, op: &EOp) -> Step {
        match table {
            0 => entity_op::<Project>(case, table, tenant, in_tx, op).await,
            _ => entity_op::<Task>(case, table, tenant, in_tx, op).await,
        }
    }
    async fn relation(case: &mut Case, tenant: usize, in_tx: bool, op: &RelOp) -> Step {
        relation_op(case, tenant, in_tx, op).await
    }
    async fn check_rows(case: &mut Case) -> Step {
        ops::check_rows::<Project>(case, 0).await?;
        ops::check_rows::<Task>(case, 1).await?;
        ops::check_history::<Project>(case).await?;
        ops::check_history::<Task>(case).await
    }
}

/// The one place that names `Relation` and `attach` (whose signatures may still move).
async fn attach_tasks(
    s: &ScopedDb,
    projects: Vec<Project>,
    with_deleted: bool,
) -> tenant_query::Result<Vec<(Project, Vec<Task>)>> {
    let relation = if with_deleted {
        Task::BY_PROJECT.with_deleted()
    } else {
        Task::BY_PROJECT
    };
    let nested = tenant_query::Children::attach(&relation, s, projects).await?;
    Ok(nested.into_iter().map(|n| (n.row, n.children)).collect())
}

/// The model's tasks of `tenant` under `project` (by id order).
fn tasks_of(
    case: &Case,
    inside: bool,
    tenant: usize,
    project: Uuid,
    with_deleted: bool,
) -> Vec<Vec<Val>> {
    let tasks = &case.seen(inside).tables[1];
    tasks
        .rows
        .values()
        .filter(|r| r.tenant == tenant && r.vals[2] == Val::Uuid(project))
        .filter(|r| with_deleted || !tasks.is_deleted(r))
        .map(|r| r.vals.clone())
        .collect()
}

fn differ<T: std::fmt::Debug, U: std::fmt::Debug>(what: &str, expected: T, actual: U) -> Step {
    Err(format!(
        "{what}\n  model:   {expected:?}\n  library: {actual:?}"
    ))
}

async fn relation_op(case: &mut Case, tenant: usize, in_tx: bool, op: &RelOp) -> Step {
    let inside = in_tx && case.tx.is_some() && !matches!(op, RelOp::Attach { .. });
    let tenant = if inside {
        case.tx.as_ref().expect("open").tenant
    } else {
        tenant
    };
    let aborted = case.aborted(inside);
    case.current = (tenant, inside);
    let what = format!("{op:?} (tenant {tenant}, in transaction: {inside})");
    case.steps += 1;
    match op {
        RelOp::LoadBy {
            parents,
            with_deleted,
        } => {
            let ids: Vec<Uuid> = parents.iter().map(|p| case.pick(0, p).uuid()).collect();
            let actual = if *with_deleted {
                call!(case, inside, tenant, |db| {
                    Task::load_by_project_id_with_deleted(db, &ids)
                })
            } else {
                call!(case, inside, tenant, |db| Task::load_by_project_id(
                    db, &ids
                ))
            };
            // Empty input makes no query.
            let expected_err = (aborted && !ids.is_empty()).then_some(ErrKind::Database);
            let actual_err = actual.as_ref().err().map(ops::err_kind);
            count(case, format!("load_by {actual_err:?}"));
            if expected_err != actual_err {
                return differ(&what, expected_err, actual);
            }
            let Ok(actual) = actual else { return Ok(()) };
            let expected: BTreeMap<Uuid, Vec<Vec<Val>>> = ids
                .iter()
                .map(|&id| (id, tasks_of(case, inside, tenant, id, *with_deleted)))
                .collect();
            let actual: BTreeMap<Uuid, Vec<Vec<Val>>> = actual
                .into_iter()
                .map(|(k, v)| (k, v.iter().map(Modeled::view).collect()))
                .collect();
            let same = expected.len() == actual.len()
                && expected
                    .iter()
                    .all(|(k, e)| actual.get(k).is_some_and(|a| rows_admit(e, a)));
            if !same {
                return differ(&what, expected, actual);
            }
            if actual.values().any(|rows| !rows.is_empty()) {
                count(case, "load_by: children".into());
            }
            for rows in actual.values() {
                ops::learn(case, inside, 1, tenant, rows);
            }
        }
        RelOp::LoadParent => {
            let expected: Vec<Vec<Val>> = case.seen(inside).tables[1]
                .rows
                .values()
                .filter(|r| r.tenant == tenant)
                .map(|r| r.vals.clone())
                .collect();
            let tasks = call!(case, inside, tenant, |db| Task::query()
                .with_deleted()
                .order_by(Task::ID.asc())
                .all(db));
            let tasks = match (tasks, aborted) {
                (Ok(tasks), false) => tasks,
                (Err(e), true) if ops::err_kind(&e) == ErrKind::Database => return Ok(()),
                (other, _) => {
                    return differ(
                        &what,
                        if aborted {
                            "an aborted transaction"
                        } else {
                            "tasks"
                        },
                        other,
                    );
                }
            };
            let views: Vec<Vec<Val>> = tasks.iter().map(Modeled::view).collect();
            if !rows_admit(&expected, &views) {
                return differ(&format!("{what}: the tasks"), expected, views);
            }
            let projects = &case.seen(inside).tables[0];
            let expected: BTreeMap<Uuid, Vec<Val>> = tasks
                .iter()
                .filter_map(|t| {
                    projects
                        .visible(tenant, &RowKey::Uuid(t.project_id), false)
                        .map(|p| (t.project_id, p.vals.clone()))
                })
                .collect();
            let actual = call!(case, inside, tenant, |db| Task::load_project(db, &tasks))
                .map_err(|e| format!("{what}: {e}"))?;
            let actual: BTreeMap<Uuid, Vec<Val>> =
                actual.into_iter().map(|(k, v)| (k, v.view())).collect();
            let same = expected.len() == actual.len()
                && expected.iter().all(|(k, e)| {
                    actual.get(k).is_some_and(|a| {
                        rows_admit(std::slice::from_ref(e), std::slice::from_ref(a))
                    })
                });
            if !same {
                return differ(&what, expected, actual);
            }
            count(
                case,
                format!("load_parent: {} parents", actual.len().min(3)),
            );
        }
        RelOp::Attach { with_deleted } => {
            let s = case.scopes[tenant].clone();
            let projects = Project::query()
                .order_by(Project::ID.asc())
                .all(&s)
                .await
                .map_err(|e| format!("{what}: {e}"))?;
            let nested = attach_tasks(&s, projects, *with_deleted)
                .await
                .map_err(|e| format!("{what}: {e}"))?;
            let table = &case.seen(false).tables[0];
            let expected: Vec<(Vec<Val>, Vec<Vec<Val>>)> = table
                .rows
                .values()
                .filter(|r| r.tenant == tenant && !table.is_deleted(r))
                .map(|r| {
                    let id = r.vals[0].uuid();
                    (
                        r.vals.clone(),
                        tasks_of(case, false, tenant, id, *with_deleted),
                    )
                })
                .collect();
            let actual: Vec<(Vec<Val>, Vec<Vec<Val>>)> = nested
                .iter()
                .map(|(p, ts)| (p.view(), ts.iter().map(Modeled::view).collect()))
                .collect();
            let same = expected.len() == actual.len()
                && expected.iter().zip(&actual).all(|(e, a)| {
                    rows_admit(std::slice::from_ref(&e.0), std::slice::from_ref(&a.0))
                        && rows_admit(&e.1, &a.1)
                });
            if !same {
                return differ(&what, expected, actual);
            }
            let children = actual.iter().any(|(_, tasks)| !tasks.is_empty());
            count(case, format!("attach: children {children}"));
        }
    }
    Ok(())
}

fn count(case: &mut Case, outcome: String) {
    *case.outcomes.entry(outcome).or_default() += 1;
}

/// One operation on table `table` of `world`.
pub fn eop(world: &[&'static Spec], table: usize) -> BoxedStrategy<EOp> {
    let spec = world[table];
    let data: Vec<BoxedStrategy<_>> = spec
        .new
        .iter()
        .map(|&c| data_value(world, table, c))
        .collect();
    let patch: Vec<BoxedStrategy<_>> = spec
        .data
        .iter()
        .map(|&c| proptest::option::of(data_value(world, table, c)).boxed())
        .collect();
    let mut choices: Vec<(u32, BoxedStrategy<EOp>)> = vec![
        (10, data.clone().prop_map(EOp::Insert).boxed()),
        (3, (0usize..64).prop_map(EOp::InsertCopy).boxed()),
        (
            4,
            proptest::collection::vec(data, 0..4)
                .prop_map(EOp::InsertMany)
                .boxed(),
        ),
        (
            8,
            (pick(), patch).prop_map(|(p, v)| EOp::Update(p, v)).boxed(),
        ),
        (4, pick().prop_map(EOp::Delete).boxed()),
        (3, pick().prop_map(EOp::Find).boxed()),
        (2, pick().prop_map(EOp::Get).boxed()),
        (
            2,
            proptest::collection::vec(pick(), 0..4)
                .prop_map(EOp::FindMany)
                .boxed(),
        ),
        (6, dsl::query(world, table).prop_map(EOp::Query).boxed()),
    ];
    if spec.soft_delete {
        let deleted = || prop_oneof![3 => (0usize..64).prop_map(Pick::Deleted), 1 => pick()];
        choices.push((5, deleted().prop_map(EOp::Restore).boxed()));
        choices.push((2, deleted().prop_map(EOp::Purge).boxed()));
    }
    Union::new_weighted(choices).boxed()
}

/// Mostly the first tenant, so that its tables fill up; the second is there to be kept
/// out.
fn tenant() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0usize), 1 => Just(1usize)]
}

/// Inserts outside any transaction, to start a case with rows (parents first).
pub fn seed(world: &[&'static Spec]) -> BoxedStrategy<Op> {
    let tables: Vec<(u32, BoxedStrategy<Op>)> = (0..world.len())
        .map(|table| {
            let spec = world[table];
            let data: Vec<BoxedStrategy<_>> = spec
                .new
                .iter()
                .map(|&c| data_value(world, table, c))
                .collect();
            let op = prop_oneof![
                2 => data.clone().prop_map(EOp::Insert),
                2 => proptest::collection::vec(data, 1..6).prop_map(EOp::InsertMany),
            ];
            let s = (tenant(), op)
                .prop_map(move |(tenant, op)| Op::E {
                    table,
                    tenant,
                    in_tx: false,
                    op,
                })
                .boxed();
            (1, s)
        })
        .collect();
    Union::new_weighted(tables).boxed()
}

/// Any operation of the machine over `world` (with the relation operations when it has
/// a parent and a child table).
pub fn op(world: &[&'static Spec], relations: bool) -> BoxedStrategy<Op> {
    let entity: Vec<(u32, BoxedStrategy<Op>)> = (0..world.len())
        .map(|table| {
            let s = (tenant(), proptest::bool::weighted(0.8), eop(world, table))
                .prop_map(move |(tenant, in_tx, op)| Op::E {
                    table,
                    tenant,
                    in_tx,
                    op,
                })
                .boxed();
            (40 / world.len() as u32, s)
        })
        .collect();
    let mut choices: Vec<(u32, BoxedStrategy<Op>)> = vec![
        (5, tenant().prop_map(Op::Begin).boxed()),
        (4, Just(Op::Commit).boxed()),
        (2, Just(Op::Rollback).boxed()),
        (1, Just(Op::Drop).boxed()),
    ];
    choices.extend(entity);
    if relations {
        let rel = prop_oneof![
            2 => proptest::collection::vec(pick(), 0..4).prop_flat_map(|parents| {
                any::<bool>().prop_map(move |with_deleted| RelOp::LoadBy { parents: parents.clone(), with_deleted })
            }),
            1 => Just(RelOp::LoadParent),
            1 => any::<bool>().prop_map(|with_deleted| RelOp::Attach { with_deleted }),
        ];
        choices.push((
            6,
            (tenant(), proptest::bool::weighted(0.8), rel)
                .prop_map(|(tenant, in_tx, op)| Op::Rel { tenant, in_tx, op })
                .boxed(),
        ));
    }
    Union::new_weighted(choices).boxed()
}

/// Runs one case: every operation on the library and the model, then the rows and the
/// audit log read back.
pub async fn run_case<W: World>(
    db: &TenantDb,
    pool: &sqlx::PgPool,
    ops: &[Op],
    totals: &mut crate::Totals,
) -> Step {
    let mut case = Case::new(db, pool.clone(), &W::specs());
    let result = run_ops::<W>(&mut case, ops).await;
    totals.steps += case.steps;
    totals.queries += case.queries;
    totals.commit_after_error += case.commit_after_error_seen;
    for (outcome, n) in &case.outcomes {
        *totals.outcomes.entry(outcome.clone()).or_default() += n;
    }
    result
}

async fn run_ops<W: World>(case: &mut Case, ops: &[Op]) -> Step {
    for (i, op) in ops.iter().enumerate() {
        let step = match op {
            Op::Begin(_) | Op::Commit | Op::Rollback | Op::Drop => ops::tx_op(case, op).await,
            Op::E {
                table,
                tenant,
                in_tx,
                op,
            } => W::entity(case, *table, *tenant, *in_tx, op).await,
            Op::Rel { tenant, in_tx, op } => W::relation(case, *tenant, *in_tx, op).await,
        };
        step.map_err(|e| format!("operation #{i}: {e}"))?;
    }
    if case.tx.is_some() {
        ops::tx_op(case, &Op::Rollback).await?;
    }
    W::check_rows(case).await?;
    ops::check_audit(case).await
}
