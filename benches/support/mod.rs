//! The benchmarks' data set, entities on both sides, and the raw sqlx code they are
//! measured against.

// Each bench binary uses a part of the shared data set and code.
#![allow(dead_code)]

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

const SCHEMA_AND_SEED: &str = r#"
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

/// The seeded database, a pool of 8 shared by both sides, and tenant 1's ids.
pub struct Bench {
    pub _test_db: TestDb,
    pub pool: sqlx::PgPool,
    pub db: TenantDb,
    pub tenant: Uuid,
    /// Live projects of the tenant, in id order.
    pub project_ids: Vec<Uuid>,
    pub account_ids: Vec<Uuid>,
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
