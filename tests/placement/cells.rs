//! Cells: lazily opened pools, at most `max_pools` open, a typed error when a cell's
//! connection budget is exhausted; the table-backed directory.

use std::sync::Arc;
use std::time::Duration;

use tenant_query::Error;
use tenant_query::cells::Cells;
use tenant_query::placement::{
    MemoryPlacements, Placement, PlacementDirectory, PlacementState, SchemaName, TablePlacements,
    TenantPlacement,
};
use tenant_query::prelude::*;
use tenant_query::testing::TestDb;
use uuid::Uuid;

use crate::common::*;

/// Two cells (two databases of the test server), tenant `a` in one, `b` in the other.
async fn two_cells(cells: Cells) -> (TestDb, [TestDb; 2], TenantDb, TenantScope, TenantScope) {
    let control = TestDb::new().await.unwrap();
    let one = TestDb::new().await.unwrap();
    let two = TestDb::new().await.unwrap();
    for cell in [&one, &two] {
        cell.execute_script(SCHEMA).await.unwrap();
    }
    let (a, b) = (
        TenantScope::new(Uuid::now_v7()),
        TenantScope::new(Uuid::now_v7()),
    );
    let directory = MemoryPlacements::new(Placement::new(TenantPlacement::Shared))
        .with(
            &a.tenant_id().to_string(),
            Placement::new(TenantPlacement::Database("one".into())),
        )
        .with(
            &b.tenant_id().to_string(),
            Placement::new(TenantPlacement::Database("two".into())),
        );
    let cells = cells
        .cell("one", one.connect_options().clone())
        .cell("two", two.connect_options().clone());
    let db = TenantDb::new(control.pool().clone()).with_placements(Arc::new(directory), cells);
    for cell in ["one", "two"] {
        db.migrate_home(&TenantPlacement::Database(cell.into()))
            .await
            .unwrap();
    }
    (control, [one, two], db, a, b)
}

#[tokio::test]
async fn pools_open_lazily_and_at_most_max_pools_stay_open() {
    let (control, cells, db, a, b) = two_cells(Cells::new().max_pools(1)).await;
    // Only the cells' pools connect to the cells' databases from here on.
    for cell in &cells {
        cell.pool().close().await;
    }
    let (sa, sb) = (db.scope(&a), db.scope(&b));
    let pa = Project::insert(&sa, new_project("a")).await.unwrap();
    assert_eq!(db.cells().unwrap().open_pools(), 1);
    let pb = Project::insert(&sb, new_project("b")).await.unwrap();
    assert_eq!(
        db.cells().unwrap().open_pools(),
        1,
        "the older pool was let go"
    );
    // Its connections close: none of cell one's remains on the server.
    let one = cells[0]
        .connect_options()
        .get_database()
        .unwrap()
        .to_owned();
    let mut remaining = -1;
    for _ in 0..200 {
        remaining = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind(&one)
        .fetch_one(control.pool())
        .await
        .unwrap();
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(remaining, 0, "the let-go pool's connections closed");
    // Both still reachable: a pool let go is opened again on use.
    assert!(Project::find(&sa, pa.id).await.unwrap().is_some());
    assert!(Project::find(&sb, pb.id).await.unwrap().is_some());
    assert!(Project::find(&sa, pb.id).await.unwrap().is_none());
    assert_eq!(db.cells().unwrap().open_pools(), 1);
}

#[tokio::test]
async fn an_exhausted_cell_budget_is_a_typed_error_not_a_hang() {
    let cells = Cells::new()
        .connections_per_cell(1)
        .acquire_timeout(Duration::from_millis(200));
    let (_control, _cells, db, a, b) = two_cells(cells).await;
    let mut tx = db.begin(&a).await.unwrap();
    Project::insert(&mut tx, new_project("holds the only connection"))
        .await
        .unwrap();
    match Project::query().all(&db.scope(&a)).await {
        Err(Error::CellBusy { cell }) => assert_eq!(cell, "one"),
        other => panic!("expected CellBusy, got {other:?}"),
    }
    assert!(matches!(db.begin(&a).await, Err(Error::CellBusy { .. })));
    // The other cell has its own budget.
    Project::insert(&db.scope(&b), new_project("b"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(Project::query().all(&db.scope(&a)).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_unknown_cell_is_a_configuration_error() {
    let (_control, _cells, _db, _, _) = two_cells(Cells::new()).await;
    let control = TestDb::new().await.unwrap();
    let lost = TenantScope::new(Uuid::now_v7());
    let directory =
        MemoryPlacements::new(Placement::new(TenantPlacement::Database("nowhere".into())));
    let db =
        TenantDb::new(control.pool().clone()).with_placements(Arc::new(directory), Cells::new());
    assert!(matches!(
        Project::find(&db.scope(&lost), Uuid::now_v7()).await,
        Err(Error::Configuration(_))
    ));
}

/// The table-backed directory: rows decode to placements, the default for others, the
/// cache holds for its TTL and is dropped by `record` and `invalidate`.
#[tokio::test]
async fn the_table_directory_resolves_records_and_caches() {
    let control = TestDb::new().await.unwrap();
    let directory = TablePlacements::new(control.pool().clone(), Duration::from_secs(3600));
    directory.migrate().await.unwrap();
    let tenant = Uuid::now_v7().to_string();
    assert_eq!(
        directory.resolve(&tenant).await.unwrap(),
        Placement::new(TenantPlacement::Shared)
    );
    let placed = Placement {
        home: TenantPlacement::Schema(SchemaName::new("tenant_x").unwrap()),
        epoch: 3,
        state: PlacementState::ReadOnly,
    };
    directory.record(&tenant, placed.clone()).await.unwrap();
    assert_eq!(directory.resolve(&tenant).await.unwrap(), placed);
    // Changed behind its back: the cache answers until invalidated.
    control
        .execute_script(&format!(
            "UPDATE tenant_placements SET kind = 'database', target = 'eu', state = 'active' WHERE tenant_id = '{tenant}'"
        ))
        .await
        .unwrap();
    assert_eq!(directory.resolve(&tenant).await.unwrap(), placed);
    directory.invalidate(&tenant);
    let fresh = directory.resolve(&tenant).await.unwrap();
    assert_eq!(fresh.home, TenantPlacement::Database("eu".into()));
    assert_eq!((fresh.epoch, fresh.state), (3, PlacementState::Active));
    // A bad schema name in the table is a typed error, not a query with it.
    control
        .execute_script(&format!(
            "UPDATE tenant_placements SET kind = 'schema', target = 'x\"; DROP' WHERE tenant_id = '{tenant}'"
        ))
        .await
        .unwrap();
    directory.invalidate(&tenant);
    assert!(matches!(
        directory.resolve(&tenant).await,
        Err(Error::InvalidInput { .. })
    ));
}

/// A read-only tenant: writes refused by the directory (outside and inside a transaction),
/// reads still served.
#[tokio::test]
async fn a_read_only_tenant_refuses_writes_and_serves_reads() {
    let f = Fixture::new().await;
    let a = *f.a.tenant_scope();
    let p = Project::insert(&f.a, new_project("before")).await.unwrap();
    let directory = MemoryPlacements::new(Placement::new(TenantPlacement::Shared)).with(
        &a.tenant_id().to_string(),
        Placement {
            state: PlacementState::ReadOnly,
            ..Placement::new(TenantPlacement::Shared)
        },
    );
    let db = f
        .test_db
        .db()
        .clone()
        .with_placements(Arc::new(directory), Cells::new());
    db.migrate_home(&TenantPlacement::Shared).await.unwrap();
    let s = db.scope(&a);
    assert!(matches!(
        Project::insert(&s, new_project("refused")).await,
        Err(Error::TenantReadOnly)
    ));
    assert!(matches!(
        Project::delete(&s, p.id).await,
        Err(Error::TenantReadOnly)
    ));
    assert!(matches!(db.begin(&a).await, Err(Error::TenantReadOnly)));
    assert_eq!(Project::get(&s, p.id).await.unwrap().id, p.id);
    assert_eq!(f.raw_count("projects").await, 1);
    assert_eq!(f.raw_count("tenant_audit_log").await, 1);
    // Another tenant writes as usual.
    Project::insert(&db.scope(f.b.tenant_scope()), new_project("b"))
        .await
        .unwrap();
}
