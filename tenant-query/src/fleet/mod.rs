//! Fleet migrations (feature `fleet`): sqlx's migration files applied in every tenant
//! home, a schema or a database per tenant, in parallel and resumably.
//!
//! With a schema or a database per tenant, a migration is N migrations. [`Fleet`] runs
//! them:
//!
//! - **a ledger per home** (`tenant_migrations`: version, checksum, applied at,
//!   duration), written in the same transaction as the migration it records, and **a run
//!   table** in the control database (`tenant_fleet_runs`: run, home, tenants, version,
//!   status, error, started, finished);
//! - **bounded parallelism**: at most [`RunOptions::parallel`] homes at once, and never
//!   more connections on a cell than its [budget](Cell::with_budget);
//! - **a per-home advisory lock**, taken with `pg_try_advisory_xact_lock` in each
//!   version's transaction: a second runner on the same home records it `locked` and
//!   moves on, so homes never wait on each other and nothing runs twice;
//! - **continue on error**: a failing home is recorded with its error and the run goes on;
//!   [`Fleet::resume`] takes up the failed, locked and unfinished homes only;
//! - **a cheap no-op**: a home with nothing pending costs a share of one catalog query per
//!   cell (the ledgers' summaries, see below), not a connection per tenant;
//! - [`Fleet::plan`] (a dry run), [`Fleet::status`] (applied, pending, failed, checksum
//!   drift) and canary tenants ([`RunOptions::canary`]);
//! - a `tracing` event per home, target `tenant_query::fleet`, with the fields `tenant`,
//!   `home` and `version`: `tenant migration started`, `tenant migration applied`, and
//!   `tenant migration failed` (at `ERROR`, with `error`), so failures reach an error
//!   tracker.
//!
//! Each version runs in its own transaction in the home: take the home's lock, set the
//! transaction's `search_path` to the home's schema (`set_config(.., true)`), run the
//! file, insert the ledger row, commit. A failure, a killed runner or a terminated
//! connection leaves the home fully at a version or not at all. Migration files must not
//! manage transactions themselves (no `BEGIN`/`COMMIT`, no `-- no-transaction`).
//!
//! Each ledger write also sets the ledger table's comment to a summary of the ledger (its
//! versions, and a SHA-256 over their checksums), in the same transaction; `plan` and
//! `migrate` read the summaries of all of a cell's homes in one catalog query and read the
//! ledgers only of the homes whose summary differs from the files' (they have work, or
//! drift). `status` always reads every ledger. Change ledgers only through the migrator.
//!
//! The library's own tables (the audit log, [`crate::MIGRATION_SQL`]) are a built-in
//! migration, version [`AUDIT_LOG_VERSION`] (0), added by [`Migrations::with_audit_log`];
//! its SQL is idempotent.
//!
//! ```no_run
//! use tenant_query::fleet::{Cell, Fleet, Migrations, RunOptions, SchemaName, TenantHome};
//! # async fn run(control: sqlx::PgPool, eu: sqlx::PgPool, tenants: Vec<(uuid::Uuid, String)>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! let cell = Cell::new("eu-1", eu).with_budget(8);
//! let homes = tenants
//!     .into_iter()
//!     .map(|(tenant, schema)| Ok(TenantHome::schema(tenant, &cell, SchemaName::new(schema)?)))
//!     .collect::<Result<Vec<_>, tenant_query::Error>>()?;
//!
//! let fleet = Fleet::new(control, Migrations::from_dir("migrations").await?.with_audit_log());
//! for home in fleet.plan(&homes).await? {
//!     println!("{}: {:?}", home.home, home.pending);
//! }
//! let report = fleet.migrate(&homes, &RunOptions::new().parallel(8)).await?;
//! for failure in &report.failed {
//!     eprintln!("{} failed at {}: {}", failure.home, failure.version, failure.error);
//! }
//! // After fixing the failing tenants' data (or the file):
//! let again = fleet.resume(Some(report.run), &homes, &RunOptions::new()).await?;
//! assert!(again.is_complete());
//! # Ok(()) }
//! ```

mod error;
mod home;
mod ledger;
mod runner;
mod runs;
mod source;
mod status;

pub use error::FleetError;
pub use home::{Cell, HomeKey, SchemaName, TenantHome};
pub use ledger::LEDGER_TABLE;
pub use runner::{HomeFailure, Progress, RunOptions, RunReport};
pub use runs::{RUN_TABLE, RunRow, RunStatus};
pub use source::{AUDIT_LOG_VERSION, Migrations};
pub use status::HomeStatus;

use std::collections::HashSet;

use sqlx::PgPool;
use uuid::Uuid;

use runner::Work;

/// The migrator: the control database (where runs are recorded) and the migrations.
///
/// See the [module documentation](self) for an example.
#[derive(Debug, Clone)]
pub struct Fleet {
    control: PgPool,
    migrations: Migrations,
}

impl Fleet {
    /// A migrator recording its runs in `control`'s database.
    pub fn new(control: PgPool, migrations: Migrations) -> Self {
        Fleet {
            control,
            migrations,
        }
    }

    /// The migrations.
    pub fn migrations(&self) -> &Migrations {
        &self.migrations
    }

    /// Every home against the migrations: applied, pending, drift, unknown versions, and
    /// the last run's failure while the home is not current.
    ///
    /// ```no_run
    /// # async fn run(fleet: tenant_query::fleet::Fleet, homes: Vec<tenant_query::fleet::TenantHome>)
    /// # -> Result<(), tenant_query::fleet::FleetError> {
    /// for home in fleet.status(&homes).await? {
    ///     if !home.drift.is_empty() {
    ///         eprintln!("{}: versions {:?} changed after they were applied", home.home, home.drift);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn status(&self, homes: &[TenantHome]) -> Result<Vec<HomeStatus>, FleetError> {
        let surveyed =
            status::survey(&self.migrations, home::group(homes), status::Depth::Ledgers).await?;
        let mut statuses: Vec<HomeStatus> = surveyed.into_iter().map(|s| s.status).collect();
        runs::ensure(&self.control).await?;
        status::with_failures(&mut statuses, runs::latest(&self.control).await?);
        Ok(statuses)
    }

    /// The dry run: the homes a run would touch, with the versions each would get (and
    /// the drifted ones, which a run fails). Writes nothing.
    ///
    /// ```no_run
    /// # async fn run(fleet: tenant_query::fleet::Fleet, homes: Vec<tenant_query::fleet::TenantHome>)
    /// # -> Result<(), tenant_query::fleet::FleetError> {
    /// let plan = fleet.plan(&homes).await?;
    /// println!("{} homes have work to do", plan.len());
    /// # Ok(()) }
    /// ```
    pub async fn plan(&self, homes: &[TenantHome]) -> Result<Vec<HomeStatus>, FleetError> {
        let surveyed = status::survey(
            &self.migrations,
            home::group(homes),
            status::Depth::Summaries,
        )
        .await?;
        Ok(surveyed
            .into_iter()
            .map(|s| s.status)
            .filter(|s| !s.is_current())
            .collect())
    }

    /// A new run over `homes`: every home with pending versions is migrated, each in its
    /// own transactions, failures recorded and skipped. See [`RunReport`].
    pub async fn migrate(
        &self,
        homes: &[TenantHome],
        options: &RunOptions,
    ) -> Result<RunReport, FleetError> {
        self.run(Uuid::now_v7(), home::group(homes), options).await
    }

    /// Takes up run `run` (the latest run when `None`): the homes of `homes` that it left
    /// failed, locked, pending or running; the others are not even read. Homes found
    /// current by then are marked migrated.
    pub async fn resume(
        &self,
        run: Option<Uuid>,
        homes: &[TenantHome],
        options: &RunOptions,
    ) -> Result<RunReport, FleetError> {
        runs::ensure(&self.control).await?;
        let rows = runs::rows(&self.control, run).await?;
        let Some(run_id) = rows.first().map(|r| r.run) else {
            return Err(FleetError::UnknownRun { run });
        };
        let open: HashSet<HomeKey> = rows
            .into_iter()
            .filter(|r| r.status != RunStatus::Migrated)
            .map(|r| r.home)
            .collect();
        let homes = home::group(homes)
            .into_iter()
            .filter(|h| open.contains(&h.key))
            .collect();
        self.run(run_id, homes, options).await
    }

    async fn run(
        &self,
        run: Uuid,
        homes: Vec<home::Home>,
        options: &RunOptions,
    ) -> Result<RunReport, FleetError> {
        if options.parallel == 0 {
            return Err(FleetError::InvalidOption("parallel must be at least 1"));
        }
        runs::ensure(&self.control).await?;
        let surveyed = status::survey(&self.migrations, homes, status::Depth::Summaries).await?;
        let (current, work): (Vec<_>, Vec<_>) =
            surveyed.into_iter().partition(|s| s.status.is_current());
        let current: Vec<&home::Home> = current.iter().map(|s| &s.home).collect();
        let work: Vec<Work> = work
            .into_iter()
            .map(|s| Work {
                home: s.home,
                pending: s.status.pending,
                ledger_exists: s.ledger_exists,
                drift: s.status.drift,
            })
            .collect();
        let planned: Vec<&home::Home> = work.iter().map(|w| &w.home).collect();
        runs::upsert(&self.control, run, &planned, RunStatus::Pending).await?;
        // Only rows already in the run (a resume) are marked; a new run records no row
        // for a home with nothing to do.
        runs::mark_migrated(&self.control, run, &current).await?;
        tracing::info!(
            target: "tenant_query::fleet",
            run = %run, homes = work.len(), unchanged = current.len(),
            "fleet run started"
        );
        let unchanged = current.len();
        let mut report =
            runner::execute(&self.control, &self.migrations, run, work, options).await?;
        report.unchanged = unchanged;
        Ok(report)
    }
}
