//! The run table in the control database (`tenant_fleet_runs`): one row per run and
//! home, with the version reached or failed, the status, the error and the times. It is
//! what `resume` and `status` read.

use std::collections::HashMap;

use sqlx::PgPool;
use uuid::Uuid;

use super::home::{Home, HomeKey, SchemaName};

/// The run table's name in the control database.
pub const RUN_TABLE: &str = "tenant_fleet_runs";

/// Created under a transaction-scoped advisory lock: two runners starting at once on a
/// new control database would otherwise race in `CREATE TABLE IF NOT EXISTS`.
const DDL: &str = r#"
SELECT pg_advisory_xact_lock(hashtextextended('tenant_query.fleet.control', 0));
CREATE TABLE IF NOT EXISTS tenant_fleet_runs (
    run_id      uuid        NOT NULL,
    cell        text        NOT NULL,
    schema_name text        NOT NULL,
    tenants     uuid[]      NOT NULL,
    status      text        NOT NULL
                CHECK (status IN ('pending', 'running', 'migrated', 'failed', 'locked')),
    version     bigint,
    applied     integer     NOT NULL DEFAULT 0,
    error       text,
    started_at  timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (run_id, cell, schema_name)
);
CREATE INDEX IF NOT EXISTS tenant_fleet_runs_home_idx
    ON tenant_fleet_runs (cell, schema_name, run_id);
"#;

/// Where a home stands in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Planned, not started yet (or left behind by a canary failure).
    Pending,
    /// Started and not finished: the runner was stopped or killed while on it.
    Running,
    /// Every pending version is applied.
    Migrated,
    /// A version failed; the error is recorded.
    Failed,
    /// Another runner held the home's lock; it migrates the home.
    Locked,
}

impl RunStatus {
    fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Migrated => "migrated",
            RunStatus::Failed => "failed",
            RunStatus::Locked => "locked",
        }
    }

    fn parse(text: &str) -> RunStatus {
        match text {
            "pending" => RunStatus::Pending,
            "running" => RunStatus::Running,
            "migrated" => RunStatus::Migrated,
            "locked" => RunStatus::Locked,
            _ => RunStatus::Failed,
        }
    }
}

/// One row of the run table.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// The run.
    pub run: Uuid,
    /// The home.
    pub home: HomeKey,
    /// The tenants living in the home.
    pub tenants: Vec<Uuid>,
    /// Where the home stands.
    pub status: RunStatus,
    /// The last version applied, or the version that failed.
    pub version: Option<i64>,
    /// Versions applied to the home in this run.
    pub applied: i32,
    /// The error of a failed home.
    pub error: Option<String>,
}

pub(crate) async fn ensure(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(DDL).execute(pool).await?;
    Ok(())
}

/// Sets the rows of `homes` in `run` to `status` (pending, for a run or a resume),
/// inserting those not there yet, in one statement.
pub(crate) async fn upsert(
    pool: &PgPool,
    run: Uuid,
    homes: &[&Home],
    status: RunStatus,
) -> Result<(), sqlx::Error> {
    if homes.is_empty() {
        return Ok(());
    }
    let cells: Vec<&str> = homes.iter().map(|h| h.key.cell()).collect();
    let schemas: Vec<&str> = homes.iter().map(|h| h.key.schema_column()).collect();
    let tenants: Vec<String> = homes.iter().map(|h| h.tenant_list()).collect();
    sqlx::query(
        "INSERT INTO tenant_fleet_runs (run_id, cell, schema_name, tenants, status) \
         SELECT $1, c, s, string_to_array(t, ',')::uuid[], $5 \
         FROM unnest($2::text[], $3::text[], $4::text[]) AS h(c, s, t) \
         ON CONFLICT (run_id, cell, schema_name) DO UPDATE \
         SET status = excluded.status, tenants = excluded.tenants, error = NULL, \
             finished_at = NULL",
    )
    .bind(run)
    .bind(&cells)
    .bind(&schemas)
    .bind(&tenants)
    .bind(status.as_str())
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks the rows `run` has for `homes` migrated (homes a resume found current: another
/// runner finished them); homes without a row get none.
pub(crate) async fn mark_migrated(
    pool: &PgPool,
    run: Uuid,
    homes: &[&Home],
) -> Result<(), sqlx::Error> {
    if homes.is_empty() {
        return Ok(());
    }
    let cells: Vec<&str> = homes.iter().map(|h| h.key.cell()).collect();
    let schemas: Vec<&str> = homes.iter().map(|h| h.key.schema_column()).collect();
    sqlx::query(
        "UPDATE tenant_fleet_runs r SET status = 'migrated', error = NULL, finished_at = now() \
         FROM unnest($2::text[], $3::text[]) AS h(c, s) \
         WHERE r.run_id = $1 AND r.cell = h.c AND r.schema_name = h.s",
    )
    .bind(run)
    .bind(&cells)
    .bind(&schemas)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn start(pool: &PgPool, run: Uuid, home: &HomeKey) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tenant_fleet_runs SET status = 'running', started_at = now(), \
         finished_at = NULL, error = NULL \
         WHERE run_id = $1 AND cell = $2 AND schema_name = $3",
    )
    .bind(run)
    .bind(home.cell())
    .bind(home.schema_column())
    .execute(pool)
    .await?;
    Ok(())
}

/// How a home ended in a run.
pub(crate) struct Finish<'a> {
    pub(crate) status: RunStatus,
    /// The last version applied, or the one that failed.
    pub(crate) version: Option<i64>,
    pub(crate) applied: i32,
    pub(crate) error: Option<&'a str>,
}

pub(crate) async fn finish(
    pool: &PgPool,
    run: Uuid,
    home: &HomeKey,
    end: Finish<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tenant_fleet_runs SET status = $4, version = coalesce($5, version), \
         applied = applied + $6, error = $7, finished_at = now() \
         WHERE run_id = $1 AND cell = $2 AND schema_name = $3",
    )
    .bind(run)
    .bind(home.cell())
    .bind(home.schema_column())
    .bind(end.status.as_str())
    .bind(end.version)
    .bind(end.applied)
    .bind(end.error)
    .execute(pool)
    .await?;
    Ok(())
}

type Row = (
    Uuid,
    String,
    String,
    Vec<Uuid>,
    String,
    Option<i64>,
    i32,
    Option<String>,
);

fn row((run, cell, schema, tenants, status, version, applied, error): Row) -> RunRow {
    // Stored names were validated when written; a row edited by hand to an invalid one
    // reads as a database home rather than failing the whole read.
    let schema = (!schema.is_empty())
        .then(|| SchemaName::new(schema).ok())
        .flatten();
    RunRow {
        run,
        home: HomeKey::new(&cell, schema),
        tenants,
        status: RunStatus::parse(&status),
        version,
        applied,
        error,
    }
}

const COLUMNS: &str = "run_id, cell, schema_name, tenants, status, version, applied, error";

/// The rows of `run`, or of the latest run when `run` is `None`.
pub(crate) async fn rows(pool: &PgPool, run: Option<Uuid>) -> Result<Vec<RunRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tenant_fleet_runs \
         WHERE run_id = coalesce($1, \
             (SELECT run_id FROM tenant_fleet_runs ORDER BY run_id DESC LIMIT 1)) \
         ORDER BY cell, schema_name"
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(run)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(row).collect())
}

/// The latest row of every home that has one.
pub(crate) async fn latest(pool: &PgPool) -> Result<HashMap<HomeKey, RunRow>, sqlx::Error> {
    let sql = format!(
        "SELECT DISTINCT ON (cell, schema_name) {COLUMNS} FROM tenant_fleet_runs \
         ORDER BY cell, schema_name, run_id DESC"
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(row)
        .map(|r| (r.home.clone(), r))
        .collect())
}
