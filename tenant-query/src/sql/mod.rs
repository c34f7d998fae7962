//! The one place SQL text is built.
//!
//! Identifiers come only from the derive and are always quoted; values are always bound
//! parameters, numbered only by the statement's plan ([`plan`]). Every scoped statement
//! names the tenant column of every table it touches, so a tenant-distributed PostgreSQL
//! can route it to one node (`tests/correctness/routable/` parses them all to check it);
//! the exceptions are the unscoped `owner_of` lookup and tables without a tenant column
//! (`via`), whose statements prove the tenant through the parent instead (see
//! [`in_tenant`]).

mod aggregate;
pub(crate) mod alias;
mod audit;
pub(crate) mod catalog;
pub(crate) mod fence;
pub(crate) mod plan;
pub(crate) mod rls;
mod select;
mod statements;
mod write;

pub(crate) use aggregate::{Aggregate, render_aggregate, render_latest};
pub(crate) use audit::{
    AUDIT_LOG_DDL, AUDIT_LOG_TABLE, AuditFilter, audit_log_ddl, render_audit_select,
};
pub use plan::Statement;
pub(crate) use plan::{Input, Param, Plan};
pub(crate) use select::{DeletedRows, Lock, Projection, SelectParts, render_owner, render_select};
pub use statements::Statements;
pub(crate) use statements::{Defaults, Inserts};
pub(crate) use write::{BulkWrite, render_bulk};

use crate::meta::{ColumnMeta, EntityMeta};

/// `name` as a quoted SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A table name as SQL: `schema.table` becomes `"schema"."table"`.
pub(crate) fn table(name: &str) -> String {
    match name.split_once('.') {
        Some((schema, table)) => format!("{}.{}", ident(schema), ident(table)),
        None => ident(name),
    }
}

/// The current time for `column`: `now()` for `timestamptz`, and for a `timestamp without
/// time zone` column (a `NaiveDateTime` field) the current time in UTC.
pub(crate) fn now(column: &ColumnMeta) -> String {
    if column.naive {
        "(now() AT TIME ZONE 'UTC')".to_owned()
    } else {
        "now()".to_owned()
    }
}

/// `text` as a quoted SQL string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `alias."column"`, or `"column"` with no alias.
pub(crate) fn column(alias: Option<&str>, column: &ColumnMeta) -> String {
    match alias {
        Some(alias) => format!("{alias}.{}", ident(column.name)),
        None => ident(column.name),
    }
}

/// The quoted column list of `meta`, each qualified by `alias` when given.
pub(crate) fn column_list(meta: &EntityMeta, alias: Option<&str>) -> String {
    meta.columns
        .iter()
        .map(|c| column(alias, c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// ` AND alias."deleted_at" IS NULL` for soft-deleting entities, nothing otherwise.
pub(crate) fn live(meta: &EntityMeta, alias: Option<&str>) -> String {
    meta.soft_delete
        .map(|sd| format!(" AND {} IS NULL", column(alias, sd)))
        .unwrap_or_default()
}

/// `EXISTS` a live row of `parent` in the scope's tenant whose id is `id` (an SQL
/// expression): the guard that keeps a `belongs_to` value inside the tenant.
pub(crate) fn parent_exists(plan: &mut Plan, parent: &EntityMeta, id: &str) -> String {
    let p = Some(alias::PARENT);
    format!(
        "EXISTS (SELECT 1 FROM {} AS {} WHERE {} AND {} = {id}{})",
        table(parent.table),
        alias::PARENT,
        in_tenant(plan, parent, p),
        column(p, parent.id),
        live(parent, p),
    )
}

/// How many parents deep a chain of `via` relations may go; a longer chain (a cycle)
/// matches no row rather than recursing forever.
const MAX_VIA_DEPTH: usize = 8;

/// The predicate that keeps the rows of `meta` (qualified by `alias`, or unqualified) in
/// the scope's tenant: its tenant column is the scope's. An entity that reaches its tenant
/// through a parent (`via`) has instead a live parent in the scope's tenant, the parent
/// proven the same way (so grandchildren work). That `EXISTS` names no tenant column of
/// the child's table, so a tenant-distributed PostgreSQL cannot route it to one node.
pub(crate) fn in_tenant(plan: &mut Plan, meta: &EntityMeta, alias: Option<&str>) -> String {
    match (meta.via, alias) {
        (None, _) => format!(
            "{} = {}",
            column(alias, meta.tenant),
            plan.param(Param::Tenant)
        ),
        // Inside the parent's sub-select an unqualified column could name the parent's.
        (Some(_), None) => via_exists(plan, meta, &table(meta.table), 1),
        (Some(_), Some(alias)) => via_exists(plan, meta, alias, 1),
    }
}

fn via_exists(plan: &mut Plan, meta: &EntityMeta, qualifier: &str, depth: usize) -> String {
    let Some(relation) = meta.via else {
        return format!(
            "{qualifier}.{} = {}",
            ident(meta.tenant.name),
            plan.param(Param::Tenant)
        );
    };
    if depth > MAX_VIA_DEPTH {
        return "FALSE".to_owned();
    }
    let parent = (relation.parent)();
    let p = alias::via_parent(depth);
    format!(
        "EXISTS (SELECT 1 FROM {} AS {p} WHERE {p}.{} = {qualifier}.{} AND {}{})",
        table(parent.table),
        ident(parent.id.name),
        ident(relation.column.name),
        via_exists(plan, parent, &p, depth + 1),
        live(parent, Some(&p)),
    )
}

/// Every row of `meta`'s table (as `qualifier`) that belongs to `tenant`, inlined as a
/// literal: live or deleted, under live or deleted parents. What a tenant move copies and
/// deletes; a `via` table has no tenant column and is selected through its parents.
pub(crate) fn tenant_rows(meta: &EntityMeta, qualifier: &str, tenant: &str) -> String {
    tenant_rows_at(meta, qualifier, tenant, 1)
}

fn tenant_rows_at(meta: &EntityMeta, qualifier: &str, tenant: &str, depth: usize) -> String {
    let Some(relation) = meta.via else {
        return format!(
            "{qualifier}.{} = {}",
            ident(meta.tenant.name),
            literal(tenant)
        );
    };
    if depth > MAX_VIA_DEPTH {
        return "FALSE".to_owned();
    }
    let parent = (relation.parent)();
    let p = alias::via_parent(depth);
    format!(
        "EXISTS (SELECT 1 FROM {} AS {p} WHERE {p}.{} = {qualifier}.{} AND {})",
        table(parent.table),
        ident(parent.id.name),
        ident(relation.column.name),
        tenant_rows_at(parent, &p, tenant, depth + 1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_escaped() {
        assert_eq!(ident("order"), "\"order\"");
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(table("billing.invoices"), "\"billing\".\"invoices\"");
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn a_plan_numbers_each_parameter_once_in_order_of_first_use() {
        let mut plan = Plan::default();
        assert_eq!(plan.param(Param::Tenant), "$1");
        assert_eq!(plan.param(Param::Key), "$2");
        assert_eq!(plan.param(Param::Tenant), "$1");
        let statement = plan.finish(String::new());
        assert_eq!(format!("{statement:?}").matches("Tenant").count(), 1);
        assert_eq!(statement.tenant_placeholder(), Some(1));

        let mut plan = Plan::default();
        assert_eq!(plan.param(Param::Key), "$1");
        assert_eq!(plan.param(Param::Tenant), "$2");
        assert_eq!(plan.finish(String::new()).tenant_placeholder(), Some(2));
        assert_eq!(
            Plan::default().finish(String::new()).tenant_placeholder(),
            None
        );
    }
}
