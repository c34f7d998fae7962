//! Running the migrations over the homes: bounded parallelism (the caller's, and never
//! more than a cell's budget on a cell), each home under its own advisory lock, each
//! version in its own transaction, a failing home recorded and skipped.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;
use sqlx::PgPool;
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::FleetError;
use super::home::{Home, HomeKey};
use super::ledger::{self, Outcome};
use super::runs::{self, RunStatus};
use super::source::Migrations;

/// How a run goes: parallelism, canary tenants, a progress callback.
///
/// ```
/// use tenant_query::fleet::RunOptions;
///
/// let options = RunOptions::new()
///     .parallel(16)
///     .canary([uuid::Uuid::nil()])
///     .on_progress(|p| eprintln!("{}/{} done, {} failed", p.done, p.total, p.failed));
/// # let _ = options;
/// ```
#[derive(Clone)]
pub struct RunOptions {
    pub(crate) parallel: usize,
    pub(crate) canary: Vec<Uuid>,
    pub(crate) progress: Option<ProgressFn>,
}

/// The progress callback.
type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("parallel", &self.parallel)
            .field("canary", &self.canary)
            .finish_non_exhaustive()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions::new()
    }
}

impl RunOptions {
    /// Four homes at once, no canary, no progress callback.
    pub fn new() -> Self {
        RunOptions {
            parallel: 4,
            canary: Vec::new(),
            progress: None,
        }
    }

    /// At most `homes` homes migrated at once over the whole fleet (each cell also stays
    /// within its own budget). 0 is refused when the run starts.
    pub fn parallel(mut self, homes: usize) -> Self {
        self.parallel = homes;
        self
    }

    /// Migrates the homes of these tenants first, and stops the run if any of them fails;
    /// the other homes stay `pending` for `resume`.
    pub fn canary(mut self, tenants: impl IntoIterator<Item = Uuid>) -> Self {
        self.canary = tenants.into_iter().collect();
        self
    }

    /// Called after every home, from the task that finished it.
    pub fn on_progress(mut self, report: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(report));
        self
    }
}

/// Where a run stands, for a progress display.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Homes with work to do in this run.
    pub total: usize,
    /// Homes finished, failed ones included.
    pub done: usize,
    /// Homes that failed.
    pub failed: usize,
    /// Homes another runner held.
    pub locked: usize,
    /// Time since the run started.
    pub elapsed: Duration,
}

impl Progress {
    /// Homes not finished yet.
    pub fn remaining(&self) -> usize {
        self.total - self.done
    }

    /// Homes finished per second.
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A home that failed: the version and the error, as the database gave it.
#[derive(Debug, Clone)]
pub struct HomeFailure {
    /// The home.
    pub home: HomeKey,
    /// Its tenants.
    pub tenants: Vec<Uuid>,
    /// The version that failed (its transaction rolled back; earlier ones stay applied).
    pub version: i64,
    /// The error.
    pub error: String,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// The run's id in the control database (for `resume`).
    pub run: Uuid,
    /// Homes found with nothing to do.
    pub unchanged: usize,
    /// Homes brought to the latest version.
    pub migrated: Vec<HomeKey>,
    /// Homes that failed, with the error.
    pub failed: Vec<HomeFailure>,
    /// Homes another runner held at the time.
    pub locked: Vec<HomeKey>,
    /// Homes not attempted, because a canary failed.
    pub not_started: Vec<HomeKey>,
    /// Versions applied over all homes.
    pub applied: usize,
    /// Whether a canary home failed and the run stopped after the canaries.
    pub canary_failed: bool,
}

impl RunReport {
    /// Whether every home with work ended migrated.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.locked.is_empty() && self.not_started.is_empty()
    }
}

/// A home to migrate: its pending versions and whether its ledger exists.
pub(crate) struct Work {
    pub(crate) home: Home,
    pub(crate) pending: Vec<i64>,
    pub(crate) ledger_exists: bool,
    /// Drifted versions: the home fails without being touched.
    pub(crate) drift: Vec<i64>,
}

enum Ended {
    Migrated,
    Failed(HomeFailure),
    Locked,
}

struct Counters {
    total: usize,
    done: AtomicUsize,
    failed: AtomicUsize,
    locked: AtomicUsize,
    started: Instant,
}

/// Runs `work` under `run`: canary homes first (stopping there if one fails), then the
/// rest. The rows of `work` exist in the run table already; `options.parallel` is at
/// least 1.
pub(crate) async fn execute(
    control: &PgPool,
    migrations: &Migrations,
    run: Uuid,
    work: Vec<Work>,
    options: &RunOptions,
) -> Result<RunReport, FleetError> {
    let budgets: HashMap<String, Arc<Semaphore>> = work
        .iter()
        .map(|w| {
            let cell = &w.home.cell;
            (
                cell.name().to_owned(),
                Arc::new(Semaphore::new(cell.budget())),
            )
        })
        .collect();
    let counters = Counters {
        total: work.len(),
        done: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        locked: AtomicUsize::new(0),
        started: Instant::now(),
    };
    let (canary, rest): (Vec<Work>, Vec<Work>) = work
        .into_iter()
        .partition(|w| w.home.tenants.iter().any(|t| options.canary.contains(t)));
    let mut report = RunReport {
        run,
        ..RunReport::default()
    };
    let context = Context {
        control,
        migrations,
        run,
        budgets: &budgets,
        counters: &counters,
        options,
    };
    context.wave(canary, &mut report).await?;
    if !report.failed.is_empty() {
        report.canary_failed = true;
        report.not_started = rest.into_iter().map(|w| w.home.key).collect();
        tracing::error!(
            target: "tenant_query::fleet",
            run = %run,
            not_started = report.not_started.len(),
            "a canary tenant failed; the run stops before the other tenants"
        );
        return Ok(report);
    }
    context.wave(rest, &mut report).await?;
    Ok(report)
}

struct Context<'a> {
    control: &'a PgPool,
    migrations: &'a Migrations,
    run: Uuid,
    budgets: &'a HashMap<String, Arc<Semaphore>>,
    counters: &'a Counters,
    options: &'a RunOptions,
}

impl Context<'_> {
    async fn wave(&self, work: Vec<Work>, report: &mut RunReport) -> Result<(), FleetError> {
        let mut ended = stream::iter(work)
            .map(|w| self.home(w))
            .buffer_unordered(self.options.parallel);
        // A control database failure stops the run once the homes in flight are done;
        // their rows then say `running`, and `resume` picks them up.
        let mut control_error = None;
        while let Some(result) = ended.next().await {
            let (key, applied, ended) = match result {
                Ok(done) => done,
                Err(e) => {
                    control_error = control_error.or(Some(e));
                    continue;
                }
            };
            report.applied += applied;
            match ended {
                Ended::Migrated => report.migrated.push(key),
                Ended::Failed(failure) => report.failed.push(failure),
                Ended::Locked => report.locked.push(key),
            }
        }
        match control_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Migrates one home; `Err` only for the control database.
    async fn home(&self, work: Work) -> Result<(HomeKey, usize, Ended), sqlx::Error> {
        let Work {
            home,
            pending,
            ledger_exists,
            drift,
        } = work;
        let budget = &self.budgets[home.cell.name()];
        // The semaphore is never closed, so acquiring cannot fail.
        let _permit = budget.acquire().await.ok();
        runs::start(self.control, self.run, &home.key).await?;
        let tenants = home.tenant_list();
        tracing::info!(
            target: "tenant_query::fleet",
            tenant = %tenants, home = %home.key, pending = pending.len(),
            "tenant migration started"
        );
        let (applied, ended) = if let Some(&version) = drift.first() {
            let error = format!(
                "the file of version {version} changed after it was applied (checksum drift)"
            );
            (0, self.failed(&home, version, error))
        } else {
            self.apply_all(&home, &pending, ledger_exists).await
        };
        let (status, version, error) = match &ended {
            Ended::Migrated => (RunStatus::Migrated, pending.last().copied(), None),
            Ended::Failed(f) => (RunStatus::Failed, Some(f.version), Some(f.error.as_str())),
            Ended::Locked => (RunStatus::Locked, None, None),
        };
        let row = runs::Finish {
            status,
            version,
            applied: applied as i32,
            error,
        };
        runs::finish(self.control, self.run, &home.key, row).await?;
        self.count(&ended);
        Ok((home.key, applied, ended))
    }

    /// Applies `pending` in order; the versions applied, and how the home ended.
    async fn apply_all(&self, home: &Home, pending: &[i64], ledger_exists: bool) -> (usize, Ended) {
        let first = pending.first().copied().unwrap_or_default();
        let mut conn = match home.cell.pool().acquire().await {
            Ok(conn) => conn,
            Err(e) => return (0, self.failed(home, first, e.to_string())),
        };
        let mut applied = 0;
        let mut ledger_known = ledger_exists;
        for &version in pending {
            let Some(migration) = self.migrations.get(version) else {
                continue;
            };
            match ledger::apply(&mut conn, home, migration, ledger_known).await {
                Ok(Outcome::Applied(took)) => {
                    applied += 1;
                    ledger_known = true;
                    tracing::info!(
                        target: "tenant_query::fleet",
                        tenant = %home.tenant_list(), home = %home.key, version,
                        duration_ms = took.as_millis() as u64,
                        "tenant migration applied"
                    );
                }
                Ok(Outcome::AlreadyApplied) => ledger_known = true,
                Ok(Outcome::Locked) => {
                    tracing::info!(
                        target: "tenant_query::fleet",
                        tenant = %home.tenant_list(), home = %home.key, version,
                        "tenant held by another runner; skipped"
                    );
                    return (applied, Ended::Locked);
                }
                Err(e) => return (applied, self.failed(home, version, e.to_string())),
            }
        }
        (applied, Ended::Migrated)
    }

    fn failed(&self, home: &Home, version: i64, error: String) -> Ended {
        tracing::error!(
            target: "tenant_query::fleet",
            tenant = %home.tenant_list(), home = %home.key, version, error = %error,
            "tenant migration failed"
        );
        Ended::Failed(HomeFailure {
            home: home.key.clone(),
            tenants: home.tenants.clone(),
            version,
            error,
        })
    }

    fn count(&self, ended: &Ended) {
        let c = self.counters;
        match ended {
            Ended::Failed(_) => c.failed.fetch_add(1, Ordering::Relaxed),
            Ended::Locked => c.locked.fetch_add(1, Ordering::Relaxed),
            Ended::Migrated => 0,
        };
        let done = c.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(report) = &self.options.progress {
            report(&Progress {
                total: c.total,
                done,
                failed: c.failed.load(Ordering::Relaxed),
                locked: c.locked.load(Ordering::Relaxed),
                elapsed: c.started.elapsed(),
            });
        }
    }
}
