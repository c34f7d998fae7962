//! Tenant-scoped, soft-delete-aware, audited repositories over PostgreSQL and sqlx.
//!
//! Derive [`TenantEntity`](derive@TenantEntity) on a struct and get a typed repository in
//! which every call needs a [`TenantScope`]: the handles the generated functions accept
//! ([`ScopedDb`], [`ScopedTransaction`]) exist only for a scope, so an unscoped query does
//! not compile. Soft-deleted rows are hidden on every path unless a call names the
//! opt-out, and the SQL always carries the tenant predicate.
//!
//! ```no_run
//! use tenant_query::prelude::*;
//! use chrono::{DateTime, Utc};
//! use uuid::Uuid;
//!
//! #[derive(Debug, Clone, PartialEq, TenantEntity)]
//! #[tenant(table = "projects")]
//! pub struct Project {
//!     #[tenant(id)] pub id: Uuid,
//!     #[tenant(tenant_id)] pub org_id: Uuid,
//!     pub name: String,
//!     #[tenant(created_at)] pub created_at: DateTime<Utc>,
//!     #[tenant(soft_delete)] pub deleted_at: Option<DateTime<Utc>>,
//! }
//!
//! # async fn run(url: &str, org: Uuid) -> tenant_query::Result<()> {
//! let db = TenantDb::connect(url).await?;
//! let s = db.scope(&TenantScope::new(org));
//! let p = Project::insert(&s, NewProject { name: "Apollo".into() }).await?;
//! Project::delete(&s, p.id).await?;
//! assert!(Project::find(&s, p.id).await?.is_none());
//! # Ok(()) }
//! ```
//!
//! # The attributes
//!
//! | attribute | on | meaning |
//! |---|---|---|
//! | `table = "name"` | struct | the table (required) |
//! | `audit` | struct | every write leaves an [`AuditRecord`], in the same statement |
//! | `id` | a [`Key`] field (`Uuid`, `i64`, `String`, ...) | the row's key within its tenant: a `Uuid` gets a UUIDv7 on insert, any other type is a field of `New…` (a natural key, for example) |
//! | `id, default` | a [`Key`] field | the database makes the id (an identity or a column default); `RETURNING` brings it back |
//! | `tenant_id` | a [`Key`] field | the tenant column; set from the scope, never by the caller. Its type is the scope's: `TenantScope<i64>` for `i64` tenants |
//! | `created_at`, `updated_at` | `DateTime<Utc>` field | set by the library |
//! | `soft_delete` | `Option<DateTime<Utc>>` field | `delete` sets it; deleted rows are hidden by default |
//! | `belongs_to = Parent` | the parent's id type, or an `Option` of it | a relation, with batch loaders |
//! | `rename = "column"` | field | the SQL column name, when it differs from the field's |
//!
//! Columns compared by `update` (to move `updated_at` only on a real change) and by audit
//! diffs need an equality operator: use `jsonb` rather than `json`.
//!
//! # Feature flags
//!
//! | feature | adds |
//! |---|---|
//! | `testing` | `tenant_query::testing`: a throwaway PostgreSQL (or a fresh database on `DATABASE_URL`) for tests, examples and benchmarks |
//! | `axum` | `tenant_query::http`: a tower layer that resolves each request's tenant, and axum extractors for the scope, a [`ScopedDb`] and per-request [`Loader`]s |
//! | `rust_decimal` | `rust_decimal::Decimal` fields for `numeric` columns |
//! | `fleet` | `tenant_query::fleet`: sqlx's migration files applied in every tenant home (schema or database), in parallel, resumably, with a ledger per home and a run table |
//!
//! None is on by default. `tracing` is always on: every statement is a span named by
//! OpenTelemetry's database conventions (see the README's Tracing section), and it costs an
//! interest check when no subscriber wants it.
//!
//! # The guide
//!
//! The [README](https://github.com/tenant-query/tenant-query#readme) walks through the
//! library: [Getting started](https://github.com/tenant-query/tenant-query#getting-started)
//! (the table shape), [A tour](https://github.com/tenant-query/tenant-query#a-tour),
//! [The derive](https://github.com/tenant-query/tenant-query#the-derive),
//! [Queries](https://github.com/tenant-query/tenant-query#queries),
//! [Errors](https://github.com/tenant-query/tenant-query#errors),
//! [Audit trail](https://github.com/tenant-query/tenant-query#audit-trail),
//! [Batch loading](https://github.com/tenant-query/tenant-query#batch-loading-no-n1),
//! [Defense in depth](https://github.com/tenant-query/tenant-query#defense-in-depth-rls-pgbouncer-cancellation)
//! (RLS, PgBouncer, cancellation),
//! [Running on Citus](https://github.com/tenant-query/tenant-query#running-on-a-tenant-distributed-postgresql-citus),
//! [Placement](https://github.com/tenant-query/tenant-query#placement-shared-tables-schema-per-tenant-database-per-tenant)
//! (shared tables, schema or database per tenant, moves: [`placement`], [`cells`],
//! [`moving`]),
//! [In a web service](https://github.com/tenant-query/tenant-query#in-a-web-service),
//! [Tracing](https://github.com/tenant-query/tenant-query#tracing) and
//! [Performance](https://github.com/tenant-query/tenant-query#performance).
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod action;
mod aggregate;
mod audit;
mod backend;
pub mod cells;
mod db;
mod entity;
mod error;
mod exec;
mod filter;
mod handle;
mod isolation;
mod key;
mod loader;
mod meta;
pub mod moving;
pub mod placement;
mod query;
mod relation;
mod repo;
mod repository;
pub mod rls;
pub mod schema;
mod schema_report;
mod scope;
mod sql;
mod trace;
mod transaction;
mod value;

#[cfg(feature = "fleet")]
#[cfg_attr(docsrs, doc(cfg(feature = "fleet")))]
pub mod fleet;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod http;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use action::AuditAction;
pub use aggregate::{Averageable, Decoded, Grouped, Nullability, Summable};
pub use audit::{AuditQuery, AuditRecord};
pub use db::{CrossTenant, TenantDb};
pub use entity::{SoftDelete, TenantEntity, UniqueKey};
pub use error::{Error, Result};
pub use filter::{Column, Filter, IntoValue, NotNull, Nullable, Order};
pub use handle::{Scoped, ScopedDb, ScopedTransaction, TenantExecutor};
pub use isolation::{IsolationProblem, IsolationReport};
pub use key::Key;
pub use loader::{Loader, LoaderHandle, MAX_BATCH, MAX_GATHER_YIELDS};
pub use query::{Locking, Query};
pub use relation::{Children, Keyed, Nested, Relation, Then};
pub use repository::{Repository, TrashRepository};
pub use schema_report::{SchemaProblem, SchemaReport};
pub use scope::TenantScope;
pub use value::SqlValue;

/// The DDL of the library's own tables (the audit log) for `Uuid` tenants, for teams that
/// run their own migration tool; [`TenantDb::migrate`] applies the same SQL. Idempotent.
///
/// ```
/// assert!(tenant_query::MIGRATION_SQL.contains("CREATE TABLE IF NOT EXISTS tenant_audit_log"));
/// ```
pub const MIGRATION_SQL: &str = sql::AUDIT_LOG_DDL;

/// [`MIGRATION_SQL`] for tenants of type `T`: the audit log's tenant column takes the
/// entities' tenant type (row ids are text, whatever their type).
/// [`TenantDb::migrate_for_tenant`] applies it.
///
/// ```
/// let ddl = tenant_query::migration_sql::<i64>();
/// assert!(ddl.contains("tenant_id      int8 "));
/// assert_eq!(tenant_query::migration_sql::<uuid::Uuid>(), tenant_query::MIGRATION_SQL);
/// ```
pub fn migration_sql<T: Key>() -> String {
    let tenant_type = <T as sqlx::Type<sqlx::Postgres>>::type_info();
    sql::audit_log_ddl(sqlx::TypeInfo::name(&tenant_type))
}

/// Derives a tenant-scoped repository; see the crate documentation for the attributes.
pub use tenant_derive::TenantEntity;

/// Everything an application needs in scope: `use tenant_query::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AuditRecord, Children, Error, Filter, Loader, Nested, Query, Scoped, ScopedDb,
        ScopedTransaction, SoftDelete, TenantDb, TenantEntity, TenantExecutor, TenantScope,
    };
}

/// What generated code refers to; not a stable API. Versioned, so that code generated by
/// one version of the derive never links against another version of the runtime.
#[doc(hidden)]
pub mod __private_v0_1 {
    pub use crate::entity::{Generated, ViaParent, unique_key, via_parent};
    pub use crate::filter::column;
    pub use crate::key::Key;
    pub use crate::loader::LoaderSource;
    pub use crate::meta::{ColumnMeta, ColumnRole, EntityMeta, RelationMeta};
    pub use crate::relation::relation;
    /// The generic repository the generated functions call.
    pub mod repo {
        pub use crate::repo::*;
    }
    pub use crate::sql::Statements;
    pub use crate::value::{ArrayBatch, Values};
    pub use sqlx;
    pub use std::sync::LazyLock;
    pub use uuid::Uuid;
}
