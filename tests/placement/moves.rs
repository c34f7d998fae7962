//! Moving tenants between homes (shared tables, schemas, cells on other servers) while 32
//! tasks write to them: every acknowledged write ends in the new home exactly once, with
//! its audit record, and nothing is left or written in an old home.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tenant_query::Error;
use tenant_query::cells::Cells;
use tenant_query::placement::{
    PlacementDirectory, PlacementState, SchemaName, TablePlacements, TenantPlacement,
};
use tenant_query::prelude::*;
use tenant_query::testing::{TestDb, TestServer};
use uuid::Uuid;

use crate::common::*;

fn schema(name: &str) -> TenantPlacement {
    TenantPlacement::Schema(SchemaName::new(name).unwrap())
}

/// What a writer saw acknowledged: project ids, and the task ids written with them.
#[derive(Default)]
struct Acked {
    projects: Vec<(Uuid, Uuid)>,
    tasks: Vec<(Uuid, Uuid)>,
    refusals: usize,
}

/// Writes until `stop`, in `tenant`: a project outside a transaction, or a project and a
/// task in one; a refusal (read-only, stale) is retried after a pause.
async fn writer(db: TenantDb, tenant: TenantScope, worker: usize, stop: Arc<AtomicBool>) -> Acked {
    let mut acked = Acked::default();
    let s = db.scope(&tenant);
    let (mut i, mut after_stop, mut refused_after_stop) = (0, 0, 0);
    // Until the moves are over, then until three more writes went through: a writer that
    // cannot reach its tenant's final home fails the test.
    while after_stop < 3 {
        i += 1;
        let stopped = stop.load(Ordering::Relaxed);
        let name = format!("w{worker}-{i}");
        let result = if i % 2 == 0 {
            Project::insert(&s, new_project(&name))
                .await
                .map(|p| (p.id, None))
        } else {
            async {
                let mut tx = db.begin(&tenant).await?;
                let p = Project::insert(&mut tx, new_project(&name)).await?;
                let t = Task::insert(&mut tx, new_task(p.id, &name)).await?;
                tx.commit().await?;
                Ok((p.id, Some(t.id)))
            }
            .await
        };
        match result {
            Ok((project, task)) => {
                after_stop += usize::from(stopped);
                acked.projects.push((tenant.tenant_id(), project));
                acked.tasks.extend(task.map(|t| (tenant.tenant_id(), t)));
            }
            Err(Error::TenantReadOnly | Error::StalePlacement) => {
                acked.refusals += 1;
                refused_after_stop += usize::from(stopped);
                assert!(
                    refused_after_stop < 200,
                    "writer {worker} refused after the moves"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(other) => panic!("writer {worker}: {other:?}"),
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_move_under_load_without_losing_or_doubling_a_write() {
    // The main database (shared tables and schemas) on one server, a cell on each of two more.
    let servers = futures_util::future::try_join_all((0..2).map(|_| TestServer::start()))
        .await
        .unwrap();
    let main = TestDb::new().await.unwrap();
    let (one, two) = (
        servers[0].database().await.unwrap(),
        servers[1].database().await.unwrap(),
    );
    let tenants: Vec<TenantScope> = (0..4)
        .map(|_| TenantScope::new(Uuid::now_v7()).with_actor(Uuid::now_v7()))
        .collect();
    main.execute_script(SCHEMA).await.unwrap();
    for (i, _) in tenants.iter().enumerate() {
        main.execute_script(&format!(
            "CREATE SCHEMA t{i}; BEGIN; SET LOCAL search_path = t{i}; {SCHEMA}; COMMIT"
        ))
        .await
        .unwrap();
    }
    for cell in [&one, &two] {
        cell.execute_script(SCHEMA).await.unwrap();
    }
    let cells = || {
        Cells::new()
            .cell("one", one.connect_options().clone())
            .cell("two", two.connect_options().clone())
    };
    // The writers' directory caches for longer than the test: only the homes' fences (and
    // the invalidation they cause) tell them a tenant moved.
    let writers_directory = Arc::new(TablePlacements::new(
        main.pool().clone(),
        Duration::from_secs(600),
    ));
    writers_directory.migrate().await.unwrap();
    let movers_directory = Arc::new(TablePlacements::new(main.pool().clone(), Duration::ZERO));
    let db = main
        .db()
        .clone()
        .with_placements(writers_directory.clone(), cells());
    let mover = main
        .db()
        .clone()
        .with_placements(movers_directory.clone(), cells());
    for (i, _) in tenants.iter().enumerate() {
        mover.migrate_home(&schema(&format!("t{i}"))).await.unwrap();
    }
    for home in [
        TenantPlacement::Shared,
        TenantPlacement::Database("one".into()),
        TenantPlacement::Database("two".into()),
    ] {
        mover.migrate_home(&home).await.unwrap();
    }
    // Some rows before the writers start, with their audit records, and a soft-deleted one.
    let mut before = Vec::new();
    for tenant in &tenants {
        let p = Project::insert(&db.scope(tenant), new_project("before"))
            .await
            .unwrap();
        let gone = Project::insert(&db.scope(tenant), new_project("deleted"))
            .await
            .unwrap();
        Project::delete(&db.scope(tenant), gone.id).await.unwrap();
        before.push((tenant.tenant_id(), p.id));
        before.push((tenant.tenant_id(), gone.id));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..32)
        .map(|worker| {
            let (db, tenant, stop) = (db.clone(), tenants[worker % tenants.len()], stop.clone());
            tokio::spawn(writer(db, tenant, worker, stop))
        })
        .collect();

    // Every tenant through several homes; the last one back to the shared tables.
    let routes: Vec<Vec<TenantPlacement>> = (0..tenants.len())
        .map(|i| {
            let mut route = vec![
                schema(&format!("t{i}")),
                TenantPlacement::Database("one".into()),
                TenantPlacement::Database("two".into()),
            ];
            if i == 3 {
                route.push(TenantPlacement::Shared);
            }
            route
        })
        .collect();
    let mut moves = 0;
    for step in 0..4 {
        for (tenant, route) in tenants.iter().zip(&routes) {
            let Some(to) = route.get(step) else { continue };
            tokio::time::sleep(Duration::from_millis(30)).await;
            let placed = mover
                .move_tenant("test: rebalance", tenant, to.clone())
                .unwrap()
                .entity::<Project>()
                .entity::<Task>()
                .run()
                .await
                .unwrap();
            assert_eq!((&placed.home, placed.epoch), (to, step as i64 + 1));
            moves += 1;
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = Acked::default();
    for w in writers {
        let a = w.await.unwrap();
        acked.projects.extend(a.projects);
        acked.tasks.extend(a.tasks);
        acked.refusals += a.refusals;
    }
    assert_eq!(moves, 13);
    println!(
        "{moves} moves, {} projects and {} tasks acknowledged, {} refusals retried",
        acked.projects.len(),
        acked.tasks.len(),
        acked.refusals
    );
    assert!(acked.refusals > 0, "writes met moves");
    acked.projects.extend(before);

    // Behind the library's back, in every home.
    let homes: Vec<(&str, sqlx::PgPool, String)> = {
        let mut homes = vec![
            ("shared", main.pool().clone(), "public".to_owned()),
            ("one", one.pool().clone(), "public".to_owned()),
            ("two", two.pool().clone(), "public".to_owned()),
        ];
        for i in 0..tenants.len() {
            homes.push(("schema", main.pool().clone(), format!("t{i}")));
        }
        homes
    };
    for (i, tenant) in tenants.iter().enumerate() {
        let final_home = routes[i].last().unwrap();
        // The writers' cache may still hold an old placement; read the table afresh.
        writers_directory.invalidate(&tenant.tenant_id().to_string());
        let current = writers_directory
            .resolve(&tenant.tenant_id().to_string())
            .await
            .unwrap();
        assert_eq!(
            (&current.home, current.state),
            (final_home, PlacementState::Active)
        );
        let expected_home = match final_home {
            TenantPlacement::Shared => ("shared", "public".to_owned()),
            TenantPlacement::Database(cell) => (cell.as_str(), "public".to_owned()),
            TenantPlacement::Schema(name) => ("schema", name.as_str().to_owned()),
        };
        let want = |list: &[(Uuid, Uuid)]| -> HashMap<Uuid, i64> {
            list.iter()
                .filter(|(t, _)| *t == tenant.tenant_id())
                .map(|(_, id)| (*id, 1))
                .collect()
        };
        for (name, pool, schema) in &homes {
            let projects =
                id_counts(pool, schema, "projects", "org_id", tenant.tenant_id(), None).await;
            let tasks = id_counts(pool, schema, "tasks", "org_id", tenant.tenant_id(), None).await;
            let audit = id_counts(
                pool,
                schema,
                "tenant_audit_log",
                "tenant_id",
                tenant.tenant_id(),
                Some("projects"),
            )
            .await;
            let audited_tasks = id_counts(
                pool,
                schema,
                "tenant_audit_log",
                "tenant_id",
                tenant.tenant_id(),
                Some("tasks"),
            )
            .await;
            if (*name, schema.clone()) == (expected_home.0, expected_home.1.clone()) {
                exactly_once(&projects, &want(&acked.projects), i, "projects");
                exactly_once(&tasks, &want(&acked.tasks), i, "tasks");
                exactly_once(&audit, &want(&acked.projects), i, "project insert records");
                exactly_once(
                    &audited_tasks,
                    &want(&acked.tasks),
                    i,
                    "task insert records",
                );
            } else {
                assert!(
                    projects.is_empty() && tasks.is_empty() && audit.is_empty(),
                    "tenant {i} left rows in {name}.{schema}"
                );
            }
        }
        // Through the library, after the moves: the live rows, the deleted one hidden.
        let s = db.scope(tenant);
        let live = Project::query().all(&s).await.unwrap().len();
        assert_eq!(live, want(&acked.projects).len() - 1);
        let trash = Project::query().only_deleted().all(&s).await.unwrap();
        assert_eq!(trash.len(), 1);
        let history = AuditRecord::for_entity::<Project>(&s, trash[0].id)
            .await
            .unwrap();
        assert_eq!(
            history.len(),
            2,
            "the deleted row's insert and delete moved with it"
        );
    }
}

/// `found` holds each id of `wanted` once and nothing else; the message names how many
/// were lost, doubled or unexpected.
fn exactly_once(
    found: &HashMap<Uuid, i64>,
    wanted: &HashMap<Uuid, i64>,
    tenant: usize,
    what: &str,
) {
    let lost = wanted.keys().filter(|id| !found.contains_key(id)).count();
    let doubled = found.values().filter(|n| **n > 1).count();
    let unexpected = found.keys().filter(|id| !wanted.contains_key(id)).count();
    assert_eq!(
        (lost, doubled, unexpected),
        (0, 0, 0),
        "tenant {tenant}, {what}: (lost, doubled, unexpected) of {} acknowledged",
        wanted.len()
    );
}

/// Per id, how many rows of `table` (in `schema` of `pool`) of `tenant` there are; for the
/// audit log, the insert records of `entity`.
async fn id_counts(
    pool: &sqlx::PgPool,
    schema: &str,
    table: &str,
    tenant_column: &str,
    tenant: Uuid,
    entity: Option<&str>,
) -> HashMap<Uuid, i64> {
    let (id, filter) = match entity {
        Some(entity) => (
            "entity_id::uuid",
            format!(" AND entity = '{entity}' AND action = 'insert'"),
        ),
        None => ("id", String::new()),
    };
    let sql = format!(
        "SELECT {id}, count(*) FROM \"{schema}\".{table} WHERE {tenant_column} = $1{filter} GROUP BY 1"
    );
    sqlx::query_as::<_, (Uuid, i64)>(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// The fence holds against a caller whose directory is stale: after a move, a write routed
/// to the old home with the old epoch is refused there, and nothing is written.
#[tokio::test]
async fn a_stale_write_is_refused_by_the_old_home() {
    use tenant_query::placement::{MemoryPlacements, Placement};
    let f = Fixture::new().await;
    let a = *f.a.tenant_scope();
    f.test_db
        .execute_script(&format!(
            "CREATE SCHEMA big; BEGIN; SET LOCAL search_path = big; {SCHEMA}; COMMIT"
        ))
        .await
        .unwrap();
    // A directory that never learns of the move, and one that records it.
    let stale = Arc::new(MemoryPlacements::new(Placement::new(
        TenantPlacement::Shared,
    )));
    let fresh = Arc::new(MemoryPlacements::new(Placement::new(
        TenantPlacement::Shared,
    )));
    let stale_db = f.test_db.db().clone().with_placements(stale, Cells::new());
    let mover = f
        .test_db
        .db()
        .clone()
        .with_placements(fresh.clone(), Cells::new());
    mover.migrate_home(&TenantPlacement::Shared).await.unwrap();
    mover.migrate_home(&schema("big")).await.unwrap();
    let p = Project::insert(&stale_db.scope(&a), new_project("before"))
        .await
        .unwrap();
    Project::insert(&f.b, new_project("b's")).await.unwrap();
    assert!(matches!(
        mover.move_tenant("", &a, schema("big")),
        Err(Error::Configuration(_))
    ));
    mover
        .move_tenant("test", &a, schema("big"))
        .unwrap()
        .entity::<Project>()
        .run()
        .await
        .unwrap();
    let s = stale_db.scope(&a);
    assert!(matches!(
        Project::insert(&s, new_project("lost?")).await,
        Err(Error::StalePlacement)
    ));
    assert!(matches!(
        Project::find(&s, p.id).await,
        Err(Error::StalePlacement)
    ));
    assert!(matches!(
        stale_db.begin(&a).await,
        Err(Error::StalePlacement)
    ));
    // Nothing of `a` is left in the shared tables; `b` is untouched there.
    let shared: i64 = sqlx::query_scalar("SELECT count(*) FROM public.projects WHERE org_id = $1")
        .bind(a.tenant_id())
        .fetch_one(f.pool())
        .await
        .unwrap();
    assert_eq!(shared, 0);
    assert_eq!(f.raw_count("public.projects").await, 1);
    // Through the fresh directory the row is in its new home.
    let moved = mover.scope(&a);
    assert_eq!(Project::get(&moved, p.id).await.unwrap().name, "before");
    assert_eq!(
        AuditRecord::for_entity::<Project>(&moved, p.id)
            .await
            .unwrap()
            .len(),
        1
    );
    // Moving to where it is already is refused.
    assert!(matches!(
        mover
            .move_tenant("test", &a, schema("big"))
            .unwrap()
            .run()
            .await,
        Err(Error::Configuration(_))
    ));
}

/// Under RLS mode, as a role the policies bind: a tenant moves out of the shared tables
/// into a schema with its rows (a soft-deleted one included) and audit log; the other
/// tenant's rows stay.
#[tokio::test]
async fn a_tenant_moves_out_of_shared_tables_under_rls() {
    use sqlx::postgres::PgPoolOptions;
    use tenant_query::placement::{MemoryPlacements, Placement};
    let f = Fixture::new().await;
    let (a, b) = (*f.a.tenant_scope(), *f.b.tenant_scope());
    let admin = f
        .test_db
        .db()
        .clone()
        .row_level_security("app.tenant_id")
        .unwrap()
        .with_placements(
            Arc::new(MemoryPlacements::new(Placement::new(
                TenantPlacement::Shared,
            ))),
            Cells::new(),
        );
    admin.migrate_home(&TenantPlacement::Shared).await.unwrap();
    admin.migrate_home(&schema("big")).await.unwrap();
    admin.enable_row_level_security::<Project>().await.unwrap();
    admin.enable_row_level_security::<Task>().await.unwrap();
    admin.enable_audit_log_row_level_security().await.unwrap();
    let app = format!("app_{}", Uuid::now_v7().simple());
    f.test_db
        .execute_script(&format!(
            "BEGIN; SET LOCAL search_path = big; {SCHEMA}; COMMIT; \
             CREATE ROLE {app} LOGIN; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON projects, tasks, tenant_audit_log TO {app}; \
             GRANT USAGE ON SCHEMA big, tenant_query TO {app}; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA big TO {app}; \
             GRANT SELECT, INSERT, UPDATE ON tenant_query.fences TO {app};"
        ))
        .await
        .unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(f.test_db.connect_options().clone().username(&app))
        .await
        .unwrap();
    let db = TenantDb::new(pool)
        .row_level_security("app.tenant_id")
        .unwrap()
        .with_placements(
            Arc::new(MemoryPlacements::new(Placement::new(
                TenantPlacement::Shared,
            ))),
            Cells::new(),
        );
    let (sa, sb) = (db.scope(&a), db.scope(&b));
    let p = Project::insert(&sa, new_project("kept")).await.unwrap();
    let gone = Project::insert(&sa, new_project("deleted")).await.unwrap();
    Project::delete(&sa, gone.id).await.unwrap();
    let mut tx = db.begin(&a).await.unwrap();
    let t = Task::insert(&mut tx, new_task(p.id, "task")).await.unwrap();
    tx.commit().await.unwrap();
    let theirs = Project::insert(&sb, new_project("theirs")).await.unwrap();

    db.move_tenant("test: out of the pool", &a, schema("big"))
        .unwrap()
        .entity::<Project>()
        .entity::<Task>()
        .run()
        .await
        .unwrap();

    assert_eq!(Project::get(&sa, p.id).await.unwrap().name, "kept");
    assert!(Project::find(&sa, gone.id).await.unwrap().is_none());
    assert_eq!(
        Project::query()
            .only_deleted()
            .all(&sa)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        Task::load_by_project_id(&sa, &[p.id]).await.unwrap()[&p.id][0].id,
        t.id
    );
    let history = AuditRecord::for_entity::<Project>(&sa, gone.id)
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    // The other tenant, still in the shared tables, is untouched and unaffected.
    assert_eq!(Project::get(&sb, theirs.id).await.unwrap().name, "theirs");
    Project::insert(&sb, new_project("after")).await.unwrap();
    // Behind the library's back (as the superuser): nothing of `a` left in the shared
    // tables, everything of it in the schema.
    let count = |sql: &'static str| {
        let pool = f.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(a.tenant_id())
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        count("SELECT count(*) FROM public.projects WHERE org_id = $1").await,
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM public.tenant_audit_log WHERE tenant_id = $1").await,
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM big.projects WHERE org_id = $1").await,
        2
    );
    assert_eq!(
        count("SELECT count(*) FROM big.tasks WHERE org_id = $1").await,
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM big.tenant_audit_log WHERE tenant_id = $1").await,
        4
    );
}
