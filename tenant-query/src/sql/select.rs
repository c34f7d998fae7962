//! `SELECT`s built by the query builder: the tenant and soft-delete predicates first, then
//! the caller's filters, keyset, order and window.

use std::fmt::Write;

use super::{TENANT_PARAM, column_list, ident, role_column};
use crate::entity::{ColumnRole, EntityMeta};
use crate::error::Result;
use crate::filter::{Expr, Keyset, OrderTerm};
use crate::value::Args;

/// What a query returns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Projection {
    Rows,
    Count,
    Exists,
}

/// Which rows of a soft-deleting entity a query sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeletedRows {
    Hidden,
    Included,
    Only,
}

/// Everything a query adds to the tenant predicate.
pub(crate) struct SelectParts {
    pub(crate) deleted: DeletedRows,
    pub(crate) filters: Vec<Expr>,
    pub(crate) keyset: Option<Keyset>,
    pub(crate) order: Vec<OrderTerm>,
    pub(crate) limit: Option<i64>,
    pub(crate) offset: Option<i64>,
    /// Lock the returned rows until the transaction ends (`FOR UPDATE`).
    pub(crate) lock: bool,
}

/// Renders `parts` as a statement over `meta`'s table, binding its values into `args`
/// (whose `$1` is already the tenant) in placeholder order.
pub(crate) fn render_select(
    meta: &EntityMeta,
    projection: Projection,
    parts: SelectParts,
    args: &mut Args,
) -> Result<String> {
    let table = ident(meta.table);
    let tenant = role_column(meta, ColumnRole::TenantId).expect("validated by the derive");
    let mut sql = match projection {
        Projection::Rows => format!("SELECT {} FROM {table}", column_list(meta, None)),
        Projection::Count => format!("SELECT count(*) FROM {table}"),
        Projection::Exists => format!("SELECT EXISTS (SELECT 1 FROM {table}"),
    };
    let _ = write!(sql, " WHERE {tenant} = {TENANT_PARAM}");
    if let Some(sd) = role_column(meta, ColumnRole::SoftDelete) {
        match parts.deleted {
            DeletedRows::Hidden => {
                let _ = write!(sql, " AND {sd} IS NULL");
            }
            DeletedRows::Only => {
                let _ = write!(sql, " AND {sd} IS NOT NULL");
            }
            DeletedRows::Included => {}
        }
    }
    for filter in parts.filters {
        sql.push_str(" AND ");
        render_expr(filter, &mut sql, args)?;
    }

    let mut order = parts.order;
    if let Some(keyset) = parts.keyset {
        let id = role_column(meta, ColumnRole::Id).expect("validated by the derive");
        let (comparison, descending) =
            (if keyset.descending { "<" } else { ">" }, keyset.descending);
        // The id breaks ties after the keyset column, or orders alone.
        let id_position = usize::from(keyset.column.is_some());
        match keyset.column {
            Some((column, value)) => {
                let column_sql = ident(column);
                let _ = write!(sql, " AND ({column_sql}, {id}) {comparison} (");
                bind(value, column, &mut sql, args)?;
                sql.push_str(", ");
                bind(Box::new(keyset.id), "id", &mut sql, args)?;
                sql.push(')');
                order.insert(0, OrderTerm { column, descending });
            }
            None => {
                let _ = write!(sql, " AND {id} {comparison} ");
                bind(Box::new(keyset.id), "id", &mut sql, args)?;
            }
        }
        let id_column = meta
            .column(ColumnRole::Id)
            .expect("validated by the derive")
            .name;
        order.insert(
            id_position,
            OrderTerm {
                column: id_column,
                descending,
            },
        );
    }

    if matches!(projection, Projection::Rows) {
        for (i, term) in order.iter().enumerate() {
            sql.push_str(if i == 0 { " ORDER BY " } else { ", " });
            sql.push_str(&ident(term.column));
            if term.descending {
                sql.push_str(" DESC");
            }
        }
        if let Some(limit) = parts.limit {
            sql.push_str(" LIMIT ");
            bind(Box::new(limit), "limit", &mut sql, args)?;
        }
        if let Some(offset) = parts.offset {
            sql.push_str(" OFFSET ");
            bind(Box::new(offset), "offset", &mut sql, args)?;
        }
        if parts.lock {
            sql.push_str(" FOR UPDATE");
        }
    }
    if matches!(projection, Projection::Exists) {
        sql.push(')');
    }
    Ok(sql)
}

/// Binds `value` and writes its placeholder.
fn bind(
    value: Box<dyn crate::filter::BindOnce>,
    column: &'static str,
    sql: &mut String,
    args: &mut Args,
) -> Result<()> {
    value.bind(column, args)?;
    let _ = write!(sql, "${}", args.len());
    Ok(())
}

fn render_expr(expr: Expr, sql: &mut String, args: &mut Args) -> Result<()> {
    match expr {
        Expr::Compare { column, op, value } => {
            let _ = write!(sql, "{} {} ", ident(column), op.sql());
            bind(value, column, sql, args)?;
        }
        Expr::AnyOf { column, values } => {
            let _ = write!(sql, "{} = ANY(", ident(column));
            bind(values, column, sql, args)?;
            sql.push(')');
        }
        Expr::Like { column, pattern } => {
            let _ = write!(sql, "{} LIKE ", ident(column));
            bind(pattern, column, sql, args)?;
        }
        Expr::Null { column, negated } => {
            let _ = write!(
                sql,
                "{} IS {}NULL",
                ident(column),
                if negated { "NOT " } else { "" }
            );
        }
        Expr::Not(inner) => {
            sql.push_str("NOT ");
            render_expr(*inner, sql, args)?;
        }
        // An empty conjunction is true; an empty disjunction is false.
        Expr::All(items) if items.is_empty() => sql.push_str("TRUE"),
        Expr::Any(items) if items.is_empty() => sql.push_str("FALSE"),
        Expr::All(items) => render_group(items, " AND ", sql, args)?,
        Expr::Any(items) => render_group(items, " OR ", sql, args)?,
    }
    Ok(())
}

fn render_group(
    items: Vec<Expr>,
    separator: &str,
    sql: &mut String,
    args: &mut Args,
) -> Result<()> {
    sql.push('(');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(separator);
        }
        render_expr(item, sql, args)?;
    }
    sql.push(')');
    Ok(())
}
