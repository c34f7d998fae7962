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
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    /// Whether a transaction pooler sits in front: statements unnamed, each pool
    /// statement in its own transaction.
    pub(crate) transaction_pooler: bool,
    /// In RLS mode, the setting that carries the tenant id.
    pub(crate) rls_setting: Option<String>,
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
            settings: Arc::new(Settings::default()),
        }
    }

    /// Makes the library safe behind a pooler in transaction mode (PgBouncer's
    /// `pool_mode = transaction`), which may hand each transaction, or each statement
    /// outside one, to a different server connection.
    ///
    /// Statements are then sent unnamed instead of prepared once per connection (the
    /// pooler cannot track named ones), and every scoped statement outside a
    /// [`ScopedTransaction`] runs in a transaction of its own: sqlx sends an unnamed
    /// statement in two protocol exchanges (parse, then bind and execute), and only a
    /// transaction keeps both on one server connection. A single statement then costs
    /// three round trips, as in RLS mode (the two share them).
    ///
    /// ```no_run
    /// # async fn run(pool: sqlx::PgPool) {
    /// let db = tenant_query::TenantDb::new(pool).behind_transaction_pooler();
    /// # let _ = db; }
    /// ```
    pub fn behind_transaction_pooler(self) -> Self {
        let settings = Settings {
            transaction_pooler: true,
            ..(*self.settings).clone()
        };
        TenantDb {
            settings: Arc::new(settings),
            ..self
        }
    }

    /// Turns on RLS mode: every scoped call runs in a transaction that first sets
    /// `setting` (for example `"app.tenant_id"`) to the scope's tenant, transaction-locally,
    /// in the same round trip as `BEGIN`; the policies of
    /// [`enable_row_level_security`](Self::enable_row_level_security) read it. A single
    /// statement then costs three round trips (`BEGIN` + setting, the statement,
    /// `COMMIT`); a scoped transaction pays the prologue once. The tenant predicate stays
    /// in every statement.
    ///
    /// `setting` must be a custom setting name: two or more parts joined by dots, each of
    /// ASCII letters, digits and underscores.
    ///
    /// ```
    /// # async fn run(pool: sqlx::PgPool) -> tenant_query::Result<()> {
    /// let db = tenant_query::TenantDb::new(pool).row_level_security("app.tenant_id")?;
    /// # let _ = db; Ok(()) }
    /// ```
    pub fn row_level_security(self, setting: &str) -> Result<Self> {
        let part_ok = |part: &str| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let parts: Vec<&str> = setting.split('.').collect();
        if parts.len() < 2 || !parts.iter().all(|p| part_ok(p)) || setting.len() > 63 {
            return Err(crate::Error::invalid_input(
                "row_level_security",
                format!("`{setting}` is not a custom setting name like `app.tenant_id`"),
            ));
        }
        let settings = Settings {
            rls_setting: Some(setting.to_owned()),
            ..(*self.settings).clone()
        };
        Ok(TenantDb {
            settings: Arc::new(settings),
            ..self
        })
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
