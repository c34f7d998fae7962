//! A schema per tenant behind a real PgBouncer in transaction mode: the library's
//! transaction-local `search_path` never reaches another client, while a session-level
//! `SET search_path` (the control) is caught by the same probe.

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::postgres::PgPoolOptions;
use tenant_query::cells::Cells;
use tenant_query::placement::{MemoryPlacements, Placement, SchemaName, TenantPlacement};
use tenant_query::prelude::*;
use tenant_query::testing::{PgBouncer, TestDb};
use uuid::Uuid;

use crate::common::*;

const TENANTS: usize = 8;
const CANARY: &str = "canary";

fn schema(i: usize) -> String {
    format!("tenant_{i}")
}

/// The rows a read for `tenant` returned that came from another tenant's schema: each
/// schema holds a canary row for every other tenant, which only a read that ran in the
/// wrong schema can see (its `org_id` passes the tenant predicate).
fn leaked(rows: &[(String, Uuid)], tenant: Uuid) -> usize {
    rows.iter()
        .filter(|(name, org)| name == CANARY || *org != tenant)
        .count()
}

/// The `search_path`s server connections carry, read through `pool` with no prologue: a
/// session-level setting shows up here. Simple queries (one protocol message each).
async fn leaked_search_paths(pool: &sqlx::PgPool) -> HashSet<String> {
    use sqlx::Row;
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let row = sqlx::raw_sql("SELECT current_setting('search_path')")
            .fetch_one(pool)
            .await
            .unwrap();
        seen.insert(row.get::<String, _>(0));
    }
    seen.remove(DEFAULT_PATH);
    seen
}

const DEFAULT_PATH: &str = "\"$user\", public";

/// `TENANTS` schemas with the tables, the library's tables and the canaries.
async fn schemas(test_db: &TestDb, tenants: &[TenantScope]) -> TenantDb {
    let mut directory = MemoryPlacements::new(Placement::new(TenantPlacement::Shared));
    for (i, tenant) in tenants.iter().enumerate() {
        let home = TenantPlacement::Schema(SchemaName::new(schema(i)).unwrap());
        directory = directory.with(&tenant.tenant_id().to_string(), Placement::new(home));
    }
    let directory = Arc::new(directory);
    let admin = test_db
        .db()
        .clone()
        .with_placements(directory.clone(), Cells::new());
    for (i, _) in tenants.iter().enumerate() {
        let home = TenantPlacement::Schema(SchemaName::new(schema(i)).unwrap());
        admin.migrate_home(&home).await.unwrap();
        let mut script = format!("BEGIN; SET LOCAL search_path = {}; {SCHEMA};", schema(i));
        for (j, other) in tenants.iter().enumerate() {
            if j != i {
                script.push_str(&format!(
                    "INSERT INTO projects VALUES (gen_random_uuid(), '{}', '{CANARY}', 'active', NULL, now(), now(), NULL);",
                    other.tenant_id()
                ));
            }
        }
        script.push_str("COMMIT;");
        test_db.execute_script(&script).await.unwrap();
    }
    admin
}

/// 8 tenants in 8 schemas, 32 tasks, ~2000 operations through PgBouncer (transaction mode,
/// 4 server connections): every read sees only its own schema, every write lands in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_per_tenant_holds_through_pgbouncer_and_a_session_set_is_caught() {
    let test_db = TestDb::new().await.unwrap();
    let tenants: Vec<TenantScope> = (0..TENANTS)
        .map(|_| TenantScope::new(Uuid::now_v7()))
        .collect();
    let admin = schemas(&test_db, &tenants).await;
    let bouncer = PgBouncer::start(&test_db, &["postgres"], 4).await.unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(32)
        .connect_with(bouncer.connect_options("postgres"))
        .await
        .unwrap();
    let directory = MemoryPlacements::new(Placement::new(TenantPlacement::Shared));
    let directory = tenants.iter().enumerate().fold(directory, |d, (i, t)| {
        let home = TenantPlacement::Schema(SchemaName::new(schema(i)).unwrap());
        d.with(&t.tenant_id().to_string(), Placement::new(home))
    });
    let db = TenantDb::new(pool)
        .behind_transaction_pooler()
        .with_placements(Arc::new(directory), Cells::new());

    let workers: Vec<_> = (0..32)
        .map(|worker| {
            let (db, tenants) = (db.clone(), tenants.clone());
            tokio::spawn(async move { soak(db, tenants, worker).await })
        })
        .collect();
    let (mut read, mut written) = (0, 0);
    for worker in workers {
        let (r, w) = worker.await.unwrap();
        read += r;
        written += w;
    }
    assert!(
        read > 2000 && written > 500,
        "read {read}, written {written}"
    );

    // Behind the library's back: every schema holds only its tenant's rows and canaries,
    // and each tenant's audit records are in its schema only.
    let mut counted = 0;
    for (i, tenant) in tenants.iter().enumerate() {
        let foreign: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}.projects WHERE org_id <> $1 AND name <> '{CANARY}'",
            schema(i)
        )))
        .bind(tenant.tenant_id())
        .fetch_one(test_db.pool())
        .await
        .unwrap();
        let foreign_audit: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}.tenant_audit_log WHERE tenant_id <> $1",
            schema(i)
        )))
        .bind(tenant.tenant_id())
        .fetch_one(test_db.pool())
        .await
        .unwrap();
        assert_eq!((foreign, foreign_audit), (0, 0), "schema {}", schema(i));
        let own: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}.projects WHERE org_id = $1",
            schema(i)
        )))
        .bind(tenant.tenant_id())
        .fetch_one(test_db.pool())
        .await
        .unwrap();
        counted += own;
    }
    assert_eq!(
        counted as usize, written,
        "every write landed in its tenant's schema"
    );
    // No shared tables exist: a statement that ran without its tenant's search_path
    // would have failed the soak.
    let shared: Option<String> = sqlx::query_scalar("SELECT to_regclass('public.projects')::text")
        .fetch_one(test_db.pool())
        .await
        .unwrap();
    assert_eq!(shared, None);
    // No search_path outlived its transaction on any server connection.
    let probe = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(bouncer.connect_options("postgres"))
        .await
        .unwrap();
    assert!(leaked_search_paths(&probe).await.is_empty());
    drop(admin);

    // Control: the same probe catches a session-level SET search_path through PgBouncer.
    // One server connection, so the second client gets the first one's session.
    let control = PgBouncer::start(&test_db, &["postgres"], 1).await.unwrap();
    let client = |_: ()| {
        PgPoolOptions::new()
            .max_connections(1)
            .connect_with(control.connect_options("postgres"))
    };
    let (first, second) = (client(()).await.unwrap(), client(()).await.unwrap());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET search_path TO {}",
        schema(1)
    )))
    .execute(&first)
    .await
    .unwrap();
    use sqlx::Row;
    let victim = tenants[0].tenant_id();
    let rows: Vec<(String, Uuid)> = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SELECT name, org_id FROM projects WHERE org_id = '{victim}'"
    )))
    .fetch_all(&second)
    .await
    .unwrap()
    .iter()
    .map(|row| (row.get(0), row.get(1)))
    .collect();
    assert!(
        leaked_search_paths(&second).await.contains(&schema(1)),
        "the probe catches the session-level search_path"
    );
    assert!(
        leaked(&rows, victim) > 0,
        "the probe catches the leaked search_path"
    );
}

/// One task's operations, each in a tenant picked round-robin; returns (rows read and
/// checked, rows written).
async fn soak(db: TenantDb, tenants: Vec<TenantScope>, worker: usize) -> (usize, usize) {
    let (mut read, mut written) = (0, 0);
    for i in 0..64 {
        let scope = tenants[(worker * 3 + i * 5) % tenants.len()];
        let (s, tenant) = (db.scope(&scope), scope.tenant_id());
        let names = |rows: Vec<Project>| -> Vec<(String, Uuid)> {
            rows.into_iter().map(|p| (p.name, p.org_id)).collect()
        };
        match i % 4 {
            0 => {
                let p = Project::insert(&s, new_project(&format!("w{worker}-{i}")))
                    .await
                    .unwrap();
                assert_eq!(p.org_id, tenant);
                written += 1;
            }
            1 | 3 => {
                let rows = names(Project::query().all(&s).await.unwrap());
                assert_eq!(
                    leaked(&rows, tenant),
                    0,
                    "a read in another tenant's schema"
                );
                read += rows.len() + 1;
            }
            _ => {
                let mut tx = db.begin(&scope).await.unwrap();
                let p = Project::insert(&mut tx, new_project(&format!("t{worker}-{i}")))
                    .await
                    .unwrap();
                written += 1;
                let path: String = sqlx::query_scalar("SELECT current_setting('search_path')")
                    .persistent(false)
                    .fetch_one(tx.connection().unwrap())
                    .await
                    .unwrap();
                let home = tenants.iter().position(|t| *t == scope).unwrap();
                assert_eq!(path, format!("\"{}\"", schema(home)));
                let rows = names(Project::query().all(&mut tx).await.unwrap());
                assert_eq!(
                    leaked(&rows, tenant),
                    0,
                    "a read in another tenant's schema"
                );
                assert!(rows.iter().any(|(name, _)| *name == p.name));
                read += rows.len();
                tx.commit().await.unwrap();
            }
        }
    }
    (read, written)
}
