//! The names the library's statements give to tables, CTEs and output columns: owned here
//! and nowhere else.
//!
//! Table aliases only qualify columns, so no column name can collide with them. Output
//! names that sit beside the entity's own columns begin with a space, which the derive
//! refuses in column names, so no column can collide with those either.

use super::ident;

/// The entity's table in a write.
pub(crate) const TARGET: &str = "t";
/// The row an audit record is computed from.
pub(crate) const ROW: &str = "r";
/// The locked old row of an update.
pub(crate) const OLD: &str = "o";
/// The prefix of related tables in relation filters (`r1`, `r2`, ... by depth).
pub(crate) const RELATED: &str = "r";
/// A parent row, in a guard.
pub(crate) const PARENT: &str = "p";
/// The prefix of the parents a `via` entity reaches its tenant through (`v1`, `v2`, ...
/// by depth).
pub(crate) const VIA: &str = "v";
/// The unnested arrays of a batch insert.
pub(crate) const BATCH: &str = "u";
/// The unnested parent keys of a batch insert's guard, and their one column.
pub(crate) const KEYS: &str = "k";
/// The column of [`KEYS`].
pub(crate) const KEY: &str = "key";
/// The CTE of inserted rows.
pub(crate) const INSERTED: &str = "new_rows";
/// The CTE of removed rows.
pub(crate) const REMOVED: &str = "old_rows";
/// The CTE of updated rows, old values beside new ones.
pub(crate) const CHANGED: &str = "changed";
/// The CTE of the row an upsert found, locked, with its old values.
pub(crate) const EXISTING: &str = "existing";
/// The CTE of the row an upsert inserted or updated.
pub(crate) const UPSERTED: &str = "upserted";
/// The CTE that writes the audit records.
pub(crate) const AUDIT: &str = "audit";

/// The alias of the `depth`th parent on the way to a `via` entity's tenant.
pub(crate) fn via_parent(depth: usize) -> String {
    format!("{VIA}{depth}")
}

/// The quoted output name of the old value of column number `index`, next to the new
/// values in an update's `RETURNING`.
pub(crate) fn old_value(index: usize) -> String {
    ident(&format!(" old {index}"))
}

/// The quoted name of array number `index` of a batch insert's `UNNEST`.
pub(crate) fn batch_column(index: usize) -> String {
    ident(&format!("c{index}"))
}

/// The quoted output name of an upsert's "was this an insert" flag.
pub(crate) fn inserted() -> String {
    ident(" inserted")
}
