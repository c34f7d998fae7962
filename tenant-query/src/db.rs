//! The database: a pool plus the library's settings.

use std::sync::Arc;

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};

use crate::backend::{Backend, Settings};
use crate::entity::TenantEntity;
use crate::error::{Error, Result};
use crate::exec::Route;
use crate::handle::{ScopedDb, ScopedTransaction};
use crate::key::Key;
use crate::rls::{self, IsolationCheck};
use crate::scope::TenantScope;
use crate::sql;
use crate::trace::Summary;

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
    backend: Arc<Backend>,
}

impl TenantDb {
    /// Connects a pool with sqlx's default options.
    pub async fn connect(url: &str) -> Result<Self> {
        Ok(Self::new(PgPoolOptions::new().connect(url).await?))
    }

    /// Wraps an existing pool (to choose its size and timeouts, build it with
    /// [`PgPoolOptions`]).
    pub fn new(pool: PgPool) -> Self {
        TenantDb {
            backend: Backend::new(pool, Settings::default()),
        }
    }

    fn with_settings(self, change: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.backend.settings.clone();
        change(&mut settings);
        TenantDb {
            backend: Backend::new(self.backend.pool.clone(), settings),
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
        self.with_settings(|s| s.transaction_pooler = true)
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
    /// ASCII letters, digits and underscores; anything else is [`Error::Configuration`].
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
            return Err(Error::Configuration(
                format!("`{setting}` is not a custom setting name like `app.tenant_id`").into(),
            ));
        }
        Ok(self.with_settings(|s| s.rls_setting = Some(setting.to_owned())))
    }

    /// Places tenants: each scope's tenant is looked up in `directory` and its statements
    /// go to its home: the shared tables, a schema of its own, or a cell of `cells` (see
    /// [`placement`](crate::placement)). The calling code does not change. Every scoped
    /// statement then runs in a transaction whose first round trip also sets the tenant's
    /// `search_path` (transaction-local) and checks the home's fence; a transaction of a
    /// tenant being moved is refused with [`Error::TenantReadOnly`], reads outside one
    /// still work. Each home needs [`migrate_home`](Self::migrate_home).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use tenant_query::cells::Cells;
    /// use tenant_query::placement::{MemoryPlacements, Placement, TenantPlacement};
    /// # async fn run(pool: sqlx::PgPool) {
    /// let directory = MemoryPlacements::new(Placement::new(TenantPlacement::Shared));
    /// let db = tenant_query::TenantDb::new(pool).with_placements(Arc::new(directory), Cells::new());
    /// # let _ = db; }
    /// ```
    pub fn with_placements(
        self,
        directory: Arc<dyn crate::placement::PlacementDirectory>,
        cells: crate::cells::Cells,
    ) -> Self {
        let placements = crate::placement::Placements {
            directory,
            cells: Arc::new(cells),
        };
        self.with_settings(|s| s.placements = Some(placements))
    }

    /// The cells of [`with_placements`](Self::with_placements), for work across cells
    /// ([`Cells::each`](crate::cells::Cells::each)); [`Error::Configuration`] without
    /// placements.
    pub fn cells(&self) -> Result<&crate::cells::Cells> {
        self.placements().map(|p| &*p.cells)
    }

    /// Creates the library's tables in a home, idempotently: the audit log for `Uuid`
    /// tenants (in the tenant's schema for
    /// [`TenantPlacement::Schema`](crate::placement::TenantPlacement), creating the schema;
    /// [`migrate_home_for_tenant`](Self::migrate_home_for_tenant) for tenants of another
    /// type) and the database's fence table. The entities' tables in a
    /// schema are the application's migration to run, with `search_path` set to it.
    ///
    /// ```no_run
    /// use tenant_query::placement::{SchemaName, TenantPlacement};
    /// # async fn run(db: tenant_query::TenantDb) -> tenant_query::Result<()> {
    /// db.migrate_home(&TenantPlacement::Schema(SchemaName::new("tenant_big")?)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn migrate_home(&self, home: &crate::placement::TenantPlacement) -> Result<()> {
        self.migrate_home_for_tenant::<uuid::Uuid>(home).await
    }

    /// [`migrate_home`](Self::migrate_home) for tenants of type `T` (`i64`, `String`, ...):
    /// the audit log in the home takes the tenants' type, as with
    /// [`migrate_for_tenant`](Self::migrate_for_tenant).
    pub async fn migrate_home_for_tenant<T: Key>(
        &self,
        home: &crate::placement::TenantPlacement,
    ) -> Result<()> {
        let audit_log = crate::migration_sql::<T>();
        let pool = match home.cell() {
            Some(cell) => self.placements()?.cells.pool(cell)?,
            None => self.backend.pool.clone(),
        };
        let mut script = sql::fence::FENCE_DDL.to_owned();
        match home.schema() {
            Some(schema) => {
                let schema = schema.quoted();
                script.push_str(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path = {schema};\n{audit_log}"
                ));
            }
            None => script.push_str(&audit_log),
        }
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(AssertSqlSafe(script))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) fn placements(&self) -> Result<&crate::placement::Placements> {
        self.backend.settings.placements.as_ref().ok_or_else(|| {
            Error::Configuration("this database has no placements (with_placements)".into())
        })
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }

    /// A cheap handle that runs every call in `scope`'s tenant.
    pub fn scope<T: Key>(&self, scope: &TenantScope<T>) -> ScopedDb<T> {
        ScopedDb::new(Arc::clone(&self.backend), scope.clone())
    }

    /// Starts a transaction in `scope`'s tenant; it rolls back unless committed.
    pub async fn begin<T: Key>(&self, scope: &TenantScope<T>) -> Result<ScopedTransaction<T>> {
        ScopedTransaction::begin(Arc::clone(&self.backend), scope.clone()).await
    }

    /// Creates the library's own tables (the audit log) for `Uuid` tenants, idempotently.
    ///
    /// Teams that run their own migration tool apply [`crate::MIGRATION_SQL`] instead.
    pub async fn migrate(&self) -> Result<()> {
        self.migrate_for_tenant::<uuid::Uuid>().await
    }

    /// Creates the library's own tables for tenants of type `T` (`i64`, `String`, ...): the
    /// audit log's tenant column has the entities' tenant type, so that it is compared,
    /// indexed and distributed like theirs. Idempotent; see [`crate::migration_sql`].
    pub async fn migrate_for_tenant<T: Key>(&self) -> Result<()> {
        sqlx::raw_sql(AssertSqlSafe(crate::migration_sql::<T>()))
            .execute(&self.backend.pool)
            .await?;
        Ok(())
    }

    /// Applies [`rls::policy_sql`] for `E` with this database's RLS setting (run it as
    /// the table's owner, typically at migration time); [`Error::Configuration`] when RLS
    /// mode is off or `E` reaches its tenant through a parent (`via`: it has no tenant
    /// column for a policy to compare).
    pub async fn enable_row_level_security<E: TenantEntity>(&self) -> Result<()> {
        if E::META.via.is_some() {
            return Err(via_refused(E::META.table, "a row-level security policy"));
        }
        rls::apply_policy(&self.backend, rls::entity_target(E::meta())).await
    }

    /// Applies [`rls::audit_log_policy_sql`] with this database's RLS setting.
    pub async fn enable_audit_log_row_level_security(&self) -> Result<()> {
        rls::apply_policy(&self.backend, rls::audit_log_target()).await
    }

    /// Starts a check, for startup, that the connected role cannot escape RLS on the
    /// tables you name: not a superuser, no `BYPASSRLS`, RLS enabled, forced where the role
    /// has the owner's rights (directly or through a role it belongs to), the tenant
    /// policy present, and no other permissive policy that would be OR-ed with it.
    ///
    /// ```no_run
    /// # use tenant_query::prelude::*;
    /// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "notes")]
    /// # pub struct Note { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid }
    /// # async fn run(db: TenantDb) -> tenant_query::Result<()> {
    /// db.verify_isolation().entity::<Note>().audit_log().run().await?;
    /// # Ok(()) }
    /// ```
    pub fn verify_isolation(&self) -> IsolationCheck<'_> {
        IsolationCheck::new(&self.backend)
    }

    /// Starts a check, for startup, that the tables fit the entities you name and the
    /// library's multi-tenant rules: every field has a column of a type it can read,
    /// `Option` wherever a column may be `NULL`, `generated` matching the database, primary
    /// and unique keys that include the tenant, composite foreign keys (tenant included)
    /// and a tenant-leading index behind each `belongs_to`, no cascading delete into an
    /// audited table, a unique index behind each declared `unique` key. All problems are
    /// reported at once, in [`Error::Schema`].
    ///
    /// ```no_run
    /// # use tenant_query::prelude::*;
    /// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "notes")]
    /// # pub struct Note { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid }
    /// # async fn run(db: TenantDb) -> tenant_query::Result<()> {
    /// db.verify_schema().entity::<Note>().run().await?;
    /// # Ok(()) }
    /// ```
    pub fn verify_schema(&self) -> crate::schema::SchemaCheck<'_> {
        crate::schema::SchemaCheck::new(&self.backend)
    }

    /// The escape hatch for work that spans tenants (reports, maintenance), named by the
    /// reason it exists so that every such place is visible in review and in the logs:
    /// each call emits a `tracing` event (target `tenant_query::cross_tenant`) with the
    /// reason. An empty reason is refused with [`Error::Configuration`].
    ///
    /// The pool sees every tenant's rows unless RLS applies to its role: in RLS mode, the
    /// tables are `FORCE ROW LEVEL SECURITY`, so the same role sees no rows outside a
    /// scope. Run cross-tenant work under RLS with a pool of its own, connected as a role
    /// with `BYPASSRLS`, wrapped in its own `TenantDb`.
    ///
    /// ```no_run
    /// # async fn run(db: tenant_query::TenantDb) -> Result<(), Box<dyn std::error::Error>> {
    /// let admin = db.cross_tenant("nightly usage report")?;
    /// let tenants: i64 = sqlx::query_scalar("SELECT count(DISTINCT org_id) FROM projects")
    ///     .fetch_one(admin.pool())
    ///     .await?;
    /// # let _ = tenants; Ok(()) }
    /// ```
    pub fn cross_tenant(&self, reason: &'static str) -> Result<CrossTenant<'_>> {
        if reason.trim().is_empty() {
            return Err(Error::Configuration(
                "cross_tenant needs a reason: say why this code reaches across tenants".into(),
            ));
        }
        tracing::info!(target: "tenant_query::cross_tenant", reason, "cross-tenant access");
        Ok(CrossTenant {
            backend: &self.backend,
            reason,
        })
    }
}

impl TenantDb {
    #[cfg(feature = "testing")]
    pub(crate) fn pool(&self) -> &PgPool {
        &self.backend.pool
    }
}

/// Unscoped access to the pool, for a stated reason. See [`TenantDb::cross_tenant`].
#[derive(Debug, Clone, Copy)]
pub struct CrossTenant<'a> {
    backend: &'a Backend,
    reason: &'static str,
}

impl<'a> CrossTenant<'a> {
    /// The raw pool: queries on it are not scoped (see [`TenantDb::cross_tenant`] for
    /// what RLS mode changes).
    pub fn pool(&self) -> &'a PgPool {
        &self.backend.pool
    }

    /// Why this code reaches across tenants.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// The scope of the tenant that owns the live row `id` of `E`, or `None`: for requests
    /// that carry only a global id (a webhook, an API token), to find the tenant first and
    /// make every later call scoped. One lookup by id without a tenant predicate; an id
    /// found in two tenants is [`Error::NotUnique`].
    ///
    /// ```no_run
    /// # use tenant_query::prelude::*;
    /// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "webhooks")]
    /// # pub struct Webhook { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid }
    /// # async fn run(db: TenantDb, hook: uuid::Uuid) -> tenant_query::Result<()> {
    /// let Some(scope) = db.cross_tenant("webhook delivery: find the hook's tenant")?.owner_of::<Webhook>(hook).await? else {
    ///     return Ok(()); // unknown hook
    /// };
    /// let hook = Webhook::get(&db.scope(&scope), hook).await?;
    /// # let _ = hook; Ok(()) }
    /// ```
    ///
    /// Under RLS mode the lookup runs with no tenant set, so the policies would hide
    /// every row: it is refused with [`Error::Configuration`]. Resolve owners through a
    /// `TenantDb` without RLS mode over a pool whose role has `BYPASSRLS`.
    pub async fn owner_of<E: TenantEntity>(
        &self,
        id: E::Id,
    ) -> Result<Option<TenantScope<E::Tenant>>> {
        if self.backend.settings.rls_setting.is_some() {
            return Err(Error::Configuration(
                "owner_of cannot see past row-level security: resolve owners through a TenantDb \
                 without RLS mode over a pool whose role has BYPASSRLS"
                    .into(),
            ));
        }
        if E::META.via.is_some() {
            return Err(via_refused(E::META.table, "owner_of"));
        }
        let (statement, args) = sql::render_owner(E::meta(), Box::new(id)).bind(None)?;
        let owners: Vec<(E::Tenant,)> =
            Route::unscoped(self.backend, Summary::select(E::META.table))
                .fetch_all(AssertSqlSafe(statement.into_sql()), args)
                .await?;
        match owners.as_slice() {
            [] => Ok(None),
            [(tenant,)] => Ok(Some(TenantScope::new(tenant.clone()))),
            _ => Err(Error::NotUnique {
                entity: E::META.table,
            }),
        }
    }
}

/// What a `via` entity cannot have: it has no tenant column of its own.
fn via_refused(table: &str, what: &str) -> Error {
    Error::Configuration(
        format!(
            "`{table}` reaches its tenant through a parent (`via`) and has no tenant column, so \
             {what} cannot apply to it: use its parent's, or add the tenant column"
        )
        .into(),
    )
}
