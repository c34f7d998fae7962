//! The one error type of the library, and the one place that maps database errors into it.

use std::borrow::Cow;
use std::sync::Arc;

use sqlx::error::ErrorKind;

use crate::isolation::IsolationReport;
use crate::schema_report::SchemaReport;

/// Result alias used by every fallible function of the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a tenant-query call.
///
/// Match on the variants; the messages are for humans and may change. Errors are cheap to
/// clone (the driver's error is shared), so one failure can be handed to several callers,
/// as a [`Loader`](crate::Loader) does, with the same variants as everywhere else.
///
/// ```
/// use tenant_query::Error;
///
/// fn status(error: &Error) -> u16 {
///     match error {
///         Error::NotFound { .. } => 404,
///         Error::Conflict { .. } | Error::ForeignKey { .. } => 409,
///         Error::InvalidInput { .. } => 422,
///         _ => 500,
///     }
/// }
/// assert_eq!(status(&Error::NotFound { entity: "projects" }), 404);
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No row of the scope's tenant matched: it does not exist, belongs to another tenant,
    /// or is soft-deleted (on paths that hide deleted rows).
    #[error("no matching row in `{entity}` for this tenant")]
    NotFound {
        /// The table that was looked up.
        entity: &'static str,
    },
    /// A query asked for at most one row (`one`, `optional`) matched several.
    #[error("more than one row of `{entity}` matched a query that expects at most one")]
    NotUnique {
        /// The table that was queried.
        entity: &'static str,
    },
    /// The write conflicts with another: a unique or exclusion constraint rejected it, or
    /// the row's version is no longer the one the patch expected (optimistic locking), or
    /// an upsert's key belongs to a deleted row. Nothing was written.
    #[error("conflict in `{}`{}", entity.as_deref().unwrap_or("<unknown table>"),
        constraint.as_deref().map(|c| format!(" on constraint `{c}`")).unwrap_or_default())]
    Conflict {
        /// The table written, when known.
        entity: Option<String>,
        /// The name of the violated constraint, as PostgreSQL reports it; `None` for a
        /// stale version.
        constraint: Option<String>,
        /// The database's own error, when it raised one.
        #[source]
        source: Option<Arc<sqlx::Error>>,
    },
    /// A `belongs_to` value names no live parent row of the scope's tenant (it does not
    /// exist, is deleted, or belongs to another tenant: the three are not told apart), or a
    /// foreign key rejected the write. Nothing was written.
    #[error("a reference names no live row of this tenant{}",
        constraint.as_deref().map(|c| format!(" (constraint `{c}`)")).unwrap_or_default())]
    ForeignKey {
        /// The violated constraint, when PostgreSQL reported one; `None` when the
        /// library's own check (in the same statement) refused the value.
        constraint: Option<String>,
    },
    /// A hard delete was refused because foreign keys would delete or change rows of
    /// other tables with it (`ON DELETE CASCADE`, `SET NULL`, `SET DEFAULT`), and those
    /// changes would leave no audit record. Delete the dependent rows through the library
    /// first, or declare the foreign keys `ON DELETE RESTRICT` / `NO ACTION`.
    #[error("deleting from `{entity}` would cascade through {} without audit records",
        constraints.join(", "))]
    CascadeRefused {
        /// The table of the refused delete.
        entity: &'static str,
        /// The cascading foreign keys, as `table.constraint`.
        constraints: Vec<String>,
    },
    /// A value was rejected before it reached the database (for example a NUL byte in text).
    #[error("invalid value for `{column}`: {reason}")]
    InvalidInput {
        /// The column (or parameter) the value was meant for.
        column: Cow<'static, str>,
        /// Why the value was rejected.
        reason: Cow<'static, str>,
    },
    /// The library was set up or called in a way that cannot work (for example an empty
    /// cross-tenant reason, or RLS calls without RLS mode).
    #[error("configuration: {0}")]
    Configuration(Cow<'static, str>),
    /// `commit` found the transaction already failed: a statement in it had an error, so
    /// PostgreSQL rolled the whole transaction back. None of its writes were kept.
    #[error("the transaction had failed and was rolled back; nothing in it was committed")]
    RolledBack,
    /// The database would not enforce tenant isolation (see
    /// [`TenantDb::verify_isolation`](crate::TenantDb::verify_isolation)).
    #[error("{0}")]
    Isolation(IsolationReport),
    /// The schema does not fit the entities (see
    /// [`TenantDb::verify_schema`](crate::TenantDb::verify_schema)).
    #[error("{0}")]
    Schema(SchemaReport),
    /// A write reached a tenant that is being moved (its placement is
    /// [`ReadOnly`](crate::placement::PlacementState::ReadOnly), or its home refused it):
    /// nothing was written. Retry once the move has finished.
    #[error("the tenant is read-only while it moves; nothing was written")]
    TenantReadOnly,
    /// A statement was routed to a home the tenant has left (the placement it was routed
    /// with is older than the home's): nothing was read or written there. The directory's
    /// cached placement was dropped, so a retry goes to the new home.
    #[error("the tenant's placement changed; retry to reach its new home")]
    StalePlacement,
    /// Every connection the cell may open was busy for the cell's acquire timeout.
    #[error("cell `{cell}` has no free connection within its budget")]
    CellBusy {
        /// The cell's name.
        cell: String,
    },
    /// Any other database or driver error.
    #[error(transparent)]
    Database(Arc<sqlx::Error>),
}

/// The SQLSTATE the fence check raises for a write to a read-only tenant.
pub(crate) const READ_ONLY_STATE: &str = "TQ001";
/// The SQLSTATE the fence check raises for a statement routed with a stale epoch.
pub(crate) const STALE_STATE: &str = "TQ002";

/// PostgreSQL's `exclusion_violation`, which sqlx has no kind for.
const EXCLUSION_VIOLATION: &str = "23P01";

impl From<sqlx::Error> for Error {
    /// The single mapping from driver errors to library errors.
    fn from(error: sqlx::Error) -> Self {
        let (kind, code, constraint, table) = match &error {
            sqlx::Error::Database(db) => (
                Some(db.kind()),
                db.code().map(Cow::into_owned),
                db.constraint().map(str::to_owned),
                db.table().map(str::to_owned),
            ),
            _ => (None, None, None, None),
        };
        let exclusion = code.as_deref() == Some(EXCLUSION_VIOLATION);
        match kind {
            Some(ErrorKind::UniqueViolation) => Error::Conflict {
                entity: table,
                constraint,
                source: Some(Arc::new(error)),
            },
            _ if exclusion => Error::Conflict {
                entity: table,
                constraint,
                source: Some(Arc::new(error)),
            },
            Some(ErrorKind::ForeignKeyViolation) => Error::ForeignKey { constraint },
            _ if code.as_deref() == Some(READ_ONLY_STATE) => Error::TenantReadOnly,
            _ if code.as_deref() == Some(STALE_STATE) => Error::StalePlacement,
            _ => Error::Database(Arc::new(error)),
        }
    }
}

impl Error {
    /// A conflict the library found itself (a stale version, a key held by a deleted row).
    pub(crate) fn conflict(entity: &str) -> Self {
        Error::Conflict {
            entity: Some(entity.to_owned()),
            constraint: None,
            source: None,
        }
    }

    /// An [`Error::InvalidInput`] for `column`.
    pub fn invalid_input(
        column: impl Into<Cow<'static, str>>,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        Error::InvalidInput {
            column: column.into(),
            reason: reason.into(),
        }
    }

    /// The SQLSTATE code PostgreSQL reported, if the error came from the server.
    pub fn sqlstate(&self) -> Option<String> {
        let source = match self {
            Error::Conflict {
                source: Some(source),
                ..
            }
            | Error::Database(source) => source,
            _ => return None,
        };
        match &**source {
            sqlx::Error::Database(db) => db.code().map(Cow::into_owned),
            _ => None,
        }
    }
}
