//! Set-based writes: an update, soft delete, restore or hard delete of every row a query
//! selects, in one statement, with one audit record per row in that same statement.

use super::alias::TARGET;
use super::plan::Dynamic;
use super::select::{
    DeletedRows, Lock, SelectParts, keyset, order_by, render_from_where, window_and_lock,
};
use super::statements::{patch_sets, remove_rows, update_rows};
use super::{column_list, ident, now};
use crate::action::AuditAction;
use crate::meta::EntityMeta;

/// What a set-based write does to the rows it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BulkWrite {
    /// Applies the patch in the statement's data values.
    Update,
    /// Sets the soft-delete column of live rows.
    SoftDelete,
    /// Clears the soft-delete column of deleted rows.
    Restore,
    /// Deletes the rows for good, recorded as `action`.
    Remove(AuditAction),
}

/// The write over the rows `parts` selects (locked in a sub-select, so `order_by` and
/// `limit` choose them).
pub(crate) fn render_bulk(meta: &EntityMeta, write: BulkWrite, mut parts: SelectParts) -> Dynamic {
    let mut sql = Dynamic::default();
    let (set, guards) = match write {
        BulkWrite::Update => {
            let patch = patch_sets(sql.plan(), meta);
            (patch.sets, patch.guards)
        }
        BulkWrite::SoftDelete | BulkWrite::Restore => {
            let set = meta
                .soft_delete
                .map(|sd| {
                    let value = if write == BulkWrite::Restore {
                        "NULL".to_owned()
                    } else {
                        now(sd)
                    };
                    format!("{} = {value}", ident(sd.name))
                })
                .unwrap_or_default();
            (set, String::new())
        }
        BulkWrite::Remove(_) => (String::new(), String::new()),
    };
    parts.deleted = match write {
        BulkWrite::SoftDelete => DeletedRows::Hidden,
        BulkWrite::Restore => DeletedRows::Only,
        BulkWrite::Update | BulkWrite::Remove(_) => parts.deleted,
    };

    // The selection: the same predicates, order and window as a read, locked.
    sql.write(format_args!("SELECT {}", column_list(meta, Some(TARGET))));
    render_from_where(&mut sql, meta, parts.deleted, parts.filters);
    sql.push(&guards);
    let order = keyset(&mut sql, meta, parts.keyset, parts.order);
    order_by(&mut sql, &order);
    window_and_lock(&mut sql, parts.limit, parts.offset, Some(Lock::Wait));
    let selection = sql.take_sql();

    let statement = match write {
        BulkWrite::Update => update_rows(
            sql.plan(),
            meta,
            AuditAction::Update,
            &set,
            &selection,
            true,
        ),
        BulkWrite::SoftDelete => update_rows(
            sql.plan(),
            meta,
            AuditAction::Delete,
            &set,
            &selection,
            true,
        ),
        BulkWrite::Restore => update_rows(
            sql.plan(),
            meta,
            AuditAction::Restore,
            &set,
            &selection,
            true,
        ),
        BulkWrite::Remove(action) => remove_rows(sql.plan(), meta, action, &selection),
    };
    sql.push(&statement);
    sql
}
