//! The fixed statements of an entity, built once per process from its [`EntityMeta`],
//! each with its parameter plan.

use std::sync::OnceLock;

use super::alias::{self, BATCH, CHANGED, KEY, KEYS, OLD, TARGET};
use super::alias::{EXISTING, UPSERTED};
use super::audit::{Diff, record_cte, record_upsert_cte};
use super::plan::{Param, Plan, Statement};
use super::{column, column_list, ident, in_tenant, live, now, parent_exists, table};
use crate::action::AuditAction;
use crate::meta::{ColumnMeta, ColumnRole, EntityMeta};

/// The fixed SQL of one entity. Built once, on first use, by the derive's generated
/// `statements()`; the text never varies with input, so each statement is prepared once
/// per connection.
#[doc(hidden)]
#[derive(Debug)]
pub struct Statements {
    pub(crate) find: Statement,
    pub(crate) find_many: Statement,
    /// The inserts, for an entity without `default` columns.
    pub(crate) inserts: Inserts,
    /// The inserts of an entity with `default` columns, built once their defaults are
    /// read from the database (see `repo::inserts`).
    pub(crate) defaulted: OnceLock<Inserts>,
    pub(crate) update: Statement,
    pub(crate) delete: Statement,
    /// For soft-deleting entities only.
    pub(crate) restore: Option<Statement>,
    pub(crate) purge: Statement,
    /// Per `belongs_to` relation, in declaration order: live children of many parents.
    pub(crate) load_by: Vec<Statement>,
    /// The same, soft-deleted children included.
    pub(crate) load_by_with_deleted: Vec<Statement>,
}

/// The statements that insert rows: with `default` columns they embed the database's
/// default expressions, so they are built per set of defaults.
#[derive(Debug)]
pub(crate) struct Inserts {
    pub(crate) insert: Statement,
    pub(crate) insert_many: Statement,
    /// Per unique key, in declaration order: insert, or update the live row with the key.
    pub(crate) insert_or_update: Vec<Statement>,
    /// Per unique key: insert unless a row has the key.
    pub(crate) insert_or_ignore: Vec<Statement>,
}

/// The default expressions of an entity's `default` columns, by column position, as the
/// database reports them (`pg_get_expr`).
#[derive(Debug, Default)]
pub(crate) struct Defaults(pub(crate) Vec<Option<String>>);

impl Defaults {
    fn of(&self, column: &ColumnMeta) -> Option<&str> {
        self.0.get(column.index)?.as_deref()
    }
}

impl Inserts {
    /// The inserts of `meta`, a `NULL` for a `default` column taking its expression in
    /// `defaults`.
    pub(crate) fn new(meta: &EntityMeta, defaults: &Defaults) -> Self {
        Inserts {
            insert: insert(meta, false, defaults),
            insert_many: insert(meta, true, defaults),
            insert_or_update: meta
                .unique_keys
                .iter()
                .map(|key| upsert(meta, key, true, defaults))
                .collect(),
            insert_or_ignore: meta
                .unique_keys
                .iter()
                .map(|key| upsert(meta, key, false, defaults))
                .collect(),
        }
    }
}

impl Statements {
    /// Builds every statement of `meta`.
    pub fn new(meta: &EntityMeta) -> Self {
        let (delete, restore) = match meta.soft_delete {
            Some(sd) => (
                modify(
                    meta,
                    AuditAction::Delete,
                    sd,
                    &now(sd),
                    &live(meta, Some(TARGET)),
                    false,
                ),
                Some(modify(
                    meta,
                    AuditAction::Restore,
                    sd,
                    "NULL",
                    &format!(" AND {} IS NOT NULL", column(Some(TARGET), sd)),
                    true,
                )),
            ),
            None => (remove(meta, AuditAction::Delete), None),
        };
        Statements {
            find: by_key(meta, "=", None, true),
            find_many: by_key(meta, "= ANY", None, true),
            inserts: Inserts::new(meta, &Defaults::default()),
            defaulted: OnceLock::new(),
            update: update(meta),
            delete,
            restore,
            purge: remove(meta, AuditAction::Purge),
            load_by: meta
                .relations
                .iter()
                .map(|r| by_key(meta, "= ANY", Some(r.column), true))
                .collect(),
            load_by_with_deleted: meta
                .relations
                .iter()
                .map(|r| by_key(meta, "= ANY", Some(r.column), false))
                .collect(),
        }
    }
}

impl Statements {
    /// Every statement, named by its function (and relation or unique key number), for
    /// tests that inspect the SQL (the routability check).
    #[doc(hidden)]
    pub fn named(&self) -> Vec<(String, &Statement)> {
        let mut all = vec![
            ("find".to_owned(), &self.find),
            ("find_many".to_owned(), &self.find_many),
            ("insert".to_owned(), &self.inserts.insert),
            ("insert_many".to_owned(), &self.inserts.insert_many),
            ("update".to_owned(), &self.update),
            ("delete".to_owned(), &self.delete),
            ("purge".to_owned(), &self.purge),
        ];
        all.extend(self.restore.iter().map(|s| ("restore".to_owned(), s)));
        let numbered = [
            ("load_by", &self.load_by),
            ("load_by_with_deleted", &self.load_by_with_deleted),
            ("insert_or_update", &self.inserts.insert_or_update),
            ("insert_or_ignore", &self.inserts.insert_or_ignore),
        ];
        for (name, statements) in numbered {
            all.extend(
                statements
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("{name}[{i}]"), s)),
            );
        }
        all
    }
}

/// The rows whose `key` column (the id, or a foreign key ordered by key then id) matches
/// the call's key with `comparison`; live rows only when `live_only`.
fn by_key(
    meta: &EntityMeta,
    comparison: &str,
    key: Option<&ColumnMeta>,
    live_only: bool,
) -> Statement {
    let mut plan = Plan::default();
    let mut sql = format!(
        "SELECT {} FROM {} WHERE {}",
        column_list(meta, None),
        table(meta.table),
        in_tenant(&mut plan, meta, None),
    );
    let key_column = ident(key.unwrap_or(meta.id).name);
    let comparison = if comparison == "=" {
        format!(" AND {key_column} = {}", plan.param(Param::Key))
    } else {
        format!(" AND {key_column} {comparison}({})", plan.param(Param::Key))
    };
    sql.push_str(&comparison);
    if live_only {
        sql.push_str(&live(meta, None));
    }
    if key.is_some() {
        sql.push_str(&format!(" ORDER BY {key_column}, {}", ident(meta.id.name)));
    }
    plan.finish(sql)
}

/// `RETURNING` and audit for a write whose CTE `cte` yields rows aliased `row`.
fn audited(
    plan: &mut Plan,
    meta: &EntityMeta,
    write: String,
    action: AuditAction,
    diff: Diff,
    output: &str,
) -> String {
    let columns = column_list(meta, None);
    let cte = diff.source();
    format!(
        "WITH {cte} AS ({write} RETURNING {columns}), {} SELECT {output} FROM {cte}",
        record_cte(plan, meta, action, diff),
    )
}

/// `INSERT` of one row (`VALUES`) or of many (one array per column, through `UNNEST`).
/// Each `belongs_to` value must name a live parent of the scope's tenant, or nothing is
/// inserted.
fn insert(meta: &EntityMeta, many: bool, defaults: &Defaults) -> Statement {
    let mut plan = if many {
        Plan::default()
    } else {
        Plan::one_row()
    };
    let write = insert_write(&mut plan, meta, many, "", Vec::new(), defaults);
    let columns = column_list(meta, None);
    let sql = if meta.audit {
        audited(
            &mut plan,
            meta,
            write,
            AuditAction::Insert,
            Diff::Created,
            &columns,
        )
    } else {
        format!("{write} RETURNING {columns}")
    };
    plan.finish(sql)
}

/// The `INSERT` itself, without `RETURNING`; `into_alias` names the table (` AS t`) for
/// an `ON CONFLICT` that refers to it.
fn insert_write(
    plan: &mut Plan,
    meta: &EntityMeta,
    many: bool,
    into_alias: &str,
    mut guards: Vec<String>,
    defaults: &Defaults,
) -> String {
    let mut targets = Vec::new();
    let mut values = Vec::new();
    let mut arrays = Vec::new();
    for column in meta.columns {
        let param = match column.role {
            // The database writes it: a generated column, or an id it makes.
            _ if column.generated => continue,
            ColumnRole::TenantId => Some(Param::Tenant),
            ColumnRole::Id => Some(Param::Key),
            ColumnRole::Data => Some(Param::Data {
                index: column.index,
                column: column.name,
            }),
            ColumnRole::CreatedAt | ColumnRole::UpdatedAt | ColumnRole::Version => None,
            ColumnRole::SoftDelete => continue,
        };
        let value = match param {
            None if column.role == ColumnRole::Version => "1".to_owned(),
            None => now(column),
            Some(Param::Tenant) => plan.param(Param::Tenant),
            // One flat array and where each row's array lies in it: `UNNEST` cannot
            // carry an array per row.
            Some(param) if many && column.array => {
                let flat = plan.param(param);
                let mut bound = |upper| {
                    arrays.push(plan.param(Param::ArrayBound {
                        index: column.index,
                        column: column.name,
                        upper,
                    }));
                    format!("{BATCH}.{}", alias::batch_column(arrays.len()))
                };
                let (first, last) = (bound(false), bound(true));
                format!("CASE WHEN {first} IS NOT NULL THEN ({flat})[{first}:{last}] END")
            }
            Some(param) if many => {
                arrays.push(plan.param(param));
                format!("{BATCH}.{}", alias::batch_column(arrays.len()))
            }
            Some(param) => plan.param(param),
        };
        // `NULL` for a `default` column lets the database's default apply: its expression
        // is evaluated only then.
        let value = match defaults.of(column) {
            Some(default) => format!("COALESCE({value}, {default})"),
            None => value,
        };
        if let Some(relation) = meta.relation_of(column) {
            let parent = (relation.parent)();
            // An optional relation may be NULL; any value it has must be a live parent.
            let unset = |key: &str| {
                if column.nullable {
                    format!("{key} IS NULL OR ")
                } else {
                    String::new()
                }
            };
            guards.push(if many {
                // Every key of the array, or no row at all: the batch stays atomic.
                let keys = plan.param(Param::Data {
                    index: column.index,
                    column: column.name,
                });
                let key = format!("{KEYS}.{KEY}");
                format!(
                    "NOT EXISTS (SELECT 1 FROM UNNEST({keys}) AS {KEYS}({KEY}) WHERE NOT ({}{}))",
                    unset(&key),
                    parent_exists(plan, parent, &key)
                )
            } else {
                format!("({}{})", unset(&value), parent_exists(plan, parent, &value))
            });
        }
        targets.push(ident(column.name));
        values.push(value);
    }
    let mut write = format!(
        "INSERT INTO {}{into_alias} ({}) SELECT {}",
        table(meta.table),
        targets.join(", "),
        values.join(", "),
    );
    if many {
        let names: Vec<String> = (1..=arrays.len()).map(alias::batch_column).collect();
        write.push_str(&format!(
            " FROM UNNEST({}) AS {BATCH}({})",
            arrays.join(", "),
            names.join(", ")
        ));
    }
    if !guards.is_empty() {
        write.push_str(&format!(" WHERE {}", guards.join(" AND ")));
    }
    write
}

/// `INSERT ... ON CONFLICT` on the tenant and `key`, against live rows (so a partial unique
/// index `WHERE <soft delete> IS NULL` is the arbiter): with `update`, `DO UPDATE` of every
/// data column to the new values (a `default` column left `None` keeps its value), else
/// `DO NOTHING`. Audited entities lock the existing
/// row first, so the record says whether the statement inserted or updated, with the
/// diff of what changed.
fn upsert(meta: &EntityMeta, key: &[&ColumnMeta], update: bool, defaults: &Defaults) -> Statement {
    let mut plan = Plan::one_row();
    let t = Some(TARGET);
    // Audited, the existing row is read (and locked) before the insert runs: referring to
    // it in the insert's condition evaluates it first. Read after, a row the statement
    // itself updated would be skipped by the lock.
    let before = if update && meta.audit {
        vec![format!("(SELECT count(*) FROM {EXISTING}) >= 0")]
    } else {
        Vec::new()
    };
    let write = insert_write(
        &mut plan,
        meta,
        false,
        &format!(" AS {TARGET}"),
        before,
        defaults,
    );
    // A `via` entity has no tenant column: its key is unique on its own.
    let mut target: Vec<String> = match meta.via {
        None => vec![ident(meta.tenant.name)],
        Some(_) => Vec::new(),
    };
    target.extend(key.iter().map(|c| ident(c.name)));
    let arbiter = match meta.soft_delete {
        Some(sd) => format!("({}) WHERE {} IS NULL", target.join(", "), ident(sd.name)),
        None => format!("({})", target.join(", ")),
    };
    let columns = column_list(meta, None);
    if !update {
        let write = format!("{write} ON CONFLICT {arbiter} DO NOTHING");
        let sql = if meta.audit {
            audited(
                &mut plan,
                meta,
                write,
                AuditAction::Insert,
                Diff::Created,
                &columns,
            )
        } else {
            format!("{write} RETURNING {columns}")
        };
        return plan.finish(sql);
    }
    let (mut sets, mut current, mut next) = (Vec::new(), Vec::new(), Vec::new());
    for c in meta.data_columns() {
        let excluded = format!("EXCLUDED.{}", ident(c.name));
        // A `default` column left `NULL` (`None`) keeps the row's value when the insert
        // finds the row: the default is for new rows, as a patch's `None` changes nothing.
        let value = match defaults.of(c) {
            Some(_) => {
                let given = plan.param(Param::Data {
                    index: c.index,
                    column: c.name,
                });
                format!(
                    "CASE WHEN {given} IS NULL THEN {} ELSE {excluded} END",
                    column(t, c)
                )
            }
            None => excluded,
        };
        sets.push(format!("{} = {value}", ident(c.name)));
        current.push(column(t, c));
        next.push(value);
    }
    sets.extend(moved_on_change(meta, &next, &current));
    if sets.is_empty() {
        sets.push(format!("{} = {}", ident(meta.id.name), column(t, meta.id)));
    }
    let condition = format!("{}{}", in_tenant(&mut plan, meta, t), live(meta, t));
    // Audited, the update must see the row it diffs against: a row another transaction
    // inserted after this statement's snapshot is not in `existing`, so the update is
    // skipped and the library runs the statement again, on a fresh snapshot.
    let seen = if meta.audit {
        format!(" AND EXISTS (SELECT 1 FROM {EXISTING})")
    } else {
        String::new()
    };
    let write = format!(
        "{write} ON CONFLICT {arbiter} DO UPDATE SET {} WHERE {condition}{seen}",
        sets.join(", ")
    );
    if !meta.audit {
        return plan.finish(format!("{write} RETURNING {}", column_list(meta, t)));
    }
    // The existing row, locked before the insert tries; its values become the diff's
    // "from" when the insert turns into an update.
    let key_match: Vec<String> = key
        .iter()
        .map(|c| {
            let value = plan.param(Param::Data {
                index: c.index,
                column: c.name,
            });
            format!(" AND {} = {value}", column(t, c))
        })
        .collect();
    let old_values: Vec<String> = meta
        .columns
        .iter()
        .map(|c| format!("{} AS {}", column(t, c), alias::old_value(c.index)))
        .collect();
    let existing = format!(
        "SELECT {} FROM {} AS {TARGET} WHERE {condition}{} FOR UPDATE",
        old_values.join(", "),
        table(meta.table),
        key_match.join(""),
    );
    let sql = format!(
        "WITH {EXISTING} AS ({existing}), {UPSERTED} AS ({write} RETURNING {}, ({TARGET}.xmax = 0) AS {}), {} \
         SELECT {columns} FROM {UPSERTED}",
        column_list(meta, t),
        alias::inserted(),
        record_upsert_cte(&mut plan, meta),
    );
    plan.finish(sql)
}

/// `UPDATE` of the data columns a patch sets, on the scope's live row with the call's key.
fn update(meta: &EntityMeta) -> Statement {
    let mut plan = Plan::one_row();
    let patch = patch_sets(&mut plan, meta);
    let filter = format!("{}{}", live(meta, Some(TARGET)), patch.guards);
    modify_with(plan, meta, AuditAction::Update, &patch.sets, &filter, true)
}

/// The `SET` list of a patch, and the guards its `belongs_to` values must pass.
pub(crate) struct PatchSets {
    pub(crate) sets: String,
    /// ` AND (...)` per relation the patch may change: the new parent must be a live row
    /// of the scope's tenant, or nothing is updated.
    pub(crate) guards: String,
}

/// Per required column the new value or `NULL` to keep the stored one, per optional column
/// a "set" flag and the value. `updated_at` moves only when a value does.
pub(crate) fn patch_sets(plan: &mut Plan, meta: &EntityMeta) -> PatchSets {
    let t = Some(TARGET);
    let (mut sets, mut current, mut next, mut guards) =
        (Vec::new(), Vec::new(), Vec::new(), String::new());
    for c in meta.data_columns() {
        let stored = column(t, c);
        let value = plan.param(Param::Data {
            index: c.index,
            column: c.name,
        });
        let (new_value, unchanged) = if c.nullable {
            let flag = plan.param(Param::SetFlag {
                index: c.index,
                column: c.name,
            });
            (
                format!("CASE WHEN {flag} THEN {value} ELSE {stored} END"),
                format!("NOT {flag} OR {value} IS NULL"),
            )
        } else {
            (
                format!("COALESCE({value}, {stored})"),
                format!("{value} IS NULL"),
            )
        };
        if let Some(relation) = meta.relation_of(c) {
            let parent = (relation.parent)();
            guards.push_str(&format!(
                " AND ({unchanged} OR {})",
                parent_exists(plan, parent, &value)
            ));
        }
        sets.push(format!("{} = {new_value}", ident(c.name)));
        current.push(stored);
        next.push(new_value);
    }
    sets.extend(moved_on_change(meta, &next, &current));
    if let Some(version) = meta.version {
        // The version the caller read, if given, must still be the row's.
        let expected = plan.param(Param::Data {
            index: version.index,
            column: version.name,
        });
        guards.push_str(&format!(
            " AND ({expected} IS NULL OR {} = {expected})",
            column(t, version)
        ));
    }
    if sets.is_empty() {
        // Nothing is writable: the update still locks and returns the row.
        sets.push(format!("{} = {}", ident(meta.id.name), column(t, meta.id)));
    }
    PatchSets {
        sets: sets.join(", "),
        guards,
    }
}

/// The columns that move when an update changes a value (some of `next` differs from
/// `current`): `updated_at` to `now()`, the version up by one.
fn moved_on_change(meta: &EntityMeta, next: &[String], current: &[String]) -> Vec<String> {
    let t = Some(TARGET);
    let touched = if next.is_empty() {
        "false".to_owned()
    } else {
        format!(
            "ROW({}) IS DISTINCT FROM ROW({})",
            next.join(", "),
            current.join(", ")
        )
    };
    let mut sets = Vec::new();
    if let Some(updated_at) = meta.updated_at {
        sets.push(format!(
            "{} = CASE WHEN {touched} THEN {} ELSE {} END",
            ident(updated_at.name),
            now(updated_at),
            column(t, updated_at)
        ));
    }
    if let Some(version) = meta.version {
        sets.push(format!(
            "{} = CASE WHEN {touched} THEN {v} + 1 ELSE {v} END",
            ident(version.name),
            v = column(t, version)
        ));
    }
    sets
}

/// An update of one row by key that sets column `target` to `value` (a soft delete or a
/// restore), on rows that also match `extra_filter`.
fn modify(
    meta: &EntityMeta,
    action: AuditAction,
    target: &ColumnMeta,
    value: &str,
    extra_filter: &str,
    returning: bool,
) -> Statement {
    let set = format!("{} = {value}", ident(target.name));
    modify_with(Plan::one_row(), meta, action, &set, extra_filter, returning)
}

/// `UPDATE <table> AS t SET <set>` of the scope's row with the call's key that also
/// matches `extra_filter`: plain, or for audited entities locking the old row first and
/// recording the diff in the same statement. Returns the row, or its id.
fn modify_with(
    mut plan: Plan,
    meta: &EntityMeta,
    action: AuditAction,
    set: &str,
    extra_filter: &str,
    returning: bool,
) -> Statement {
    let t = Some(TARGET);
    let tbl = table(meta.table);
    let filter = format!(
        "{} AND {} = {}{extra_filter}",
        in_tenant(&mut plan, meta, t),
        column(t, meta.id),
        plan.param(Param::Key),
    );
    if !meta.audit {
        let returned = if returning {
            column_list(meta, t)
        } else {
            column(t, meta.id)
        };
        let sql = format!("UPDATE {tbl} AS {TARGET} SET {set} WHERE {filter} RETURNING {returned}");
        return plan.finish(sql);
    }
    let selection = format!(
        "SELECT {} FROM {tbl} AS {TARGET} WHERE {filter} FOR UPDATE",
        column_list(meta, t)
    );
    let sql = update_rows(&mut plan, meta, action, set, &selection, returning);
    plan.finish(sql)
}

/// `UPDATE <table> AS t SET <set>` of the rows `selection` locks (a `SELECT` of the
/// entity's columns from the table aliased `t`, `FOR UPDATE`), returning them (or their
/// ids); audited entities record each row's diff in the same statement, computed from the
/// old and new values the update returns side by side.
pub(crate) fn update_rows(
    plan: &mut Plan,
    meta: &EntityMeta,
    action: AuditAction,
    set: &str,
    selection: &str,
    returning: bool,
) -> String {
    let t = Some(TARGET);
    let tbl = table(meta.table);
    let join = format!(
        "{} AND {} = {}",
        in_tenant(plan, meta, t),
        column(t, meta.id),
        column(Some(OLD), meta.id)
    );
    let output = if returning {
        column_list(meta, None)
    } else {
        ident(meta.id.name)
    };
    let update =
        format!("UPDATE {tbl} AS {TARGET} SET {set} FROM ({selection}) AS {OLD} WHERE {join}");
    if !meta.audit {
        return format!("{update} RETURNING {}", column_list(meta, t));
    }
    let old_values: Vec<String> = meta
        .columns
        .iter()
        .map(|c| format!("{} AS {}", column(Some(OLD), c), alias::old_value(c.index)))
        .collect();
    format!(
        "WITH {CHANGED} AS ({update} RETURNING {}, {}), {} SELECT {output} FROM {CHANGED}",
        column_list(meta, t),
        old_values.join(", "),
        record_cte(plan, meta, action, Diff::Changed),
    )
}

/// `DELETE` of the rows `selection` locks (see [`update_rows`]), returning them;
/// audited entities record each row as it was.
pub(crate) fn remove_rows(
    plan: &mut Plan,
    meta: &EntityMeta,
    action: AuditAction,
    selection: &str,
) -> String {
    let t = Some(TARGET);
    let write = format!(
        "DELETE FROM {} AS {TARGET} USING ({selection}) AS {OLD} WHERE {} AND {} = {}",
        table(meta.table),
        in_tenant(plan, meta, t),
        column(t, meta.id),
        column(Some(OLD), meta.id)
    );
    let columns = column_list(meta, None);
    if meta.audit {
        let returned = column_list(meta, t);
        let cte = Diff::Removed.source();
        format!(
            "WITH {cte} AS ({write} RETURNING {returned}), {} SELECT {columns} FROM {cte}",
            record_cte(plan, meta, action, Diff::Removed),
        )
    } else {
        format!("{write} RETURNING {}", column_list(meta, t))
    }
}

/// `DELETE` of the scope's row with the call's key, deleted or not; audited entities
/// record the row as it was.
fn remove(meta: &EntityMeta, action: AuditAction) -> Statement {
    let mut plan = Plan::one_row();
    let write = format!(
        "DELETE FROM {} WHERE {} AND {} = {}",
        table(meta.table),
        in_tenant(&mut plan, meta, None),
        ident(meta.id.name),
        plan.param(Param::Key),
    );
    let id = ident(meta.id.name);
    let sql = if meta.audit {
        audited(&mut plan, meta, write, action, Diff::Removed, &id)
    } else {
        format!("{write} RETURNING {id}")
    };
    plan.finish(sql)
}
