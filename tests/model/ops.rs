//! The operations of the state machine, as generated (symbolic: "the k-th known id",
//! "the value of column c in some row"), resolved against the model at run time, run on
//! the library and on the model, and compared.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use tenant_query::prelude::*;
use uuid::Uuid;

use crate::dsl::{self, QGen};
use crate::reference::{Answer, AuditExp, MRow, Model, rows_admit};
use crate::spec::{IdSource, Modeled, Role, Spec};
use crate::val::{Kind, ModelKey, RowKey, Val};

/// A row id, symbolically.
#[derive(Clone, Debug)]
pub enum Pick {
    /// The k-th id (modulo their number) the library has returned for the table, in any
    /// tenant, whatever became of the row since.
    Known(usize),
    /// The k-th row (modulo their number) of the operation's tenant, live or not, as the
    /// operation sees the table; a `Known` id when there is none.
    Own(usize),
    /// The k-th soft-deleted row of the operation's tenant; an `Own` row when there is
    /// none.
    Deleted(usize),
    /// An id nobody has.
    Fresh(u128),
}

/// A value, symbolically.
#[derive(Clone, Debug)]
pub enum ValGen {
    Lit(Val),
    /// An id of table `.0`.
    Id(usize, Pick),
    /// The value of column `.1` in the k-th current row of the same table (falls back on
    /// a constant when there is none or it is `NULL`).
    Cell(usize, usize),
}

#[derive(Clone, Debug)]
pub enum EOp {
    Insert(Vec<ValGen>),
    /// Another insert of the data of the k-th row: a unique violation in its tenant.
    InsertCopy(usize),
    InsertMany(Vec<Vec<ValGen>>),
    Update(Pick, Vec<Option<ValGen>>),
    Delete(Pick),
    Restore(Pick),
    Purge(Pick),
    Find(Pick),
    Get(Pick),
    FindMany(Vec<Pick>),
    Query(QGen),
}

impl EOp {
    pub fn name(&self) -> &'static str {
        match self {
            EOp::Insert(_) => "insert",
            EOp::InsertCopy(_) => "insert(copy)",
            EOp::InsertMany(_) => "insert_many",
            EOp::Update(..) => "update",
            EOp::Delete(_) => "delete",
            EOp::Restore(_) => "restore",
            EOp::Purge(_) => "purge",
            EOp::Find(_) => "find",
            EOp::Get(_) => "get",
            EOp::FindMany(_) => "find_many",
            EOp::Query(_) => "query",
        }
    }

    fn writes(&self) -> bool {
        !matches!(
            self,
            EOp::Find(_) | EOp::Get(_) | EOp::FindMany(_) | EOp::Query(_)
        )
    }
}

/// Operations on the `belongs_to` relation between the first two tables of a world.
#[derive(Clone, Debug)]
pub enum RelOp {
    LoadBy {
        parents: Vec<Pick>,
        with_deleted: bool,
    },
    LoadParent,
    Attach {
        with_deleted: bool,
    },
}

#[derive(Clone, Debug)]
pub enum Op {
    Begin(usize),
    Commit,
    Rollback,
    /// The transaction dropped without commit or rollback.
    Drop,
    /// An operation in `tenant`; inside the open transaction if `in_tx` (then in the
    /// transaction's tenant).
    E {
        table: usize,
        tenant: usize,
        in_tx: bool,
        op: EOp,
    },
    Rel {
        tenant: usize,
        in_tx: bool,
        op: RelOp,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrKind {
    NotFound,
    NotUnique,
    Conflict,
    ForeignKey,
    InvalidInput,
    Database,
}

/// A predicted failure, and whether it leaves the transaction aborted (the database
/// raised it) or usable (refused before or without a database error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fail {
    pub kind: ErrKind,
    pub aborts: bool,
}

impl From<ErrKind> for Fail {
    fn from(kind: ErrKind) -> Fail {
        Fail {
            kind,
            aborts: matches!(kind, ErrKind::Conflict | ErrKind::Database),
        }
    }
}

/// How the library answers a `belongs_to` value that names no row it accepts: the
/// write's own guard refuses it, without a database error, so a transaction goes on.
pub const REFUSED_REFERENCE: Fail = Fail {
    kind: ErrKind::ForeignKey,
    aborts: false,
};

/// Whether a `belongs_to` value must name a live row (or any row of the tenant, deleted
/// or not, as the composite foreign key requires).
pub const REFERENCE_NEEDS_LIVE_ROW: bool = true;

/// Whether the `belongs_to` values a patch sets are checked before the row is looked
/// for (so they are refused even when the row is absent or they change nothing).
pub const PATCH_REFERENCES_FIRST: bool = true;

/// How the library answers a hard delete of a row that others still refer to (the test
/// schema's foreign keys are `NO ACTION`): the database's foreign key refuses it.
pub const PARENT_IN_USE: Fail = Fail {
    kind: ErrKind::ForeignKey,
    aborts: true,
};

pub fn err_kind(error: &tenant_query::Error) -> ErrKind {
    match error {
        tenant_query::Error::NotFound { .. } => ErrKind::NotFound,
        tenant_query::Error::NotUnique { .. } => ErrKind::NotUnique,
        tenant_query::Error::Conflict { .. } => ErrKind::Conflict,
        tenant_query::Error::ForeignKey { .. } => ErrKind::ForeignKey,
        tenant_query::Error::InvalidInput { .. } => ErrKind::InvalidInput,
        _ => ErrKind::Database,
    }
}

pub struct TxState {
    pub tenant: usize,
    pub tx: ScopedTransaction,
    /// The model as committed: what every other connection sees until the end.
    pub committed: Model,
    /// A statement failed in the database: the transaction can only roll back.
    pub aborted: bool,
    /// `now()` of the transaction, once a timestamp set in it has been read back.
    pub now: Option<DateTime<Utc>>,
}

/// One proptest case: two fresh tenants on the shared database, and the model.
pub struct Case {
    pub pool: sqlx::PgPool,
    pub tenants: [Uuid; 2],
    pub actors: [Option<Uuid>; 2],
    pub scopes: [ScopedDb; 2],
    pub model: Model,
    pub tx: Option<TxState>,
    pub known: Vec<Vec<RowKey>>,
    /// Queries compared so far (for the report).
    pub queries: usize,
    /// Operations that ran on the library (not skipped).
    pub steps: usize,
    /// Accept `Ok` from a commit after a failed statement (a known bug), still checking
    /// that nothing of the transaction remains.
    pub tolerate_commit_after_error: bool,
    pub commit_after_error_seen: usize,
    /// How operations ended, by kind (for the report: a model that only ever predicts
    /// errors would agree with a lot).
    pub outcomes: BTreeMap<String, usize>,
    /// The tenant of the running operation, and whether it runs in the transaction.
    pub current: (usize, bool),
    /// The name of the running operation, for the outcome counts.
    pub op_name: &'static str,
}

pub type Step = Result<(), String>;

/// Runs `$body` on the transaction (`inside`) or on the tenant's pool handle.
macro_rules! call {
    ($case:ident, $inside:expr, $tenant:expr, |$db:ident| $body:expr) => {{
        if $inside {
            let $db = &mut $case.tx.as_mut().expect("an open transaction").tx;
            $body.await
        } else {
            let $db = &$case.scopes[$tenant];
            $body.await
        }
    }};
}
pub(crate) use call;

impl Case {
    pub fn new(db: &TenantDb, pool: sqlx::PgPool, specs: &[&'static Spec]) -> Case {
        let tenants = [Uuid::now_v7(), Uuid::now_v7()];
        // One tenant's writes carry an actor, the other's none.
        let actors = [Some(Uuid::now_v7()), None];
        let scopes = [
            db.scope(&TenantScope::new(tenants[0]).with_actor(actors[0].unwrap())),
            db.scope(&TenantScope::new(tenants[1])),
        ];
        Case {
            pool,
            tenants,
            actors,
            scopes,
            model: Model::new(specs),
            tx: None,
            known: vec![Vec::new(); specs.len()],
            queries: 0,
            steps: 0,
            tolerate_commit_after_error: std::env::var_os("TQ_TOLERATE_COMMIT_AFTER_ERROR")
                .is_some(),
            commit_after_error_seen: 0,
            outcomes: BTreeMap::new(),
            current: (0, false),
            op_name: "",
        }
    }

    /// The model the operation sees: the transaction's own state inside it, the
    /// committed state outside while a transaction is open.
    pub fn seen(&self, inside: bool) -> &Model {
        match &self.tx {
            Some(tx) if !inside => &tx.committed,
            _ => &self.model,
        }
    }

    pub fn aborted(&self, inside: bool) -> bool {
        inside && self.tx.as_ref().is_some_and(|tx| tx.aborted)
    }

    pub fn pick(&self, table: usize, pick: &Pick) -> RowKey {
        let (tenant, inside) = self.current;
        let spec = self.model.tables[table].spec;
        let kind = spec.cols[spec.id()].kind;
        match pick {
            Pick::Own(k) => {
                let rows = &self.seen(inside).tables[table].rows;
                let own: Vec<&RowKey> = rows
                    .iter()
                    .filter(|(_, r)| r.tenant == tenant)
                    .map(|((id, _), _)| id)
                    .collect();
                if own.is_empty() {
                    self.pick(table, &Pick::Known(*k))
                } else {
                    own[k % own.len()].clone()
                }
            }
            Pick::Deleted(k) => {
                let t = &self.seen(inside).tables[table];
                let deleted: Vec<&RowKey> = t
                    .rows
                    .iter()
                    .filter(|(_, r)| r.tenant == tenant && t.is_deleted(r))
                    .map(|((id, _), _)| id)
                    .collect();
                if deleted.is_empty() {
                    self.pick(table, &Pick::Own(*k))
                } else {
                    deleted[k % deleted.len()].clone()
                }
            }
            Pick::Known(k) if !self.known[table].is_empty() => {
                self.known[table][k % self.known[table].len()].clone()
            }
            Pick::Known(k) => RowKey::fresh(kind, *k as u128 + 1),
            Pick::Fresh(n) => RowKey::fresh(kind, *n),
        }
    }

    /// The k-th current row of `table` in the model the operation sees, by id.
    pub fn nth_row(&self, inside: bool, table: usize, k: usize) -> Option<&MRow> {
        let rows = &self.seen(inside).tables[table].rows;
        (!rows.is_empty()).then(|| rows.values().nth(k % rows.len()).expect("in range"))
    }

    pub fn resolve(&self, inside: bool, table: usize, g: &ValGen) -> Val {
        let spec = self.model.tables[table].spec;
        match g {
            ValGen::Lit(v) => v.clone(),
            ValGen::Id(t, pick) => self.pick(*t, pick).to_val(),
            ValGen::Cell(k, col) => match self.nth_row(inside, table, *k).map(|r| &r.vals[*col]) {
                Some(v) if !v.is_null() && *v != Val::TsUnseen => v.clone(),
                _ => fallback(spec.cols[*col].kind),
            },
        }
    }

    /// Notes a timestamp set inside the transaction: all of them are its `now()`.
    fn tx_time(&mut self, inside: bool, ts: &Val) -> Step {
        let (Some(tx), Val::Ts(ts)) = (self.tx.as_mut().filter(|_| inside), ts) else {
            return Ok(());
        };
        match tx.now {
            None => tx.now = Some(*ts),
            Some(now) if now == *ts => {}
            Some(now) => {
                return Err(format!(
                    "a timestamp {ts} set in a transaction whose now() is {now}"
                ));
            }
        }
        Ok(())
    }
}

/// A non-null value of `kind` for symbolic values that found nothing to copy.
pub fn fallback(kind: Kind) -> Val {
    match kind {
        Kind::Bool => Val::Bool(false),
        Kind::I32 | Kind::I64 => Val::Int(0),
        Kind::Text => Val::Text("a".into()),
        Kind::Uuid => Val::Uuid(Uuid::nil()),
        Kind::Ts => Val::Ts(DateTime::<Utc>::from_timestamp(946_684_800, 0).expect("2000")),
    }
}

fn has_nul(vals: &[Val]) -> bool {
    vals.iter()
        .any(|v| matches!(v, Val::Text(s) if s.contains('\0')))
}

/// Fails with both sides when the library and the model disagree.
fn differ<T: std::fmt::Debug, U: std::fmt::Debug>(what: &str, expected: T, actual: U) -> Step {
    Err(format!(
        "{what}\n  model:   {expected:?}\n  library: {actual:?}"
    ))
}

/// Compares the error kinds first: on a predicted error, the library must fail the same
/// way; a failing statement inside a transaction aborts it.
fn check_err<T: std::fmt::Debug, F: Into<Fail>>(
    case: &mut Case,
    inside: bool,
    what: &str,
    expected: Option<F>,
    actual: &tenant_query::Result<T>,
) -> Result<bool, String> {
    let expected: Option<Fail> = expected.map(Into::into);
    let actual_kind = actual.as_ref().err().map(err_kind);
    let outcome = match actual_kind {
        Some(kind) => format!("{} {kind:?}", case.op_name),
        None => format!("{} Ok", case.op_name),
    };
    *case.outcomes.entry(outcome).or_default() += 1;
    if expected.map(|f| f.kind) != actual_kind {
        differ(what, expected, actual)?;
    }
    if inside && expected.is_some_and(|f| f.aborts) {
        case.tx.as_mut().expect("open").aborted = true;
    }
    Ok(actual_kind.is_none())
}

fn all_columns(spec: &Spec, vals: &[Val], removed: bool) -> BTreeMap<&'static str, (Val, Val)> {
    spec.cols
        .iter()
        .zip(vals)
        .map(|(c, v)| {
            let pair = if removed {
                (v.clone(), Val::Null)
            } else {
                (Val::Null, v.clone())
            };
            (c.name, pair)
        })
        .collect()
}

/// Checks a row the library has just created in `tenant` with `data`.
fn check_created(
    case: &mut Case,
    inside: bool,
    table: usize,
    tenant: usize,
    data: &[Val],
    row: &[Val],
    what: &str,
) -> Step {
    let spec = case.model.tables[table].spec;
    let id = RowKey::from_val(&row[spec.id()]);
    match (spec.id_source, &id) {
        (IdSource::Library, RowKey::Uuid(u))
            if u.get_version_num() == 7 && !case.known[table].contains(&id) => {}
        (IdSource::Library, _) => return differ(what, "a new UUIDv7 id", id),
        // The identity's next value: above every id seen so far.
        (IdSource::Database, RowKey::Int(_)) if case.known[table].iter().all(|k| *k < id) => {}
        (IdSource::Database, _) => return differ(what, "a new identity value", id),
        // The given key: checked with the data below.
        (IdSource::Caller, _) => {}
    }
    if row[spec.tenant()] != Val::Uuid(case.tenants[tenant]) {
        return differ(what, case.tenants[tenant], &row[spec.tenant()]);
    }
    let stored: Vec<&Val> = spec.new.iter().map(|&i| &row[i]).collect();
    if stored.iter().zip(data).any(|(s, d)| *s != d) {
        return differ(
            &format!("{what}: given columns (a given key, then data in declaration order)"),
            data,
            stored,
        );
    }
    if let Some(sd) = spec.role(Role::SoftDelete)
        && !row[sd].is_null()
    {
        return differ(what, "a live row", row);
    }
    let created = spec.role(Role::CreatedAt).map(|i| row[i].clone());
    let updated = spec.role(Role::UpdatedAt).map(|i| row[i].clone());
    if let (Some(c), Some(u)) = (&created, &updated)
        && c != u
    {
        return differ(&format!("{what}: created_at = updated_at"), c, u);
    }
    for ts in created.iter().chain(&updated) {
        case.tx_time(inside, ts)?;
    }
    Ok(())
}

/// Runs one entity operation on the library and the model.
pub async fn entity_op<E: Modeled>(
    case: &mut Case,
    table: usize,
    tenant: usize,
    in_tx: bool,
    op: &EOp,
) -> Step {
    let inside = in_tx && case.tx.is_some();
    // Writes next to an open transaction could wait on its locks: the machine is sequential.
    if !inside && case.tx.is_some() && op.writes() {
        return Ok(());
    }
    let tenant = if inside {
        case.tx.as_ref().expect("open").tenant
    } else {
        tenant
    };
    let aborted = case.aborted(inside);
    case.current = (tenant, inside);
    case.op_name = op.name();
    let spec = E::spec();
    let what = format!(
        "{} {op:?} (tenant {tenant}, in transaction: {inside})",
        spec.table
    );
    case.steps += 1;
    match op {
        EOp::Insert(gens) => {
            let data: Vec<Val> = gens
                .iter()
                .map(|g| case.resolve(inside, table, g))
                .collect();
            insert::<E>(case, inside, table, tenant, vec![data], false, &what).await
        }
        EOp::InsertCopy(k) => {
            let Some(row) = case.nth_row(inside, table, *k) else {
                return Ok(());
            };
            let data = spec.new.iter().map(|&i| row.vals[i].clone()).collect();
            insert::<E>(case, inside, table, tenant, vec![data], false, &what).await
        }
        EOp::InsertMany(rows) => {
            let rows = rows
                .iter()
                .map(|gens| {
                    gens.iter()
                        .map(|g| case.resolve(inside, table, g))
                        .collect()
                })
                .collect();
            insert::<E>(case, inside, table, tenant, rows, true, &what).await
        }
        EOp::Update(pick, patch) => {
            let id = case.pick(table, pick);
            let patch: Vec<Option<Val>> = patch
                .iter()
                .map(|g| g.as_ref().map(|g| case.resolve(inside, table, g)))
                .collect();
            update::<E>(case, inside, table, tenant, id, patch, aborted, &what).await
        }
        EOp::Delete(pick) | EOp::Restore(pick) | EOp::Purge(pick) => {
            let id = case.pick(table, pick);
            remove::<E>(case, inside, table, tenant, id, op, aborted, &what).await
        }
        EOp::Find(pick) | EOp::Get(pick) => {
            let id = case.pick(table, pick);
            let row = case.seen(inside).tables[table]
                .visible(tenant, &id, false)
                .map(|r| r.vals.clone());
            let (expected, actual) = if matches!(op, EOp::Find(_)) {
                let expected = if aborted {
                    Err(ErrKind::Database)
                } else {
                    Ok(row)
                };
                let typed = E::Id::from_key(&id);
                let actual = call!(case, inside, tenant, |db| E::m_find(db, typed));
                (expected, actual.map(|r| r.map(|r| r.view())))
            } else {
                let expected = match row {
                    _ if aborted => Err(ErrKind::Database),
                    None => Err(ErrKind::NotFound),
                    Some(row) => Ok(Some(row)),
                };
                let typed = E::Id::from_key(&id);
                let actual = call!(case, inside, tenant, |db| E::m_get(db, typed));
                (expected, actual.map(|r| Some(r.view())))
            };
            if check_err(
                case,
                inside,
                &what,
                expected.as_ref().err().copied(),
                &actual,
            )? {
                let (e, a) = (expected.unwrap(), actual.unwrap());
                if !rows_admit(e.as_slice(), a.as_slice()) {
                    return differ(&what, e, a);
                }
                learn(case, inside, table, tenant, a.as_slice());
            }
            Ok(())
        }
        EOp::FindMany(picks) => {
            let ids: Vec<RowKey> = picks.iter().map(|p| case.pick(table, p)).collect();
            let t = &case.seen(inside).tables[table];
            let expected: BTreeMap<RowKey, Vec<Val>> = ids
                .iter()
                .filter_map(|id| {
                    t.visible(tenant, id, false)
                        .map(|r| (id.clone(), r.vals.clone()))
                })
                .collect();
            let typed: Vec<E::Id> = ids.iter().map(E::Id::from_key).collect();
            // An empty batch makes no query, even in an aborted transaction.
            let expected = if aborted && !ids.is_empty() {
                None
            } else {
                Some(expected)
            };
            let actual = call!(case, inside, tenant, |db| E::m_find_many(db, &typed));
            let err = expected.is_none().then_some(ErrKind::Database);
            if check_err(case, inside, &what, err, &actual)? {
                let (e, a) = (expected.unwrap(), actual.unwrap());
                let a: BTreeMap<RowKey, Vec<Val>> =
                    a.into_iter().map(|(k, v)| (k.to_key(), v.view())).collect();
                let same = e.len() == a.len()
                    && e.iter().all(|(k, v)| {
                        a.get(k).is_some_and(|w| {
                            rows_admit(std::slice::from_ref(v), std::slice::from_ref(w))
                        })
                    });
                if !same {
                    return differ(&what, e, a);
                }
                learn(
                    case,
                    inside,
                    table,
                    tenant,
                    &a.into_values().collect::<Vec<_>>(),
                );
            }
            Ok(())
        }
        EOp::Query(q) => {
            let q = dsl::resolve(case, inside, table, q);
            let expected = if q.has_nul() {
                Err(ErrKind::InvalidInput)
            } else if aborted {
                Err(ErrKind::Database)
            } else {
                q.run(&case.seen(inside).tables[table], tenant)
            };

            let actual = call!(case, inside, tenant, |db| dsl::run_library::<E, _>(db, &q));
            case.queries += 1;
            if check_err(
                case,
                inside,
                &format!("{what}\n  resolved: {q:?}"),
                expected.as_ref().err().copied(),
                &actual,
            )? {
                let (e, a) = (expected.unwrap(), actual.unwrap());
                if !crate::reference::answer_admits(&e, &a) {
                    return differ(&format!("{what}\n  resolved: {q:?}"), e, a);
                }
                if let Answer::Rows(rows) = &a {
                    let size = if rows.is_empty() {
                        "query: no row"
                    } else {
                        "query: rows"
                    };
                    *case.outcomes.entry(size.to_owned()).or_default() += 1;
                    learn(case, inside, table, tenant, rows);
                }
            }
            Ok(())
        }
    }
}

/// Learns unseen timestamps from rows read back, unless they were read beside an open
/// transaction (from the committed state, which the transaction may yet replace).
pub fn learn(case: &mut Case, inside: bool, table: usize, tenant: usize, rows: &[Vec<Val>]) {
    if inside || case.tx.is_none() {
        case.model.learn(table, tenant, rows);
    }
}

#[allow(clippy::too_many_arguments)]
async fn insert<E: Modeled>(
    case: &mut Case,
    inside: bool,
    table: usize,
    tenant: usize,
    rows: Vec<Vec<Val>>,
    many: bool,
    what: &str,
) -> Step {
    let spec = E::spec();
    let model = &case.model.tables[table];
    // Unique values (and a given key): against the tenant's rows, live or not, and
    // within the batch.
    let conflict = rows.iter().enumerate().any(|(n, data)| {
        spec.new
            .iter()
            .zip(data)
            .enumerate()
            .any(|(slot, (&col, v))| {
                spec.cols[col].unique
                    && (model.taken(tenant, col, v, None)
                        || (!v.is_null() && rows[..n].iter().any(|other| other[slot] == *v)))
            })
    });
    let dangling = rows.iter().any(|data| {
        let mut vals = vec![Val::Null; spec.cols.len()];
        for (&col, v) in spec.new.iter().zip(data) {
            vals[col] = v.clone();
        }
        !case
            .model
            .references_hold(table, tenant, &vals, &spec.new, REFERENCE_NEEDS_LIVE_ROW)
    });
    // What a given key meets, for the report: the key of a row of the other tenant, or
    // of a soft-deleted row of this one.
    let key_note = (spec.id_source == IdSource::Caller && !rows.is_empty()).then(|| {
        let id = spec.id();
        let t = &case.model.tables[table];
        let holds = |tenant: usize, deleted: bool| {
            rows.iter().any(|data| {
                t.visible(tenant, &RowKey::from_val(&data[0]), true)
                    .is_some_and(|r| !deleted || t.is_deleted(r))
            })
        };
        debug_assert_eq!(spec.new[0], id);
        if holds(tenant, true) {
            "a deleted row's key"
        } else if holds(tenant, false) {
            "a live row's key"
        } else if holds(1 - tenant, false) {
            "only the other tenant's key"
        } else {
            "a new key"
        }
    });
    let expected: Option<Fail> = if rows.is_empty() {
        None
    } else if rows.iter().any(|r| has_nul(r)) {
        Some(ErrKind::InvalidInput.into())
    } else if case.aborted(inside) {
        Some(ErrKind::Database.into())
    } else if conflict {
        // The unique index fails the row as it is inserted, before foreign keys are
        // checked at the end of the statement.
        Some(ErrKind::Conflict.into())
    } else if dangling {
        Some(REFUSED_REFERENCE)
    } else {
        None
    };
    let news: Vec<E::New> = rows.iter().map(|d| E::new_from(d)).collect();
    let actual: tenant_query::Result<Vec<E>> = if many {
        call!(case, inside, tenant, |db| E::m_insert_many(db, news))
    } else {
        let new = news.into_iter().next().expect("one row");
        call!(case, inside, tenant, |db| E::m_insert(db, new)).map(|r| vec![r])
    };
    if let Some(note) = key_note {
        let outcome = match &actual {
            Ok(_) => "Ok".to_owned(),
            Err(e) => format!("{:?}", err_kind(e)),
        };
        *case
            .outcomes
            .entry(format!("{} of {note}: {outcome}", case.op_name))
            .or_default() += 1;
    }
    if !check_err(case, inside, what, expected, &actual)? {
        return Ok(());
    }
    let actual: Vec<Vec<Val>> = actual.unwrap().iter().map(Modeled::view).collect();
    if actual.len() != rows.len() {
        return differ(what, rows.len(), actual);
    }
    for (data, row) in rows.iter().zip(&actual) {
        check_created(case, inside, table, tenant, data, row, what)?;
        let id = RowKey::from_val(&row[spec.id()]);
        if !case.known[table].contains(&id) {
            case.known[table].push(id.clone());
        }
        case.model.tables[table].rows.insert(
            (id.clone(), tenant),
            MRow {
                tenant,
                vals: row.clone(),
            },
        );
        case.model
            .record(table, tenant, &id, "insert", all_columns(spec, row, false));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn update<E: Modeled>(
    case: &mut Case,
    inside: bool,
    table: usize,
    tenant: usize,
    id: RowKey,
    patch: Vec<Option<Val>>,
    aborted: bool,
    what: &str,
) -> Step {
    let spec = E::spec();
    let old = case.model.tables[table]
        .visible(tenant, &id, false)
        .map(|r| r.vals.clone());
    let mut new = old.clone();
    let mut changed = Vec::new();
    if let Some(new) = &mut new {
        for (&col, value) in spec.data.iter().zip(&patch) {
            if let Some(value) = value
                && new[col] != *value
            {
                new[col] = value.clone();
                changed.push(col);
            }
        }
    }
    // The reference values the patch sets, wherever the row is.
    let set_refs: Vec<usize> = spec
        .data
        .iter()
        .zip(&patch)
        .filter(|(_, v)| v.is_some())
        .map(|(&c, _)| c)
        .collect();
    let mut patched = vec![Val::Null; spec.cols.len()];
    for (&col, v) in spec.data.iter().zip(&patch) {
        patched[col] = v.clone().unwrap_or(Val::Null);
    }
    let expected: Option<Fail> = if patch
        .iter()
        .flatten()
        .any(|v| matches!(v, Val::Text(s) if s.contains('\0')))
    {
        Some(ErrKind::InvalidInput.into())
    } else if aborted {
        Some(ErrKind::Database.into())
    } else if PATCH_REFERENCES_FIRST
        && !case
            .model
            .references_hold(table, tenant, &patched, &set_refs, REFERENCE_NEEDS_LIVE_ROW)
    {
        Some(REFUSED_REFERENCE)
    } else if let Some(new) = &new {
        if changed.iter().any(|&c| {
            spec.cols[c].unique && case.model.tables[table].taken(tenant, c, &new[c], Some(&id))
        }) {
            Some(ErrKind::Conflict.into())
        } else if !case.model.references_hold(
            table,
            tenant,
            new,
            &changed,
            REFERENCE_NEEDS_LIVE_ROW,
        ) {
            Some(REFUSED_REFERENCE)
        } else {
            None
        }
    } else {
        Some(ErrKind::NotFound.into())
    };
    let p = E::patch_from(&patch);
    let typed = E::Id::from_key(&id);
    let actual = call!(case, inside, tenant, |db| E::m_update(db, typed, p));
    if !check_err(case, inside, what, expected, &actual)? {
        return Ok(());
    }
    let (old, mut new) = (old.unwrap(), new.unwrap());
    let row = actual.unwrap().view();
    // `updated_at` moves when (and only when) a value changes.
    if let Some(u) = spec.role(Role::UpdatedAt) {
        let (before, after) = (&old[u], &row[u]);
        let moved = match (before, after) {
            (Val::Ts(b), Val::Ts(a)) if inside => a >= b,
            (Val::Ts(b), Val::Ts(a)) => a > b,
            _ => false,
        };
        if changed.is_empty() && before != after {
            return differ(
                &format!("{what}: updated_at of an update that changes nothing"),
                before,
                after,
            );
        }
        if !changed.is_empty() && !moved {
            return differ(
                &format!("{what}: updated_at after a change"),
                format!("later than {before:?}"),
                after,
            );
        }
        if !changed.is_empty() {
            case.tx_time(inside, after)?;
        }
        new[u] = after.clone();
    }
    if !rows_admit(std::slice::from_ref(&new), std::slice::from_ref(&row)) {
        return differ(what, new, row);
    }
    let changes = changed
        .iter()
        .map(|&c| (spec.cols[c].name, (old[c].clone(), new[c].clone())))
        .collect::<BTreeMap<_, _>>();
    if !changes.is_empty() {
        case.model.record(table, tenant, &id, "update", changes);
    }
    case.model.tables[table]
        .rows
        .get_mut(&(id, tenant))
        .expect("present")
        .vals = row;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn remove<E: Modeled>(
    case: &mut Case,
    inside: bool,
    table: usize,
    tenant: usize,
    id: RowKey,
    op: &EOp,
    aborted: bool,
    what: &str,
) -> Step {
    let spec = E::spec();
    let t = &case.model.tables[table];
    let sd = spec.role(Role::SoftDelete);
    let target = match (op, sd) {
        (EOp::Delete(_), Some(_)) => t.visible(tenant, &id, false),
        (EOp::Restore(_), Some(_)) => t.visible(tenant, &id, true).filter(|r| t.is_deleted(r)),
        _ => t.visible(tenant, &id, true),
    }
    .map(|r| r.vals.clone());
    // A hard delete (a purge, or a delete without soft delete) of a row still referred to.
    let hard = matches!(op, EOp::Purge(_)) || (matches!(op, EOp::Delete(_)) && sd.is_none());
    let expected: Option<Fail> = match &target {
        _ if aborted => Some(ErrKind::Database.into()),
        None => Some(ErrKind::NotFound.into()),
        Some(_) if hard && case.model.referred_to(table, tenant, &id) => Some(PARENT_IN_USE),
        Some(_) => None,
    };
    let typed = E::Id::from_key(&id);
    let key = (id.clone(), tenant);
    match op {
        EOp::Delete(_) => {
            let actual = call!(case, inside, tenant, |db| E::m_delete(db, typed));
            if !check_err(case, inside, what, expected, &actual)? {
                return Ok(());
            }
            let row = target.unwrap();
            if let Some(sd) = sd {
                case.model.tables[table]
                    .rows
                    .get_mut(&key)
                    .expect("present")
                    .vals[sd] = Val::TsUnseen;
                let changes = BTreeMap::from([(spec.cols[sd].name, (Val::Null, Val::TsUnseen))]);
                case.model.record(table, tenant, &id, "delete", changes);
            } else {
                case.model.remove(table, tenant, &id);
                case.model
                    .record(table, tenant, &id, "delete", all_columns(spec, &row, true));
            }
        }
        EOp::Restore(_) => {
            let actual = call!(case, inside, tenant, |db| E::m_restore(db, typed));
            if !check_err(case, inside, what, expected, &actual)? {
                return Ok(());
            }
            let sd = sd.expect("restore needs soft delete");
            let mut row = target.unwrap();
            let was = std::mem::replace(&mut row[sd], Val::Null);
            let actual = actual.unwrap().view();
            if !rows_admit(std::slice::from_ref(&row), std::slice::from_ref(&actual)) {
                return differ(what, row, actual);
            }
            case.model.tables[table]
                .rows
                .get_mut(&key)
                .expect("present")
                .vals = row;
            let changes = BTreeMap::from([(spec.cols[sd].name, (was, Val::Null))]);
            case.model.record(table, tenant, &id, "restore", changes);
        }
        _ => {
            let actual = call!(case, inside, tenant, |db| E::m_purge(db, typed));
            if !check_err(case, inside, what, expected, &actual)? {
                return Ok(());
            }
            let row = target.unwrap();
            case.model.remove(table, tenant, &id);
            case.model
                .record(table, tenant, &id, "purge", all_columns(spec, &row, true));
        }
    }
    Ok(())
}

/// Transaction boundaries.
pub async fn tx_op(case: &mut Case, op: &Op) -> Step {
    match op {
        Op::Begin(tenant) => {
            if case.tx.is_some() {
                return Ok(());
            }
            case.steps += 1;
            let tx = case.scopes[*tenant]
                .begin()
                .await
                .map_err(|e| format!("begin: {e}"))?;
            case.tx = Some(TxState {
                tenant: *tenant,
                tx,
                committed: case.model.clone(),
                aborted: false,
                now: None,
            });
        }
        Op::Commit | Op::Rollback | Op::Drop => {
            let Some(tx) = case.tx.take() else {
                return Ok(());
            };
            case.steps += 1;
            let TxState {
                tx,
                committed,
                aborted,
                ..
            } = tx;
            match op {
                Op::Commit => {
                    let result = tx.commit().await;
                    match (&result, aborted) {
                        (Ok(()), false) => {}
                        (Err(_), true) => case.model = committed,
                        (Ok(()), true) if case.tolerate_commit_after_error => {
                            case.commit_after_error_seen += 1;
                            case.model = committed;
                        }
                        _ => {
                            return differ(
                                &format!(
                                    "commit (a statement had failed in the transaction: {aborted})"
                                ),
                                if aborted {
                                    "Err: the transaction was rolled back"
                                } else {
                                    "Ok"
                                },
                                result,
                            );
                        }
                    }
                }
                Op::Rollback => {
                    tx.rollback().await.map_err(|e| format!("rollback: {e}"))?;
                    case.model = committed;
                }
                _ => {
                    drop(tx);
                    case.model = committed;
                }
            }
        }
        _ => unreachable!(),
    }
    Ok(())
}

/// The audit log of the case's tenants, read behind the library, against the model's
/// history: per row (its table, tenant and id as the log's text), the same records in
/// the same order.
pub async fn check_audit(case: &Case) -> Step {
    let rows: Vec<(
        Uuid,
        String,
        String,
        String,
        serde_json::Value,
        Option<Uuid>,
    )> = sqlx::query_as(
        "SELECT tenant_id, entity, entity_id, action, changes, actor FROM tenant_audit_log \
         WHERE tenant_id = ANY($1) ORDER BY recorded_at, id",
    )
    .bind(&case.tenants[..])
    .fetch_all(&case.pool)
    .await
    .map_err(|e| format!("reading the audit log: {e}"))?;
    let mut actual: HashMap<(String, Uuid, String), Vec<_>> = HashMap::new();
    for (tenant, entity, id, action, changes, actor) in rows {
        actual
            .entry((entity, tenant, id))
            .or_default()
            .push((tenant, action, changes, actor));
    }
    let mut expected: HashMap<(String, Uuid, String), Vec<&AuditExp>> = HashMap::new();
    for record in &case.model.audit {
        let key = (
            record.table.to_owned(),
            case.tenants[record.tenant],
            record.entity_id.text(),
        );
        expected.entry(key).or_default().push(record);
    }
    let mut keys: Vec<_> = expected.keys().chain(actual.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let (e, a) = (
            expected.get(&key).map_or(&[][..], Vec::as_slice),
            actual.get(&key).map_or(&[][..], Vec::as_slice),
        );
        let spec = case
            .model
            .tables
            .iter()
            .find(|t| t.spec.table == key.0)
            .map(|t| t.spec);
        let same = e.len() == a.len()
            && e.iter()
                .zip(a)
                .all(|(e, (tenant, action, changes, actor))| {
                    *tenant == case.tenants[e.tenant]
                        && action == e.action
                        && *actor == case.actors[e.tenant]
                        && spec.is_some_and(|spec| changes_admit(spec, &e.changes, changes))
                });
        if !same {
            return differ(
                &format!("audit history of {} {:?} (tenant {})", key.0, key.2, key.1),
                e,
                a,
            );
        }
    }
    Ok(())
}

fn changes_admit(
    spec: &Spec,
    expected: &BTreeMap<&'static str, (Val, Val)>,
    actual: &serde_json::Value,
) -> bool {
    let Some(actual) = actual.as_object() else {
        return false;
    };
    actual.len() == expected.len()
        && expected.iter().all(|(column, (from, to))| {
            let (Some(pair), Some(col)) = (actual.get(*column), spec.col_by_name(column)) else {
                return false;
            };
            from.admits(&Val::from_json(col.kind, &pair["from"]))
                && to.admits(&Val::from_json(col.kind, &pair["to"]))
        })
}

/// Every row of the case's tenants, read back through the library (deleted ones too),
/// and counted behind it, against the model.
pub async fn check_rows<E: Modeled>(case: &mut Case, table: usize) -> Step {
    let spec = E::spec();
    for tenant in 0..2 {
        let mut query = E::order(Query::<E>::new(), spec.id(), false);
        if spec.soft_delete {
            query = E::with_deleted(query);
        }
        let actual: Vec<Vec<Val>> = query
            .all(&case.scopes[tenant])
            .await
            .map_err(|e| format!("final read: {e}"))?
            .iter()
            .map(Modeled::view)
            .collect();
        let expected: Vec<Vec<Val>> = case.model.tables[table]
            .rows
            .values()
            .filter(|r| r.tenant == tenant)
            .map(|r| r.vals.clone())
            .collect();
        if !rows_admit(&expected, &actual) {
            return differ(
                &format!("every row of {} in tenant {tenant}", spec.table),
                expected,
                actual,
            );
        }
        let tenant_column = &spec.cols[spec.tenant()].name;
        let sql = format!(
            "SELECT count(*) FROM \"{}\" WHERE \"{tenant_column}\" = $1",
            spec.table
        );
        let stored: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(case.tenants[tenant])
            .fetch_one(&case.pool)
            .await
            .map_err(|e| format!("count: {e}"))?;
        if stored != expected.len() as i64 {
            return differ(
                &format!("rows stored for {} in tenant {tenant}", spec.table),
                expected.len(),
                stored,
            );
        }
    }
    Ok(())
}

/// Each audited row's history through `AuditRecord::for_entity`, in both tenants: its
/// owner's records in order, nothing for the other tenant.
pub async fn check_history<E: Modeled>(case: &Case) -> Step {
    let spec = E::spec();
    let mut ids: Vec<RowKey> = case
        .model
        .audit
        .iter()
        .filter(|r| r.table == spec.table)
        .map(|r| r.entity_id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        for tenant in 0..2 {
            let expected: Vec<&AuditExp> = case
                .model
                .audit
                .iter()
                .filter(|r| r.table == spec.table && r.entity_id == id && r.tenant == tenant)
                .collect();
            let actual = AuditRecord::for_entity::<E>(&case.scopes[tenant], E::Id::from_key(&id))
                .await
                .map_err(|e| format!("for_entity: {e}"))?;
            let same = expected.len() == actual.len()
                && expected.iter().zip(&actual).all(|(e, a)| {
                    a.action.as_str() == e.action
                        && a.entity_id.to_key() == id
                        && a.entity == spec.table
                        && a.tenant_id == case.tenants[tenant]
                        && a.actor == case.actors[tenant]
                        && changes_admit(spec, &e.changes, &a.changes)
                });
            if !same {
                return differ(
                    &format!("AuditRecord::for_entity({id:?}) in tenant {tenant}"),
                    expected,
                    actual,
                );
            }
        }
    }
    Ok(())
}
