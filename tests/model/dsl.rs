//! The query DSL, differentially: random filter trees, orders, windows and keyset pages,
//! built once as data, then run by the library (PostgreSQL) and by the model.

use proptest::prelude::*;
use tenant_query::prelude::*;

use crate::ops::{Case, Pick, ValGen};
use crate::reference::{Answer, Deleted, Keyset, Query as RQuery, Terminal, Tree};
use crate::spec::{Modeled, Role, Spec};
use crate::val::{CmpOp, Kind, RowKey, Val};

#[derive(Clone, Debug)]
pub enum TreeGen {
    Cmp(usize, CmpOp, ValGen),
    In(usize, Vec<ValGen>),
    Like(usize, String),
    Null(usize, bool),
    Not(Box<TreeGen>),
    And(Box<TreeGen>, Box<TreeGen>),
    Or(Box<TreeGen>, Box<TreeGen>),
    All(Vec<TreeGen>),
    Any(Vec<TreeGen>),
}

#[derive(Clone, Debug)]
pub enum KeysetGen {
    AfterId(Pick),
    /// column, descending, value, id
    After(usize, bool, ValGen, Pick),
}

#[derive(Clone, Debug)]
pub struct QGen {
    pub deleted: Deleted,
    pub filters: Vec<TreeGen>,
    pub keyset: Option<KeysetGen>,
    pub order: Vec<(usize, bool)>,
    pub id_desc: bool,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
    pub terminal: Terminal,
}

pub fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        8 => (0usize..64).prop_map(Pick::Own),
        2 => (0usize..64).prop_map(Pick::Known),
        1 => any::<u128>().prop_map(Pick::Fresh),
    ]
}

/// Short texts over a small alphabet (with the `LIKE` wildcards, a quote, a backslash and
/// a two-byte character as plain characters), so that values collide, compare and match
/// often.
fn text(unique: bool) -> BoxedStrategy<String> {
    if unique {
        "[a-f]{1,3}".boxed()
    } else {
        prop_oneof![8 => "[ab%_]{0,3}", 1 => "[ab'\\\\é]{0,3}"].boxed()
    }
}

/// A literal value of `kind` (uuids come from `ValGen::Id`).
fn literal(kind: Kind, unique: bool) -> BoxedStrategy<Val> {
    match kind {
        Kind::Bool => any::<bool>().prop_map(Val::Bool).boxed(),
        Kind::I32 => prop_oneof![
            6 => -3i64..=3,
            1 => Just(i64::from(i32::MIN)),
            1 => Just(i64::from(i32::MAX)),
        ]
        .prop_map(Val::Int)
        .boxed(),
        Kind::I64 => prop_oneof![6 => -3i64..=3, 1 => Just(i64::MIN), 1 => Just(i64::MAX)]
            .prop_map(Val::Int)
            .boxed(),
        Kind::Text => text(unique).prop_map(Val::Text).boxed(),
        Kind::Uuid => any::<u128>()
            .prop_map(|n| Val::Uuid(uuid::Uuid::from_u128(n)))
            .boxed(),
        Kind::Ts => Just(crate::ops::fallback(Kind::Ts)).boxed(),
    }
}

/// A non-null value for column `col` of `table`: a literal, a copy of a row's value, or
/// for the id and uuid columns an id (of the table itself, of the referenced table, or
/// of any table with uuid ids).
pub fn value(world: &[&'static Spec], table: usize, col: usize) -> BoxedStrategy<ValGen> {
    let c = &world[table].cols[col];
    let copy = (0usize..64).prop_map(move |k| ValGen::Cell(k, col));
    if c.role == Role::Id && c.kind != Kind::Uuid {
        return prop_oneof![
            8 => pick().prop_map(move |p| ValGen::Id(table, p)),
            1 => copy,
            1 => literal(c.kind, false).prop_map(ValGen::Lit),
        ]
        .boxed();
    }
    match c.kind {
        Kind::Uuid => {
            let target =
                c.fk.map(|t| world.iter().position(|s| s.table == t).expect("a table"));
            let uuid_ids: Vec<usize> = (0..world.len())
                .filter(|&t| world[t].cols[world[t].id()].kind == Kind::Uuid)
                .collect();
            let table_strategy = match target {
                Some(t) => Just(t).boxed(),
                None if c.role == Role::Id => Just(table).boxed(),
                None if uuid_ids.is_empty() => {
                    // No table has uuid ids: literals and copies only.
                    return prop_oneof![
                        1 => copy,
                        1 => literal(Kind::Uuid, false).prop_map(ValGen::Lit),
                    ]
                    .boxed();
                }
                None => proptest::sample::select(uuid_ids).boxed(),
            };
            prop_oneof![
                8 => (table_strategy, pick()).prop_map(|(t, p)| ValGen::Id(t, p)),
                1 => copy,
                1 => literal(Kind::Uuid, false).prop_map(ValGen::Lit),
            ]
            .boxed()
        }
        Kind::Ts => copy.boxed(),
        // Text with a NUL byte is rejected before the database sees it.
        Kind::Text => prop_oneof![
            10 => literal(Kind::Text, c.unique).prop_map(ValGen::Lit),
            10 => copy,
            1 => Just(ValGen::Lit(Val::Text("x\0".into()))),
        ]
        .boxed(),
        kind => prop_oneof![1 => literal(kind, c.unique).prop_map(ValGen::Lit), 1 => copy].boxed(),
    }
}

/// A value to store in data column `col` (nullable columns get `NULL` a quarter of the
/// time), or in the id column when the caller gives it: a short key (often one some row
/// of either tenant has, live or deleted), rarely one with a NUL byte.
pub fn data_value(world: &[&'static Spec], table: usize, col: usize) -> BoxedStrategy<ValGen> {
    let c = &world[table].cols[col];
    if c.role == Role::Id {
        assert_eq!(
            c.kind,
            Kind::Text,
            "caller-given keys are text in the model"
        );
        return prop_oneof![
            12 => "[a-c]{1,2}".prop_map(|k| ValGen::Lit(Val::Text(k))),
            4 => (0usize..64).prop_map(move |k| ValGen::Cell(k, col)),
            2 => pick().prop_map(move |p| ValGen::Id(table, p)),
            1 => Just(ValGen::Lit(Val::Text("k\0".into()))),
        ]
        .boxed();
    }
    let strategy = match c.kind {
        // Rarely a NUL byte: it must be rejected as invalid input.
        Kind::Text => prop_oneof![
            80 => literal(Kind::Text, c.unique).prop_map(ValGen::Lit),
            8 => (0usize..64).prop_map(move |k| ValGen::Cell(k, col)),
            1 => Just(ValGen::Lit(Val::Text("x\0".into()))),
        ]
        .boxed(),
        Kind::Uuid => value(world, table, col),
        kind => literal(kind, c.unique).prop_map(ValGen::Lit).boxed(),
    };
    if c.nullable {
        prop_oneof![1 => Just(ValGen::Lit(Val::Null)), 3 => strategy].boxed()
    } else {
        strategy
    }
}

fn leaf(world: &[&'static Spec], table: usize) -> BoxedStrategy<TreeGen> {
    let spec = world[table];
    let world: Vec<&'static Spec> = world.to_vec();
    proptest::sample::select(spec.queryable())
        .prop_flat_map(move |col| {
            let c = &spec.cols[col];
            let v = value(&world, table, col);
            let mut leaves: Vec<(u32, BoxedStrategy<TreeGen>)> = vec![
                (
                    4,
                    (proptest::sample::select(CmpOp::ALL.to_vec()), v.clone())
                        .prop_map(move |(op, v)| TreeGen::Cmp(col, op, v))
                        .boxed(),
                ),
                (
                    2,
                    // Duplicates and empty lists included.
                    prop_oneof![1 => Just(Vec::new()), 6 => proptest::collection::vec(v, 1..4)]
                        .prop_map(move |vs| TreeGen::In(col, vs))
                        .boxed(),
                ),
            ];
            if c.kind == Kind::Text {
                let pattern = prop_oneof![
                    10 => "[abé%_]{0,4}",
                    // Wildcards around a piece of a stored value.
                    10 => "[%_]?[ab]?[%_]",
                    1 => Just("a\0".to_owned()),
                ];
                leaves.push((2, pattern.prop_map(move |p| TreeGen::Like(col, p)).boxed()));
            }
            if c.nullable {
                leaves.push((
                    2,
                    any::<bool>()
                        .prop_map(move |n| TreeGen::Null(col, n))
                        .boxed(),
                ));
            }
            proptest::strategy::Union::new_weighted(leaves)
        })
        .boxed()
}

pub fn tree(world: &[&'static Spec], table: usize) -> BoxedStrategy<TreeGen> {
    leaf(world, table)
        .prop_recursive(3, 10, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(|t| TreeGen::Not(Box::new(t))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| TreeGen::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| TreeGen::Or(Box::new(a), Box::new(b))),
                proptest::collection::vec(inner.clone(), 0..4).prop_map(TreeGen::All),
                proptest::collection::vec(inner, 0..4).prop_map(TreeGen::Any),
            ]
        })
        .boxed()
}

pub fn query(world: &[&'static Spec], table: usize) -> BoxedStrategy<QGen> {
    let spec = world[table];
    let deleted = if spec.soft_delete {
        prop_oneof![
            4 => Just(Deleted::Hidden),
            1 => Just(Deleted::Included),
            1 => Just(Deleted::Only),
        ]
        .boxed()
    } else {
        Just(Deleted::Hidden).boxed()
    };
    let keyed: Vec<usize> = spec
        .queryable()
        .into_iter()
        .filter(|&c| !spec.cols[c].nullable)
        .collect();
    let w: Vec<&'static Spec> = world.to_vec();
    let keyset = prop_oneof![
        6 => Just(None),
        1 => pick().prop_map(|p| Some(KeysetGen::AfterId(p))),
        1 => (proptest::sample::select(keyed), any::<bool>(), 0usize..64, pick())
            .prop_flat_map(move |(col, desc, k, p)| {
                prop_oneof![
                    // Usually a page after a real row: its value and its id.
                    3 => Just(Some(KeysetGen::After(col, desc, ValGen::Cell(k, col), p.clone()))),
                    1 => value(&w, table, col).prop_map(move |v| Some(KeysetGen::After(col, desc, v, p.clone()))),
                ]
            }),
    ];
    let order = proptest::collection::vec(
        (proptest::sample::select(spec.queryable()), any::<bool>()),
        0..3,
    );
    let window = (
        prop_oneof![6 => Just(None), 3 => (1u32..6).prop_map(Some), 1 => Just(Some(0))],
        prop_oneof![5 => Just(None), 1 => (0u32..4).prop_map(Some)],
    );
    let terminal = prop_oneof![
        6 => Just(Terminal::All),
        1 => Just(Terminal::Optional),
        2 => Just(Terminal::Count),
        1 => Just(Terminal::Exists),
    ];
    (
        deleted,
        prop_oneof![
            3 => Just(Vec::new()),
            5 => tree(world, table).prop_map(|t| vec![t]),
            2 => proptest::collection::vec(tree(world, table), 2..3),
        ],
        keyset,
        order,
        any::<bool>(),
        window,
        terminal,
    )
        .prop_map(
            |(deleted, filters, keyset, order, id_desc, (limit, offset), terminal)| QGen {
                deleted,
                filters,
                keyset,
                order,
                id_desc,
                limit,
                offset,
                terminal,
            },
        )
        .boxed()
}

fn resolve_tree(case: &Case, inside: bool, table: usize, t: &TreeGen) -> Tree {
    let r = |g: &ValGen| case.resolve(inside, table, g);
    let sub = |t: &TreeGen| Box::new(resolve_tree(case, inside, table, t));
    match t {
        TreeGen::Cmp(c, op, v) => Tree::Cmp(*c, *op, r(v)),
        TreeGen::In(c, vs) => Tree::In(*c, vs.iter().map(r).collect()),
        TreeGen::Like(c, p) => Tree::Like(*c, p.clone()),
        TreeGen::Null(c, n) => Tree::Null(*c, *n),
        TreeGen::Not(t) => Tree::Not(sub(t)),
        TreeGen::And(a, b) => Tree::And(sub(a), sub(b)),
        TreeGen::Or(a, b) => Tree::Or(sub(a), sub(b)),
        TreeGen::All(ts) => Tree::All(
            ts.iter()
                .map(|t| resolve_tree(case, inside, table, t))
                .collect(),
        ),
        TreeGen::Any(ts) => Tree::Any(
            ts.iter()
                .map(|t| resolve_tree(case, inside, table, t))
                .collect(),
        ),
    }
}

pub fn resolve(case: &Case, inside: bool, table: usize, q: &QGen) -> RQuery {
    RQuery {
        deleted: q.deleted,
        filters: q
            .filters
            .iter()
            .map(|t| resolve_tree(case, inside, table, t))
            .collect(),
        keyset: q.keyset.as_ref().map(|k| match k {
            KeysetGen::AfterId(p) => Keyset::AfterId(case.pick(table, p)),
            KeysetGen::After(col, desc, v, p) => {
                let id = match v {
                    // A page after a real row uses that row's id.
                    ValGen::Cell(k, _) => case
                        .nth_row(inside, table, *k)
                        .map(|r| RowKey::from_val(&r.vals[case.model.tables[table].spec.id()]))
                        .unwrap_or_else(|| case.pick(table, p)),
                    _ => case.pick(table, p),
                };
                Keyset::After(*col, *desc, case.resolve(inside, table, v), id)
            }
        }),
        order: q.order.clone(),
        id_desc: q.id_desc,
        limit: q.limit,
        offset: q.offset,
        terminal: q.terminal,
    }
}

fn filter<E: Modeled>(t: &Tree) -> Filter<E> {
    match t {
        Tree::Cmp(c, op, v) => E::cmp(*c, *op, v),
        Tree::In(c, vs) => E::any_of(*c, vs),
        Tree::Like(c, p) => E::like(*c, p),
        Tree::Null(c, n) => E::null(*c, *n),
        Tree::Not(t) => filter::<E>(t).not(),
        Tree::And(a, b) => filter::<E>(a).and(filter::<E>(b)),
        Tree::Or(a, b) => filter::<E>(a).or(filter::<E>(b)),
        Tree::All(ts) => Filter::all(ts.iter().map(filter::<E>)),
        Tree::Any(ts) => Filter::any(ts.iter().map(filter::<E>)),
    }
}

/// The query through the library's builder.
pub fn build<E: Modeled>(q: &RQuery) -> Query<E> {
    let spec = E::spec();
    let mut query = Query::<E>::new();
    query = match q.deleted {
        Deleted::Hidden => query,
        Deleted::Included => E::with_deleted(query),
        Deleted::Only => E::only_deleted(query),
    };
    for f in &q.filters {
        query = query.filter(filter::<E>(f));
    }
    query = match &q.keyset {
        None => query,
        Some(Keyset::AfterId(id)) => E::after_id(query, id),
        Some(Keyset::After(col, desc, v, id)) => E::after(query, *col, *desc, v, id),
    };
    for &(col, desc) in &q.order {
        query = E::order(query, col, desc);
    }
    query = E::order(query, spec.id(), q.id_desc);
    if let Some(limit) = q.limit {
        query = query.limit(limit);
    }
    if let Some(offset) = q.offset {
        query = query.offset(offset);
    }
    query
}

pub async fn run_library<'c, E: Modeled, X: TenantExecutor<'c>>(
    db: X,
    q: &RQuery,
) -> tenant_query::Result<Answer> {
    let query = build::<E>(q);
    Ok(match q.terminal {
        Terminal::All => Answer::Rows(query.all(db).await?.iter().map(Modeled::view).collect()),
        Terminal::Optional => Answer::Rows(
            query
                .optional(db)
                .await?
                .iter()
                .map(Modeled::view)
                .collect(),
        ),
        Terminal::Count => Answer::Count(query.count(db).await?),
        Terminal::Exists => Answer::Exists(query.exists(db).await?),
    })
}
