//! The fixed statements of an entity, built once per process from its [`EntityMeta`].

use super::audit::{Diff, old_value, record_cte};
use super::{Params, TENANT_PARAM, column_list, ident, role_column};
use crate::entity::{ColumnRole, EntityMeta};

/// The fixed SQL of one entity. Built once, on first use, by the derive's generated
/// `statements()`; the text never varies with input, so each statement is prepared once
/// per connection.
#[doc(hidden)]
#[derive(Debug)]
pub struct Statements {
    pub(crate) find: String,
    pub(crate) find_many: String,
    pub(crate) insert: String,
    pub(crate) insert_many: String,
    pub(crate) update: String,
    pub(crate) delete: String,
    pub(crate) restore: String,
    pub(crate) purge: String,
    /// Per `belongs_to` relation, in declaration order: live children of many parents.
    pub(crate) load_by: Vec<String>,
    /// The same, soft-deleted children included.
    pub(crate) load_by_with_deleted: Vec<String>,
}

/// The names an entity's statements are made of, quoted once.
struct Names<'m> {
    meta: &'m EntityMeta,
    table: String,
    tenant: String,
    id: String,
    columns: String,
    soft_delete: Option<String>,
}

impl Names<'_> {
    /// ` AND "deleted_at" IS NULL` for soft-deleting entities, qualified by `alias`.
    fn live(&self, alias: &str) -> String {
        self.soft_delete
            .as_ref()
            .map(|sd| format!(" AND {alias}{sd} IS NULL"))
            .unwrap_or_default()
    }

    /// `<alias>tenant = $1 AND <alias>id = <first parameter after tenant and actor>`.
    fn by_id(&self, alias: &str) -> String {
        let id_param = Params::write(self.meta).next();
        format!(
            "{alias}{} = {TENANT_PARAM} AND {alias}{} = {id_param}",
            self.tenant, self.id
        )
    }

    fn returning(&self, alias: &str) -> String {
        column_list(self.meta, Some(alias))
    }
}

impl Statements {
    /// Builds every statement of `meta`.
    pub fn new(meta: &EntityMeta) -> Self {
        let names = Names {
            meta,
            table: ident(meta.table),
            tenant: role_column(meta, ColumnRole::TenantId).expect("validated by the derive"),
            id: role_column(meta, ColumnRole::Id).expect("validated by the derive"),
            columns: column_list(meta, None),
            soft_delete: role_column(meta, ColumnRole::SoftDelete),
        };
        let Names {
            table,
            tenant,
            id,
            columns,
            ..
        } = &names;
        let live = names.live("");

        let select = format!("SELECT {columns} FROM {table} WHERE {tenant} = {TENANT_PARAM}");
        let (load_by, load_by_with_deleted) = meta
            .relations
            .iter()
            .map(|fk| {
                let fk = ident(fk);
                let all = format!("{select} AND {fk} = ANY($2)");
                let order = format!(" ORDER BY {fk}, {id}");
                (format!("{all}{live}{order}"), format!("{all}{order}"))
            })
            .unzip();

        let (delete, restore) = match &names.soft_delete {
            Some(sd) => (
                modify(
                    &names,
                    "delete",
                    &format!("{sd} = now()"),
                    &names.live("t."),
                    false,
                ),
                modify(
                    &names,
                    "restore",
                    &format!("{sd} = NULL"),
                    &format!(" AND t.{sd} IS NOT NULL"),
                    true,
                ),
            ),
            None => (remove(&names, "delete"), String::new()),
        };

        Statements {
            find: format!("{select} AND {id} = $2{live}"),
            find_many: format!("{select} AND {id} = ANY($2){live}"),
            insert: insert(&names, false),
            insert_many: insert(&names, true),
            update: update(&names),
            delete,
            restore,
            purge: remove(&names, "purge"),
            load_by,
            load_by_with_deleted,
        }
    }
}

/// `INSERT` of one row (`VALUES`) or of many (one array per column, through `UNNEST`).
/// Parameters after the tenant (and actor): the id(s), then each data column.
fn insert(names: &Names<'_>, many: bool) -> String {
    let Names {
        meta,
        table,
        id,
        columns,
        ..
    } = names;
    let mut params = Params::write(meta);
    let mut targets = Vec::new();
    let mut values = Vec::new();
    let mut arrays = Vec::new();
    for column in meta.columns {
        let value = match column.role {
            ColumnRole::TenantId => TENANT_PARAM.to_owned(),
            ColumnRole::CreatedAt | ColumnRole::UpdatedAt => "now()".to_owned(),
            ColumnRole::SoftDelete => continue,
            ColumnRole::Id | ColumnRole::Data if many => {
                arrays.push(params.next());
                format!("u.c{}", arrays.len())
            }
            ColumnRole::Id | ColumnRole::Data => params.next(),
        };
        targets.push(ident(column.name));
        values.push(value);
    }
    let targets = targets.join(", ");
    let values = values.join(", ");
    let statement = if many {
        let aliases: Vec<String> = (1..=arrays.len()).map(|i| format!("c{i}")).collect();
        format!(
            "INSERT INTO {table} ({targets}) SELECT {values} FROM UNNEST({}) AS u({})",
            arrays.join(", "),
            aliases.join(", ")
        )
    } else {
        format!("INSERT INTO {table} ({targets}) VALUES ({values})")
    };
    if !meta.audit {
        return format!("{statement} RETURNING {columns}");
    }
    format!(
        "WITH new_rows AS ({statement} RETURNING {columns}), {} SELECT {columns} FROM new_rows",
        record_cte(
            meta,
            "insert",
            "new_rows AS n",
            &format!("n.{id}"),
            Diff::Created
        )
    )
}

/// `UPDATE` of the data columns a patch sets. Parameters after the tenant (and actor): the
/// id, then per data column either the value (`NULL` keeps the current one) or, for an
/// optional column, a "set" flag and the value. `updated_at` moves only when a value does.
fn update(names: &Names<'_>) -> String {
    let meta = names.meta;
    let mut params = Params::write(meta);
    params.next(); // the id, bound first (see `modify`)
    let mut sets = Vec::new();
    let mut current = Vec::new();
    let mut next = Vec::new();
    for column in meta.data_columns() {
        let name = ident(column.name);
        let value = if column.nullable {
            let (flag, value) = (params.next(), params.next());
            format!("CASE WHEN {flag} THEN {value} ELSE t.{name} END")
        } else {
            format!("COALESCE({}, t.{name})", params.next())
        };
        sets.push(format!("{name} = {value}"));
        current.push(format!("t.{name}"));
        next.push(value);
    }
    if let Some(updated_at) = role_column(meta, ColumnRole::UpdatedAt) {
        let touched = if next.is_empty() {
            "false".to_owned()
        } else {
            format!(
                "ROW({}) IS DISTINCT FROM ROW({})",
                next.join(", "),
                current.join(", ")
            )
        };
        sets.push(format!(
            "{updated_at} = CASE WHEN {touched} THEN now() ELSE t.{updated_at} END"
        ));
    }
    if sets.is_empty() {
        // Nothing is writable: the update still locks and returns the row.
        sets.push(format!("{id} = t.{id}", id = names.id));
    }
    modify(names, "update", &sets.join(", "), &names.live("t."), true)
}

/// `UPDATE <table> AS t SET <set>` of one row by id (the first parameter after the tenant
/// and actor) that also matches `extra_filter`: plain, or for audited entities locking the
/// old row first and recording the diff in the same statement. Returns the row, or its id.
fn modify(
    names: &Names<'_>,
    action: &str,
    set: &str,
    extra_filter: &str,
    returning: bool,
) -> String {
    let Names {
        meta,
        table,
        tenant,
        id,
        columns,
        ..
    } = names;
    let filter = format!("{}{extra_filter}", names.by_id("t."));
    let output = if returning {
        columns.clone()
    } else {
        id.clone()
    };
    if !meta.audit {
        let returned = if returning {
            names.returning("t")
        } else {
            format!("t.{id}")
        };
        return format!("UPDATE {table} AS t SET {set} WHERE {filter} RETURNING {returned}");
    }
    // One UPDATE joined to the locked old row returns old and new values side by side;
    // the audit record is computed from that single row.
    let old_values: Vec<String> = (0..meta.columns.len())
        .map(|i| format!("o.{} AS {}", ident(meta.columns[i].name), old_value(i)))
        .collect();
    format!(
        "WITH changed AS (UPDATE {table} AS t SET {set} \
         FROM (SELECT {returning_t} FROM {table} AS t WHERE {filter} FOR UPDATE) AS o \
         WHERE t.{tenant} = {TENANT_PARAM} AND t.{id} = o.{id} RETURNING {returning_t}, {old_values}), \
         {audit} SELECT {output} FROM changed",
        returning_t = names.returning("t"),
        old_values = old_values.join(", "),
        audit = record_cte(
            meta,
            action,
            "changed AS c",
            &format!("c.{id}"),
            Diff::Changed
        ),
    )
}

/// `DELETE` of one row by id, deleted or not; audited entities record the row as it was.
fn remove(names: &Names<'_>, action: &str) -> String {
    let Names {
        meta,
        table,
        id,
        columns,
        ..
    } = names;
    let statement = format!("DELETE FROM {table} WHERE {}", names.by_id(""));
    if !meta.audit {
        return format!("{statement} RETURNING {id}");
    }
    format!(
        "WITH old_rows AS ({statement} RETURNING {columns}), {} SELECT {id} FROM old_rows",
        record_cte(
            meta,
            action,
            "old_rows AS o",
            &format!("o.{id}"),
            Diff::Removed
        )
    )
}
