//! The ledger of each tenant home (`tenant_migrations`: version, checksum, applied at,
//! duration): how it is created, read for a whole cell at once, and written in the same
//! transaction as the migration it records.
//!
//! Each write also sets the ledger table's comment to a summary of the ledger (its
//! versions and a SHA-256 over their checksums), in the same transaction. The no-op check
//! reads the summaries of all of a cell's homes in one catalog query, which opens no
//! ledger; only homes whose summary differs from the files' have their ledger read.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sqlx::migrate::Migration;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

use super::home::{Home, SchemaName};
use super::source::Migrations;
use crate::sql;

/// The ledger table's name in every home.
pub const LEDGER_TABLE: &str = "tenant_migrations";

/// The versions and the digest of [`summary_text`], over rows `(version, checksum)`.
const SUMMARIZE: &str = "SELECT string_agg(version::text, ',' ORDER BY version), \
     encode(sha256(string_agg(checksum, ''::bytea ORDER BY version)), 'hex')";

/// Homes per statement when a cell's ledgers are read together.
const HOMES_PER_READ: usize = 500;

/// The ledger table of a home, as SQL: schema-qualified for a schema home.
fn table(schema: Option<&SchemaName>) -> String {
    match schema {
        Some(schema) => format!("{}.{LEDGER_TABLE}", schema.quoted()),
        None => LEDGER_TABLE.to_owned(),
    }
}

/// Creates the home's schema (for a schema home) and its ledger, idempotently.
fn ddl(schema: Option<&SchemaName>) -> String {
    let create_schema = schema
        .map(|s| format!("CREATE SCHEMA IF NOT EXISTS {};\n", s.quoted()))
        .unwrap_or_default();
    format!(
        "{create_schema}CREATE TABLE IF NOT EXISTS {} (
    version     bigint      PRIMARY KEY,
    description text        NOT NULL,
    checksum    bytea       NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms bigint      NOT NULL
)",
        table(schema)
    )
}

/// The summary a ledger's table comment holds: its versions in order, and a SHA-256 over
/// their checksums in that order (hex).
fn summary_text(versions: &str, digest: &str) -> String {
    format!("tenant_query.fleet ledger: {versions} {digest}")
}

/// The summary of a ledger holding exactly `migrations`, computed as the database computes
/// it (see [`SUMMARIZE`]).
pub(crate) fn expected_summary(migrations: &Migrations) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    let mut versions = Vec::new();
    for m in migrations.iter() {
        digest.update(m.checksum.as_ref());
        versions.push(m.version.to_string());
    }
    let hex: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    summary_text(&versions.join(","), &hex)
}

/// What a home's ledger says: the checksum of every applied version; `exists` is false
/// when the home has no ledger yet (a new tenant). `current`: its summary says it holds
/// exactly the files' versions and checksums, and `applied` was not read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ledger {
    pub(crate) exists: bool,
    pub(crate) current: bool,
    pub(crate) applied: BTreeMap<i64, Vec<u8>>,
}

/// Reads the ledgers of `homes`, all on `pool`'s cell: one catalog query for which
/// ledgers exist and their summaries; then, for the homes whose summary is not
/// `expected` (all of them when `expected` is `None`), one statement per
/// [`HOMES_PER_READ`] homes that reads their ledgers (a `UNION ALL`).
pub(crate) async fn read_cell(
    pool: &PgPool,
    homes: &[&Home],
    expected: Option<&str>,
) -> Result<Vec<Ledger>, sqlx::Error> {
    let tables: Vec<String> = homes.iter().map(|h| table(h.key.schema())).collect();
    let existing: Vec<(i64, Option<String>)> = sqlx::query_as(
        "SELECT i, obj_description(to_regclass(t), 'pg_class') \
         FROM unnest($1::text[]) WITH ORDINALITY AS l(t, i) \
         WHERE to_regclass(t) IS NOT NULL",
    )
    .bind(&tables)
    .fetch_all(pool)
    .await?;
    let mut ledgers = vec![Ledger::default(); homes.len()];
    let mut to_read = Vec::new();
    for (i, summary) in existing {
        let i = i as usize - 1;
        ledgers[i].exists = true;
        ledgers[i].current = expected.is_some() && summary.as_deref() == expected;
        if !ledgers[i].current {
            to_read.push(i);
        }
    }
    for chunk in to_read.chunks(HOMES_PER_READ) {
        let selects: Vec<String> = chunk
            .iter()
            .map(|&i| format!("SELECT {i}::int8, version, checksum FROM {}", tables[i]))
            .collect();
        let rows: Vec<(i64, i64, Vec<u8>)> =
            sqlx::query_as(AssertSqlSafe(selects.join("\nUNION ALL\n")))
                .fetch_all(pool)
                .await?;
        for (i, version, checksum) in rows {
            ledgers[i as usize].applied.insert(version, checksum);
        }
    }
    Ok(ledgers)
}

/// What became of one version in one home.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Applied and recorded, in one transaction.
    Applied(Duration),
    /// Already in the ledger (another runner applied it since the plan was made).
    AlreadyApplied,
    /// Another runner holds the home's lock; nothing was done.
    Locked,
}

/// Applies `migration` to `home` in one transaction: take the home's advisory lock (or
/// give up, [`Outcome::Locked`]), create the ledger unless `ledger_known` (it was seen
/// already) and it exists, re-read the
/// ledger under the lock, set the transaction's `search_path` to the home's schema, run
/// the migration, record it. A failure or a kill at any point rolls all of it back.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    home: &Home,
    migration: &Migration,
    ledger_known: bool,
) -> Result<Outcome, sqlx::Error> {
    let mut tx = conn.begin().await?;
    match in_transaction(&mut tx, home, migration, ledger_known).await {
        Ok(outcome @ (Outcome::Applied(_) | Outcome::AlreadyApplied)) => {
            tx.commit().await?;
            Ok(outcome)
        }
        // Rolled back now rather than when the connection is next used: until then the
        // transaction would keep the home's lock.
        Ok(Outcome::Locked) => {
            tx.rollback().await?;
            Ok(Outcome::Locked)
        }
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

async fn in_transaction(
    tx: &mut PgConnection,
    home: &Home,
    migration: &Migration,
    ledger_known: bool,
) -> Result<Outcome, sqlx::Error> {
    let schema = home.key.schema();
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(home.key.lock_name())
            .fetch_one(&mut *tx)
            .await?;
    if !locked {
        return Ok(Outcome::Locked);
    }
    if !ledger_known {
        // Whether the ledger exists, read from the catalog tables under the lock: this
        // statement's fresh snapshot sees a ledger another runner committed meanwhile, and
        // opening the catalog tables makes the backend accept pending catalog
        // invalidations, which `CREATE SCHEMA IF NOT EXISTS` would otherwise miss (its
        // cache may still hold "no such schema" from the survey).
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname = $1 AND n.nspname = coalesce($2, current_schema()))",
        )
        .bind(LEDGER_TABLE)
        .bind(schema.map(SchemaName::as_str))
        .fetch_one(&mut *tx)
        .await?;
        if !exists {
            sqlx::raw_sql(AssertSqlSafe(ddl(schema)))
                .execute(&mut *tx)
                .await?;
        }
    }
    // A statement of its own, after the lock: its snapshot sees what a runner that held
    // the lock before committed.
    let search_path = schema.map(SchemaName::quoted);
    let check = format!(
        "SELECT EXISTS (SELECT FROM {} WHERE version = $1), \
         CASE WHEN $2::text IS NULL THEN '' ELSE set_config('search_path', $2, true) END",
        table(schema)
    );
    let (applied, _): (bool, String) = sqlx::query_as(AssertSqlSafe(check))
        .bind(migration.version)
        .bind(search_path)
        .fetch_one(&mut *tx)
        .await?;
    if applied {
        return Ok(Outcome::AlreadyApplied);
    }
    let started = Instant::now();
    sqlx::raw_sql(AssertSqlSafe(migration.sql.as_str().to_owned()))
        .execute(&mut *tx)
        .await?;
    let took = started.elapsed();
    let t = table(schema);
    let record = format!(
        "WITH inserted AS (INSERT INTO {t} (version, description, checksum, duration_ms) \
         VALUES ($1, $2, $3, $4) RETURNING version, checksum), \
         ledger AS (SELECT version, checksum FROM {t} UNION ALL SELECT * FROM inserted) \
         {SUMMARIZE} FROM ledger"
    );
    let (versions, digest): (String, String) = sqlx::query_as(AssertSqlSafe(record))
        .bind(migration.version)
        .bind(migration.description.as_ref())
        .bind(migration.checksum.as_ref())
        .bind(took.as_millis() as i64)
        .fetch_one(&mut *tx)
        .await?;
    let comment = format!(
        "COMMENT ON TABLE {t} IS {}",
        sql::literal(&summary_text(&versions, &digest))
    );
    sqlx::raw_sql(AssertSqlSafe(comment))
        .execute(&mut *tx)
        .await?;
    Ok(Outcome::Applied(took))
}
