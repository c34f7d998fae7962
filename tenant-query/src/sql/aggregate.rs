//! Aggregates and `DISTINCT ON` over the rows a query selects.

use super::alias::TARGET;
use super::plan::Dynamic;
use super::select::{SelectParts, keyset, order_by, render_from_where, window_and_lock};
use super::{column_list, ident};
use crate::filter::OrderTerm;
use crate::meta::EntityMeta;

/// One aggregate over a column (or the rows).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Aggregate {
    Count,
    /// `sum(column)`, cast to `cast` (PostgreSQL sums `bigint` as `numeric`).
    Sum {
        column: &'static str,
        cast: &'static str,
    },
    Min {
        column: &'static str,
    },
    Max {
        column: &'static str,
    },
    /// `avg(column)` as `double precision`.
    Avg {
        column: &'static str,
    },
}

impl Aggregate {
    fn sql(self) -> String {
        let c = |column: &str| format!("{TARGET}.{}", ident(column));
        match self {
            Aggregate::Count => "count(*)".to_owned(),
            Aggregate::Sum { column, cast } => format!("sum({})::{cast}", c(column)),
            Aggregate::Min { column } => format!("min({})", c(column)),
            Aggregate::Max { column } => format!("max({})", c(column)),
            Aggregate::Avg { column } => format!("avg({})::double precision", c(column)),
        }
    }
}

/// ` FROM` the rows `parts` selects, aliased `t`: the table itself, or the window of it
/// that `all` would return when a limit or offset is set.
fn source(sql: &mut Dynamic, meta: &EntityMeta, parts: SelectParts) {
    if !parts.windowed() {
        render_from_where(sql, meta, parts.deleted, parts.filters);
        // A keyset still chooses the rows; without a window their order does not matter.
        keyset(sql, meta, parts.keyset, Vec::new());
        return;
    }
    sql.write(format_args!(
        " FROM (SELECT {}",
        column_list(meta, Some(TARGET))
    ));
    render_from_where(sql, meta, parts.deleted, parts.filters);
    let order = keyset(sql, meta, parts.keyset, parts.order);
    order_by(sql, &order);
    window_and_lock(sql, parts.limit, parts.offset, None);
    sql.write(format_args!(") AS {TARGET}"));
}

/// `aggregate` over the selected rows, per value of `group` (ordered by it) when given.
pub(crate) fn render_aggregate(
    meta: &EntityMeta,
    parts: SelectParts,
    group: Option<&'static str>,
    aggregate: Aggregate,
) -> Dynamic {
    let mut sql = Dynamic::default();
    match group {
        Some(group) => sql.write(format_args!(
            "SELECT {TARGET}.{}, {}",
            ident(group),
            aggregate.sql()
        )),
        None => sql.write(format_args!("SELECT {}", aggregate.sql())),
    };
    source(&mut sql, meta, parts);
    if let Some(group) = group {
        let group = format!("{TARGET}.{}", ident(group));
        sql.write(format_args!(" GROUP BY {group} ORDER BY {group}"));
    }
    sql
}

/// The first row of each value of `group` in `order` (then the newest id): `DISTINCT ON`.
pub(crate) fn render_latest(
    meta: &EntityMeta,
    parts: SelectParts,
    group: &'static str,
    order: OrderTerm,
) -> Dynamic {
    let mut sql = Dynamic::default();
    let group_sql = format!("{TARGET}.{}", ident(group));
    sql.write(format_args!(
        "SELECT DISTINCT ON ({group_sql}) {}",
        column_list(meta, Some(TARGET))
    ));
    render_from_where(&mut sql, meta, parts.deleted, parts.filters);
    let terms = [
        OrderTerm {
            column: group,
            descending: false,
        },
        order,
        OrderTerm {
            column: meta.id.name,
            descending: true,
        },
    ];
    order_by(&mut sql, &terms);
    sql
}
