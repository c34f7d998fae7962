//! The benchmarks' data set, entities on both sides, and the raw sqlx code they are
//! measured against.

// Each bench binary uses a part of the shared data set and code.
#![allow(dead_code)]

pub mod ab;

use chrono::{DateTime, Utc};
use tenant_query::prelude::*;
use tenant_query::testing::TestDb;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "projects")]
pub struct Project {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub name: String,
    pub status: String,
    #[tenant(created_at)]
    pub created_at: DateTime<Utc>,
    #[tenant(updated_at)]
    pub updated_at: DateTime<Utc>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "tasks")]
pub struct Task {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(belongs_to = Project)]
    pub project_id: Uuid,
    pub title: String,
    pub done: bool,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A project's step: no tenant column, the project proves the tenant (`via`).
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "steps", via = project_id)]
pub struct Step {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(belongs_to = Project)]
    pub project_id: Uuid,
    pub title: String,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The bulk-insert target: written, never read by the other workloads.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "events")]
pub struct Event {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub kind: String,
    pub amount: i64,
    #[tenant(created_at)]
    pub created_at: DateTime<Utc>,
}

/// The audited-update target.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "accounts", audit)]
pub struct Account {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub name: String,
    pub balance: i64,
    #[tenant(updated_at)]
    pub updated_at: DateTime<Utc>,
}

/// The set-based write target: 10 buckets of 1000 rows per tenant, audited.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "entries", audit)]
pub struct Entry {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub bucket: i32,
    pub amount: i64,
}

/// The upsert target: one row per tenant and key, audited.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "settings", audit, unique = "key")]
pub struct Setting {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub key: String,
    pub value: String,
}

/// A bigint identity id in bigint tenants.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "tickets")]
pub struct Ticket {
    #[tenant(id, default)]
    pub id: i64,
    #[tenant(tenant_id)]
    pub account_id: i64,
    pub subject: String,
    pub status: String,
    #[tenant(created_at)]
    pub created_at: DateTime<Utc>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A natural key: `(org_id, key)` is the primary key.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "flags")]
pub struct Flag {
    #[tenant(id)]
    pub key: String,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub enabled: bool,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

const SCHEMA_AND_SEED: &str = r#"
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE projects (
    id uuid NOT NULL, org_id uuid NOT NULL, name text NOT NULL, status text NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, deleted_at timestamptz,
    PRIMARY KEY (org_id, id)
);
CREATE TABLE tasks (
    id uuid NOT NULL, org_id uuid NOT NULL, project_id uuid NOT NULL, title text NOT NULL,
    done boolean NOT NULL, deleted_at timestamptz,
    PRIMARY KEY (org_id, id)
);
CREATE TABLE steps (
    id uuid PRIMARY KEY, project_id uuid NOT NULL, title text NOT NULL, deleted_at timestamptz
);
CREATE INDEX steps_project_idx ON steps (project_id);
CREATE TABLE events (
    id uuid NOT NULL, org_id uuid NOT NULL, kind text NOT NULL, amount bigint NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE TABLE accounts (
    id uuid NOT NULL, org_id uuid NOT NULL, name text NOT NULL, balance bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, id)
);

CREATE TABLE entries (
    id uuid NOT NULL, org_id uuid NOT NULL, bucket integer NOT NULL, amount bigint NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX entries_bucket_idx ON entries (org_id, bucket);
CREATE TABLE settings (
    id uuid NOT NULL, org_id uuid NOT NULL, key text NOT NULL, value text NOT NULL,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, key)
);
CREATE TABLE tickets (
    id bigint GENERATED ALWAYS AS IDENTITY, account_id bigint NOT NULL, subject text NOT NULL,
    status text NOT NULL, created_at timestamptz NOT NULL, deleted_at timestamptz,
    PRIMARY KEY (account_id, id)
);
CREATE TABLE flags (
    org_id uuid NOT NULL, key text NOT NULL, enabled boolean NOT NULL, deleted_at timestamptz,
    PRIMARY KEY (org_id, key)
);
-- 100k tickets over 10 bigint tenants, 10k flags over the 10 uuid tenants; 2% deleted.
INSERT INTO tickets (account_id, subject, status, created_at, deleted_at)
SELECT i % 10, 'ticket ' || i, CASE WHEN i % 3 = 0 THEN 'closed' ELSE 'open' END,
       now() - i * interval '1 second', CASE WHEN i % 50 = 0 THEN now() END
FROM generate_series(1, 100000) AS i;
INSERT INTO flags
SELECT ('00000000-0000-0000-0000-' || lpad((i % 10)::text, 12, '0'))::uuid, 'flag_' || (i / 10),
       i % 2 = 0, CASE WHEN (i / 10) % 50 = 0 THEN now() END
FROM generate_series(0, 9999) AS i;
INSERT INTO entries
SELECT gen_random_uuid(), ('00000000-0000-0000-0000-' || lpad((i % 10)::text, 12, '0'))::uuid,
       (i / 10) % 10, 0
FROM generate_series(1, 100000) AS i;
INSERT INTO settings
SELECT gen_random_uuid(), ('00000000-0000-0000-0000-' || lpad((i % 10)::text, 12, '0'))::uuid,
       'key ' || (i / 10), 'initial'
FROM generate_series(0, 9999) AS i;

-- 100k parents over 10 tenants, 10 children each, about 2% of both soft-deleted.
INSERT INTO projects
SELECT gen_random_uuid(),
       ('00000000-0000-0000-0000-' || lpad((i % 10)::text, 12, '0'))::uuid,
       'project ' || i,
       CASE WHEN i % 3 = 0 THEN 'archived' ELSE 'active' END,
       now() - i * interval '1 second', now(),
       CASE WHEN i % 50 = 0 THEN now() END
FROM generate_series(1, 100000) AS i;
INSERT INTO tasks
SELECT gen_random_uuid(), p.org_id, p.id, 'task ' || n, n % 2 = 0,
       CASE WHEN (abs(hashtext(p.id::text)) + n) % 50 = 0 THEN now() END
FROM projects AS p, generate_series(1, 10) AS n;
-- One step per project, the step of every 50th project soft-deleted.
INSERT INTO steps
SELECT gen_random_uuid(), p.id, 'step of ' || p.name,
       CASE WHEN abs(hashtext(p.id::text)) % 50 = 0 THEN now() END
FROM projects AS p;
INSERT INTO accounts
SELECT gen_random_uuid(), ('00000000-0000-0000-0000-' || lpad((i % 10)::text, 12, '0'))::uuid,
       'account ' || i, 0, now()
FROM generate_series(1, 1000) AS i;

-- RLS on projects, for an application role that neither owns it nor bypasses RLS.
DO $$ BEGIN CREATE ROLE tenant_query_bench_app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT SELECT ON projects TO tenant_query_bench_app;
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects
    USING (org_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

CREATE INDEX projects_status_idx ON projects (org_id, status, created_at);
CREATE INDEX tasks_project_idx ON tasks (org_id, project_id);
ANALYZE;
"#;

/// With `TQ_BENCH_AUDIT_ROWS=n`, fills the audit log with `n` records spread over the
/// tenants, the audited tables and the past day, so that audited writes insert into a log
/// (and its two indexes) of a realistic size instead of an empty one.
async fn prefill_audit_log(test_db: &TestDb) {
    let Some(rows) = std::env::var("TQ_BENCH_AUDIT_ROWS")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        return;
    };
    let rows: i64 = rows
        .parse()
        .expect("TQ_BENCH_AUDIT_ROWS is a number of rows");
    let started = std::time::Instant::now();
    sqlx::query(
        "INSERT INTO tenant_audit_log (tenant_id, entity, entity_id, action, changes, actor, recorded_at) \
         SELECT ('00000000-0000-0000-0000-' || lpad((i % 10)::text, 12, '0'))::uuid, \
                (ARRAY['accounts', 'entries', 'settings'])[1 + (i / 10) % 3], gen_random_uuid(), 'update', \
                jsonb_build_object('amount', jsonb_build_object('from', i, 'to', i + 1)), \
                '00000000-0000-0000-0000-00000000002a'::uuid, \
                now() - interval '1 day' + i * (interval '1 day' / $1) \
         FROM generate_series(1, $1) AS i",
    )
    .bind(rows)
    .execute(test_db.pool())
    .await
    .expect("audit log pre-fill");
    sqlx::raw_sql("ANALYZE tenant_audit_log")
        .execute(test_db.pool())
        .await
        .expect("analyze");
    eprintln!(
        "audit log pre-filled with {rows} rows in {:.1?}",
        started.elapsed()
    );
}

/// The seeded database, a pool of 8 shared by both sides, and tenant 1's ids.
pub struct Bench {
    pub _test_db: TestDb,
    pub pool: sqlx::PgPool,
    pub db: TenantDb,
    pub tenant: Uuid,
    /// Live projects of the tenant, in id order.
    pub project_ids: Vec<Uuid>,
    pub account_ids: Vec<Uuid>,
    /// Live tickets of bigint tenant 1, in id order.
    pub ticket_ids: Vec<i64>,
    /// Live flag keys of tenant 1.
    pub flag_keys: Vec<String>,
    /// Live steps of live projects of `tenant`.
    pub step_ids: Vec<Uuid>,
    /// A pool of 8 connections as the application role that RLS applies to.
    pub app_pool: sqlx::PgPool,
}

pub fn tenant(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

impl Bench {
    pub async fn seeded() -> Bench {
        let test_db = TestDb::new().await.expect("a test database");
        test_db.execute_script(SCHEMA_AND_SEED).await.expect("seed");
        test_db.db().migrate().await.expect("migrate");
        // The audit log as it was before row ids became text, for W5's comparison.
        test_db
            .execute_script(
                "CREATE TABLE tenant_audit_log_uuid_ids (LIKE tenant_audit_log INCLUDING ALL); \
                 ALTER TABLE tenant_audit_log_uuid_ids ALTER COLUMN entity_id TYPE uuid USING entity_id::uuid;",
            )
            .await
            .expect("uuid-keyed log");
        let settings: (String, String, String) = sqlx::query_as(
            "SELECT current_setting('fsync'), current_setting('synchronous_commit'), \
             current_setting('full_page_writes')",
        )
        .fetch_one(test_db.pool())
        .await
        .expect("server settings");
        eprintln!(
            "server: fsync={}, synchronous_commit={}, full_page_writes={}",
            settings.0, settings.1, settings.2
        );
        prefill_audit_log(&test_db).await;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .min_connections(8)
            .connect_with(test_db.connect_options().clone())
            .await
            .expect("pool");
        let tenant = tenant(1);
        let project_ids = sqlx::query_scalar(
            "SELECT id FROM projects WHERE org_id = $1 AND deleted_at IS NULL ORDER BY id LIMIT 2000",
        )
        .bind(tenant)
        .fetch_all(&pool)
        .await
        .expect("project ids");
        let account_ids =
            sqlx::query_scalar("SELECT id FROM accounts WHERE org_id = $1 ORDER BY id")
                .bind(tenant)
                .fetch_all(&pool)
                .await
                .expect("account ids");
        let ticket_ids = sqlx::query_scalar(
            "SELECT id FROM tickets WHERE account_id = 1 AND deleted_at IS NULL ORDER BY id LIMIT 2000",
        )
        .fetch_all(&pool)
        .await
        .expect("ticket ids");
        let flag_keys = sqlx::query_scalar(
            "SELECT key FROM flags WHERE org_id = $1 AND deleted_at IS NULL ORDER BY key",
        )
        .bind(tenant)
        .fetch_all(&pool)
        .await
        .expect("flag keys");
        let step_ids = sqlx::query_scalar(
            "SELECT s.id FROM steps AS s JOIN projects AS p ON p.id = s.project_id \
             WHERE p.org_id = $1 AND p.deleted_at IS NULL AND s.deleted_at IS NULL \
             ORDER BY s.id LIMIT 2000",
        )
        .bind(tenant)
        .fetch_all(&pool)
        .await
        .expect("step ids");
        let db = TenantDb::new(pool.clone());
        let app_pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .min_connections(8)
            .connect_with(
                test_db
                    .connect_options()
                    .clone()
                    .username("tenant_query_bench_app"),
            )
            .await
            .expect("application pool");
        Bench {
            _test_db: test_db,
            pool,
            db,
            tenant,
            project_ids,
            account_ids,
            ticket_ids,
            flag_keys,
            step_ids,
            app_pool,
        }
    }

    pub fn scope(&self) -> ScopedDb {
        self.db
            .scope(&TenantScope::new(self.tenant).with_actor(Uuid::from_u128(42)))
    }
}

/// The hand-written sqlx a careful engineer would write for the same results: the same
/// tenant and soft-delete predicates, the same pool, prepared statements, arrays for
/// batches.
pub mod raw {
    use std::collections::HashMap;

    use super::*;

    // Decoded in full like the library's rows; the benchmarks only time that.
    #[allow(dead_code)]
    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct Project {
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        pub status: String,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
        pub deleted_at: Option<DateTime<Utc>>,
    }

    // Decoded in full like the library's rows; the benchmarks only time that.
    #[allow(dead_code)]
    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct Task {
        pub id: Uuid,
        pub org_id: Uuid,
        pub project_id: Uuid,
        pub title: String,
        pub done: bool,
        pub deleted_at: Option<DateTime<Utc>>,
    }

    // Decoded in full like the library's rows; the benchmarks only time that.
    #[allow(dead_code)]
    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct Event {
        pub id: Uuid,
        pub org_id: Uuid,
        pub kind: String,
        pub amount: i64,
        pub created_at: DateTime<Utc>,
    }

    // Decoded in full like the library's rows; the benchmarks only time that.
    #[allow(dead_code)]
    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct Account {
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        pub balance: i64,
        pub updated_at: DateTime<Utc>,
    }

    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct Ticket {
        pub id: i64,
        pub account_id: i64,
        pub subject: String,
        pub status: String,
        pub created_at: DateTime<Utc>,
        pub deleted_at: Option<DateTime<Utc>>,
    }

    pub async fn find_ticket(pool: &sqlx::PgPool, tenant: i64, id: i64) -> Option<Ticket> {
        sqlx::query_as(
            "SELECT id, account_id, subject, status, created_at, deleted_at FROM tickets \
             WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(pool)
        .await
        .unwrap()
    }

    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct Flag {
        pub key: String,
        pub org_id: Uuid,
        pub enabled: bool,
        pub deleted_at: Option<DateTime<Utc>>,
    }

    pub async fn find_flag(pool: &sqlx::PgPool, tenant: Uuid, key: &str) -> Option<Flag> {
        sqlx::query_as(
            "SELECT key, org_id, enabled, deleted_at FROM flags \
             WHERE org_id = $1 AND key = $2 AND deleted_at IS NULL",
        )
        .bind(tenant)
        .bind(key)
        .fetch_optional(pool)
        .await
        .unwrap()
    }

    pub async fn find_project(pool: &sqlx::PgPool, tenant: Uuid, id: Uuid) -> Option<Project> {
        sqlx::query_as(
            "SELECT id, org_id, name, status, created_at, updated_at, deleted_at FROM projects \
             WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(pool)
        .await
        .unwrap()
    }

    /// A step through its project, as `via` asks: the same `EXISTS`, by hand.
    pub async fn find_step(pool: &sqlx::PgPool, tenant: Uuid, id: Uuid) -> Option<Step> {
        sqlx::query_as(
            "SELECT id, project_id, title, deleted_at FROM steps AS s WHERE id = $2 \
             AND deleted_at IS NULL AND EXISTS (SELECT 1 FROM projects AS p \
             WHERE p.id = s.project_id AND p.org_id = $1 AND p.deleted_at IS NULL)",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(pool)
        .await
        .unwrap()
    }

    pub async fn list_projects(pool: &sqlx::PgPool, tenant: Uuid) -> Vec<Project> {
        sqlx::query_as(
            "SELECT id, org_id, name, status, created_at, updated_at, deleted_at FROM projects \
             WHERE org_id = $1 AND deleted_at IS NULL AND status = $2 \
             ORDER BY created_at DESC LIMIT $3",
        )
        .bind(tenant)
        .bind("active")
        .bind(100_i64)
        .fetch_all(pool)
        .await
        .unwrap()
    }

    pub async fn tasks_by_project(
        pool: &sqlx::PgPool,
        tenant: Uuid,
        ids: &[Uuid],
    ) -> HashMap<Uuid, Vec<Task>> {
        let rows: Vec<Task> = sqlx::query_as(
            "SELECT id, org_id, project_id, title, done, deleted_at FROM tasks \
             WHERE org_id = $1 AND project_id = ANY($2) AND deleted_at IS NULL ORDER BY project_id, id",
        )
        .bind(tenant)
        .bind(ids)
        .fetch_all(pool)
        .await
        .unwrap();
        let mut grouped: HashMap<Uuid, Vec<Task>> =
            ids.iter().map(|id| (*id, Vec::new())).collect();
        for row in rows {
            grouped.entry(row.project_id).or_default().push(row);
        }
        grouped
    }

    /// The N+1 loop the loaders exist to avoid.
    pub async fn tasks_one_parent_at_a_time(
        pool: &sqlx::PgPool,
        tenant: Uuid,
        ids: &[Uuid],
    ) -> HashMap<Uuid, Vec<Task>> {
        let mut grouped = HashMap::with_capacity(ids.len());
        for id in ids {
            let rows: Vec<Task> = sqlx::query_as(
                "SELECT id, org_id, project_id, title, done, deleted_at FROM tasks \
                 WHERE org_id = $1 AND project_id = $2 AND deleted_at IS NULL ORDER BY id",
            )
            .bind(tenant)
            .bind(id)
            .fetch_all(pool)
            .await
            .unwrap();
            grouped.insert(*id, rows);
        }
        grouped
    }

    pub async fn insert_events(
        pool: &sqlx::PgPool,
        tenant: Uuid,
        rows: &[(String, i64)],
    ) -> Vec<Event> {
        let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
        let kinds: Vec<&str> = rows.iter().map(|(kind, _)| kind.as_str()).collect();
        let amounts: Vec<i64> = rows.iter().map(|(_, amount)| *amount).collect();
        sqlx::query_as(
            "INSERT INTO events (id, org_id, kind, amount, created_at) \
             SELECT u.id, $1, u.kind, u.amount, now() FROM UNNEST($2::uuid[], $3::text[], $4::int8[]) AS u(id, kind, amount) \
             RETURNING id, org_id, kind, amount, created_at",
        )
        .bind(tenant)
        .bind(ids)
        .bind(kinds)
        .bind(amounts)
        .fetch_all(pool)
        .await
        .unwrap()
    }

    pub async fn insert_events_one_by_one(
        pool: &sqlx::PgPool,
        tenant: Uuid,
        rows: &[(String, i64)],
    ) {
        for (kind, amount) in rows {
            sqlx::query(
                "INSERT INTO events (id, org_id, kind, amount, created_at) VALUES ($1, $2, $3, $4, now())",
            )
            .bind(Uuid::now_v7())
            .bind(tenant)
            .bind(kind)
            .bind(amount)
            .execute(pool)
            .await
            .unwrap();
        }
    }

    pub async fn update_balance(
        pool: &sqlx::PgPool,
        tenant: Uuid,
        id: Uuid,
        balance: i64,
    ) -> Account {
        sqlx::query_as(
            "UPDATE accounts SET balance = $3, updated_at = now() WHERE org_id = $1 AND id = $2 \
             RETURNING id, org_id, name, balance, updated_at",
        )
        .bind(tenant)
        .bind(id)
        .bind(balance)
        .fetch_one(pool)
        .await
        .unwrap()
    }

    /// A lookup under RLS as usually written by hand: four round trips (BEGIN, set_config,
    /// the query, COMMIT).
    pub async fn find_project_rls(pool: &sqlx::PgPool, tenant: Uuid, id: Uuid) -> Option<Project> {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
            .bind(tenant.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        let row = sqlx::query_as(
            "SELECT id, org_id, name, status, created_at, updated_at, deleted_at FROM projects \
             WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        row
    }

    /// The best hand-written audited update: one statement whose CTEs lock the old row,
    /// write the new one and record the change (written knowing only `balance` changes).
    pub async fn update_balance_one_statement(
        pool: &sqlx::PgPool,
        tenant: Uuid,
        actor: Uuid,
        id: Uuid,
        balance: i64,
    ) -> Account {
        update_balance_one_statement_into(pool, "tenant_audit_log", tenant, actor, id, balance)
            .await
    }

    /// The same, recording into `log`: the library's log (text row ids) or its copy with
    /// `uuid` row ids, to measure what text ids cost.
    pub async fn update_balance_one_statement_into(
        pool: &sqlx::PgPool,
        log: &str,
        tenant: Uuid,
        actor: Uuid,
        id: Uuid,
        balance: i64,
    ) -> Account {
        let entity_id = if log == "tenant_audit_log" {
            "id::text"
        } else {
            "id"
        };
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH old AS (SELECT id, balance FROM accounts WHERE org_id = $1 AND id = $2 FOR UPDATE), \
             new AS (UPDATE accounts AS a SET balance = $3, \
                 updated_at = CASE WHEN a.balance IS DISTINCT FROM $3 THEN now() ELSE a.updated_at END \
                 FROM old WHERE a.org_id = $1 AND a.id = old.id \
                 RETURNING a.id, a.org_id, a.name, a.balance, a.updated_at, old.balance AS old_balance), \
             audit AS (INSERT INTO {log} (tenant_id, entity, entity_id, action, changes, actor) \
                 SELECT $1, 'accounts', {entity_id}, 'update', \
                 jsonb_build_object('balance', jsonb_build_object('from', old_balance, 'to', balance)), $4 \
                 FROM new WHERE old_balance IS DISTINCT FROM balance) \
             SELECT id, org_id, name, balance, updated_at FROM new"
        )))
        .bind(tenant)
        .bind(id)
        .bind(balance)
        .bind(actor)
        .fetch_one(pool)
        .await
        .unwrap()
    }

    // Decoded in full like the library's rows; the benchmarks only time that.
    #[allow(dead_code)]
    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct Entry {
        pub id: Uuid,
        pub org_id: Uuid,
        pub bucket: i32,
        pub amount: i64,
    }

    /// A set-based audited update by hand: one statement, one record per changed row.
    pub async fn update_bucket(
        pool: &sqlx::PgPool,
        tenant: Uuid,
        actor: Uuid,
        bucket: i32,
        amount: i64,
    ) -> Vec<Entry> {
        sqlx::query_as(
            "WITH old AS (SELECT id, amount FROM entries WHERE org_id = $1 AND bucket = $2 FOR UPDATE), \
             new AS (UPDATE entries AS e SET amount = $3 FROM old WHERE e.org_id = $1 AND e.id = old.id \
                 RETURNING e.id, e.org_id, e.bucket, e.amount, old.amount AS old_amount), \
             audit AS (INSERT INTO tenant_audit_log (tenant_id, entity, entity_id, action, changes, actor) \
                 SELECT $1, 'entries', id, 'update', \
                 jsonb_build_object('amount', jsonb_build_object('from', old_amount, 'to', amount)), $4 \
                 FROM new WHERE old_amount IS DISTINCT FROM amount) \
             SELECT id, org_id, bucket, amount FROM new",
        )
        .bind(tenant)
        .bind(bucket)
        .bind(amount)
        .bind(actor)
        .fetch_all(pool)
        .await
        .unwrap()
    }

    // Decoded in full like the library's rows; the benchmarks only time that.
    #[allow(dead_code)]
    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct Setting {
        pub id: Uuid,
        pub org_id: Uuid,
        pub key: String,
        pub value: String,
    }

    /// An audited upsert by hand: one statement that locks the existing row, inserts or
    /// updates, and records which it did with the diff.
    pub async fn upsert_setting(
        pool: &sqlx::PgPool,
        tenant: Uuid,
        actor: Uuid,
        key: &str,
        value: &str,
    ) -> Setting {
        sqlx::query_as(
            "WITH old AS (SELECT id, value FROM settings WHERE org_id = $1 AND key = $2 FOR UPDATE), \
             up AS (INSERT INTO settings AS s (id, org_id, key, value) SELECT $3, $1, $2, $4 \
                 WHERE (SELECT count(*) FROM old) >= 0 \
                 ON CONFLICT (org_id, key) DO UPDATE SET value = EXCLUDED.value WHERE s.org_id = $1 \
                 RETURNING s.id, s.org_id, s.key, s.value, (s.xmax = 0) AS inserted), \
             audit AS (INSERT INTO tenant_audit_log (tenant_id, entity, entity_id, action, changes, actor) \
                 SELECT $1, 'settings', up.id, CASE WHEN inserted THEN 'insert' ELSE 'update' END, \
                 CASE WHEN inserted THEN jsonb_build_object('id', jsonb_build_object('from', NULL, 'to', up.id), \
                     'org_id', jsonb_build_object('from', NULL, 'to', up.org_id), \
                     'key', jsonb_build_object('from', NULL, 'to', up.key), \
                     'value', jsonb_build_object('from', NULL, 'to', up.value)) \
                 ELSE jsonb_build_object('value', jsonb_build_object('from', old.value, 'to', up.value)) END, $5 \
                 FROM up LEFT JOIN old ON true WHERE inserted OR old.value IS DISTINCT FROM up.value) \
             SELECT id, org_id, key, value FROM up",
        )
        .bind(tenant)
        .bind(key)
        .bind(Uuid::now_v7())
        .bind(value)
        .bind(actor)
        .fetch_one(pool)
        .await
        .unwrap()
    }

    /// Projects per status.
    pub async fn count_by_status(pool: &sqlx::PgPool, tenant: Uuid) -> Vec<(String, i64)> {
        sqlx::query_as(
            "SELECT status, count(*) FROM projects WHERE org_id = $1 AND deleted_at IS NULL \
             GROUP BY status ORDER BY status",
        )
        .bind(tenant)
        .fetch_all(pool)
        .await
        .unwrap()
    }

    /// The first 100 live tasks of live archived projects.
    pub async fn tasks_of_archived(pool: &sqlx::PgPool, tenant: Uuid) -> Vec<Task> {
        sqlx::query_as(
            "SELECT t.id, t.org_id, t.project_id, t.title, t.done, t.deleted_at FROM tasks AS t \
             WHERE t.org_id = $1 AND t.deleted_at IS NULL AND EXISTS (SELECT 1 FROM projects AS p \
                 WHERE p.org_id = t.org_id AND p.id = t.project_id AND p.org_id = $1 \
                 AND p.deleted_at IS NULL AND p.status = $2) \
             ORDER BY t.id LIMIT $3",
        )
        .bind(tenant)
        .bind("archived")
        .bind(100_i64)
        .fetch_all(pool)
        .await
        .unwrap()
    }

    /// A lookup under RLS in three round trips, as the library makes it: `BEGIN` and the
    /// setting in one simple query, the query, `COMMIT`.
    pub async fn find_project_rls_three_round_trips(
        pool: &sqlx::PgPool,
        tenant: Uuid,
        id: Uuid,
    ) -> Option<Project> {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true)"
        )))
        .execute(&mut *conn)
        .await
        .unwrap();
        let row = sqlx::query_as(
            "SELECT id, org_id, name, status, created_at, updated_at, deleted_at FROM projects \
             WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .unwrap();
        sqlx::raw_sql("COMMIT").execute(&mut *conn).await.unwrap();
        row
    }

    /// A lookup in a placed home, as the library makes it: `prologue` (`BEGIN`, the
    /// tenant's `search_path` and the home's fence check) in one simple query, the query,
    /// `COMMIT`.
    pub async fn find_project_placed(
        pool: &sqlx::PgPool,
        prologue: &str,
        tenant: Uuid,
        id: Uuid,
    ) -> Option<Project> {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(prologue.to_owned()))
            .execute(&mut *conn)
            .await
            .unwrap();
        let row = sqlx::query_as(
            "SELECT id, org_id, name, status, created_at, updated_at, deleted_at FROM projects \
             WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .unwrap();
        sqlx::raw_sql("COMMIT").execute(&mut *conn).await.unwrap();
        row
    }

    /// The usual hand-written audited update: lock, read, write, record, in a transaction.
    pub async fn update_balance_audited(
        pool: &sqlx::PgPool,
        tenant: Uuid,
        actor: Uuid,
        id: Uuid,
        balance: i64,
    ) -> Account {
        let mut tx = pool.begin().await.unwrap();
        let old: Account = sqlx::query_as(
            "SELECT id, org_id, name, balance, updated_at FROM accounts WHERE org_id = $1 AND id = $2 FOR UPDATE",
        )
        .bind(tenant)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        let new: Account = sqlx::query_as(
            "UPDATE accounts SET balance = $3, updated_at = now() WHERE org_id = $1 AND id = $2 \
             RETURNING id, org_id, name, balance, updated_at",
        )
        .bind(tenant)
        .bind(id)
        .bind(balance)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        let changes = serde_json::json!({"balance": {"from": old.balance, "to": new.balance}});
        sqlx::query(
            "INSERT INTO tenant_audit_log (tenant_id, entity, entity_id, action, changes, actor) \
             VALUES ($1, 'accounts', $2, 'update', $3, $4)",
        )
        .bind(tenant)
        .bind(id)
        .bind(changes)
        .bind(actor)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        new
    }
}

/// Prints, from `pg_stat_statements`, the server's mean execution time and WAL bytes per
/// call of the statements whose text starts with `prefix` (or contains it).
pub async fn statement_costs(pool: &sqlx::PgPool, needle: &str, label: &str) {
    let row: Option<(f64, f64, i64)> = sqlx::query_as(
        "SELECT sum(total_exec_time) / sum(calls), sum(wal_bytes)::float8 / sum(calls), sum(calls)::int8 \
         FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND position($1 in query) > 0 HAVING sum(calls) > 0",
    )
    .bind(needle)
    .fetch_optional(pool)
    .await
    .unwrap_or(None);
    if let Some((ms, wal, calls)) = row {
        println!(
            "  {label}: {:.1} µs server time and {wal:.0} WAL bytes per call ({calls} calls)",
            ms * 1000.0
        );
    }
}
