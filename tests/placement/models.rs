//! One suite (CRUD, soft delete, audit, loaders; in and out of a transaction) run the same
//! way in every isolation model: no placements, shared tables, shared tables with RLS,
//! a schema per tenant, a database per tenant on three servers.

use std::sync::Arc;

use sqlx::postgres::PgPoolOptions;
use tenant_query::cells::Cells;
use tenant_query::placement::{MemoryPlacements, Placement, SchemaName, TenantPlacement};
use tenant_query::prelude::*;
use tenant_query::testing::{TestDb, TestServer};
use tenant_query::{AuditAction, Error};
use uuid::Uuid;

use crate::common::*;

/// Where a tenant's rows must be found behind the library's back: a pool and a schema.
pub struct RawHome {
    pub pool: sqlx::PgPool,
    pub schema: &'static str,
}

impl RawHome {
    /// The rows of `table` in this home with `org_id = tenant`, and those of the audit log.
    pub async fn counts(&self, table: &str, tenant: Uuid) -> (i64, i64) {
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{}\".\"{table}\" WHERE org_id = $1",
            self.schema
        )))
        .bind(tenant)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        let audit: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{}\".tenant_audit_log WHERE tenant_id = $1",
            self.schema
        )))
        .bind(tenant)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        (rows, audit)
    }
}

/// The suite. `a` and `b` are two tenants of `db`; `homes` says where each one's rows
/// must be (and not be).
pub async fn suite(db: &TenantDb, a: TenantScope, b: TenantScope, homes: [&RawHome; 2]) {
    let (sa, sb) = (db.scope(&a), db.scope(&b));

    // Writes outside and inside a transaction, in both tenants.
    let p1 = Project::insert(&sa, new_project("a-one")).await.unwrap();
    let p2 = Project::insert(&sa, new_project("a-two")).await.unwrap();
    let theirs = Project::insert(&sb, new_project("b-one")).await.unwrap();
    let mut tx = db.begin(&a).await.unwrap();
    let t1 = Task::insert(&mut tx, new_task(p1.id, "a-task"))
        .await
        .unwrap();
    let t2 = Task::insert(&mut tx, new_task(p1.id, "a-task-deleted"))
        .await
        .unwrap();
    Task::delete(&mut tx, t2.id).await.unwrap();
    let renamed = Project::update(&mut tx, p1.id, rename("a-one!"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = db.begin(&b).await.unwrap();
    Task::insert(&mut tx, new_task(theirs.id, "b-task"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((p1.org_id, theirs.org_id), (a.tenant_id(), b.tenant_id()));

    // Reads: own rows only, other tenant's rows not found.
    assert_eq!(Project::get(&sa, p1.id).await.unwrap(), renamed);
    assert!(Project::find(&sa, theirs.id).await.unwrap().is_none());
    assert!(matches!(
        Project::get(&sb, p1.id).await,
        Err(Error::NotFound { .. })
    ));

    // Soft delete: hidden, in the trash, restorable; inside a transaction too.
    Project::delete(&sa, p2.id).await.unwrap();
    assert!(Project::find(&sa, p2.id).await.unwrap().is_none());
    let live: Vec<Uuid> = Project::query()
        .all(&sa)
        .await
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(live, [p1.id]);
    let trash = Project::query().only_deleted().all(&sa).await.unwrap();
    assert_eq!(trash.len(), 1);
    assert_eq!(trash[0].id, p2.id);
    let mut tx = db.begin(&a).await.unwrap();
    assert!(Project::find(&mut tx, p2.id).await.unwrap().is_none());
    Project::restore(&mut tx, p2.id).await.unwrap();
    assert!(Project::find(&mut tx, p2.id).await.unwrap().is_some());
    Project::delete(&mut tx, p2.id).await.unwrap();
    tx.commit().await.unwrap();

    // Audit: one record per write, in the writer's tenant only.
    let actions = |records: Vec<AuditRecord>| records.iter().map(|r| r.action).collect::<Vec<_>>();
    use AuditAction::*;
    let p1_history = AuditRecord::for_entity::<Project>(&sa, p1.id)
        .await
        .unwrap();
    assert!(p1_history.iter().all(|r| r.tenant_id == a.tenant_id()));
    assert_eq!(actions(p1_history), [Insert, Update]);
    assert_eq!(
        actions(
            AuditRecord::for_entity::<Project>(&sa, p2.id)
                .await
                .unwrap()
        ),
        [Insert, Delete, Restore, Delete]
    );
    assert_eq!(
        actions(AuditRecord::for_entity::<Task>(&sa, t2.id).await.unwrap()),
        [Insert, Delete]
    );
    assert!(
        AuditRecord::for_entity::<Project>(&sb, p1.id)
            .await
            .unwrap()
            .is_empty()
    );
    let mut tx = db.begin(&b).await.unwrap();
    assert_eq!(
        actions(
            AuditRecord::for_entity::<Project>(&mut tx, theirs.id)
                .await
                .unwrap()
        ),
        [Insert]
    );
    tx.commit().await.unwrap();

    // Loaders: batched, deleted children hidden, the other tenant's keys empty.
    let by_project = Task::load_by_project_id(&sa, &[p1.id, theirs.id])
        .await
        .unwrap();
    assert_eq!(by_project[&p1.id].len(), 1);
    assert_eq!(by_project[&p1.id][0].id, t1.id);
    assert!(by_project[&theirs.id].is_empty());
    let mut tx = db.begin(&a).await.unwrap();
    let with_deleted = Task::load_by_project_id_with_deleted(&mut tx, &[p1.id])
        .await
        .unwrap();
    assert_eq!(with_deleted[&p1.id].len(), 2);
    tx.commit().await.unwrap();
    let loader = Loader::<Project>::new(&sa);
    let (one, deleted, foreign) = tokio::join!(
        loader.load(p1.id),
        loader.load(p2.id),
        loader.load(theirs.id)
    );
    assert_eq!(one.unwrap().map(|p| p.id), Some(p1.id));
    assert_eq!(deleted.unwrap(), None);
    assert_eq!(foreign.unwrap(), None);

    // Behind the library's back: each tenant's rows and audit records are in its home.
    assert_eq!(homes[0].counts("projects", a.tenant_id()).await, (2, 9));
    assert_eq!(homes[1].counts("projects", b.tenant_id()).await, (1, 2));
}

/// The placed tables of `common::SCHEMA` and the library's tables, in `schema`.
async fn schema_ddl(test_db: &TestDb, db: &TenantDb, schema: &str) {
    let home = TenantPlacement::Schema(SchemaName::new(schema).unwrap());
    db.migrate_home(&home).await.unwrap();
    test_db
        .execute_script(&format!(
            "BEGIN; SET LOCAL search_path = \"{schema}\"; {SCHEMA}; COMMIT"
        ))
        .await
        .unwrap();
}

fn two_tenants() -> (TenantScope, TenantScope) {
    let actor = Uuid::now_v7();
    (
        TenantScope::new(Uuid::now_v7()).with_actor(actor),
        TenantScope::new(Uuid::now_v7()).with_actor(actor),
    )
}

fn public(test_db: &TestDb) -> RawHome {
    RawHome {
        pool: test_db.pool().clone(),
        schema: "public",
    }
}

fn everyone_at(placement: TenantPlacement) -> Arc<MemoryPlacements> {
    Arc::new(MemoryPlacements::new(Placement::new(placement)))
}

/// The shared tables, as without placements.
#[tokio::test]
async fn the_suite_passes_in_shared_tables_without_placements() {
    let f = Fixture::new().await;
    let (a, b) = two_tenants();
    let home = public(&f.test_db);
    suite(f.test_db.db(), a, b, [&home, &home]).await;
}

/// The shared tables, through placements (prologue and fence on every statement).
#[tokio::test]
async fn the_suite_passes_in_placed_shared_tables() {
    let f = Fixture::new().await;
    let db = f
        .test_db
        .db()
        .clone()
        .with_placements(everyone_at(TenantPlacement::Shared), Cells::new());
    db.migrate_home(&TenantPlacement::Shared).await.unwrap();
    let (a, b) = two_tenants();
    let home = public(&f.test_db);
    suite(&db, a, b, [&home, &home]).await;
}

/// The shared tables under RLS, connected as a role the policies bind.
#[tokio::test]
async fn the_suite_passes_in_shared_tables_with_rls() {
    let f = Fixture::new().await;
    let admin = f
        .test_db
        .db()
        .clone()
        .row_level_security("app.tenant_id")
        .unwrap();
    admin.migrate_home(&TenantPlacement::Shared).await.unwrap();
    admin.enable_row_level_security::<Project>().await.unwrap();
    admin.enable_row_level_security::<Task>().await.unwrap();
    admin.enable_audit_log_row_level_security().await.unwrap();
    let app = format!("app_{}", Uuid::now_v7().simple());
    f.test_db
        .execute_script(&format!(
            "CREATE ROLE {app} LOGIN; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON projects, tasks, tenant_audit_log TO {app}; \
             GRANT USAGE ON SCHEMA tenant_query TO {app}; \
             GRANT SELECT ON tenant_query.fences TO {app};"
        ))
        .await
        .unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(f.test_db.connect_options().clone().username(&app))
        .await
        .unwrap();
    let db = TenantDb::new(pool.clone())
        .row_level_security("app.tenant_id")
        .unwrap()
        .with_placements(everyone_at(TenantPlacement::Shared), Cells::new());
    db.verify_isolation()
        .entity::<Project>()
        .entity::<Task>()
        .audit_log()
        .run()
        .await
        .unwrap();
    let (a, b) = two_tenants();
    let home = public(&f.test_db);
    suite(&db, a, b, [&home, &home]).await;
    // The policies bind the role: outside a tenant it sees nothing.
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(seen, 0);
}

/// A schema per tenant, with a canary of tenant `a` left in the shared tables that a
/// read routed there would return.
#[tokio::test]
async fn the_suite_passes_with_a_schema_per_tenant() {
    let f = Fixture::new().await;
    let (a, b) = two_tenants();
    let directory = MemoryPlacements::new(Placement::new(TenantPlacement::Shared))
        .with(
            &a.tenant_id().to_string(),
            Placement::new(TenantPlacement::Schema(
                SchemaName::new("tenant_a").unwrap(),
            )),
        )
        .with(
            &b.tenant_id().to_string(),
            Placement::new(TenantPlacement::Schema(
                SchemaName::new("tenant_b").unwrap(),
            )),
        );
    let db = f
        .test_db
        .db()
        .clone()
        .with_placements(Arc::new(directory), Cells::new());
    schema_ddl(&f.test_db, &db, "tenant_a").await;
    schema_ddl(&f.test_db, &db, "tenant_b").await;
    let canary = Project::insert(&f.test_db.db().scope(&a), new_project("canary"))
        .await
        .unwrap();
    let (home_a, home_b) = (
        RawHome {
            pool: f.pool().clone(),
            schema: "tenant_a",
        },
        RawHome {
            pool: f.pool().clone(),
            schema: "tenant_b",
        },
    );
    suite(&db, a, b, [&home_a, &home_b]).await;
    assert!(
        Project::find(&db.scope(&a), canary.id)
            .await
            .unwrap()
            .is_none()
    );
    // Nothing of either tenant reached the shared tables or the other's schema.
    assert_eq!(
        public(&f.test_db).counts("projects", a.tenant_id()).await,
        (1, 1)
    );
    assert_eq!(
        public(&f.test_db).counts("projects", b.tenant_id()).await,
        (0, 0)
    );
    assert_eq!(home_a.counts("projects", b.tenant_id()).await, (0, 0));
    assert_eq!(home_b.counts("projects", a.tenant_id()).await, (0, 0));
}

/// Bad schema names are refused before any SQL.
#[test]
fn schema_names_are_validated() {
    for bad in [
        "",
        "A",
        "a-b",
        "a\"b",
        "1a",
        "pg_temp",
        "information_schema",
        "tenant_query",
    ] {
        assert!(
            matches!(SchemaName::new(bad), Err(Error::InvalidInput { .. })),
            "{bad:?} accepted"
        );
    }
    assert!(SchemaName::new("a".repeat(64)).is_err());
    assert!(SchemaName::new("a".repeat(63)).is_ok());
}

/// Three servers, one database each: the control database (no tenant) on the first, a
/// tenant in each of the other two, reached through cells.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_with_a_database_per_tenant_on_three_servers() {
    let servers = futures_util::future::try_join_all((0..3).map(|_| TestServer::start()))
        .await
        .unwrap();
    let mut dbs = Vec::new();
    for server in &servers {
        let test_db = server.database().await.unwrap();
        test_db.execute_script(SCHEMA).await.unwrap();
        dbs.push(test_db);
    }
    let ports: std::collections::HashSet<u16> = servers.iter().map(TestServer::port).collect();
    assert_eq!(ports.len(), 3, "three servers");
    let (a, b) = two_tenants();
    let directory = MemoryPlacements::new(Placement::new(TenantPlacement::Shared))
        .with(
            &a.tenant_id().to_string(),
            Placement::new(TenantPlacement::Database("one".into())),
        )
        .with(
            &b.tenant_id().to_string(),
            Placement::new(TenantPlacement::Database("two".into())),
        );
    let cells = Cells::new()
        .cell("one", dbs[1].connect_options().clone())
        .cell("two", dbs[2].connect_options().clone());
    let db = TenantDb::new(dbs[0].pool().clone()).with_placements(Arc::new(directory), cells);
    for cell in ["one", "two"] {
        db.migrate_home(&TenantPlacement::Database(cell.into()))
            .await
            .unwrap();
    }
    let (home_a, home_b) = (public(&dbs[1]), public(&dbs[2]));
    suite(&db, a, b, [&home_a, &home_b]).await;
    assert_eq!(db.cells().unwrap().open_pools(), 2);
    // The control database and the other cell saw nothing of either tenant.
    for tenant in [a.tenant_id(), b.tenant_id()] {
        let control: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE org_id = $1")
            .bind(tenant)
            .fetch_one(dbs[0].pool())
            .await
            .unwrap();
        assert_eq!(control, 0);
    }
    assert_eq!(home_a.counts("projects", b.tenant_id()).await, (0, 0));
    assert_eq!(home_b.counts("projects", a.tenant_id()).await, (0, 0));

    // Work across cells only through the named capability.
    let counts = db
        .cells()
        .unwrap()
        .each("test: count rows per cell", |_, pool| {
            Box::pin(async move {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
                    .fetch_one(&pool)
                    .await?;
                Ok(n)
            })
        })
        .await
        .unwrap();
    assert_eq!(counts, [("one".to_owned(), 2), ("two".to_owned(), 1)]);
    assert!(matches!(
        db.cells()
            .unwrap()
            .each("  ", |_, _| Box::pin(async { Ok(()) }))
            .await,
        Err(Error::Configuration(_))
    ));
}

/// A bigint-keyed entity in bigint tenants, each tenant in a schema of its own: the
/// directory sees the tenant's text, the home's audit log has the tenants' type.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "tickets", audit)]
pub struct Ticket {
    #[tenant(id, default)]
    pub id: i64,
    #[tenant(tenant_id)]
    pub account_id: i64,
    pub subject: String,
    #[tenant(soft_delete)]
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[tokio::test]
async fn bigint_tenants_live_in_schemas_of_their_own() {
    let test_db = TestDb::new().await.unwrap();
    let directory = MemoryPlacements::new(Placement::new(TenantPlacement::Shared))
        .with(
            "7",
            Placement::new(TenantPlacement::Schema(
                SchemaName::new("account_7").unwrap(),
            )),
        )
        .with(
            "8",
            Placement::new(TenantPlacement::Schema(
                SchemaName::new("account_8").unwrap(),
            )),
        );
    let db = test_db
        .db()
        .clone()
        .with_placements(Arc::new(directory), Cells::new());
    for schema in ["account_7", "account_8"] {
        let home = TenantPlacement::Schema(SchemaName::new(schema).unwrap());
        db.migrate_home_for_tenant::<i64>(&home).await.unwrap();
        test_db
            .execute_script(&format!(
                "BEGIN; SET LOCAL search_path = \"{schema}\"; \
                 CREATE TABLE tickets (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
                 account_id bigint NOT NULL, subject text NOT NULL, deleted_at timestamptz); COMMIT"
            ))
            .await
            .unwrap();
    }
    let (a, b) = (
        db.scope(&TenantScope::new(7_i64)),
        db.scope(&TenantScope::new(8_i64)),
    );
    let theirs = Ticket::insert(
        &b,
        NewTicket {
            subject: "theirs".into(),
        },
    )
    .await
    .unwrap();
    let gone = Ticket::insert(
        &b,
        NewTicket {
            subject: "gone".into(),
        },
    )
    .await
    .unwrap();
    Ticket::delete(&b, gone.id).await.unwrap();
    let mine = Ticket::insert(
        &a,
        NewTicket {
            subject: "mine".into(),
        },
    )
    .await
    .unwrap();
    // Both schemas' identities start at 1: the same id in two tenants' homes.
    assert_eq!((mine.id, theirs.id), (1, 1));
    assert_eq!(Ticket::get(&a, 1).await.unwrap().subject, "mine");
    assert_eq!(Ticket::get(&b, 1).await.unwrap().subject, "theirs");
    assert!(Ticket::find(&a, gone.id).await.unwrap().is_none());
    let mut tx = db.begin(&TenantScope::new(7_i64)).await.unwrap();
    Ticket::update(
        &mut tx,
        1,
        TicketPatch {
            subject: Some("renamed".into()),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(Ticket::get(&b, 1).await.unwrap().subject, "theirs");
    let history = AuditRecord::for_entity::<Ticket>(&a, 1).await.unwrap();
    let actions: Vec<AuditAction> = history.iter().map(|r| r.action).collect();
    assert_eq!(actions, [AuditAction::Insert, AuditAction::Update]);
    assert!(history.iter().all(|r| r.tenant_id == 7 && r.entity_id == 1));
    // Behind the library's back: each schema holds its own tenant's rows and records only.
    for (schema, tenant, rows) in [("account_7", 7_i64, 1_i64), ("account_8", 8, 2)] {
        let counts: (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT (SELECT count(*) FROM \"{schema}\".tickets WHERE account_id = {tenant}), \
                    (SELECT count(*) FROM \"{schema}\".tickets)"
        )))
        .fetch_one(test_db.pool())
        .await
        .unwrap();
        assert_eq!(counts, (rows, rows), "{schema}");
        let foreign: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{schema}\".tenant_audit_log WHERE tenant_id <> {tenant}"
        )))
        .fetch_one(test_db.pool())
        .await
        .unwrap();
        assert_eq!(foreign, 0, "{schema}");
    }
}
