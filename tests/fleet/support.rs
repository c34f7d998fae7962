//! A fleet of tenant schemas on a throwaway PostgreSQL, migration files in a temporary
//! directory, and the checks a test makes behind the migrator's back.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tenant_query::fleet::{Cell, Fleet, Migrations, SchemaName, TenantHome};
use tenant_query::testing::TestDb;
use uuid::Uuid;

/// Creates the items table (and a log of applied versions, so that a version run twice
/// shows).
pub const M1: &str = "CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL);\n\
CREATE TABLE applied_log (version int NOT NULL);\n\
INSERT INTO applied_log VALUES (1);\n";
/// Fails for a tenant that holds an item with a quantity below 1.
pub const M2: &str = "ALTER TABLE items ADD CONSTRAINT qty_positive CHECK (qty > 0);\n\
INSERT INTO applied_log VALUES (2);\n";
pub const M3: &str = "ALTER TABLE items ADD COLUMN note text;\n\
INSERT INTO applied_log VALUES (3);\n";

/// A directory of migration files, removed on drop.
pub struct MigrationDir(PathBuf);

impl MigrationDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("tq-fleet-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        MigrationDir(dir)
    }

    pub fn write(&self, file: &str, sql: &str) -> &Self {
        std::fs::write(self.0.join(file), sql).unwrap();
        self
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for MigrationDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `n` tenants, each with a schema `tenant_NNNN` (created by the migrator) on one cell.
pub struct Fixture {
    pub test_db: TestDb,
    pub cell: Cell,
    pub homes: Vec<TenantHome>,
    pub dir: MigrationDir,
}

pub fn schema(i: usize) -> String {
    format!("tenant_{i:04}")
}

impl Fixture {
    pub async fn new(n: usize) -> Self {
        Self::named(n, "cell-a", "fleet-test").await
    }

    /// With the cell's connections named `application_name` (to find them in
    /// `pg_stat_activity`).
    pub async fn named(n: usize, cell: &str, application_name: &str) -> Self {
        let test_db = TestDb::new().await.unwrap();
        let cell = Cell::new(cell, runner_pool(&test_db, application_name, 8).await);
        let homes = (0..n)
            .map(|i| TenantHome::schema(Uuid::now_v7(), &cell, SchemaName::new(schema(i)).unwrap()))
            .collect();
        Fixture {
            test_db,
            cell,
            homes,
            dir: MigrationDir::new(),
        }
    }

    pub fn control(&self) -> &PgPool {
        self.test_db.pool()
    }

    /// A migrator over the files in the directory now.
    pub async fn fleet(&self) -> Fleet {
        let migrations = Migrations::from_dir(self.dir.path()).await.unwrap();
        Fleet::new(self.control().clone(), migrations)
    }

    /// The homes again, on another pool to the same cell (a second runner).
    pub async fn homes_on_another_pool(&self, application_name: &str) -> Vec<TenantHome> {
        let cell = Cell::new(
            self.cell.name(),
            runner_pool(&self.test_db, application_name, 8).await,
        );
        self.homes
            .iter()
            .map(|h| TenantHome::schema(h.tenant(), &cell, h.schema_name().unwrap().clone()))
            .collect()
    }

    /// Runs `sql(schema)` for every schema index in `which`, as one script.
    pub async fn each(&self, which: impl IntoIterator<Item = usize>, sql: impl Fn(&str) -> String) {
        let script: String = which.into_iter().map(|i| sql(&schema(i))).collect();
        if !script.is_empty() {
            self.test_db.execute_script(&script).await.unwrap();
        }
    }

    /// Per schema, in order: the ledger's versions and the versions the migrations' own
    /// side effects logged (a version run twice logs twice).
    pub async fn ledgers_and_logs(&self) -> Vec<(Vec<i64>, Vec<i32>)> {
        let mut out = Vec::new();
        for i in 0..self.homes.len() {
            out.push(ledger_and_log(self.control(), Some(&schema(i))).await);
        }
        out
    }

    /// Statements run in this database that read the catalog for the ledgers (`catalog`)
    /// or the ledgers themselves.
    pub async fn ledger_reads(&self, catalog: bool) -> i64 {
        sqlx::query_scalar(
            "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND query LIKE $1",
        )
        .bind(if catalog {
            "%obj_description%"
        } else {
            "%::int8, version, checksum FROM%"
        })
        .fetch_one(self.control())
        .await
        .expect("pg_stat_statements is loaded")
    }
}

pub async fn runner_pool(test_db: &TestDb, application_name: &str, size: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(size)
        .connect_with(
            test_db
                .connect_options()
                .clone()
                .application_name(application_name),
        )
        .await
        .unwrap()
}

/// A slow second migration, to have runs in flight to kill.
pub const M2_SLOW: &str = "ALTER TABLE items ADD COLUMN note text;\n\
INSERT INTO applied_log VALUES (2);\n\
SELECT pg_sleep(0.05);\n";

impl Fixture {
    /// Per schema: whether `items` has the `note` column the slow migration adds.
    pub async fn have_note(&self) -> Vec<bool> {
        let schemas: Vec<String> = (0..self.homes.len()).map(schema).collect();
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT FROM information_schema.columns c \
             WHERE c.table_schema = s AND c.table_name = 'items' AND c.column_name = 'note') \
             FROM unnest($1::text[]) WITH ORDINALITY AS l(s, i) ORDER BY i",
        )
        .bind(&schemas)
        .fetch_all(self.control())
        .await
        .unwrap()
    }

    /// Ends every backend of `application_name` in this database; how many there were.
    pub async fn terminate(&self, application_name: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = $1 AND datname = current_database()",
        )
        .bind(application_name)
        .fetch_one(self.control())
        .await
        .unwrap()
    }

    /// Homes the run table shows migrated, over all runs.
    pub async fn migrated_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM tenant_fleet_runs WHERE status = 'migrated'")
            .fetch_one(self.control())
            .await
            .unwrap_or(0)
    }

    /// Every home is either fully at version 2 (ledger, side effect and column) or
    /// not at all; how many are.
    pub async fn assert_all_or_nothing(&self) -> usize {
        let notes = self.have_note().await;
        let mut at_two = 0;
        for (i, ((ledger, log), note)) in self
            .ledgers_and_logs()
            .await
            .into_iter()
            .zip(notes)
            .enumerate()
        {
            let in_ledger = ledger.contains(&2);
            assert_eq!(
                ledger.iter().filter(|v| **v == 2).count(),
                log.iter().filter(|v| **v == 2).count(),
                "{}",
                schema(i)
            );
            assert_eq!(
                in_ledger,
                note,
                "{}: ledger {ledger:?}, note column {note}",
                schema(i)
            );
            assert_eq!(in_ledger, log.contains(&2), "{}", schema(i));
            at_two += usize::from(in_ledger);
        }
        at_two
    }
}

/// Waits, polling, until `done` holds; panics after a minute (a hung run, not a slow one).
pub async fn wait_until<F: std::future::Future<Output = bool>>(mut done: impl FnMut() -> F) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done().await {
        assert!(std::time::Instant::now() < deadline, "gave up waiting");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A home's ledger versions and the versions its migrations logged, in order (empty when
/// the home has no tables yet).
pub async fn ledger_and_log(pool: &PgPool, schema: Option<&str>) -> (Vec<i64>, Vec<i32>) {
    let prefix = schema.map(|s| format!("\"{s}\".")).unwrap_or_default();
    let ledger: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {prefix}tenant_migrations ORDER BY version"
    )))
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    let log: Vec<i32> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {prefix}applied_log ORDER BY version"
    )))
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    (ledger, log)
}
