//! The reference: what the library promises, in memory. Rows of every table (live and
//! soft-deleted, per tenant), the audit history, and the query semantics of the DSL
//! (SQL three-valued logic, `NULLS LAST` ascending, byte order for `COLLATE "C"` text).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::ops::ErrKind;
use crate::spec::{Role, Spec};
use crate::val::{CmpOp, RowKey, Val};

/// A row as the model holds it: every field in declaration order.
#[derive(Clone, Debug)]
pub struct MRow {
    /// 0 or 1: which of the case's tenants owns it.
    pub tenant: usize,
    pub vals: Vec<Val>,
}

#[derive(Clone, Debug)]
pub struct Table {
    pub spec: &'static Spec,
    /// By id and tenant (an id is unique only within its tenant: the same natural key
    /// may name a row in each); a `BTreeMap` so that the model iterates in id order.
    pub rows: BTreeMap<(RowKey, usize), MRow>,
}

impl Table {
    pub fn is_deleted(&self, row: &MRow) -> bool {
        self.spec
            .role(Role::SoftDelete)
            .is_some_and(|sd| !row.vals[sd].is_null())
    }

    /// The row `id` if `tenant` owns it and (unless `deleted_too`) it is live.
    pub fn visible(&self, tenant: usize, id: &RowKey, deleted_too: bool) -> Option<&MRow> {
        self.rows
            .get(&(id.clone(), tenant))
            .filter(|r| r.tenant == tenant && (deleted_too || !self.is_deleted(r)))
    }

    /// Whether another row of `tenant` (live or soft-deleted) holds `value` in the
    /// unique column `col` (or the caller-given key).
    pub fn taken(&self, tenant: usize, col: usize, value: &Val, except: Option<&RowKey>) -> bool {
        !value.is_null()
            && self.rows.iter().any(|((id, _), r)| {
                r.tenant == tenant && Some(id) != except && r.vals[col] == *value
            })
    }
}

/// One audit record the library must have written.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditExp {
    pub table: &'static str,
    pub tenant: usize,
    pub entity_id: RowKey,
    pub action: &'static str,
    /// column -> (from, to)
    pub changes: BTreeMap<&'static str, (Val, Val)>,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub tables: Vec<Table>,
    /// In the order written (per row, this is the order the log must show).
    pub audit: Vec<AuditExp>,
}

impl Model {
    pub fn new(specs: &[&'static Spec]) -> Model {
        Model {
            tables: specs
                .iter()
                .map(|spec| Table {
                    spec,
                    rows: BTreeMap::new(),
                })
                .collect(),
            audit: Vec::new(),
        }
    }

    pub fn table_index(&self, name: &str) -> usize {
        self.tables
            .iter()
            .position(|t| t.spec.table == name)
            .unwrap_or_else(|| panic!("no table {name}"))
    }

    /// Whether the `belongs_to` values among columns `cols` of `vals` name a row of
    /// `tenant` (a live one if `live_only`).
    pub fn references_hold(
        &self,
        table: usize,
        tenant: usize,
        vals: &[Val],
        cols: &[usize],
        live_only: bool,
    ) -> bool {
        let spec = self.tables[table].spec;
        cols.iter().all(|&i| match spec.cols[i].fk {
            Some(target) if !vals[i].is_null() => self.tables[self.table_index(target)]
                .visible(tenant, &RowKey::from_val(&vals[i]), !live_only)
                .is_some(),
            _ => true,
        })
    }

    /// Whether rows of other tables (of the same tenant, live or not) refer to row `id`
    /// of `tenant`.
    pub fn referred_to(&self, table: usize, tenant: usize, id: &RowKey) -> bool {
        if !self.tables[table].rows.contains_key(&(id.clone(), tenant)) {
            return false;
        }
        let name = self.tables[table].spec.table;
        let id = id.to_val();
        self.tables.iter().any(|t| {
            t.spec.cols.iter().enumerate().any(|(col, c)| {
                c.fk == Some(name)
                    && t.rows
                        .values()
                        .any(|r| r.tenant == tenant && r.vals[col] == id)
            })
        })
    }

    pub fn record(
        &mut self,
        table: usize,
        tenant: usize,
        id: &RowKey,
        action: &'static str,
        changes: BTreeMap<&'static str, (Val, Val)>,
    ) {
        let spec = self.tables[table].spec;
        if spec.audit {
            self.audit.push(AuditExp {
                table: spec.table,
                tenant,
                entity_id: id.clone(),
                action,
                changes,
            });
        }
    }

    /// Removes row `id` of `tenant` for good (nothing refers to it: see `referred_to`).
    pub fn remove(&mut self, table: usize, tenant: usize, id: &RowKey) -> Option<MRow> {
        self.tables[table].rows.remove(&(id.clone(), tenant))
    }

    /// Replaces placeholders of timestamps not seen yet with the values read back (rows
    /// of `tenant`).
    pub fn learn(&mut self, table: usize, tenant: usize, rows: &[Vec<Val>]) {
        let id_col = self.tables[table].spec.id();
        for actual in rows {
            let key = (RowKey::from_val(&actual[id_col]), tenant);
            if let Some(row) = self.tables[table].rows.get_mut(&key) {
                for (mine, seen) in row.vals.iter_mut().zip(actual) {
                    if *mine == Val::TsUnseen && matches!(seen, Val::Ts(_)) {
                        *mine = seen.clone();
                    }
                }
            }
        }
    }
}

/// Which rows of a soft-deleting entity a query sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    Hidden,
    Included,
    Only,
}

/// A filter tree with its values resolved.
#[derive(Clone, Debug)]
pub enum Tree {
    Cmp(usize, CmpOp, Val),
    In(usize, Vec<Val>),
    Like(usize, String),
    Null(usize, bool),
    Not(Box<Tree>),
    And(Box<Tree>, Box<Tree>),
    Or(Box<Tree>, Box<Tree>),
    All(Vec<Tree>),
    Any(Vec<Tree>),
}

impl Tree {
    /// SQL's three-valued result of the predicate on `row` (`None` is `NULL`).
    pub fn eval(&self, row: &[Val]) -> Option<bool> {
        match self {
            Tree::Cmp(col, op, v) => {
                let x = &row[*col];
                (!x.is_null()).then(|| op.holds(x.sql_cmp(v)))
            }
            // `NULL = ANY('{}')` is false; `NULL = ANY('{a}')` is NULL.
            Tree::In(col, vs) => {
                let x = &row[*col];
                if vs.is_empty() {
                    Some(false)
                } else if x.is_null() {
                    None
                } else {
                    Some(vs.iter().any(|v| x.sql_cmp(v).is_eq()))
                }
            }
            Tree::Like(col, pattern) => match &row[*col] {
                Val::Null => None,
                Val::Text(s) => {
                    let (p, s): (Vec<char>, Vec<char>) =
                        (pattern.chars().collect(), s.chars().collect());
                    Some(like(&p, &s))
                }
                other => panic!("like on {other:?}"),
            },
            Tree::Null(col, negated) => Some(row[*col].is_null() != *negated),
            Tree::Not(inner) => inner.eval(row).map(|b| !b),
            Tree::And(a, b) => and([a.eval(row), b.eval(row)]),
            Tree::Or(a, b) => or([a.eval(row), b.eval(row)]),
            Tree::All(items) => and(items.iter().map(|t| t.eval(row))),
            Tree::Any(items) => or(items.iter().map(|t| t.eval(row))),
        }
    }

    /// Whether the tree holds a text value with a NUL byte (rejected before sending).
    pub fn has_nul(&self) -> bool {
        let nul = |v: &Val| matches!(v, Val::Text(s) if s.contains('\0'));
        match self {
            Tree::Cmp(_, _, v) => nul(v),
            Tree::In(_, vs) => vs.iter().any(nul),
            Tree::Like(_, p) => p.contains('\0'),
            Tree::Null(..) => false,
            Tree::Not(t) => t.has_nul(),
            Tree::And(a, b) | Tree::Or(a, b) => a.has_nul() || b.has_nul(),
            Tree::All(items) | Tree::Any(items) => items.iter().any(Tree::has_nul),
        }
    }
}

fn and(items: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    let mut result = Some(true);
    for item in items {
        match item {
            Some(false) => return Some(false),
            None => result = None,
            Some(true) => {}
        }
    }
    result
}

fn or(items: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    let mut result = Some(false);
    for item in items {
        match item {
            Some(true) => return Some(true),
            None => result = None,
            Some(false) => {}
        }
    }
    result
}

/// `LIKE` with `%` and `_` over characters, not bytes (patterns never hold the escape
/// character `\`; values may).
pub fn like(pattern: &[char], s: &[char]) -> bool {
    match pattern.split_first() {
        None => s.is_empty(),
        Some(('%', rest)) => (0..=s.len()).any(|i| like(rest, &s[i..])),
        Some(('_', rest)) => !s.is_empty() && like(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && like(rest, &s[1..]),
    }
}

/// Whether `count` and `exists` see only the rows `all` would return (within `limit`
/// and `offset`) rather than every match.
pub const COUNT_WITHIN_WINDOW: bool = true;

/// Whether `optional` fails with `NotUnique` when several rows match (within the window)
/// rather than returning the first.
pub const OPTIONAL_AT_MOST_ONE: bool = true;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Terminal {
    All,
    Optional,
    Count,
    Exists,
}

#[derive(Clone, Debug)]
pub enum Keyset {
    AfterId(RowKey),
    /// column, descending, value, id
    After(usize, bool, Val, RowKey),
}

/// A query with its values resolved: what both the library and the model run.
#[derive(Clone, Debug)]
pub struct Query {
    pub deleted: Deleted,
    pub filters: Vec<Tree>,
    pub keyset: Option<Keyset>,
    pub order: Vec<(usize, bool)>,
    /// The id closes every order, so that pages are deterministic.
    pub id_desc: bool,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
    pub terminal: Terminal,
}

/// What a query returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Rows(Vec<Vec<Val>>),
    Count(i64),
    Exists(bool),
}

/// `a` before `b` ascending: PostgreSQL puts `NULL` last ascending and first descending,
/// as if it were the greatest value.
fn cmp_nulls_last(a: &Val, b: &Val) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.sql_cmp(b),
    }
}

impl Query {
    pub fn has_nul(&self) -> bool {
        self.filters.iter().any(Tree::has_nul)
            || matches!(&self.keyset, Some(Keyset::After(_, _, Val::Text(s), _)) if s.contains('\0'))
    }

    /// The answer on `table` for `tenant`.
    pub fn run(&self, table: &Table, tenant: usize) -> Result<Answer, ErrKind> {
        let spec = table.spec;
        let id = spec.id();
        let mut rows: Vec<&MRow> = table
            .rows
            .values()
            .filter(|r| r.tenant == tenant)
            .filter(|r| match (spec.soft_delete, self.deleted) {
                (false, _) | (true, Deleted::Included) => true,
                (true, Deleted::Hidden) => !table.is_deleted(r),
                (true, Deleted::Only) => table.is_deleted(r),
            })
            .filter(|r| self.filters.iter().all(|f| f.eval(&r.vals) == Some(true)))
            .filter(|r| match &self.keyset {
                None => true,
                Some(Keyset::AfterId(after)) => r.vals[id].sql_cmp(&after.to_val()).is_gt(),
                Some(Keyset::After(col, desc, v, after)) => {
                    let ord = r.vals[*col]
                        .sql_cmp(v)
                        .then(r.vals[id].sql_cmp(&after.to_val()));
                    if *desc { ord.is_lt() } else { ord.is_gt() }
                }
            })
            .collect();
        if !COUNT_WITHIN_WINDOW {
            match self.terminal {
                Terminal::Count => return Ok(Answer::Count(rows.len() as i64)),
                Terminal::Exists => return Ok(Answer::Exists(!rows.is_empty())),
                _ => {}
            }
        }
        let mut order = Vec::new();
        match &self.keyset {
            None => {}
            Some(Keyset::AfterId(_)) => order.push((id, false)),
            Some(Keyset::After(col, desc, ..)) => order.extend([(*col, *desc), (id, *desc)]),
        }
        order.extend(self.order.iter().copied());
        order.push((id, self.id_desc));
        rows.sort_by(|a, b| {
            order
                .iter()
                .map(|&(col, desc)| {
                    let ord = cmp_nulls_last(&a.vals[col], &b.vals[col]);
                    if desc { ord.reverse() } else { ord }
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        let limit = match self.terminal {
            Terminal::Optional if OPTIONAL_AT_MOST_ONE => Some(self.limit.map_or(2, |l| l.min(2))),
            Terminal::Optional => Some(1),
            _ => self.limit,
        };
        let page: Vec<Vec<Val>> = rows
            .into_iter()
            .skip(self.offset.unwrap_or(0) as usize)
            .take(limit.map_or(usize::MAX, |l| l as usize))
            .map(|r| r.vals.clone())
            .collect();
        Ok(match self.terminal {
            Terminal::Count => Answer::Count(page.len() as i64),
            Terminal::Exists => Answer::Exists(!page.is_empty()),
            Terminal::Optional if page.len() > 1 => return Err(ErrKind::NotUnique),
            Terminal::All | Terminal::Optional => Answer::Rows(page),
        })
    }
}

/// Whether rows read back are the rows the model expects (unseen timestamps match any).
pub fn rows_admit(expected: &[Vec<Val>], actual: &[Vec<Val>]) -> bool {
    expected.len() == actual.len()
        && expected
            .iter()
            .zip(actual)
            .all(|(e, a)| e.len() == a.len() && e.iter().zip(a).all(|(e, a)| e.admits(a)))
}

pub fn answer_admits(expected: &Answer, actual: &Answer) -> bool {
    match (expected, actual) {
        (Answer::Rows(e), Answer::Rows(a)) => rows_admit(e, a),
        (e, a) => e == a,
    }
}
