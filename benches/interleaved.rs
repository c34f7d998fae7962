//! W1 and W6 measured A/B-interleaved: library and raw calls alternate, so machine drift
//! during a run (which criterion's one-after-the-other groups are exposed to) falls on
//! both sides alike. Prints the ratios of one run.
//!
//! ```sh
//! cargo bench --bench interleaved
//! ```

mod support;

use std::time::{Duration, Instant};

use support::*;

const LOOKUPS: usize = 20_000;
const ROUNDS: usize = 40;
const TASKS: usize = 32;
const PER_TASK: usize = 50;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let bench = Bench::seeded().await;
        let s = bench.scope();
        let (pool, tenant, ids) = (&bench.pool, bench.tenant, &bench.project_ids);

        let (mut library, mut raw) = (Duration::ZERO, Duration::ZERO);
        for i in 0..LOOKUPS {
            let id = ids[(i / 2) % ids.len()];
            let start = Instant::now();
            if i % 2 == 0 {
                std::hint::black_box(Project::find(&s, id).await.unwrap());
                library += start.elapsed();
            } else {
                std::hint::black_box(raw::find_project(pool, tenant, id).await);
                raw += start.elapsed();
            }
        }
        println!(
            "W1 point lookup, interleaved: library/raw = {:.3}",
            library.as_secs_f64() / raw.as_secs_f64()
        );

        let (mut library, mut raw) = (Duration::ZERO, Duration::ZERO);
        for round in 0..ROUNDS {
            let start = Instant::now();
            let handles: Vec<_> = (0..TASKS)
                .map(|task| {
                    let (s, pool, ids) = (s.clone(), pool.clone(), ids.clone());
                    tokio::spawn(async move {
                        for i in 0..PER_TASK {
                            let id = ids[(task * PER_TASK + i) % ids.len()];
                            if round % 2 == 0 {
                                assert!(Project::find(&s, id).await.unwrap().is_some());
                            } else {
                                assert!(raw::find_project(&pool, tenant, id).await.is_some());
                            }
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
            if round % 2 == 0 {
                library += start.elapsed();
            } else {
                raw += start.elapsed();
            }
        }
        println!(
            "W6 throughput ({TASKS} tasks, pool of 8), interleaved: library qps / raw qps = {:.3}",
            raw.as_secs_f64() / library.as_secs_f64()
        );
    });
}
