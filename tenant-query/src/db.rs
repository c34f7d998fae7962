//! The database: a pool plus the library's settings.

use std::sync::Arc;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::error::Result;
use crate::handle::{ScopedDb, ScopedTransaction};
use crate::scope::TenantScope;

/// A PostgreSQL pool that hands out tenant-scoped handles.
///
/// `TenantDb` itself runs no entity query: [`TenantDb::scope`] and [`TenantDb::begin`]
/// turn it and a [`TenantScope`] into the handles the generated functions accept.
///
/// ```no_run
/// use tenant_query::{TenantDb, TenantScope};
/// # async fn run(url: &str, org: uuid::Uuid) -> tenant_query::Result<()> {
/// let db = TenantDb::connect(url).await?;
/// db.migrate().await?;
/// let s = db.scope(&TenantScope::new(org));
/// # let _ = s;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TenantDb {
    pool: PgPool,
    settings: Arc<Settings>,
}

/// How statements are sent; shared by every handle of one [`TenantDb`].
#[derive(Debug)]
pub(crate) struct Settings {
    /// Whether statements are prepared once per connection and cached (sqlx's default).
    pub(crate) prepared_statements: bool,
}

impl TenantDb {
    /// Connects a pool with sqlx's default options.
    pub async fn connect(url: &str) -> Result<Self> {
        Ok(Self::new(PgPoolOptions::new().connect(url).await?))
    }

    /// Wraps an existing pool.
    pub fn new(pool: PgPool) -> Self {
        TenantDb {
            pool,
            settings: Arc::new(Settings {
                prepared_statements: true,
            }),
        }
    }

    /// Whether statements are prepared and cached per connection (on by default).
    ///
    /// Turn it off behind a pooler that cannot track prepared statements, such as
    /// PgBouncer in transaction mode: statements are then sent unnamed, one round trip
    /// each as before.
    ///
    /// ```no_run
    /// # async fn run(pool: sqlx::PgPool) {
    /// let db = tenant_query::TenantDb::new(pool).prepared_statements(false);
    /// # let _ = db; }
    /// ```
    pub fn prepared_statements(self, enabled: bool) -> Self {
        TenantDb {
            settings: Arc::new(Settings {
                prepared_statements: enabled,
            }),
            ..self
        }
    }

    /// A cheap handle that runs every call in `scope`'s tenant.
    pub fn scope(&self, scope: &TenantScope) -> ScopedDb {
        ScopedDb::new(self.clone(), *scope)
    }

    /// Starts a transaction in `scope`'s tenant; it rolls back unless committed.
    pub async fn begin(&self, scope: &TenantScope) -> Result<ScopedTransaction> {
        ScopedTransaction::begin(self, *scope).await
    }

    /// Creates the library's own tables (the audit log), idempotently.
    ///
    /// Teams that run their own migration tool apply [`crate::MIGRATION_SQL`] instead.
    pub async fn migrate(&self) -> Result<()> {
        sqlx::raw_sql(crate::MIGRATION_SQL)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The escape hatch for work that spans tenants (reports, maintenance), named by the
    /// reason it exists so that every such place is visible in review.
    ///
    /// ```no_run
    /// # async fn run(db: tenant_query::TenantDb) -> Result<(), sqlx::Error> {
    /// let admin = db.cross_tenant("nightly usage report");
    /// let tenants: i64 = sqlx::query_scalar("SELECT count(DISTINCT org_id) FROM projects")
    ///     .fetch_one(admin.pool())
    ///     .await?;
    /// # let _ = tenants; Ok(()) }
    /// ```
    pub fn cross_tenant(&self, reason: &'static str) -> CrossTenant<'_> {
        CrossTenant {
            pool: &self.pool,
            reason,
        }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// Unscoped access to the pool, for a stated reason. See [`TenantDb::cross_tenant`].
#[derive(Debug, Clone, Copy)]
pub struct CrossTenant<'a> {
    pool: &'a PgPool,
    reason: &'static str,
}

impl<'a> CrossTenant<'a> {
    /// The raw pool: every query on it sees all tenants.
    pub fn pool(&self) -> &'a PgPool {
        self.pool
    }

    /// Why this code reaches across tenants.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}
