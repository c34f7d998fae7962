//! Defense in depth on a real PostgreSQL and a real PgBouncer: row-level security for
//! hand-written SQL, a startup check of the database's configuration, cancellation at any
//! await point, and transaction pooling.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use sqlx::postgres::PgPoolOptions;
use tenant_query::prelude::*;
use tenant_query::rls::IsolationProblem;
use tenant_query::testing::PgBouncer;
use uuid::Uuid;

const SETTING: &str = "app.tenant_id";
const TABLES: [&str; 6] = [
    "projects",
    "tasks",
    "comments",
    "counters",
    "tags",
    "tenant_audit_log",
];

/// The fixture's database with a table-owner role and an application role (no
/// superuser, no BYPASSRLS), RLS policies on every tenant table but `tags`.
struct Roles {
    f: Fixture,
    owner: String,
    app: String,
}

impl Roles {
    async fn new() -> Roles {
        let f = Fixture::new().await;
        let suffix = Uuid::now_v7().simple().to_string();
        let (owner, app) = (format!("owner_{suffix}"), format!("app_{suffix}"));
        let mut ddl = format!("CREATE ROLE {owner} LOGIN; CREATE ROLE {app} LOGIN;");
        for table in TABLES {
            ddl.push_str(&format!(
                "ALTER TABLE {table} OWNER TO {owner}; GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {app};"
            ));
        }
        f.test_db.execute_script(&ddl).await.unwrap();
        let admin = TenantDb::new(f.pool().clone())
            .row_level_security(SETTING)
            .unwrap();
        admin.enable_row_level_security::<Project>().await.unwrap();
        admin.enable_row_level_security::<Task>().await.unwrap();
        admin.enable_row_level_security::<Comment>().await.unwrap();
        admin.enable_row_level_security::<Counter>().await.unwrap();
        admin.enable_audit_log_row_level_security().await.unwrap();
        Roles { f, owner, app }
    }

    async fn pool_as(&self, role: &str, connections: u32) -> sqlx::PgPool {
        let options = self.f.test_db.connect_options().clone().username(role);
        PgPoolOptions::new()
            .max_connections(connections)
            .connect_with(options)
            .await
            .unwrap()
    }

    async fn app_db(&self) -> TenantDb {
        TenantDb::new(self.pool_as(&self.app, 8).await)
            .row_level_security(SETTING)
            .unwrap()
    }
}

#[tokio::test]
async fn rls_mode_restricts_hand_written_sql_to_the_scope() {
    let r = Roles::new().await;
    let db = r.app_db().await;
    let (a, b) = (
        TenantScope::new(Uuid::now_v7()),
        TenantScope::new(Uuid::now_v7()),
    );
    for (scope, names) in [(&a, ["a1", "a2"]), (&b, ["b1", "b2"])] {
        let s = db.scope(scope);
        let rows = Project::insert_many(&s, names.iter().map(|n| new_project(n)).collect())
            .await
            .unwrap();
        Project::update(
            &s,
            rows[0].id,
            ProjectPatch {
                status: Some("x".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            AuditRecord::for_entity::<Project>(&s, rows[0].id)
                .await
                .unwrap()
                .len(),
            2
        );
    }

    let mut tx = db.begin(&a).await.unwrap();
    let visible: Vec<Uuid> = sqlx::query_scalar("SELECT org_id FROM projects")
        .fetch_all(tx.connection().unwrap())
        .await
        .unwrap();
    assert_eq!(
        visible,
        [a.tenant_id(), a.tenant_id()],
        "only the scope's rows"
    );
    let records: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_audit_log")
        .fetch_one(tx.connection().unwrap())
        .await
        .unwrap();
    assert_eq!(records, 3);
    // The policy's WITH CHECK refuses rows of another tenant, even by hand.
    let foreign = sqlx::query(
        "INSERT INTO projects (id, org_id, name, status, created_at, updated_at) VALUES ($1, $2, 'x', 'x', now(), now())",
    )
    .bind(Uuid::now_v7())
    .bind(b.tenant_id())
    .execute(tx.connection().unwrap())
    .await;
    assert!(
        foreign.is_err(),
        "WITH CHECK refuses another tenant's row inside the scope"
    );
    drop(tx);

    let unscoped = r.pool_as(&r.app, 1).await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(&unscoped)
        .await
        .unwrap();
    assert_eq!(
        count, 0,
        "outside any scope the setting is unset and no row is visible"
    );
    let written = sqlx::query(
        "INSERT INTO projects (id, org_id, name, status, created_at, updated_at) VALUES ($1, $2, 'x', 'x', now(), now())",
    )
    .bind(Uuid::now_v7())
    .bind(a.tenant_id())
    .execute(&unscoped)
    .await;
    assert!(
        written.is_err(),
        "WITH CHECK refuses rows outside the scope's tenant"
    );
    // After the scoped transactions ended, their setting is gone from the connections.
    let leftover: Option<String> =
        sqlx::query_scalar("SELECT nullif(current_setting('app.tenant_id', true), '')")
            .fetch_one(db.cross_tenant("test").unwrap().pool())
            .await
            .unwrap();
    assert_eq!(leftover, None);
}

#[tokio::test]
async fn verification_rejects_each_misconfiguration() {
    let r = Roles::new().await;
    let check = |db: TenantDb| async move {
        match db
            .verify_isolation()
            .entity::<Project>()
            .entity::<Tag>()
            .audit_log()
            .run()
            .await
        {
            Ok(()) => Vec::new(),
            Err(tenant_query::Error::Isolation(report)) => report.problems,
            Err(other) => panic!("{other}"),
        }
    };
    let tags_unprotected = [
        IsolationProblem::RlsDisabled { table: "tags" },
        IsolationProblem::MissingPolicy { table: "tags" },
    ];

    // The application role: only the table left without RLS is reported.
    assert_eq!(check(r.app_db().await).await, tags_unprotected);
    let protected = r
        .app_db()
        .await
        .verify_isolation()
        .entity::<Project>()
        .audit_log()
        .run()
        .await;
    assert!(protected.is_ok(), "{protected:?}");

    // The superuser bypasses everything.
    let superuser = check(TenantDb::new(r.f.pool().clone())).await;
    assert_eq!(superuser[0], IsolationProblem::Superuser);

    // A role with BYPASSRLS.
    let bypass = format!("{}_bypass", r.app);
    r.f.test_db
        .execute_script(&format!("CREATE ROLE {bypass} LOGIN BYPASSRLS"))
        .await
        .unwrap();
    assert_eq!(
        check(TenantDb::new(r.pool_as(&bypass, 1).await)).await[0],
        IsolationProblem::BypassRls
    );

    // The owner is fine while RLS is forced, and reported once it is not.
    let owner = TenantDb::new(r.pool_as(&r.owner, 1).await);
    assert_eq!(
        check(owner.clone()).await,
        [
            IsolationProblem::RlsDisabled { table: "tags" },
            IsolationProblem::OwnerNotForced {
                table: "tags",
                owner: r.owner.clone()
            },
            IsolationProblem::MissingPolicy { table: "tags" },
        ]
    );
    r.f.test_db
        .execute_script("ALTER TABLE projects NO FORCE ROW LEVEL SECURITY")
        .await
        .unwrap();
    assert_eq!(
        check(owner.clone()).await[0],
        IsolationProblem::OwnerNotForced {
            table: "projects",
            owner: r.owner.clone()
        }
    );
    // A role that is not the owner but inherits its rights bypasses RLS just the same.
    let member = format!("{}_member", r.app);
    r.f.test_db
        .execute_script(&format!("CREATE ROLE {member} LOGIN IN ROLE {}", r.owner))
        .await
        .unwrap();
    let member_db = TenantDb::new(r.pool_as(&member, 1).await);
    assert!(
        check(member_db)
            .await
            .contains(&IsolationProblem::OwnerNotForced {
                table: "projects",
                owner: r.owner.clone()
            })
    );
    r.f.test_db
        .execute_script("ALTER TABLE projects FORCE ROW LEVEL SECURITY")
        .await
        .unwrap();

    // Another permissive policy is OR-ed with the tenant policy: every tenant shows.
    r.f.test_db
        .execute_script("CREATE POLICY peek ON projects FOR SELECT USING (true)")
        .await
        .unwrap();
    assert_eq!(
        check(r.app_db().await).await,
        [
            IsolationProblem::ExtraPermissivePolicy {
                table: "projects",
                policy: "peek".into()
            },
            tags_unprotected[0].clone(),
            tags_unprotected[1].clone(),
        ]
    );
    r.f.test_db
        .execute_script("DROP POLICY peek ON projects")
        .await
        .unwrap();

    // A dropped policy.
    r.f.test_db
        .execute_script("DROP POLICY tenant_isolation ON tenant_audit_log")
        .await
        .unwrap();
    assert!(
        check(owner)
            .await
            .contains(&IsolationProblem::MissingPolicy {
                table: "tenant_audit_log"
            })
    );
}

/// Thousands of scoped operations cancelled at random points on a pool of one connection:
/// afterwards the connection is idle, outside any transaction, with no tenant setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_operations_leave_a_clean_connection() {
    let r = Roles::new().await;
    let pool = r.pool_as(&r.app, 1).await;
    let db = TenantDb::new(pool.clone())
        .row_level_security(SETTING)
        .unwrap();
    let s = db.scope(&TenantScope::new(Uuid::now_v7()));
    let seed = Project::insert(&s, new_project("seed")).await.unwrap();

    let mut random = 0x2545_f491_4f6c_dd1d_u64;
    let mut cancelled = 0;
    for i in 0..3000 {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let deadline = Duration::from_micros(random % 1500);
        let s = &s;
        let operation = async move {
            match i % 4 {
                0 => Project::find(s, seed.id).await.map(drop),
                1 => Project::update(
                    s,
                    seed.id,
                    ProjectPatch {
                        status: Some(format!("s{i}")),
                        ..Default::default()
                    },
                )
                .await
                .map(drop),
                2 => {
                    let mut tx = s.begin().await?;
                    Project::insert(&mut tx, new_project(&format!("p{i}"))).await?;
                    Project::query().count(&mut tx).await?;
                    tx.commit().await
                }
                _ => Project::query().all(s).await.map(drop),
            }
        };
        match tokio::time::timeout(deadline, operation).await {
            Err(_) => cancelled += 1,
            Ok(result) => result.unwrap(),
        }
    }
    assert!(
        cancelled > 100,
        "only {cancelled} operations were cancelled"
    );

    // Let spawned rollbacks finish, then look at the one connection from both sides.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut conn = pool.acquire().await.unwrap();
    // SAVEPOINT fails outside a transaction block, and only there.
    let savepoint = sqlx::raw_sql("SAVEPOINT probe").execute(&mut *conn).await;
    let code = savepoint.err().and_then(|e| {
        e.as_database_error()
            .and_then(|d| d.code().map(|c| c.into_owned()))
    });
    assert_eq!(
        code.as_deref(),
        Some("25P01"),
        "the connection is outside any transaction"
    );
    let setting: Option<String> =
        sqlx::query_scalar("SELECT nullif(current_setting('app.tenant_id', true), '')")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(setting, None, "no tenant setting is visible");
    drop(conn);
    let states: Vec<String> =
        sqlx::query_scalar("SELECT state FROM pg_stat_activity WHERE usename = $1")
            .bind(&r.app)
            .fetch_all(r.f.pool())
            .await
            .unwrap();
    assert!(states.iter().all(|state| state == "idle"), "{states:?}");
    // And the library still works on it.
    assert!(Project::find(&s, seed.id).await.unwrap().is_some());
}

/// Reads, outside any scope through `pool`, the tenant setting each server connection
/// carries; a session-level `SET` shows up here. A simple query (one protocol message):
/// outside a transaction, PgBouncer may split the parse and the execution of an
/// extended-protocol statement across server connections.
async fn leaked_settings(pool: &sqlx::PgPool) -> HashSet<String> {
    use sqlx::Row;
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let row = sqlx::raw_sql("SELECT nullif(current_setting('app.tenant_id', true), '')")
            .fetch_one(pool)
            .await
            .unwrap();
        seen.extend(row.try_get::<Option<String>, _>(0).unwrap());
    }
    seen
}

/// 20 tenants, 64 concurrent tasks, 2000 mixed operations through PgBouncer in transaction
/// mode with 8 server connections, with and without RLS mode: no task ever sees a row of
/// another tenant, and no tenant setting outlives its transaction. The control, a
/// session-level `SET` through the same kind of pooler, is caught by the same probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_holds_through_pgbouncer_in_transaction_mode() {
    let r = Roles::new().await;
    let bouncer = PgBouncer::start(&r.f.test_db, &["postgres", &r.app], 8)
        .await
        .unwrap();
    let through_bouncer = |connections| {
        PgPoolOptions::new()
            .max_connections(connections)
            .connect_with(bouncer.connect_options(&r.app))
    };
    let tenants: Vec<TenantScope> = (0..20).map(|_| TenantScope::new(Uuid::now_v7())).collect();

    for rls in [false, true] {
        let mut db = TenantDb::new(through_bouncer(64).await.unwrap()).behind_transaction_pooler();
        if rls {
            db = db.row_level_security(SETTING).unwrap();
        } else {
            // Without RLS mode the app role would see nothing through the policies; the
            // library's own predicates are the only wall here, so test them alone.
            r.f.test_db
                .execute_script(&format!("ALTER ROLE {} BYPASSRLS", r.app))
                .await
                .unwrap();
        }
        let workers: Vec<_> = (0..64)
            .map(|worker| {
                let (db, tenants) = (db.clone(), tenants.clone());
                tokio::spawn(async move { soak(db, tenants, worker, rls).await })
            })
            .collect();
        let mut checked = 0;
        for worker in workers {
            checked += worker.await.unwrap();
        }
        assert!(checked > 2000, "rows checked: {checked}");
        assert!(
            leaked_settings(&through_bouncer(4).await.unwrap())
                .await
                .is_empty()
        );
        if !rls {
            r.f.test_db
                .execute_script(&format!("ALTER ROLE {} NOBYPASSRLS", r.app))
                .await
                .unwrap();
        }
    }

    // The startup check sends its catalog reads as every other statement: again and again
    // through the pooler, whichever server connection answers.
    let checked_db = TenantDb::new(through_bouncer(2).await.unwrap())
        .behind_transaction_pooler()
        .row_level_security(SETTING)
        .unwrap();
    for _ in 0..5 {
        checked_db
            .verify_isolation()
            .entity::<Project>()
            .audit_log()
            .run()
            .await
            .unwrap();
    }

    // Control: a session-level SET leaks to whoever gets that server connection next.
    let control = PgBouncer::start(&r.f.test_db, &["postgres", &r.app], 1)
        .await
        .unwrap();
    let control_pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(control.connect_options(&r.app))
        .await
        .unwrap();
    let victim = tenants[0].tenant_id().to_string();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET app.tenant_id = '{victim}'"
    )))
    .execute(&control_pool)
    .await
    .unwrap();
    assert!(
        leaked_settings(&control_pool).await.contains(&victim),
        "the probe detects a session-level leak"
    );
}

/// 2000 / 64 operations of one task, each in a random tenant; returns the rows checked.
async fn soak(db: TenantDb, tenants: Vec<TenantScope>, worker: usize, rls: bool) -> usize {
    let mut checked = 0;
    for i in 0..(2000 / 64 + 1) {
        let scope = tenants[(worker * 7 + i * 13) % tenants.len()];
        let tenant = scope.tenant_id();
        let s = db.scope(&scope);
        match i % 4 {
            0 => {
                let p = Project::insert(&s, new_project(&format!("w{worker}-{i}-{rls}")))
                    .await
                    .unwrap();
                assert_eq!(p.org_id, tenant);
                checked += 1;
            }
            1 => {
                for p in Project::query().all(&s).await.unwrap() {
                    assert_eq!(p.org_id, tenant, "a row of another tenant");
                    checked += 1;
                }
            }
            2 => {
                let mut tx = db.begin(&scope).await.unwrap();
                if rls {
                    let setting: String =
                        sqlx::query_scalar("SELECT current_setting('app.tenant_id')")
                            .persistent(false)
                            .fetch_one(tx.connection().unwrap())
                            .await
                            .unwrap();
                    assert_eq!(setting, tenant.to_string());
                    let raw: Vec<Uuid> = sqlx::query_scalar("SELECT org_id FROM projects")
                        .persistent(false)
                        .fetch_all(tx.connection().unwrap())
                        .await
                        .unwrap();
                    checked += raw.iter().inspect(|org| assert_eq!(**org, tenant)).count();
                }
                // Rows are locked in id order by every task, so concurrent transactions
                // of one tenant cannot deadlock.
                let rows = Project::query()
                    .order_by(Project::ID.asc())
                    .limit(5)
                    .all(&mut tx);
                for p in rows.await.unwrap() {
                    assert_eq!(p.org_id, tenant);
                    Project::update(
                        &mut tx,
                        p.id,
                        ProjectPatch {
                            status: Some(format!("{i}")),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                    checked += 1;
                }
                tx.commit().await.unwrap();
            }
            _ => {
                let ids: Vec<Uuid> = Project::query()
                    .with_deleted()
                    .all(&s)
                    .await
                    .unwrap()
                    .iter()
                    .map(|p| p.id)
                    .collect();
                for p in Project::find_many(&s, &ids).await.unwrap().into_values() {
                    assert_eq!(p.org_id, tenant);
                    checked += 1;
                }
            }
        }
    }
    checked
}
