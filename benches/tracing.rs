//! What the statement spans cost: the same point lookup (`Project::find`) with no
//! subscriber, with a subscriber that filters the library's spans out, with spans recorded
//! by a registry, and with every span formatted by `tracing-subscriber`'s fmt layer (to a
//! sink), against the hand-written sqlx lookup. The arms alternate in short batches, so
//! drift on a shared machine falls on all of them alike. Prints one run's results.
//!
//! ```sh
//! cargo bench --bench tracing
//! ```
//!
//! The subscribers are set per thread (on a current-thread runtime), so callsites see
//! several dispatchers and check `enabled` per call: "off" here is an upper bound of an
//! application without any subscriber, where the callsite is disabled once and for all.

mod support;

use std::time::{Duration, Instant};

use support::*;
use tracing::Dispatch;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::prelude::*;

const SCHEMA: &str = "
CREATE TABLE projects (
    id         uuid        NOT NULL,
    org_id     uuid        NOT NULL,
    name       text        NOT NULL,
    status     text        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz,
    PRIMARY KEY (org_id, id)
);
INSERT INTO projects
SELECT gen_random_uuid(), '00000000-0000-0000-0000-000000000001', 'project ' || n, 'active', now(), now(), NULL
FROM generate_series(1, 2000) AS n;
ANALYZE;
";

const ROUNDS: usize = 300;
const BATCH: usize = 40;

#[derive(Clone, Copy)]
enum Arm {
    Raw,
    Off,
    Filtered,
    Registry,
    Fmt,
}

const ARMS: [(Arm, &str); 5] = [
    (Arm::Raw, "raw sqlx, no subscriber"),
    (Arm::Off, "library, no subscriber"),
    (
        Arm::Filtered,
        "library, subscriber filtering tenant_query out",
    ),
    (Arm::Registry, "library, spans recorded (registry)"),
    (Arm::Fmt, "library, spans formatted (fmt layer, to a sink)"),
];

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let test_db = tenant_query::testing::TestDb::new().await.unwrap();
        test_db.execute_script(SCHEMA).await.unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_with(test_db.connect_options().clone())
            .await
            .unwrap();
        let tenant = support::tenant(1);
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM projects ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        let s = tenant_query::TenantDb::new(pool.clone())
            .scope(&tenant_query::TenantScope::new(tenant));

        let filtered = Dispatch::new(
            tracing_subscriber::registry()
                .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
                .with(Targets::new().with_target("tenant_query", tracing::Level::ERROR)),
        );
        let registry = Dispatch::new(
            tracing_subscriber::registry()
                .with(Targets::new().with_target("tenant_query", tracing::Level::INFO)),
        );
        let fmt = Dispatch::new(
            tracing_subscriber::registry()
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(std::io::sink)
                        .with_span_events(FmtSpan::CLOSE),
                )
                .with(Targets::new().with_target("tenant_query", tracing::Level::INFO)),
        );

        let mut rounds: Vec<Vec<Duration>> = vec![Vec::new(); ARMS.len()];
        let mut next = 0;
        for round in 0..=ROUNDS {
            // Each round starts with another arm, so no arm always follows the same one.
            for offset in 0..ARMS.len() {
                let index = (round + offset) % ARMS.len();
                let arm = &ARMS[index].0;
                let _guard = match arm {
                    Arm::Raw | Arm::Off => None,
                    Arm::Filtered => Some(tracing::dispatcher::set_default(&filtered)),
                    Arm::Registry => Some(tracing::dispatcher::set_default(&registry)),
                    Arm::Fmt => Some(tracing::dispatcher::set_default(&fmt)),
                };
                let start = Instant::now();
                for _ in 0..BATCH {
                    let id = ids[next % ids.len()];
                    next += 1;
                    match arm {
                        Arm::Raw => {
                            std::hint::black_box(raw::find_project(&pool, tenant, id).await);
                        }
                        _ => {
                            std::hint::black_box(Project::find(&s, id).await.unwrap());
                        }
                    }
                }
                // Round 0 warms up the connection's statement cache.
                if round > 0 {
                    rounds[index].push(start.elapsed());
                }
            }
        }

        // Per arm, the median batch (robust to bursts of other work on the machine).
        let median = |batches: &mut Vec<Duration>| {
            batches.sort();
            batches[batches.len() / 2].as_secs_f64() * 1e6 / BATCH as f64
        };
        let medians: Vec<f64> = rounds.iter_mut().map(median).collect();
        let off = medians[1];
        println!(
            "{} calls per arm in {ROUNDS} interleaved batches of {BATCH}, pool of 1, current-thread runtime",
            ROUNDS * BATCH
        );
        println!("| arm | median µs per call | vs library without subscriber |");
        println!("|---|---|---|");
        for ((_, name), us) in ARMS.iter().zip(medians) {
            println!("| {name} | {us:.1} | {:+.1}% |", (us / off - 1.0) * 100.0);
        }
    });
}
