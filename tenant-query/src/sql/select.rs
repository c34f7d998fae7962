//! `SELECT`s built by the query builder: the tenant and soft-delete predicates first, then
//! the caller's filters, keyset, order, window and lock.

use super::plan::{Dynamic, Param};
use super::{column_list, ident, table};
use crate::filter::{Expr, Keyset, OrderTerm};
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

/// Renders `parts` as a statement over `meta`'s table.
pub(crate) fn render_select(
    meta: &EntityMeta,
    projection: Projection,
    parts: SelectParts,
) -> Dynamic {
    let mut sql = Dynamic::default();
    let window = parts.limit.is_some() || parts.offset.is_some();
    match projection {
        Projection::Rows => sql.write(format_args!("SELECT {}", column_list(meta, None))),
        // A window bounds what is counted: count the rows `all` would return.
        Projection::Count if window => sql.push("SELECT count(*) FROM (SELECT 1"),
        Projection::Count => sql.push("SELECT count(*)"),
        Projection::Exists => sql.push("SELECT EXISTS (SELECT 1"),
    };
    sql.write(format_args!(
        " FROM {} WHERE {} = ",
        table(meta.table),
        ident(meta.tenant.name)
    ))
    .param(Param::Tenant);
    if let Some(sd) = meta.soft_delete {
        match parts.deleted {
            DeletedRows::Hidden => sql.write(format_args!(" AND {} IS NULL", ident(sd.name))),
            DeletedRows::Only => sql.write(format_args!(" AND {} IS NOT NULL", ident(sd.name))),
            DeletedRows::Included => &mut sql,
        };
    }
    for filter in parts.filters {
        sql.push(" AND ");
        render_expr(filter, &mut sql);
    }

    let mut order = parts.order;
    if let Some(keyset) = parts.keyset {
        let id = ident(meta.id.name);
        let comparison = if keyset.descending { "<" } else { ">" };
        // The id breaks ties after the keyset column, or orders alone.
        let id_position = usize::from(keyset.column.is_some());
        match keyset.column {
            Some((column, value)) => {
                sql.write(format_args!(
                    " AND ({}, {id}) {comparison} (",
                    ident(column)
                ))
                .value(column, value)
                .push(", ")
                .value("id", Box::new(keyset.id))
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
                    .value("id", Box::new(keyset.id));
            }
        }
        order.insert(
            id_position,
            OrderTerm {
                column: meta.id.name,
                descending: keyset.descending,
            },
        );
    }

    if matches!(projection, Projection::Rows) {
        for (i, term) in order.iter().enumerate() {
            sql.push(if i == 0 { " ORDER BY " } else { ", " })
                .push(&ident(term.column));
            if term.descending {
                sql.push(" DESC");
            }
        }
    }
    if let Some(limit) = parts.limit {
        sql.push(" LIMIT ").value("limit", Box::new(limit));
    }
    if let Some(offset) = parts.offset {
        sql.push(" OFFSET ").value("offset", Box::new(offset));
    }
    match projection {
        Projection::Rows => {
            match parts.lock {
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
            };
        }
        Projection::Count if window => {
            sql.push(") AS w");
        }
        Projection::Count => {}
        Projection::Exists => {
            sql.push(")");
        }
    }
    sql
}

fn render_expr(expr: Expr, sql: &mut Dynamic) {
    match expr {
        Expr::Compare { column, op, value } => {
            sql.write(format_args!("{} {} ", ident(column), op.sql()))
                .value(column, value);
        }
        Expr::AnyOf { column, values } => {
            sql.write(format_args!("{} = ANY(", ident(column)))
                .value(column, values)
                .push(")");
        }
        Expr::Like { column, pattern } => {
            sql.write(format_args!("{} LIKE ", ident(column)))
                .value(column, pattern);
        }
        Expr::Null { column, negated } => {
            sql.write(format_args!(
                "{} IS {}NULL",
                ident(column),
                if negated { "NOT " } else { "" }
            ));
        }
        Expr::Not(inner) => {
            sql.push("NOT ");
            render_expr(*inner, sql);
        }
        // An empty conjunction is true; an empty disjunction is false.
        Expr::All(items) if items.is_empty() => {
            sql.push("TRUE");
        }
        Expr::Any(items) if items.is_empty() => {
            sql.push("FALSE");
        }
        Expr::All(items) => render_group(items, " AND ", sql),
        Expr::Any(items) => render_group(items, " OR ", sql),
    }
}

fn render_group(items: Vec<Expr>, separator: &str, sql: &mut Dynamic) {
    sql.push("(");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            sql.push(separator);
        }
        render_expr(item, sql);
    }
    sql.push(")");
}
