//! Where each tenant lives: shared tables, a schema of its own, or a database of its own
//! (a cell), behind the same scope and the same generated functions.
//!
//! A [`PlacementDirectory`] says where a tenant lives ([`Placement`]); the application
//! chooses where that comes from: [`MemoryPlacements`] (configuration, a closure),
//! [`TablePlacements`] (a table in a control database, cached). Configured with
//! [`TenantDb::with_placements`](crate::TenantDb::with_placements), every scoped statement
//! then runs in a transaction whose first round trip is `BEGIN` plus, in that same
//! message, the tenant's `search_path` (`set_config(.., true)`, transaction-local, so
//! nothing survives on a connection a pooler hands to another client), the RLS setting,
//! and the home's fence check (see [`moving`](crate::moving)). The tenant predicate stays
//! in every statement. Without placements, nothing of this runs.
//!
//! Each home needs the library's tables: [`TenantDb::migrate_home`](crate::TenantDb::migrate_home)
//! creates the audit log in a schema (unqualified tables resolve into it) and the fence
//! table of the database. The application's role needs `USAGE` on the schema
//! `tenant_query` and `SELECT` on `tenant_query.fences`; the role that moves tenants also
//! `INSERT` and `UPDATE` on it. `pg_catalog` stays on every `search_path`; nothing else
//! does, so an entity table missing from a tenant's schema is an error, never a read of
//! the shared table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use sqlx::PgPool;

use crate::error::{Error, Result};

/// A schema name that is safe to place a tenant in: 1 to 63 characters of lowercase ASCII
/// letters, digits and `_`, not starting with a digit, and not a system schema (`pg_*`,
/// `information_schema`, the library's own `tenant_query`) nor `public`, where the shared
/// tables are. It is quoted wherever used.
///
/// ```
/// use tenant_query::placement::SchemaName;
/// assert_eq!(SchemaName::new("tenant_acme")?.as_str(), "tenant_acme");
/// assert!(SchemaName::new("acme\"; DROP TABLE x; --").is_err());
/// assert!(SchemaName::new("pg_catalog").is_err());
/// assert!(SchemaName::new("public").is_err());
/// # Ok::<(), tenant_query::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaName(Arc<str>);

impl SchemaName {
    /// Validates `name`; [`Error::InvalidInput`] when it is not a safe schema name. The one
    /// place tenant schema names are checked, for placements and the fleet migrator alike.
    pub fn new(name: impl AsRef<str>) -> Result<Self> {
        let name = name.as_ref();
        let valid = (1..=63).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && !name.starts_with("pg_")
            // `public` holds the shared tables: a tenant "placed" there would share them
            // with a home of its own, and a move between the two would copy the rows onto
            // themselves and then delete them with the old home's.
            && !matches!(name, "information_schema" | "tenant_query" | "public");
        if !valid {
            return Err(Error::invalid_input(
                "schema",
                format!(
                    "`{name}` is not a tenant schema name (1-63 of a-z, 0-9, _; not a system schema, not `public`)"
                ),
            ));
        }
        Ok(SchemaName(name.into()))
    }

    /// The name, unquoted.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a quoted SQL identifier.
    pub(crate) fn quoted(&self) -> String {
        crate::sql::ident(&self.0)
    }
}

impl std::fmt::Display for SchemaName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a tenant's rows are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TenantPlacement {
    /// In the shared tables of the main database (with RLS if the database is in RLS mode).
    Shared,
    /// In tables of the same names in a schema of its own, in the main database.
    Schema(SchemaName),
    /// In the shared tables of the database of a named cell (see [`Cells`](crate::cells::Cells)).
    Database(String),
}

impl TenantPlacement {
    /// The home's name in its database, as the fence table records it: `shared` or
    /// `schema:<name>`.
    pub(crate) fn home_key(&self) -> String {
        match self {
            TenantPlacement::Shared | TenantPlacement::Database(_) => "shared".to_owned(),
            TenantPlacement::Schema(name) => format!("schema:{}", name.as_str()),
        }
    }

    /// The cell whose database holds the home, `None` for the main database.
    pub(crate) fn cell(&self) -> Option<&str> {
        match self {
            TenantPlacement::Database(cell) => Some(cell),
            _ => None,
        }
    }

    /// The schema the home's tables are in, `None` for the shared tables.
    pub(crate) fn schema(&self) -> Option<&SchemaName> {
        match self {
            TenantPlacement::Schema(name) => Some(name),
            _ => None,
        }
    }

    fn encode(&self) -> (&'static str, Option<&str>) {
        match self {
            TenantPlacement::Shared => ("shared", None),
            TenantPlacement::Schema(name) => ("schema", Some(name.as_str())),
            TenantPlacement::Database(cell) => ("database", Some(cell)),
        }
    }

    fn decode(kind: &str, target: Option<&str>) -> Result<Self> {
        match (kind, target) {
            ("shared", _) => Ok(TenantPlacement::Shared),
            ("schema", Some(name)) => Ok(TenantPlacement::Schema(SchemaName::new(name)?)),
            ("database", Some(cell)) => Ok(TenantPlacement::Database(cell.to_owned())),
            _ => Err(Error::Configuration(
                format!("unknown placement `{kind}` in the placement table").into(),
            )),
        }
    }
}

/// Whether a tenant takes writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlacementState {
    /// Reads and writes.
    Active,
    /// Reads only: the tenant is being moved. Writes fail with [`Error::TenantReadOnly`].
    ReadOnly,
}

/// A tenant's placement: its home, the epoch of that home (raised by every move), and
/// whether it takes writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Placement {
    /// Where the rows are.
    pub home: TenantPlacement,
    /// Raised by one on every move; a statement routed with an older epoch than its home
    /// records is refused with [`Error::StalePlacement`].
    pub epoch: i64,
    /// Whether the tenant takes writes.
    pub state: PlacementState,
}

impl Placement {
    /// An active placement at epoch 0.
    pub fn new(home: TenantPlacement) -> Self {
        Placement {
            home,
            epoch: 0,
            state: PlacementState::Active,
        }
    }
}

/// Where placements come from. `tenant` is the tenant key as text (a UUID's hyphenated
/// form). Implement it over whatever holds them; the library calls `resolve` once per
/// statement outside a transaction and once per transaction, so cache in it.
///
/// ```
/// use tenant_query::placement::{MemoryPlacements, Placement, PlacementDirectory, TenantPlacement};
/// # async fn run() -> tenant_query::Result<()> {
/// let directory = MemoryPlacements::new(Placement::new(TenantPlacement::Shared));
/// let placement = directory.resolve("0195f0b4-4c7e-7aa4-a0b9-d3b1e5d8e001").await?;
/// assert_eq!(placement.home, TenantPlacement::Shared);
/// # Ok(()) }
/// ```
pub trait PlacementDirectory: Send + Sync + 'static {
    /// The tenant's current placement.
    fn resolve<'a>(&'a self, tenant: &'a str) -> BoxFuture<'a, Result<Placement>>;

    /// Records `placement` for `tenant` (the move helper flips placements through it). A
    /// directory that cannot be written answers [`Error::Configuration`], the default.
    fn record<'a>(&'a self, tenant: &'a str, placement: Placement) -> BoxFuture<'a, Result<()>> {
        let _ = (tenant, placement);
        Box::pin(async {
            Err(Error::Configuration(
                "this placement directory cannot record placements".into(),
            ))
        })
    }

    /// Forgets any cached placement of `tenant`: the library calls it when a statement was
    /// refused as stale or read-only (by a home, or by a read-only placement), so the
    /// caller's retry resolves afresh.
    fn invalidate(&self, tenant: &str) {
        let _ = tenant;
    }
}

/// Placements held in memory: a default for every tenant, overrides per tenant, and
/// optionally a function consulted before the default (configuration, a closure).
///
/// ```
/// use tenant_query::placement::{MemoryPlacements, Placement, SchemaName, TenantPlacement};
/// # fn run() -> tenant_query::Result<()> {
/// let directory = MemoryPlacements::new(Placement::new(TenantPlacement::Shared))
///     .with(
///         "0195f0b4-4c7e-7aa4-a0b9-d3b1e5d8e001",
///         Placement::new(TenantPlacement::Schema(SchemaName::new("tenant_big")?)),
///     )
///     .with_fn(|tenant| tenant.starts_with("ffff").then(|| {
///         Placement::new(TenantPlacement::Database("eu".into()))
///     }));
/// # let _ = directory; Ok(()) }
/// ```
pub struct MemoryPlacements {
    default: Placement,
    overrides: RwLock<HashMap<String, Placement>>,
    function: Option<PlacementFn>,
}

type PlacementFn = Box<dyn Fn(&str) -> Option<Placement> + Send + Sync>;

impl std::fmt::Debug for MemoryPlacements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryPlacements")
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl MemoryPlacements {
    /// Every tenant at `default`.
    pub fn new(default: Placement) -> Self {
        MemoryPlacements {
            default,
            overrides: RwLock::default(),
            function: None,
        }
    }

    /// `tenant` at `placement`.
    pub fn with(self, tenant: &str, placement: Placement) -> Self {
        write(&self.overrides).insert(tenant.to_owned(), placement);
        self
    }

    /// Tenants without an override at what `function` says, when it says anything.
    pub fn with_fn(
        mut self,
        function: impl Fn(&str) -> Option<Placement> + Send + Sync + 'static,
    ) -> Self {
        self.function = Some(Box::new(function));
        self
    }

    fn lookup(&self, tenant: &str) -> Placement {
        if let Some(placement) = read(&self.overrides).get(tenant) {
            return placement.clone();
        }
        self.function
            .as_ref()
            .and_then(|function| function(tenant))
            .unwrap_or_else(|| self.default.clone())
    }
}

impl PlacementDirectory for MemoryPlacements {
    fn resolve<'a>(&'a self, tenant: &'a str) -> BoxFuture<'a, Result<Placement>> {
        let placement = self.lookup(tenant);
        Box::pin(async move { Ok(placement) })
    }

    fn record<'a>(&'a self, tenant: &'a str, placement: Placement) -> BoxFuture<'a, Result<()>> {
        write(&self.overrides).insert(tenant.to_owned(), placement);
        Box::pin(async { Ok(()) })
    }
}

/// Placements in a table of a control database, cached for a time to live.
///
/// The table (`tenant_placements`, made by [`migrate`](Self::migrate)) has one row per
/// tenant placed elsewhere than the default: `tenant_id text`, `kind` (`shared`,
/// `schema`, `database`), `target` (the schema or cell), `epoch`, `state` (`active`,
/// `read_only`). A cached entry may be stale for up to the TTL; the homes' fences make
/// that safe (a stale write is refused, never written to the old home).
///
/// ```no_run
/// use std::time::Duration;
/// use tenant_query::placement::{Placement, TablePlacements, TenantPlacement};
/// # async fn run(control: sqlx::PgPool) -> tenant_query::Result<()> {
/// let directory = TablePlacements::new(control, Duration::from_secs(5));
/// directory.migrate().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TablePlacements {
    pool: PgPool,
    ttl: Duration,
    default: Placement,
    cache: Mutex<HashMap<String, (Instant, Placement)>>,
}

/// The control table of [`TablePlacements`].
pub const PLACEMENTS_DDL: &str = "CREATE TABLE IF NOT EXISTS tenant_placements (\
     tenant_id text PRIMARY KEY, \
     kind text NOT NULL CHECK (kind IN ('shared', 'schema', 'database')), \
     target text, \
     epoch bigint NOT NULL DEFAULT 0, \
     state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'read_only')))";

impl TablePlacements {
    /// Reads placements from `pool`'s `tenant_placements`, caching each for `ttl`; tenants
    /// without a row are [`TenantPlacement::Shared`] at epoch 0.
    pub fn new(pool: PgPool, ttl: Duration) -> Self {
        TablePlacements {
            pool,
            ttl,
            default: Placement::new(TenantPlacement::Shared),
            cache: Mutex::default(),
        }
    }

    /// Creates the control table, idempotently ([`PLACEMENTS_DDL`]).
    pub async fn migrate(&self) -> Result<()> {
        sqlx::raw_sql(PLACEMENTS_DDL).execute(&self.pool).await?;
        Ok(())
    }

    /// Every tenant placed by a row of the table (tenants without one are in the default
    /// placement), in tenant order: what a fleet migration walks.
    pub async fn placed(&self) -> Result<Vec<(String, Placement)>> {
        let rows: Vec<(String, String, Option<String>, i64, String)> = sqlx::query_as(
            "SELECT tenant_id, kind, target, epoch, state FROM tenant_placements ORDER BY tenant_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(tenant, kind, target, epoch, state)| {
                Ok((tenant, decode_row(&kind, target.as_deref(), epoch, &state)?))
            })
            .collect()
    }
}

/// A row of the control table as a placement.
fn decode_row(kind: &str, target: Option<&str>, epoch: i64, state: &str) -> Result<Placement> {
    Ok(Placement {
        home: TenantPlacement::decode(kind, target)?,
        epoch,
        state: if state == "read_only" {
            PlacementState::ReadOnly
        } else {
            PlacementState::Active
        },
    })
}

impl PlacementDirectory for TablePlacements {
    fn resolve<'a>(&'a self, tenant: &'a str) -> BoxFuture<'a, Result<Placement>> {
        Box::pin(async move {
            if let Some((at, placement)) = lock(&self.cache).get(tenant)
                && at.elapsed() < self.ttl
            {
                return Ok(placement.clone());
            }
            let row: Option<(String, Option<String>, i64, String)> = sqlx::query_as(
                "SELECT kind, target, epoch, state FROM tenant_placements WHERE tenant_id = $1",
            )
            .bind(tenant)
            .fetch_optional(&self.pool)
            .await?;
            let placement = match row {
                None => self.default.clone(),
                Some((kind, target, epoch, state)) => {
                    decode_row(&kind, target.as_deref(), epoch, &state)?
                }
            };
            lock(&self.cache).insert(tenant.to_owned(), (Instant::now(), placement.clone()));
            Ok(placement)
        })
    }

    fn record<'a>(&'a self, tenant: &'a str, placement: Placement) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (kind, target) = placement.home.encode();
            let state = match placement.state {
                PlacementState::Active => "active",
                PlacementState::ReadOnly => "read_only",
            };
            sqlx::query(
                "INSERT INTO tenant_placements (tenant_id, kind, target, epoch, state) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id) DO UPDATE SET \
                 kind = EXCLUDED.kind, target = EXCLUDED.target, epoch = EXCLUDED.epoch, \
                 state = EXCLUDED.state",
            )
            .bind(tenant)
            .bind(kind)
            .bind(target)
            .bind(placement.epoch)
            .bind(state)
            .execute(&self.pool)
            .await?;
            self.invalidate(tenant);
            Ok(())
        })
    }

    fn invalidate(&self, tenant: &str) {
        lock(&self.cache).remove(tenant);
    }
}

/// A database's placement configuration: the directory and the cells.
#[derive(Clone)]
pub(crate) struct Placements {
    pub(crate) directory: Arc<dyn PlacementDirectory>,
    pub(crate) cells: Arc<crate::cells::Cells>,
}

impl std::fmt::Debug for Placements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Placements")
            .field("cells", &self.cells)
            .finish_non_exhaustive()
    }
}

/// A tenant's resolved home: its placement and the pool of its database.
pub(crate) struct Home {
    pub(crate) placement: Placement,
    pub(crate) pool: PgPool,
}

impl Placements {
    /// Resolves `tenant`'s home; a write to a read-only tenant is refused here already.
    pub(crate) async fn home(&self, main: &PgPool, tenant: &str, writing: bool) -> Result<Home> {
        let placement = self.directory.resolve(tenant).await?;
        if writing && placement.state == PlacementState::ReadOnly {
            // The move ends by making the tenant active elsewhere: the next try must see it.
            self.directory.invalidate(tenant);
            return Err(Error::TenantReadOnly);
        }
        let pool = match placement.home.cell() {
            Some(cell) => self.cells.pool(cell)?,
            None => main.clone(),
        };
        Ok(Home { placement, pool })
    }

    /// `error`, from opening a transaction in `home`, as the caller should see it: a
    /// cell's exhausted budget is [`Error::CellBusy`]; a fence's refusal drops the cached
    /// placement, so a retry resolves afresh.
    pub(crate) fn refused(&self, tenant: &str, home: &Home, error: Error) -> Error {
        match error {
            Error::Database(source) if matches!(*source, sqlx::Error::PoolTimedOut) => {
                match home.placement.home.cell() {
                    Some(cell) => Error::CellBusy {
                        cell: cell.to_owned(),
                    },
                    None => Error::Database(source),
                }
            }
            Error::StalePlacement | Error::TenantReadOnly => {
                self.directory.invalidate(tenant);
                error
            }
            other => other,
        }
    }
}

/// The tenant key as the directory, the fences and the RLS setting see it: the one place
/// it is made text. The transaction prologue and a move write it into statements as a
/// literal, where a NUL would cut the simple-query message short (a protocol error):
/// [`Error::InvalidInput`] instead.
pub(crate) fn tenant_key(scope: &crate::scope::AnyScope) -> Result<String> {
    let key = scope.erased_tenant().to_string();
    if key.contains('\0') {
        return Err(Error::invalid_input("tenant", crate::value::NUL_IN_TEXT));
    }
    Ok(key)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
