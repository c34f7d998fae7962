//! W1, W3 (1000 parents), W5 and W6 measured A/B-interleaved: library and raw calls alternate, so machine drift
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

        let parents = &ids[..1000];
        let (mut library, mut raw) = (Duration::ZERO, Duration::ZERO);
        for i in 0..200 {
            let start = Instant::now();
            if i % 2 == 0 {
                std::hint::black_box(Task::load_by_project_id(&s, parents).await.unwrap());
                library += start.elapsed();
            } else {
                std::hint::black_box(raw::tasks_by_project(pool, tenant, parents).await);
                raw += start.elapsed();
            }
        }
        println!("W3 relation load, 1000 parents, interleaved: library/raw = {:.3}", library.as_secs_f64() / raw.as_secs_f64());

        let (mut library, mut plain, mut by_hand) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let actor = uuid::Uuid::from_u128(42);
        for i in 0..6000_i64 {
            let id = bench.account_ids[(i as usize / 3) % bench.account_ids.len()];
            let start = Instant::now();
            match i % 3 {
                0 => {
                    let patch = AccountPatch { balance: Some(1_000_000 + i), ..Default::default() };
                    std::hint::black_box(Account::update(&s, id, patch).await.unwrap());
                    library += start.elapsed();
                }
                1 => {
                    std::hint::black_box(raw::update_balance(pool, tenant, id, 1_000_000 + i).await);
                    plain += start.elapsed();
                }
                _ => {
                    std::hint::black_box(raw::update_balance_audited(pool, tenant, actor, id, 1_000_000 + i).await);
                    by_hand += start.elapsed();
                }
            }
        }
        println!(
            "W5 audited update, interleaved: library/plain update = {:.3}, hand-written audited transaction/library = {:.3}",
            library.as_secs_f64() / plain.as_secs_f64(),
            by_hand.as_secs_f64() / library.as_secs_f64()
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
