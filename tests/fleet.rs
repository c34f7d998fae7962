//! Fleet migrations on a real PostgreSQL: hundreds of tenant schemas migrated in
//! parallel, failures recorded and resumed, two runners at once, drift, canaries, a
//! runner killed mid-run, tenants on three servers.

#[path = "fleet/events.rs"]
mod events;
#[path = "fleet/support.rs"]
mod support;

use std::collections::HashSet;

use support::*;
use tenant_query::fleet::{
    Cell, Fleet, FleetError, Migrations, RunOptions, RunStatus, SchemaName, TenantHome,
};
use tenant_query::testing::{TestDb, TestServer};
use uuid::Uuid;

const TENANTS: usize = 500;

fn bad(i: usize) -> bool {
    i % 37 == 5
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_schemas_fail_some_resume_all_nothing_twice() {
    let f = Fixture::new(TENANTS).await;
    f.test_db
        .execute_script("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .unwrap();
    f.dir.write("0001_items.sql", M1);
    let options = RunOptions::new().parallel(8);

    // New tenants: the migrator creates each schema and its ledger.
    let first = f.fleet().await.migrate(&f.homes, &options).await.unwrap();
    assert_eq!((first.migrated.len(), first.applied), (TENANTS, TENANTS));
    assert!(first.is_complete(), "{:?}", first.failed.first());

    // Data that violates the next migration, in some tenants.
    f.each(0..TENANTS, |s| {
        format!("INSERT INTO \"{s}\".items VALUES (1, 5);\n")
    })
    .await;
    let bad_ones: Vec<usize> = (0..TENANTS).filter(|&i| bad(i)).collect();
    f.each(bad_ones.iter().copied(), |s| {
        format!("INSERT INTO \"{s}\".items VALUES (2, -1);\n")
    })
    .await;
    f.dir
        .write("0002_positive.sql", M2)
        .write("0003_notes.sql", M3);
    let fleet = f.fleet().await;

    let plan = fleet.plan(&f.homes).await.unwrap();
    assert_eq!(plan.len(), TENANTS);
    assert!(plan.iter().all(|h| h.pending == [2, 3] && h.applied == [1]));

    let run = fleet.migrate(&f.homes, &options).await.unwrap();
    assert_eq!(run.failed.len(), bad_ones.len());
    assert_eq!(run.migrated.len(), TENANTS - bad_ones.len());
    assert_eq!(run.applied, 2 * (TENANTS - bad_ones.len()));
    let failed: HashSet<String> = run.failed.iter().map(|h| h.home.to_string()).collect();
    for i in &bad_ones {
        assert!(failed.contains(&format!("cell-a/{}", schema(*i))));
    }
    for failure in &run.failed {
        assert_eq!(failure.version, 2);
        assert!(failure.error.contains("qty_positive"), "{}", failure.error);
    }

    // The run table and `status` say the same.
    let rows: Vec<(String, String, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT schema_name, status, version, error FROM tenant_fleet_runs WHERE run_id = $1",
    )
    .bind(run.run)
    .fetch_all(f.control())
    .await
    .unwrap();
    assert_eq!(rows.len(), TENANTS);
    for (schema_name, status, version, error) in &rows {
        let i: usize = schema_name["tenant_".len()..].parse().unwrap();
        if bad(i) {
            assert_eq!((status.as_str(), *version), ("failed", Some(2)));
            assert!(error.as_deref().unwrap().contains("qty_positive"));
        } else {
            assert_eq!(
                (status.as_str(), *version, error),
                ("migrated", Some(3), &None)
            );
        }
    }
    let status = fleet.status(&f.homes).await.unwrap();
    let failed_status: Vec<_> = status.iter().filter(|h| h.is_failed()).collect();
    assert_eq!(failed_status.len(), bad_ones.len());
    assert!(
        failed_status
            .iter()
            .all(|h| h.pending == [2, 3] && h.applied == [1])
    );
    assert!(
        failed_status[0]
            .failure
            .as_ref()
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("qty_positive")
    );

    // Fix the data, resume: only the failed tenants are touched.
    f.each(bad_ones.iter().copied(), |s| {
        format!("UPDATE \"{s}\".items SET qty = 1 WHERE qty < 1;\n")
    })
    .await;
    let resumed = fleet
        .resume(Some(run.run), &f.homes, &options)
        .await
        .unwrap();
    assert_eq!(resumed.run, run.run);
    assert_eq!(resumed.migrated.len(), bad_ones.len());
    assert_eq!(resumed.applied, 2 * bad_ones.len());
    assert!(resumed.is_complete());
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT status FROM tenant_fleet_runs WHERE run_id = $1")
            .bind(run.run)
            .fetch_all(f.control())
            .await
            .unwrap();
    assert_eq!(statuses, ["migrated"]);

    // Every tenant at version 3, each version applied exactly once.
    for (i, (ledger, log)) in f.ledgers_and_logs().await.into_iter().enumerate() {
        assert_eq!(
            (ledger, log),
            (vec![1, 2, 3], vec![1, 2, 3]),
            "{}",
            schema(i)
        );
    }
    let status = fleet.status(&f.homes).await.unwrap();
    assert!(status.iter().all(|h| h.is_current() && !h.is_failed()));

    // Nothing pending: one catalog query for all 500 schemas, no ledger opened; `status`
    // reads the ledgers too, in one statement.
    let (catalog, ledgers) = (f.ledger_reads(true).await, f.ledger_reads(false).await);
    assert!(fleet.plan(&f.homes).await.unwrap().is_empty());
    assert_eq!(f.ledger_reads(true).await - catalog, 1);
    assert_eq!(f.ledger_reads(false).await - ledgers, 0);
    assert!(
        fleet
            .status(&f.homes)
            .await
            .unwrap()
            .iter()
            .all(|h| h.is_current())
    );
    assert_eq!(f.ledger_reads(true).await - catalog, 2);
    assert_eq!(f.ledger_reads(false).await - ledgers, 1);
    let noop = fleet.migrate(&f.homes, &options).await.unwrap();
    assert_eq!(
        (noop.unchanged, noop.migrated.len(), noop.applied),
        (TENANTS, 0, 0)
    );
}

#[tokio::test]
async fn two_runners_at_once_migrate_each_tenant_exactly_once() {
    let f = Fixture::new(150).await;
    f.dir
        .write("0001_items.sql", M1)
        .write("0002_positive.sql", M2)
        .write("0003_notes.sql", M3);
    let (a, b) = (f.fleet().await, f.fleet().await);
    let other_homes = f.homes_on_another_pool("fleet-test-b").await;
    let options = RunOptions::new().parallel(6);
    let (ra, rb) = tokio::join!(
        a.migrate(&f.homes, &options),
        b.migrate(&other_homes, &options)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(
        ra.failed.is_empty() && rb.failed.is_empty(),
        "{:?} {:?}",
        ra.failed.first(),
        rb.failed.first()
    );
    assert_eq!(ra.applied + rb.applied, 3 * 150);
    for (i, (ledger, log)) in f.ledgers_and_logs().await.into_iter().enumerate() {
        assert_eq!(
            (ledger, log),
            (vec![1, 2, 3], vec![1, 2, 3]),
            "{}",
            schema(i)
        );
    }
    // A runner that found a tenant held leaves it `locked`; resuming its run finds it
    // current and marks it migrated.
    for report in [&ra, &rb] {
        let again = a
            .resume(Some(report.run), &f.homes, &options)
            .await
            .unwrap();
        assert_eq!(again.applied, 0);
        assert_eq!(again.unchanged, report.locked.len());
    }
}

#[tokio::test]
async fn a_changed_file_is_reported_as_drift_and_not_migrated_over() {
    let f = Fixture::new(12).await;
    f.dir
        .write("0001_items.sql", M1)
        .write("0002_positive.sql", M2);
    f.fleet()
        .await
        .migrate(&f.homes, &RunOptions::new())
        .await
        .unwrap();

    f.dir
        .write(
            "0001_items.sql",
            &format!("{M1}-- edited after it was applied\n"),
        )
        .write("0003_notes.sql", M3);
    let fleet = f.fleet().await;
    let status = fleet.status(&f.homes).await.unwrap();
    assert_eq!(status.len(), 12);
    for home in &status {
        assert_eq!(
            (home.drift.as_slice(), home.pending.as_slice()),
            (&[1][..], &[3][..])
        );
        assert!(!home.is_current());
    }
    let run = fleet.migrate(&f.homes, &RunOptions::new()).await.unwrap();
    assert_eq!((run.failed.len(), run.applied), (12, 0));
    assert!(
        run.failed
            .iter()
            .all(|h| h.version == 1 && h.error.contains("drift"))
    );
    // A file that disappeared is reported as unknown.
    std::fs::remove_file(f.dir.path().join("0002_positive.sql")).unwrap();
    let status = f.fleet().await.status(&f.homes).await.unwrap();
    assert!(status.iter().all(|h| h.unknown == [2]));
}

#[tokio::test]
async fn a_failing_canary_stops_the_run_and_resume_finishes_it() {
    let f = Fixture::new(30).await;
    f.dir.write("0001_items.sql", M1);
    f.fleet()
        .await
        .migrate(&f.homes, &RunOptions::new())
        .await
        .unwrap();
    f.each([5], |s| {
        format!("INSERT INTO \"{s}\".items VALUES (1, 0);\n")
    })
    .await;
    f.dir.write("0002_positive.sql", M2);
    let fleet = f.fleet().await;
    let canary = [f.homes[0].tenant(), f.homes[5].tenant()];
    let options = RunOptions::new().parallel(4).canary(canary);
    let run = fleet.migrate(&f.homes, &options).await.unwrap();
    assert!(run.canary_failed);
    assert_eq!(
        (run.migrated.len(), run.failed.len(), run.not_started.len()),
        (1, 1, 28)
    );
    assert_eq!(run.failed[0].tenants, [f.homes[5].tenant()]);
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tenant_fleet_runs WHERE run_id = $1 AND status = 'pending'",
    )
    .bind(run.run)
    .fetch_one(f.control())
    .await
    .unwrap();
    assert_eq!(pending, 28);
    // The other tenants were not touched.
    let logs = f.ledgers_and_logs().await;
    assert_eq!(logs[1].0, [1]);

    f.each([5], |s| format!("DELETE FROM \"{s}\".items;\n"))
        .await;
    let resumed = fleet.resume(None, &f.homes, &options).await.unwrap();
    assert_eq!((resumed.migrated.len(), resumed.applied), (29, 29));
    for (ledger, log) in f.ledgers_and_logs().await {
        assert_eq!((ledger, log), (vec![1, 2], vec![1, 2]));
    }
}

#[tokio::test]
async fn the_audit_log_is_a_built_in_migration_of_every_home() {
    let f = Fixture::new(5).await;
    f.dir.write("0001_items.sql", M1);
    let migrations = Migrations::from_dir(f.dir.path())
        .await
        .unwrap()
        .with_audit_log();
    let fleet = tenant_query::fleet::Fleet::new(f.control().clone(), migrations);
    let plan = fleet.plan(&f.homes).await.unwrap();
    assert!(plan.iter().all(|h| h.pending == [0, 1]));
    let run = fleet.migrate(&f.homes, &RunOptions::new()).await.unwrap();
    assert_eq!(run.applied, 10);
    for i in 0..5 {
        let table: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(format!("{}.tenant_audit_log", schema(i)))
            .fetch_one(f.control())
            .await
            .unwrap();
        assert!(table.is_some());
    }
}

#[tokio::test]
async fn bad_input_gets_typed_errors() {
    for name in [
        "",
        "pg_temp_1",
        "information_schema",
        "a\0b",
        &"x".repeat(64),
    ] {
        assert!(matches!(
            SchemaName::new(name),
            Err(tenant_query::Error::InvalidInput { .. })
        ));
    }
    // One rule for tenant schemas everywhere (placements and the fleet): lower-case
    // letters, digits and `_`.
    assert!(SchemaName::new("Tenant \"quoted\"; DROP").is_err());

    let missing = Migrations::from_dir("/nonexistent/migrations").await;
    assert!(matches!(missing, Err(FleetError::Source(_))));
    for files in [
        &[("0001_a.sql", "SELECT 1"), ("1_b.sql", "SELECT 2")][..],
        &[("0_zero.sql", "SELECT 1")],
        &[(
            "0001_idx.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a)",
        )],
        &[("x_name.sql", "SELECT 1")],
    ] {
        let dir = MigrationDir::new();
        for (file, sql) in files {
            dir.write(file, sql);
        }
        let result = Migrations::from_dir(dir.path()).await;
        assert!(
            matches!(result, Err(FleetError::Source(_))),
            "{files:?}: {result:?}"
        );
    }

    let f = Fixture::new(2).await;
    f.dir.write("0001_items.sql", M1);
    let fleet = f.fleet().await;
    let zero = fleet
        .migrate(&f.homes, &RunOptions::new().parallel(0))
        .await;
    assert!(matches!(zero, Err(FleetError::InvalidOption(_))));
    let unknown = fleet.resume(None, &f.homes, &RunOptions::new()).await;
    assert!(matches!(unknown, Err(FleetError::UnknownRun { run: None })));
    let run = Some(Uuid::now_v7());
    let unknown = fleet.resume(run, &f.homes, &RunOptions::new()).await;
    assert!(matches!(unknown, Err(FleetError::UnknownRun { run: r }) if r == run));
}

/// A schema the migrator is not allowed to create fails that tenant alone.
#[tokio::test]
async fn a_tenant_that_cannot_be_migrated_does_not_stop_the_others() {
    let f = Fixture::new(6).await;
    f.dir.write("0001_items.sql", M1);
    f.test_db
        .execute_script("CREATE SCHEMA tenant_0003; CREATE TABLE tenant_0003.items (id int)")
        .await
        .unwrap();
    let mut homes = f.homes.clone();
    homes.push(TenantHome::schema(
        Uuid::now_v7(),
        &f.cell,
        SchemaName::new("tenant_0003").unwrap(),
    ));
    let fleet = f.fleet().await;
    let run = fleet.migrate(&homes, &RunOptions::new()).await.unwrap();
    // The two tenants share a home: migrated once, failed once, reported with both.
    assert_eq!((run.migrated.len(), run.failed.len()), (5, 1));
    assert_eq!(run.failed[0].tenants.len(), 2);
    assert!(run.failed[0].error.contains("already exists"));
    let rows: Vec<RunStatus> = fleet
        .status(&homes)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|h| h.failure.map(|r| r.status))
        .collect();
    assert_eq!(rows, [RunStatus::Failed]);
}

/// The runner's connections terminated mid-run (`pg_terminate_backend`), then the runner
/// itself stopped: every tenant is fully at a version or not at all, and `resume`
/// finishes the run without applying anything twice.
#[tokio::test]
async fn a_runner_killed_mid_run_leaves_each_tenant_all_or_nothing() {
    const RUNNER: &str = "fleet-kill-runner";
    let f = Fixture::named(60, "cell-a", RUNNER).await;
    f.dir.write("0001_items.sql", M1);
    f.fleet()
        .await
        .migrate(&f.homes, &RunOptions::new())
        .await
        .unwrap();
    f.dir.write("0002_slow.sql", M2_SLOW);
    let fleet = f.fleet().await;
    let before = f.migrated_rows().await;

    let run = tokio::spawn({
        let (fleet, homes) = (fleet.clone(), f.homes.clone());
        async move { fleet.migrate(&homes, &RunOptions::new().parallel(4)).await }
    });
    wait_until(|| async { f.migrated_rows().await >= before + 10 }).await;
    assert!(f.terminate(RUNNER).await >= 1, "the runner had connections");
    // The runner goes on after losing its connections; then it is stopped as a whole.
    wait_until(|| async { f.migrated_rows().await >= before + 20 }).await;
    run.abort();
    let _ = run.await;
    // What the stopped runner left open ends with its connections, as with a process.
    f.terminate(RUNNER).await;

    let at_two = f.assert_all_or_nothing().await;
    assert!((20..60).contains(&at_two), "{at_two} tenants at version 2");
    let unfinished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tenant_fleet_runs WHERE status <> 'migrated'")
            .fetch_one(f.control())
            .await
            .unwrap();
    assert!(unfinished > 0);

    let resumed = fleet
        .resume(None, &f.homes, &RunOptions::new().parallel(4))
        .await
        .unwrap();
    assert!(resumed.is_complete(), "{:?}", resumed.failed.first());
    assert_eq!(resumed.applied, 60 - at_two);
    assert_eq!(f.assert_all_or_nothing().await, 60);
    for (ledger, log) in f.ledgers_and_logs().await {
        assert_eq!((ledger, log), (vec![1, 2], vec![1, 2]));
    }
}

/// Tenants on three servers (a cell each, two connections of budget each): schema homes
/// on all three and one database home shared by three tenants; a failing tenant on two of
/// them; resume finishes; no cell ever serves more connections than its budget.
#[tokio::test]
async fn tenants_spread_over_three_servers() {
    let control = TestDb::new().await.unwrap();
    let servers = [
        TestServer::start().await.unwrap(),
        TestServer::start().await.unwrap(),
    ];
    let dbs = [
        TestDb::new().await.unwrap(),
        servers[0].database().await.unwrap(),
        servers[1].database().await.unwrap(),
    ];
    let mut cells = Vec::new();
    for (k, db) in dbs.iter().enumerate() {
        let pool = runner_pool(db, "fleet-three", 4).await;
        cells.push(Cell::new(format!("cell-{k}"), pool).with_budget(2));
    }
    let mut homes = Vec::new();
    for cell in &cells {
        for i in 0..25 {
            let name = SchemaName::new(schema(i)).unwrap();
            homes.push(TenantHome::schema(Uuid::now_v7(), cell, name));
        }
    }
    let shared: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    homes.extend(shared.iter().map(|t| TenantHome::database(*t, &cells[2])));

    let dir = MigrationDir::new();
    dir.write("0001_items.sql", M1);
    let fleet_of = |dir: &MigrationDir| {
        let path = dir.path().to_path_buf();
        let control = control.pool().clone();
        async move { Fleet::new(control, Migrations::from_dir(path).await.unwrap()) }
    };
    let options = RunOptions::new().parallel(12);
    let first = fleet_of(&dir)
        .await
        .migrate(&homes, &options)
        .await
        .unwrap();
    assert_eq!((first.migrated.len(), first.applied), (76, 76));

    let bad = [(1, Some(schema(7))), (2, None)];
    for (k, schema) in &bad {
        let prefix = schema
            .as_ref()
            .map(|s| format!("\"{s}\"."))
            .unwrap_or_default();
        let sql = format!("INSERT INTO {prefix}items VALUES (1, -5)");
        dbs[*k].execute_script(&sql).await.unwrap();
    }
    dir.write("0002_positive.sql", M2)
        .write("0003_notes.sql", M3);
    let fleet = fleet_of(&dir).await;
    let run = fleet.migrate(&homes, &options).await.unwrap();
    let mut failed: Vec<String> = run.failed.iter().map(|f| f.home.to_string()).collect();
    failed.sort();
    assert_eq!(failed, ["cell-1/tenant_0007", "cell-2"]);
    let shared_failure = run
        .failed
        .iter()
        .find(|f| f.home.schema().is_none())
        .unwrap();
    assert_eq!(shared_failure.tenants, shared);
    assert_eq!(run.migrated.len(), 74);

    for (k, schema) in &bad {
        let prefix = schema
            .as_ref()
            .map(|s| format!("\"{s}\"."))
            .unwrap_or_default();
        let sql = format!("DELETE FROM {prefix}items");
        dbs[*k].execute_script(&sql).await.unwrap();
    }
    let resumed = fleet.resume(Some(run.run), &homes, &options).await.unwrap();
    assert_eq!((resumed.migrated.len(), resumed.applied), (2, 4));
    for (k, db) in dbs.iter().enumerate() {
        for i in 0..25 {
            let got = ledger_and_log(db.pool(), Some(&schema(i))).await;
            assert_eq!(
                got,
                (vec![1, 2, 3], vec![1, 2, 3]),
                "cell-{k}/{}",
                schema(i)
            );
        }
    }
    let got = ledger_and_log(dbs[2].pool(), None).await;
    assert_eq!(got, (vec![1, 2, 3], vec![1, 2, 3]));
    assert!(fleet.plan(&homes).await.unwrap().is_empty());

    // Each cell's budget holds: a migration that counts the runner's busy connections on
    // its server sees at most two (the pools have four; twelve homes run at once).
    for db in &dbs {
        db.execute_script("CREATE TABLE public.busy_seen (n int)")
            .await
            .unwrap();
    }
    dir.write(
        "0004_count.sql",
        "INSERT INTO public.busy_seen SELECT count(*) FROM pg_stat_activity \
         WHERE application_name = 'fleet-three' AND datname = current_database() \
         AND state <> 'idle';\nSELECT pg_sleep(0.02);\n",
    );
    let fleet = fleet_of(&dir).await;
    let run = fleet.migrate(&homes, &options).await.unwrap();
    assert_eq!(run.applied, 76);
    for db in &dbs {
        let seen: i32 = sqlx::query_scalar("SELECT max(n)::int FROM public.busy_seen")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert!((1..=2).contains(&seen), "{seen} connections busy at once");
    }
}

/// Every tenant's start, each version applied, and a failure with its error are `tracing`
/// events (target `tenant_query::fleet`), the failure at `ERROR` for error trackers.
#[tokio::test]
async fn each_tenant_reports_started_applied_and_failed_as_tracing_events() {
    let f = Fixture::new(4).await;
    f.dir.write("0001_items.sql", M1);
    f.fleet()
        .await
        .migrate(&f.homes, &RunOptions::new())
        .await
        .unwrap();
    f.each([2], |s| {
        format!("INSERT INTO \"{s}\".items VALUES (1, -1);\n")
    })
    .await;
    f.dir.write("0002_positive.sql", M2);
    let fleet = f.fleet().await;
    let capture = events::Capture::global();
    // Only the second run's events count (other tests' runs have other tenants).
    let before = capture.events().len();
    let run = fleet.migrate(&f.homes, &RunOptions::new()).await.unwrap();
    assert_eq!(run.failed.len(), 1);
    // This test's events: those of its own tenants.
    let tenants: HashSet<String> = f.homes.iter().map(|h| h.tenant().to_string()).collect();
    let events: Vec<events::Event> = capture.events()[before..]
        .iter()
        .filter(|e| tenants.contains(e.field("tenant")))
        .cloned()
        .collect();
    let named = |message: &str| -> Vec<&events::Event> {
        events
            .iter()
            .filter(|e| e.field("message") == message)
            .collect()
    };
    assert_eq!(named("tenant migration started").len(), 4);
    let applied = named("tenant migration applied");
    assert_eq!(applied.len(), 3);
    assert!(applied.iter().all(|e| e.field("version") == "2"));
    let failed = named("tenant migration failed");
    assert_eq!(failed.len(), 1);
    let failed = failed[0];
    assert_eq!(failed.level, tracing::Level::ERROR);
    assert_eq!(failed.field("tenant"), f.homes[2].tenant().to_string());
    assert_eq!(failed.field("home"), format!("cell-a/{}", schema(2)));
    assert_eq!(failed.field("version"), "2");
    assert!(failed.field("error").contains("qty_positive"));
}

/// The homes come from the placement directory: tenants in a schema of the main database
/// and in a cell's database are migrated, tenants in the shared tables are left to the
/// single-database migration, and a placement naming an unknown cell is a typed error.
#[tokio::test]
async fn homes_come_from_the_placement_directory() {
    use std::time::Duration;
    use tenant_query::placement::{
        Placement, PlacementDirectory, TablePlacements, TenantPlacement,
    };

    let f = Fixture::new(0).await;
    let other = TestDb::new().await.unwrap();
    let main = f.cell.clone();
    let eu = Cell::new("eu-2", other.pool().clone());
    let directory = TablePlacements::new(f.control().clone(), Duration::from_secs(60));
    directory.migrate().await.unwrap();
    let (in_schema, in_cell, shared) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let place = |home| Placement::new(home);
    directory
        .record(
            &in_schema.to_string(),
            place(TenantPlacement::Schema(
                SchemaName::new("tenant_placed").unwrap(),
            )),
        )
        .await
        .unwrap();
    directory
        .record(
            &in_cell.to_string(),
            place(TenantPlacement::Database("eu-2".into())),
        )
        .await
        .unwrap();
    directory
        .record(&shared.to_string(), place(TenantPlacement::Shared))
        .await
        .unwrap();

    let mut homes = Vec::new();
    for (tenant, placement) in directory.placed().await.unwrap() {
        let tenant: Uuid = tenant.parse().unwrap();
        homes.extend(
            TenantHome::placed(tenant, &placement.home, &main, std::slice::from_ref(&eu)).unwrap(),
        );
    }
    let mut tenants: Vec<Uuid> = homes.iter().map(TenantHome::tenant).collect();
    tenants.sort();
    let mut expected = vec![in_schema, in_cell];
    expected.sort();
    assert_eq!(
        tenants, expected,
        "the shared tenant has no home of its own"
    );

    f.dir.write("0001_items.sql", M1);
    let report = f
        .fleet()
        .await
        .migrate(&homes, &RunOptions::new())
        .await
        .unwrap();
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(
        ledger_and_log(f.control(), Some("tenant_placed")).await,
        (vec![1], vec![1])
    );
    assert_eq!(ledger_and_log(other.pool(), None).await, (vec![1], vec![1]));
    assert_eq!(ledger_and_log(f.control(), None).await, (vec![], vec![]));

    let unknown = TenantHome::placed(
        in_cell,
        &TenantPlacement::Database("nowhere".into()),
        &main,
        &[eu],
    );
    assert!(matches!(unknown, Err(FleetError::UnknownCell(cell)) if cell == "nowhere"));
}
