//! Cells: named PostgreSQL databases, each with a pool of its own, created on first use.
//!
//! At most [`max_pools`](Cells::max_pools) pools are kept at once; opening one more lets go
//! of the least recently used, whose connections close once the statements using them end
//! (until then, that cell may briefly hold more than its budget if it is opened again).
//! Each pool holds at most [`connections_per_cell`](Cells::connections_per_cell)
//! connections; a statement that finds them all busy for
//! [`acquire_timeout`](Cells::acquire_timeout) fails with [`Error::CellBusy`], never
//! hangs. Work across cells goes only through [`Cells::each`], named by its reason.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::error::{Error, Result};

/// The cells a [`TenantDb`](crate::TenantDb) routes `Database` placements to.
///
/// ```no_run
/// use tenant_query::cells::Cells;
/// # fn run(eu: sqlx::postgres::PgConnectOptions, us: sqlx::postgres::PgConnectOptions) {
/// let cells = Cells::new()
///     .cell("eu", eu)
///     .cell("us", us)
///     .max_pools(8)
///     .connections_per_cell(10);
/// # let _ = cells; }
/// ```
#[derive(Debug)]
pub struct Cells {
    options: HashMap<String, PgConnectOptions>,
    max_pools: usize,
    connections: u32,
    acquire_timeout: Duration,
    open: std::sync::Mutex<Lru>,
}

/// The open pools, with the tick of their last use.
#[derive(Debug, Default)]
struct Lru {
    tick: u64,
    pools: HashMap<String, (u64, PgPool)>,
}

impl Default for Cells {
    fn default() -> Self {
        Self::new()
    }
}

impl Cells {
    /// No cells; at most 16 open pools of 10 connections, a 2 s acquire timeout.
    pub fn new() -> Self {
        Cells {
            options: HashMap::new(),
            max_pools: 16,
            connections: 10,
            acquire_timeout: Duration::from_secs(2),
            open: std::sync::Mutex::default(),
        }
    }

    /// Adds the cell `name`, reached with `options` (server and database).
    pub fn cell(mut self, name: &str, options: PgConnectOptions) -> Self {
        self.options.insert(name.to_owned(), options);
        self
    }

    /// At most `n` pools open at once (at least one).
    pub fn max_pools(mut self, n: usize) -> Self {
        self.max_pools = n.max(1);
        self
    }

    /// At most `n` connections per cell (at least one).
    pub fn connections_per_cell(mut self, n: u32) -> Self {
        self.connections = n.max(1);
        self
    }

    /// How long a statement waits for a connection of a busy cell before
    /// [`Error::CellBusy`].
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The names of the cells.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.options.keys().map(String::as_str)
    }

    /// The number of pools open now.
    pub fn open_pools(&self) -> usize {
        self.lru().pools.len()
    }

    /// The pool of `cell`, opened (lazily: no connection yet) if need be;
    /// [`Error::Configuration`] for an unknown cell.
    pub(crate) fn pool(&self, cell: &str) -> Result<PgPool> {
        let mut lru = self.lru();
        lru.tick += 1;
        let tick = lru.tick;
        if let Some((used, pool)) = lru.pools.get_mut(cell) {
            *used = tick;
            return Ok(pool.clone());
        }
        let options = self.options.get(cell).ok_or_else(|| {
            Error::Configuration(format!("no cell named `{cell}` is configured").into())
        })?;
        if lru.pools.len() >= self.max_pools {
            let oldest = lru
                .pools
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(name, _)| name.clone());
            // Dropped, not closed: a statement that already holds the pool (or one of its
            // connections) finishes; the connections close when the last holder is done.
            if let Some(name) = oldest {
                lru.pools.remove(&name);
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(self.connections)
            .acquire_timeout(self.acquire_timeout)
            .connect_lazy_with(options.clone());
        lru.pools.insert(cell.to_owned(), (tick, pool.clone()));
        Ok(pool)
    }

    /// Runs `work` on every cell's pool in turn, for work that spans cells (migrations,
    /// reports), named by its reason like [`TenantDb::cross_tenant`](crate::TenantDb::cross_tenant):
    /// each run emits a `tracing` event (target `tenant_query::cross_tenant`). An empty
    /// reason is [`Error::Configuration`]. Returns each cell's result, by name.
    ///
    /// ```no_run
    /// # async fn run(cells: &tenant_query::cells::Cells) -> tenant_query::Result<()> {
    /// let counts = cells
    ///     .each("capacity report", |_cell, pool| Box::pin(async move {
    ///         let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
    ///             .fetch_one(&pool)
    ///             .await?;
    ///         Ok(n)
    ///     }))
    ///     .await?;
    /// # let _ = counts; Ok(()) }
    /// ```
    pub async fn each<T>(
        &self,
        reason: &'static str,
        mut work: impl FnMut(&str, PgPool) -> BoxFuture<'static, Result<T>>,
    ) -> Result<Vec<(String, T)>> {
        if reason.trim().is_empty() {
            return Err(Error::Configuration(
                "work across cells needs a reason: say why this code reaches across cells".into(),
            ));
        }
        tracing::info!(target: "tenant_query::cross_tenant", reason, "work across cells");
        let mut names: Vec<&str> = self.names().collect();
        names.sort_unstable();
        let mut results = Vec::with_capacity(names.len());
        for name in names {
            let pool = self.pool(name)?;
            let output = work(name, pool).await?;
            results.push((name.to_owned(), output));
        }
        Ok(results)
    }

    fn lru(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
