//! `SELECT`s built by the query builder: the tenant and soft-delete predicates first, then
//! the caller's filters, keyset, order, window and lock. Set-based writes select their
//! rows with the same code.

use super::alias::{RELATED, TARGET};
use super::plan::Dynamic;
use super::{column_list, ident, in_tenant, table};
use crate::filter::{Expr, Join, Keyset, Link, OrderTerm};
use crate::meta::EntityMeta;

/// What a query returns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Projection {
    Rows,
    /// The number of rows `Rows` would return.
    Count,
    /// Whether `Rows` would return any row.
    Exists,
}

/// Which rows of a soft-deleting entity a query sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum DeletedRows {
    #[default]
    Hidden,
    Included,
    Only,
}

/// How a locking read treats rows another transaction has locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    /// `FOR UPDATE`: wait for them.
    Wait,
    /// `FOR UPDATE SKIP LOCKED`: leave them out (job queues).
    SkipLocked,
    /// `FOR UPDATE NOWAIT`: fail at once.
    NoWait,
}

/// Everything a query adds to the tenant predicate.
#[derive(Default)]
pub(crate) struct SelectParts {
    pub(crate) deleted: DeletedRows,
    pub(crate) filters: Vec<Expr>,
    pub(crate) keyset: Option<Keyset>,
    pub(crate) order: Vec<OrderTerm>,
    pub(crate) limit: Option<i64>,
    pub(crate) offset: Option<i64>,
    pub(crate) lock: Option<Lock>,
}

impl SelectParts {
    /// Whether a limit or offset bounds the rows.
    pub(crate) fn windowed(&self) -> bool {
        self.limit.is_some() || self.offset.is_some()
    }
}

/// Renders `parts` as a statement over `meta`'s table (aliased `t`).
pub(crate) fn render_select(
    meta: &EntityMeta,
    projection: Projection,
    parts: SelectParts,
) -> Dynamic {
    let mut sql = Dynamic::default();
    let window = parts.windowed();
    match projection {
        Projection::Rows => sql.write(format_args!("SELECT {}", column_list(meta, Some(TARGET)))),
        // A window bounds what is counted: count the rows `all` would return.
        Projection::Count if window => sql.push("SELECT count(*) FROM (SELECT 1"),
        Projection::Count => sql.push("SELECT count(*)"),
        Projection::Exists => sql.push("SELECT EXISTS (SELECT 1"),
    };
    render_from_where(&mut sql, meta, parts.deleted, parts.filters);
    let order = keyset(&mut sql, meta, parts.keyset, parts.order);
    if matches!(projection, Projection::Rows) {
        order_by(&mut sql, &order);
    }
    window_and_lock(
        &mut sql,
        parts.limit,
        parts.offset,
        parts
            .lock
            .filter(|_| matches!(projection, Projection::Rows)),
    );
    match projection {
        Projection::Count if window => {
            sql.push(") AS w");
        }
        Projection::Exists => {
            sql.push(")");
        }
        Projection::Rows | Projection::Count => {}
    }
    sql
}

/// ` FROM <table> AS t WHERE <tenant> [AND <soft delete>] [AND <filters>]`.
pub(crate) fn render_from_where(
    sql: &mut Dynamic,
    meta: &EntityMeta,
    deleted: DeletedRows,
    filters: Vec<Expr>,
) {
    let tenant = in_tenant(sql.plan(), meta, Some(TARGET));
    sql.write(format_args!(
        " FROM {} AS {TARGET} WHERE {tenant}",
        table(meta.table),
    ));
    if let Some(sd) = meta.soft_delete {
        match deleted {
            DeletedRows::Hidden => {
                sql.write(format_args!(" AND {TARGET}.{} IS NULL", ident(sd.name)));
            }
            DeletedRows::Only => {
                sql.write(format_args!(" AND {TARGET}.{} IS NOT NULL", ident(sd.name)));
            }
            DeletedRows::Included => {}
        }
    }
    let level = Level {
        alias: TARGET.to_owned(),
        meta,
        depth: 0,
    };
    for filter in filters {
        sql.push(" AND ");
        render_expr(filter, sql, &level);
    }
}

/// The keyset predicate; returns the order with the keyset's columns first.
pub(crate) fn keyset(
    sql: &mut Dynamic,
    meta: &EntityMeta,
    keyset: Option<Keyset>,
    mut order: Vec<OrderTerm>,
) -> Vec<OrderTerm> {
    let Some(keyset) = keyset else { return order };
    let id = format!("{TARGET}.{}", ident(meta.id.name));
    let comparison = if keyset.descending { "<" } else { ">" };
    // The id breaks ties after the keyset column, or orders alone.
    let id_position = usize::from(keyset.column.is_some());
    match keyset.column {
        Some((column, value)) => {
            sql.write(format_args!(
                " AND ({TARGET}.{}, {id}) {comparison} (",
                ident(column)
            ))
            .value(column, value)
            .push(", ")
            .value("id", keyset.id)
            .push(")");
            order.insert(
                0,
                OrderTerm {
                    column,
                    descending: keyset.descending,
                },
            );
        }
        None => {
            sql.write(format_args!(" AND {id} {comparison} "))
                .value("id", keyset.id);
        }
    }
    order.insert(
        id_position,
        OrderTerm {
            column: meta.id.name,
            descending: keyset.descending,
        },
    );
    order
}

/// ` ORDER BY ...`, when there is an order.
pub(crate) fn order_by(sql: &mut Dynamic, order: &[OrderTerm]) {
    for (i, term) in order.iter().enumerate() {
        sql.push(if i == 0 { " ORDER BY " } else { ", " })
            .write(format_args!("{TARGET}.{}", ident(term.column)));
        if term.descending {
            sql.push(" DESC");
        }
    }
}

/// ` LIMIT`, ` OFFSET` and the lock, when set.
pub(crate) fn window_and_lock(
    sql: &mut Dynamic,
    limit: Option<i64>,
    offset: Option<i64>,
    lock: Option<Lock>,
) {
    if let Some(limit) = limit {
        sql.push(" LIMIT ").value("limit", Box::new(limit));
    }
    if let Some(offset) = offset {
        sql.push(" OFFSET ").value("offset", Box::new(offset));
    }
    match lock {
        None => {}
        Some(Lock::Wait) => {
            sql.push(" FOR UPDATE");
        }
        Some(Lock::SkipLocked) => {
            sql.push(" FOR UPDATE SKIP LOCKED");
        }
        Some(Lock::NoWait) => {
            sql.push(" FOR UPDATE NOWAIT");
        }
    }
}

/// The table a predicate is evaluated on: its alias, and its entity.
struct Level<'m> {
    alias: String,
    meta: &'m EntityMeta,
    depth: usize,
}

impl Level<'_> {
    fn column(&self, name: &str) -> String {
        format!("{}.{}", self.alias, ident(name))
    }
}

fn render_expr(expr: Expr, sql: &mut Dynamic, level: &Level<'_>) {
    match expr {
        Expr::Compare { column, op, value } => {
            sql.write(format_args!("{} {} ", level.column(column), op.sql()))
                .value(column, value);
        }
        Expr::AnyOf { column, values } => {
            sql.write(format_args!("{} = ANY(", level.column(column)))
                .value(column, values)
                .push(")");
        }
        Expr::Element { column, value } => {
            sql.value(column, value)
                .write(format_args!(" = ANY({})", level.column(column)));
        }
        Expr::Like {
            column,
            pattern,
            case_insensitive,
        } => {
            let operator = if case_insensitive { "ILIKE" } else { "LIKE" };
            sql.write(format_args!("{} {operator} ", level.column(column)))
                .value(column, pattern);
        }
        Expr::Null { column, negated } => {
            sql.write(format_args!(
                "{} IS {}NULL",
                level.column(column),
                if negated { "NOT " } else { "" }
            ));
        }
        Expr::Not(inner) => {
            sql.push("NOT ");
            render_expr(*inner, sql, level);
        }
        // An empty conjunction is true; an empty disjunction is false.
        Expr::All(items) if items.is_empty() => {
            sql.push("TRUE");
        }
        Expr::Any(items) if items.is_empty() => {
            sql.push("FALSE");
        }
        Expr::All(items) => render_group(items, " AND ", sql, level),
        Expr::Any(items) => render_group(items, " OR ", sql, level),
        Expr::Related { link, inner } => render_related(link, *inner, sql, level),
    }
}

/// `EXISTS` a related live row of the scope's tenant matching `inner`. Both sides name the
/// tenant column, joined and bound, so a tenant-distributed PostgreSQL routes it to one
/// node.
fn render_related(link: Link, inner: Expr, sql: &mut Dynamic, level: &Level<'_>) {
    let target = link.target;
    let related = Level {
        alias: format!("{RELATED}{}", level.depth + 1),
        meta: target,
        depth: level.depth + 1,
    };
    let (near, far) = match link.join {
        Join::Parent { fk } => (level.column(fk), related.column(target.id.name)),
        Join::Children { fk } => (level.column(level.meta.id.name), related.column(fk)),
    };
    // Both tenant columns joined, when both tables have one, so that the statement routes.
    let routed = match (target.via, level.meta.via) {
        (None, None) => format!(
            "{} = {} AND ",
            related.column(target.tenant.name),
            level.column(level.meta.tenant.name),
        ),
        _ => String::new(),
    };
    let tenant = in_tenant(sql.plan(), target, Some(&related.alias));
    sql.write(format_args!(
        "EXISTS (SELECT 1 FROM {} AS {} WHERE {routed}{far} = {near} AND {tenant}",
        table(target.table),
        related.alias,
    ));
    if let Some(sd) = target.soft_delete.filter(|_| !link.with_deleted) {
        sql.write(format_args!(" AND {} IS NULL", related.column(sd.name)));
    }
    sql.push(" AND ");
    render_expr(inner, sql, &related);
    sql.push(")");
}

fn render_group(items: Vec<Expr>, separator: &str, sql: &mut Dynamic, level: &Level<'_>) {
    sql.push("(");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            sql.push(separator);
        }
        render_expr(item, sql, level);
    }
    sql.push(")");
}

/// The tenant of the live row whose id is the key: the one lookup without a tenant
/// predicate, for requests that carry only a global id (see `CrossTenant::owner_of`).
/// At most two rows come back, so that an id two tenants share is noticed.
pub(crate) fn render_owner(meta: &EntityMeta, id: Box<dyn crate::value::BindOnce>) -> Dynamic {
    let mut sql = Dynamic::default();
    sql.write(format_args!(
        "SELECT {TARGET}.{} FROM {} AS {TARGET} WHERE {TARGET}.{} = ",
        ident(meta.tenant.name),
        table(meta.table),
        ident(meta.id.name)
    ))
    .value("id", id);
    if let Some(sd) = meta.soft_delete {
        sql.write(format_args!(" AND {TARGET}.{} IS NULL", ident(sd.name)));
    }
    sql.push(" LIMIT 2");
    sql
}
