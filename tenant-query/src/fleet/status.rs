//! Where every home stands against the migration files: applied, pending, checksum
//! drift, unknown versions, and the last failure. `plan` is the same survey, narrowed to
//! the homes with work to do.

use std::collections::BTreeMap;

use futures_util::future::try_join_all;
use uuid::Uuid;

use super::home::{Home, HomeKey};
use super::ledger::{self, Ledger};
use super::runs::{RunRow, RunStatus};
use super::source::Migrations;

/// One home against the migrations.
#[derive(Debug, Clone)]
pub struct HomeStatus {
    /// The home.
    pub home: HomeKey,
    /// The tenants living in it.
    pub tenants: Vec<Uuid>,
    /// Versions in the home's ledger, in order.
    pub applied: Vec<i64>,
    /// Versions of the files not applied yet, in the order they will run.
    pub pending: Vec<i64>,
    /// Applied versions whose file changed since (its checksum differs): the home is not
    /// migrated until this is resolved.
    pub drift: Vec<i64>,
    /// Applied versions with no file any more.
    pub unknown: Vec<i64>,
    /// The last run's failure for this home, while versions are still pending.
    pub failure: Option<RunRow>,
}

impl HomeStatus {
    /// Whether the home is fully migrated and agrees with the files.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.drift.is_empty()
    }

    /// Whether the last run left this home failed.
    pub fn is_failed(&self) -> bool {
        self.failure.is_some()
    }
}

/// A home, its ledger and its status.
pub(crate) struct Surveyed {
    pub(crate) home: Home,
    pub(crate) ledger_exists: bool,
    pub(crate) status: HomeStatus,
}

/// How much of the ledgers a survey reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Trust a ledger's summary when it says the home is current (plan, migrate).
    Summaries,
    /// Read every ledger (status).
    Ledgers,
}

/// Reads the ledgers of `homes` (one catalog query per cell, plus one ledger read per
/// cell for the homes that are not current or, with [`Depth::Ledgers`], for all; the
/// cells in parallel) and compares them with `migrations`.
pub(crate) async fn survey(
    migrations: &Migrations,
    homes: Vec<Home>,
    depth: Depth,
) -> Result<Vec<Surveyed>, sqlx::Error> {
    let expected = ledger::expected_summary(migrations);
    let expected = (depth == Depth::Summaries).then_some(expected.as_str());
    let mut by_cell: BTreeMap<&str, Vec<&Home>> = BTreeMap::new();
    for home in &homes {
        by_cell.entry(home.cell.name()).or_default().push(home);
    }
    let reads = by_cell.values().map(|cell_homes| async move {
        let ledgers = ledger::read_cell(cell_homes[0].cell.pool(), cell_homes, expected).await?;
        Ok::<_, sqlx::Error>(
            cell_homes
                .iter()
                .map(|h| h.key.clone())
                .zip(ledgers)
                .collect::<Vec<_>>(),
        )
    });
    let mut ledgers: BTreeMap<HomeKey, Ledger> =
        try_join_all(reads).await?.into_iter().flatten().collect();
    Ok(homes
        .into_iter()
        .map(|home| {
            let ledger = ledgers.remove(&home.key).unwrap_or_default();
            let status = compare(migrations, &home, &ledger);
            Surveyed {
                home,
                ledger_exists: ledger.exists,
                status,
            }
        })
        .collect())
}

fn compare(migrations: &Migrations, home: &Home, ledger: &Ledger) -> HomeStatus {
    if ledger.current {
        return HomeStatus {
            home: home.key.clone(),
            tenants: home.tenants.clone(),
            applied: migrations.iter().map(|m| m.version).collect(),
            pending: Vec::new(),
            drift: Vec::new(),
            unknown: Vec::new(),
            failure: None,
        };
    }
    let pending = migrations
        .iter()
        .filter(|m| !ledger.applied.contains_key(&m.version))
        .map(|m| m.version)
        .collect();
    let mut drift = Vec::new();
    let mut unknown = Vec::new();
    for (&version, checksum) in &ledger.applied {
        match migrations.get(version) {
            Some(m) if m.checksum.as_ref() != checksum.as_slice() => drift.push(version),
            Some(_) => {}
            None => unknown.push(version),
        }
    }
    HomeStatus {
        home: home.key.clone(),
        tenants: home.tenants.clone(),
        applied: ledger.applied.keys().copied().collect(),
        pending,
        drift,
        unknown,
        failure: None,
    }
}

/// Adds the last failure of each home from the run table, kept only while the home
/// still has pending versions or drift (a home migrated since, by any runner, is not failed).
pub(crate) fn with_failures(
    statuses: &mut [HomeStatus],
    mut latest: std::collections::HashMap<HomeKey, RunRow>,
) {
    for status in statuses {
        status.failure = latest
            .remove(&status.home)
            .filter(|row| row.status == RunStatus::Failed && !status.is_current());
    }
}
