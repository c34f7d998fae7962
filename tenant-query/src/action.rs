//! The audit actions: what a write did to a row, and the one place their names are spelled.

use std::fmt;

/// What a write did to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// `insert` or `insert_many`: `changes` holds every column as `{"from": null, "to": v}`.
    Insert,
    /// `update`: `changes` holds the columns whose value changed (never `updated_at`).
    Update,
    /// `delete`: a soft delete records the soft-delete column; a hard delete, the row.
    Delete,
    /// `restore`: the soft-delete column going back to `null`.
    Restore,
    /// `purge`: the whole row as it was, as `{"from": v, "to": null}`.
    Purge,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 5] = [
        AuditAction::Insert,
        AuditAction::Update,
        AuditAction::Delete,
        AuditAction::Restore,
        AuditAction::Purge,
    ];

    /// The name stored in the log.
    ///
    /// ```
    /// assert_eq!(tenant_query::AuditAction::Restore.as_str(), "restore");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::Insert => "insert",
            AuditAction::Update => "update",
            AuditAction::Delete => "delete",
            AuditAction::Restore => "restore",
            AuditAction::Purge => "purge",
        }
    }

    /// The action stored as `name`, if any.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == name)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
