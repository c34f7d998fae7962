//! The library against hand-written raw sqlx, on the same seeded database and pool.
//!
//! ```sh
//! cargo bench --bench overhead          # then: cargo run --bin bench-report
//! ```

mod support;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use support::*;
use tenant_query::ScopedDb;
use uuid::Uuid;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Cycles through `ids`, the same sequence for both sides.
struct Cycle<'a> {
    ids: &'a [Uuid],
    next: usize,
}

impl Cycle<'_> {
    fn next(&mut self) -> Uuid {
        self.next = (self.next + 1) % self.ids.len();
        self.ids[self.next]
    }
}

fn overhead(c: &mut Criterion) {
    let rt = runtime();
    let bench = rt.block_on(Bench::seeded());
    let s = bench.scope();
    let (pool, tenant) = (&bench.pool, bench.tenant);

    let mut w1 = c.benchmark_group("W1 point lookup");
    let mut ids = Cycle {
        ids: &bench.project_ids,
        next: 0,
    };
    w1.bench_function("library", |b| {
        b.to_async(&rt).iter(|| Project::find(&s, ids.next()))
    });
    let mut ids = Cycle {
        ids: &bench.project_ids,
        next: 0,
    };
    w1.bench_function("raw", |b| {
        b.to_async(&rt)
            .iter(|| raw::find_project(pool, tenant, ids.next()))
    });
    w1.finish();

    let mut w2 = c.benchmark_group("W2 list 100");
    w2.bench_function("library", |b| {
        b.to_async(&rt).iter(|| {
            Project::query()
                .filter(Project::STATUS.eq("active"))
                .order_by(Project::CREATED_AT.desc())
                .limit(100)
                .all(&s)
        })
    });
    w2.bench_function("raw", |b| {
        b.to_async(&rt).iter(|| raw::list_projects(pool, tenant))
    });
    w2.finish();

    let mut w3 = c.benchmark_group("W3 relation load");
    for parents in [10, 100, 1000] {
        let ids = &bench.project_ids[..parents];
        w3.bench_with_input(BenchmarkId::new("library", parents), &ids, |b, ids| {
            b.to_async(&rt).iter(|| Task::load_by_project_id(&s, ids))
        });
        w3.bench_with_input(BenchmarkId::new("raw", parents), &ids, |b, ids| {
            b.to_async(&rt)
                .iter(|| raw::tasks_by_project(pool, tenant, ids))
        });
        if parents <= 100 {
            w3.bench_with_input(BenchmarkId::new("raw N+1", parents), &ids, |b, ids| {
                b.to_async(&rt)
                    .iter(|| raw::tasks_one_parent_at_a_time(pool, tenant, ids))
            });
        }
    }
    w3.finish();

    let mut w4 = c.benchmark_group("W4 bulk insert");
    w4.sample_size(20).measurement_time(Duration::from_secs(8));
    for rows in [100, 1000, 10_000] {
        let input: Vec<(String, i64)> = (0..rows).map(|i| (format!("kind {}", i % 7), i)).collect();
        w4.bench_with_input(BenchmarkId::new("library", rows), &input, |b, input| {
            b.to_async(&rt).iter(|| {
                let new = input
                    .iter()
                    .map(|(kind, amount)| NewEvent {
                        kind: kind.clone(),
                        amount: *amount,
                    })
                    .collect();
                Event::insert_many(&s, new)
            })
        });
        w4.bench_with_input(BenchmarkId::new("raw", rows), &input, |b, input| {
            b.to_async(&rt)
                .iter(|| raw::insert_events(pool, tenant, input))
        });
        if rows <= 1000 {
            w4.bench_with_input(
                BenchmarkId::new("raw row by row", rows),
                &input,
                |b, input| {
                    b.to_async(&rt)
                        .iter(|| raw::insert_events_one_by_one(pool, tenant, input))
                },
            );
        }
    }
    w4.finish();

    let mut w5 = c.benchmark_group("W5 audited update");
    let balance = AtomicI64::new(1);
    let actor = Uuid::from_u128(42);
    let mut ids = Cycle {
        ids: &bench.account_ids,
        next: 0,
    };
    w5.bench_function("library", |b| {
        b.to_async(&rt).iter(|| {
            let patch = AccountPatch {
                balance: Some(balance.fetch_add(1, Ordering::Relaxed)),
                ..Default::default()
            };
            Account::update(&s, ids.next(), patch)
        })
    });
    let mut ids = Cycle {
        ids: &bench.account_ids,
        next: 0,
    };
    w5.bench_function("raw plain update", |b| {
        b.to_async(&rt).iter(|| {
            raw::update_balance(
                pool,
                tenant,
                ids.next(),
                balance.fetch_add(1, Ordering::Relaxed),
            )
        })
    });
    let mut ids = Cycle {
        ids: &bench.account_ids,
        next: 0,
    };
    w5.bench_function("raw audited transaction", |b| {
        b.to_async(&rt).iter(|| {
            raw::update_balance_audited(
                pool,
                tenant,
                actor,
                ids.next(),
                balance.fetch_add(1, Ordering::Relaxed),
            )
        })
    });
    w5.finish();

    // W7: a point lookup in RLS mode (3 round trips) against the same by hand (4), both as
    // an application role that RLS applies to.
    let mut w7 = c.benchmark_group("W7 RLS point lookup");
    let rls_db = tenant_query::TenantDb::new(bench.app_pool.clone())
        .row_level_security("app.tenant_id")
        .unwrap();
    let rls = rls_db.scope(&tenant_query::TenantScope::new(tenant));
    let mut ids = Cycle {
        ids: &bench.project_ids,
        next: 0,
    };
    w7.bench_function("library", |b| {
        b.to_async(&rt).iter(|| Project::find(&rls, ids.next()))
    });
    let mut ids = Cycle {
        ids: &bench.project_ids,
        next: 0,
    };
    w7.bench_function("raw transaction", |b| {
        b.to_async(&rt)
            .iter(|| raw::find_project_rls(&bench.app_pool, tenant, ids.next()))
    });
    w7.finish();

    // W6: 32 tasks doing point lookups on the pool of 8; the time of one round of
    // 32 x 50 lookups (throughput is its inverse).
    let mut w6 = c.benchmark_group("W6 throughput");
    w6.sample_size(20);
    const TASKS: usize = 32;
    const LOOKUPS: usize = 50;
    w6.bench_function("library", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (s, ids) = (s.clone(), bench.project_ids.clone());
            async move {
                round(iters, TASKS, move |t| {
                    library_lookups(s.clone(), ids.clone(), t, LOOKUPS)
                })
                .await
            }
        })
    });
    w6.bench_function("raw", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (pool, ids) = (pool.clone(), bench.project_ids.clone());
            async move {
                round(iters, TASKS, move |t| {
                    raw_lookups(pool.clone(), ids.clone(), tenant, t, LOOKUPS)
                })
                .await
            }
        })
    });
    w6.finish();
}

async fn round<F, Fut>(iters: u64, tasks: usize, task: F) -> Duration
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    for _ in 0..iters {
        let handles: Vec<_> = (0..tasks).map(|t| tokio::spawn(task(t))).collect();
        for handle in handles {
            handle.await.unwrap();
        }
    }
    start.elapsed()
}

async fn library_lookups(s: ScopedDb, ids: Vec<Uuid>, task: usize, lookups: usize) {
    for i in 0..lookups {
        let id = ids[(task * lookups + i) % ids.len()];
        assert!(Project::find(&s, id).await.unwrap().is_some());
    }
}

async fn raw_lookups(
    pool: sqlx::PgPool,
    ids: Vec<Uuid>,
    tenant: Uuid,
    task: usize,
    lookups: usize,
) {
    for i in 0..lookups {
        let id = ids[(task * lookups + i) % ids.len()];
        assert!(raw::find_project(&pool, tenant, id).await.is_some());
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = overhead
}
criterion_main!(benches);
