//! The migration files: sqlx's own format and checksum (`migrations/NNNN_name.sql`,
//! SHA-384 of the file), read by sqlx and checked against the fleet's rules.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use super::FleetError;

/// The version of the built-in migration that creates the library's audit log
/// ([`crate::MIGRATION_SQL`]); file versions start at 1.
pub const AUDIT_LOG_VERSION: i64 = 0;

/// The migrations a fleet applies, in version order: up migrations only, each version
/// once, each in a transaction.
///
/// ```no_run
/// use tenant_query::fleet::Migrations;
/// # async fn run() -> Result<(), tenant_query::fleet::FleetError> {
/// let migrations = Migrations::from_dir("migrations").await?.with_audit_log();
/// for m in migrations.iter() {
///     println!("{} {}", m.version, m.description);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Migrations {
    list: Arc<[Migration]>,
}

impl Migrations {
    /// Reads a directory of sqlx migration files (`<version>_<description>.sql`, or
    /// `.up.sql`/`.down.sql` pairs, of which the fleet applies the up half).
    pub async fn from_dir(path: impl AsRef<Path>) -> Result<Self, FleetError> {
        let path = path.as_ref();
        if !path.is_dir() {
            return Err(FleetError::Source(format!(
                "`{}` is not a directory",
                path.display()
            )));
        }
        let migrator = Migrator::new(path.to_path_buf())
            .await
            .map_err(|e| FleetError::Source(format!("{}: {e}", path.display())))?;
        Self::new(migrator.iter().cloned())
    }

    /// Checks migrations built in code (with sqlx's [`Migration::new`], which computes the
    /// same checksum as a file): versions from 1, each once; no `-- no-transaction`
    /// migration, since each home's migration must be all or nothing. Down migrations are
    /// left out.
    ///
    /// ```
    /// use sqlx::SqlSafeStr;
    /// use sqlx::migrate::{Migration, MigrationType};
    /// use tenant_query::fleet::Migrations;
    ///
    /// let m = |v, sql: &'static str| {
    ///     Migration::new(v, "m".into(), MigrationType::Simple, sql.into_sql_str(), false)
    /// };
    /// assert!(Migrations::new([m(1, "CREATE TABLE a ()"), m(2, "CREATE TABLE b ()")]).is_ok());
    /// assert!(Migrations::new([m(1, "SELECT 1"), m(1, "SELECT 2")]).is_err());
    /// ```
    pub fn new(migrations: impl IntoIterator<Item = Migration>) -> Result<Self, FleetError> {
        let mut list: Vec<Migration> = migrations
            .into_iter()
            .filter(|m| m.migration_type.is_up_migration())
            .collect();
        list.sort_by_key(|m| m.version);
        let mut seen = BTreeSet::new();
        for m in &list {
            if m.version < 1 {
                return Err(FleetError::Source(format!(
                    "version {} ({}): versions start at 1 (0 is the library's audit log)",
                    m.version, m.description
                )));
            }
            if !seen.insert(m.version) {
                return Err(FleetError::Source(format!(
                    "version {} appears twice",
                    m.version
                )));
            }
            if m.no_tx {
                return Err(FleetError::Source(format!(
                    "version {} ({}) opts out of its transaction; every home's migration \
                     runs in one, so that a failure or a kill leaves nothing half done",
                    m.version, m.description
                )));
            }
        }
        Ok(Migrations { list: list.into() })
    }

    /// Adds the library's own tables (the audit log, [`crate::MIGRATION_SQL`]) as version
    /// [`AUDIT_LOG_VERSION`], before every file. The SQL is idempotent, so homes that
    /// already have the table record it without change.
    pub fn with_audit_log(self) -> Self {
        if self.get(AUDIT_LOG_VERSION).is_some() {
            return self;
        }
        let audit = Migration::new(
            AUDIT_LOG_VERSION,
            Cow::Borrowed("tenant_query audit log"),
            MigrationType::Simple,
            crate::MIGRATION_SQL.into_sql_str(),
            false,
        );
        let list: Vec<Migration> = std::iter::once(audit)
            .chain(self.list.iter().cloned())
            .collect();
        Migrations { list: list.into() }
    }

    /// The migrations, by version.
    pub fn iter(&self) -> impl Iterator<Item = &Migration> {
        self.list.iter()
    }

    /// The migration of `version`.
    pub fn get(&self, version: i64) -> Option<&Migration> {
        self.list
            .binary_search_by_key(&version, |m| m.version)
            .ok()
            .map(|i| &self.list[i])
    }

    /// How many migrations there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}
