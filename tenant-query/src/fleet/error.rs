//! What can stop the fleet migrator as a whole. A failing tenant home does not: it is
//! recorded in the run (see [`HomeFailure`](super::HomeFailure)) and the run goes on.

use std::sync::Arc;

use uuid::Uuid;

/// Why a fleet operation could not run at all.
///
/// ```
/// use tenant_query::fleet::FleetError;
///
/// let error = FleetError::InvalidOption("the parallelism must be at least 1");
/// assert_eq!(error.to_string(), "invalid run option: the parallelism must be at least 1");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The migration files could not be read, or break a rule of the fleet (a duplicate
    /// version, a version below 1, a `-- no-transaction` migration).
    #[error("migrations: {0}")]
    Source(String),
    /// A placement names a cell the fleet was not given.
    #[error("the placement names the cell `{0}`, which the fleet was not given")]
    UnknownCell(String),
    /// A run option out of range (a parallelism of 0, for example).
    #[error("invalid run option: {0}")]
    InvalidOption(&'static str),
    /// `resume` found no such run (or no run at all) in the control database.
    #[error("no fleet run {}", run.map(|r| r.to_string()).unwrap_or_else(|| "at all".into()))]
    UnknownRun {
        /// The run asked for; `None` when the latest run was asked for.
        run: Option<Uuid>,
    },
    /// The control database (the run table) or a cell's catalog could not be read or
    /// written.
    #[error("fleet database: {0}")]
    Database(#[source] Arc<sqlx::Error>),
}

impl From<sqlx::Error> for FleetError {
    fn from(error: sqlx::Error) -> Self {
        FleetError::Database(Arc::new(error))
    }
}
