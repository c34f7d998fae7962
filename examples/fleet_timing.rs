//! The fleet migrator against a loop of sqlx's `Migrator`, one schema after another, on
//! 500 tenant schemas of one server: nothing pending (the no-op check), and one pending
//! migration.
//!
//! ```sh
//! cargo run --release --example fleet_timing
//! ```
//!
//! With `DATABASE_URL` set it works in a fresh database on that server; without it, on a
//! throwaway PostgreSQL (the harness's fast profile: no fsync).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tenant_query::fleet::{Cell, Fleet, Migrations, RunOptions, SchemaName, TenantHome};
use tenant_query::testing::TestDb;
use uuid::Uuid;

const SCHEMAS: usize = 500;

/// Three migrations to start from; every later version adds a column.
const FIRST: [&str; 3] = [
    "CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL);",
    "ALTER TABLE items ADD COLUMN note text;",
    "CREATE INDEX items_qty_idx ON items (qty);",
];

/// A migration directory holding versions 1 to `n`.
fn dir_with(root: &Path, n: usize) -> PathBuf {
    let dir = root.join(format!("upto-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    for v in 1..=n {
        let sql = match FIRST.get(v - 1) {
            Some(sql) => sql.to_string(),
            None => format!("ALTER TABLE items ADD COLUMN c{v} int;"),
        };
        std::fs::write(dir.join(format!("{v:04}_m{v}.sql")), sql).unwrap();
    }
    dir
}

/// sqlx's migrator per schema, one after another: the ledger `<schema>._sqlx_migrations`,
/// the session's `search_path` set to the schema.
async fn sqlx_loop(pool: &PgPool, dir: &Path, schemas: &[String]) -> Duration {
    let started = Instant::now();
    let mut migrator = Migrator::new(dir.to_path_buf()).await.unwrap();
    for schema in schemas {
        migrator.dangerous_set_table_name(format!("\"{schema}\"._sqlx_migrations"));
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("SELECT set_config('search_path', $1, false)")
            .bind(format!("\"{schema}\""))
            .execute(&mut *conn)
            .await
            .unwrap();
        migrator.run(&mut *conn).await.unwrap();
        sqlx::query("RESET search_path")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    started.elapsed()
}

async fn fleet_of(pool: &PgPool, dir: &Path) -> Fleet {
    Fleet::new(pool.clone(), Migrations::from_dir(dir).await.unwrap())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The median, with the fastest and the slowest.
fn spread(times: &[Duration]) -> String {
    let (min, max) = (times.iter().min().unwrap(), times.iter().max().unwrap());
    format!("{} ({}-{})", ms(median(times.to_vec())), ms(*min), ms(*max))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() {
    let db = TestDb::new().await.expect("a PostgreSQL for the timing");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(db.connect_options().clone())
        .await
        .unwrap();
    let root = std::env::temp_dir().join(format!("tq-fleet-timing-{}", Uuid::now_v7().simple()));
    let cell = Cell::new("main", pool.clone());
    let homes: Vec<TenantHome> = (0..SCHEMAS)
        .map(|i| {
            let schema = SchemaName::new(format!("fleet_{i:04}")).unwrap();
            TenantHome::schema(Uuid::now_v7(), &cell, schema)
        })
        .collect();
    let sqlx_schemas: Vec<String> = (0..SCHEMAS).map(|i| format!("sqlx_{i:04}")).collect();

    let create: String = sqlx_schemas
        .iter()
        .map(|s| format!("CREATE SCHEMA \"{s}\";\n"))
        .collect();
    db.execute_script(&create).await.unwrap();

    // Both sets at version 3.
    let three = dir_with(&root, 3);
    let parallel = RunOptions::new().parallel(8);
    let fleet = fleet_of(&pool, &three).await;
    let set_up = fleet.migrate(&homes, &parallel).await.unwrap();
    assert!(set_up.is_complete());
    sqlx_loop(&pool, &three, &sqlx_schemas).await;

    println!("{SCHEMAS} schemas on one server, three migrations applied");
    // The no-op check on a connection of its own: cold (a new connection each time, as
    // for a command started afresh: the server loads 500 ledgers' metadata) and warm
    // (the same connection again).
    let on_pool = |pool: sqlx::PgPool| -> Vec<TenantHome> {
        let cell = Cell::new("main", pool);
        homes
            .iter()
            .map(|h| TenantHome::schema(h.tenant(), &cell, h.schema_name().unwrap().clone()))
            .collect()
    };
    let single = || {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_with(db.connect_options().clone())
    };
    let warm_homes = on_pool(single().await.unwrap());
    let (mut cold, mut warm, mut plans) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..7 {
        let cold_homes = on_pool(single().await.unwrap());
        let started = Instant::now();
        let report = fleet.migrate(&cold_homes, &parallel).await.unwrap();
        cold.push(started.elapsed());
        assert_eq!(report.unchanged, SCHEMAS);
        let started = Instant::now();
        let report = fleet.migrate(&warm_homes, &parallel).await.unwrap();
        warm.push(started.elapsed());
        assert_eq!(report.unchanged, SCHEMAS);
        let started = Instant::now();
        assert!(fleet.plan(&warm_homes).await.unwrap().is_empty());
        plans.push(started.elapsed());
    }
    let mut sqlx_noop = Vec::new();
    for _ in 0..5 {
        sqlx_noop.push(sqlx_loop(&pool, &three, &sqlx_schemas).await);
    }
    println!("nothing pending (median (fastest-slowest) of 7 fleet runs, 5 sqlx loops):");
    println!("  fleet migrate, cold backend {}", spread(&cold));
    println!("  fleet migrate, warm backend {}", spread(&warm));
    println!("  fleet plan, warm backend    {}", spread(&plans));
    println!("  sqlx Migrator loop          {}", spread(&sqlx_noop));
    let loop_noop = median(sqlx_noop).as_secs_f64();
    println!(
        "  ratio (sqlx loop / fleet migrate): {:.0}x cold, {:.0}x warm",
        loop_noop / median(cold).as_secs_f64(),
        loop_noop / median(warm).as_secs_f64()
    );

    // One pending version per round, both sets; the fleet alternates parallel 8 and 1.
    let (mut wide, mut narrow, mut looped) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..6 {
        let dir = dir_with(&root, 4 + round);
        let fleet = fleet_of(&pool, &dir).await;
        let options = RunOptions::new().parallel(if round % 2 == 0 { 8 } else { 1 });
        let started = Instant::now();
        let report = fleet.migrate(&homes, &options).await.unwrap();
        let took = started.elapsed();
        assert_eq!(report.applied, SCHEMAS);
        [&mut wide, &mut narrow][round % 2].push(took);
        looped.push(sqlx_loop(&pool, &dir, &sqlx_schemas).await);
    }
    println!(
        "one pending migration (median (fastest-slowest) of 3 fleet runs each, 6 sqlx loops):"
    );
    println!("  fleet migrate, parallel 8   {}", spread(&wide));
    println!("  fleet migrate, parallel 1   {}", spread(&narrow));
    println!("  sqlx Migrator loop          {}", spread(&looped));
    let (wide, narrow, looped) = (median(wide), median(narrow), median(looped));
    println!(
        "  ratio (sqlx loop / fleet): {:.1}x (parallel 8), {:.1}x (parallel 1)",
        looped.as_secs_f64() / wide.as_secs_f64(),
        looped.as_secs_f64() / narrow.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&root);
}
