//! One `tracing` span per statement, named and attributed by OpenTelemetry's stable
//! database conventions. The callers say what a statement does ([`Summary`]), so nothing
//! here parses SQL.
//!
//! A span costs an interest check when no subscriber wants it: every attribute is computed
//! inside the span macro's enabled branch, and the error attributes only for an enabled
//! span.

use tracing::Span;
use tracing::field::Empty;

use crate::backend::Backend;
use crate::error::Error;
use crate::scope::AnyScope;

/// The target of the statement spans, for filtering (`tenant_query::statement=info`).
pub(crate) const TARGET: &str = "tenant_query::statement";

/// What a statement does to which table, as OpenTelemetry's `db.operation.name` and
/// `db.collection.name`; together, the low-cardinality `db.query.summary`
/// (`SELECT projects`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Summary {
    pub(crate) operation: Operation,
    pub(crate) collection: &'static str,
}

/// The SQL command of a statement. A write with an audit record is named by its change of
/// the entity's table (the record is part of the same statement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Select,
    Insert,
    Update,
    Delete,
}

impl Operation {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Operation::Select => "SELECT",
            Operation::Insert => "INSERT",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

impl Summary {
    pub(crate) const fn new(operation: Operation, collection: &'static str) -> Self {
        Summary {
            operation,
            collection,
        }
    }

    pub(crate) const fn select(collection: &'static str) -> Self {
        Summary::new(Operation::Select, collection)
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.operation.as_str(), self.collection)
    }
}

/// One span per operation: a `tracing` span name is fixed per call site, so the name is
/// the operation (low cardinality, as the conventions ask) and the full summary goes to
/// `otel.name`, which OpenTelemetry bridges export as the span name.
macro_rules! statement_span {
    ($name:literal, $summary:expr, $sql:expr, $scope:expr, $backend:expr) => {
        tracing::info_span!(
            target: TARGET,
            $name,
            otel.name = %$summary,
            otel.kind = "client",
            otel.status_code = Empty,
            db.system.name = "postgresql",
            db.namespace = $backend.pool.connect_options().get_database(),
            db.operation.name = $summary.operation.as_str(),
            db.collection.name = $summary.collection,
            db.query.summary = %$summary,
            db.query.text = $sql,
            db.response.status_code = Empty,
            error.type = Empty,
            server.address = $backend.pool.connect_options().get_host(),
            server.port = $backend.pool.connect_options().get_port(),
            tenant.id = $scope.map(|scope: &AnyScope| display(scope.erased_tenant())),
        )
    };
}

/// The span of one statement about to be sent.
pub(crate) fn statement(
    summary: Summary,
    sql: &str,
    scope: Option<&AnyScope>,
    backend: &Backend,
) -> Span {
    match summary.operation {
        Operation::Select => statement_span!("SELECT", summary, sql, scope, backend),
        Operation::Insert => statement_span!("INSERT", summary, sql, scope, backend),
        Operation::Update => statement_span!("UPDATE", summary, sql, scope, backend),
        Operation::Delete => statement_span!("DELETE", summary, sql, scope, backend),
    }
}

/// Marks `span` failed: the SQLSTATE as `db.response.status_code` and `error.type` when the
/// server answered, otherwise the library's error kind as `error.type`.
pub(crate) fn failed(span: &Span, error: &Error) {
    if span.is_disabled() {
        return;
    }
    span.record("otel.status_code", "ERROR");
    match error.sqlstate() {
        Some(code) => {
            span.record("db.response.status_code", code.as_str());
            span.record("error.type", code.as_str());
        }
        None => {
            span.record("error.type", error_type(error));
        }
    }
}

/// A low-cardinality name for an error the server did not answer with a SQLSTATE.
fn error_type(error: &Error) -> &'static str {
    match error {
        Error::Database(source) => match &**source {
            sqlx::Error::PoolTimedOut => "pool_timed_out",
            sqlx::Error::PoolClosed => "pool_closed",
            sqlx::Error::Io(_) => "io",
            sqlx::Error::Tls(_) => "tls",
            sqlx::Error::Protocol(_) => "protocol",
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => "decode",
            _ => "database",
        },
        Error::NotFound { .. } => "not_found",
        Error::NotUnique { .. } => "not_unique",
        Error::Conflict { .. } => "conflict",
        Error::ForeignKey { .. } => "foreign_key",
        Error::CascadeRefused { .. } => "cascade_refused",
        Error::InvalidInput { .. } => "invalid_input",
        Error::Configuration(_) => "configuration",
        Error::RolledBack => "rolled_back",
        Error::Isolation(_) => "isolation",
        Error::Schema(_) => "schema",
        Error::TenantReadOnly => "tenant_read_only",
        Error::StalePlacement => "stale_placement",
        Error::CellBusy { .. } => "cell_busy",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_operation_then_collection() {
        let summary = Summary::new(Operation::Update, "billing.invoices");
        assert_eq!(summary.to_string(), "UPDATE billing.invoices");
        assert_eq!(Summary::select("projects").to_string(), "SELECT projects");
        assert_eq!(TARGET, "tenant_query::statement");
    }
}
