//! The one error type of the library, and the one place that maps database errors into it.

use std::borrow::Cow;

/// Result alias used by every fallible function of the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a tenant-query call.
///
/// Match on the variants; the messages are for humans and may change.
///
/// ```
/// use tenant_query::Error;
///
/// fn describe(error: &Error) -> &'static str {
///     match error {
///         Error::NotFound { .. } => "404",
///         Error::Conflict { .. } => "409",
///         Error::InvalidInput { .. } => "422",
///         Error::Database(_) | Error::Shared(_) | Error::Isolation(_) => "500",
///         _ => "500",
///     }
/// }
/// assert_eq!(describe(&Error::NotFound { entity: "projects" }), "404");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No row of the scope's tenant matched: it does not exist, belongs to another tenant,
    /// or is soft-deleted (on paths that hide deleted rows).
    #[error("no matching row in `{entity}` for this tenant")]
    NotFound {
        /// The table that was looked up.
        entity: &'static str,
    },
    /// A unique or exclusion constraint rejected the write; nothing was written.
    #[error("conflict on constraint `{}`", constraint.as_deref().unwrap_or("<unnamed>"))]
    Conflict {
        /// The name of the violated constraint, as PostgreSQL reports it.
        constraint: Option<String>,
        /// The database's own message.
        message: String,
    },
    /// A value was rejected before it reached the database (for example a NUL byte in text).
    #[error("invalid value for `{column}`: {reason}")]
    InvalidInput {
        /// The column (or parameter) the value was meant for.
        column: Cow<'static, str>,
        /// Why the value was rejected.
        reason: Cow<'static, str>,
    },
    /// Any other database or driver error.
    #[error(transparent)]
    Database(sqlx::Error),
    /// The database would not enforce tenant isolation (see
    /// [`TenantDb::verify_isolation`](crate::TenantDb::verify_isolation)).
    #[error("{0}")]
    Isolation(crate::rls::IsolationReport),
    /// One failure reported to several callers (the callers of one batch of a
    /// [`Loader`](crate::Loader)).
    #[error(transparent)]
    Shared(std::sync::Arc<Error>),
}

const UNIQUE_VIOLATION: &str = "23505";
const EXCLUSION_VIOLATION: &str = "23P01";

impl From<sqlx::Error> for Error {
    /// The single mapping from driver errors to library errors.
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error
            && matches!(
                db.code().as_deref(),
                Some(UNIQUE_VIOLATION | EXCLUSION_VIOLATION)
            )
        {
            return Error::Conflict {
                constraint: db.constraint().map(str::to_owned),
                message: db.message().to_owned(),
            };
        }
        Error::Database(error)
    }
}

impl Error {
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
}
