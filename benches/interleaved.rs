//! Every workload, library against hand-written sqlx, measured A/B-interleaved: each round
//! runs the contenders in a fresh random order on the same pool and data, so drift during
//! the run falls on all of them alike. Prints, per workload, the median ratio of the
//! rounds with its spread (10th and 90th percentiles) and the time per operation.
//!
//! ```sh
//! cargo bench --bench interleaved            # all workloads
//! cargo bench --bench interleaved -- W5 W8   # the workloads whose names start so
//! ```

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;
use tenant_query::prelude::*;
use uuid::Uuid;

type Op = Box<dyn FnMut(usize) -> Pin<Box<dyn Future<Output = ()> + Send>>>;

/// One side of a comparison: a name and the operation it times.
struct Contender {
    name: &'static str,
    op: Op,
}

fn contender<F, Fut>(name: &'static str, mut op: F) -> Contender
where
    F: FnMut(usize) -> Fut + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Contender {
        name,
        op: Box::new(move |i| Box::pin(op(i))),
    }
}

/// A small deterministic generator for the round orders (xorshift).
struct Order(u64);

impl Order {
    fn shuffle(&mut self, items: &mut [usize]) {
        for i in (1..items.len()).rev() {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            items.swap(i, (self.0 % (i as u64 + 1)) as usize);
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs `rounds` rounds (after 2 of warm-up) of `reps` operations per contender, in a
/// random order each round, and prints each contender against the first (the library).
async fn compare(
    workload: &str,
    rounds: usize,
    reps: usize,
    mut contenders: Vec<Contender>,
    order: &mut Order,
) {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| workload.starts_with(f.as_str())) {
        return;
    }
    let mut totals = vec![Duration::ZERO; contenders.len()];
    let mut ratios = vec![Vec::new(); contenders.len()];
    let mut sequence: Vec<usize> = (0..contenders.len()).collect();
    let mut op = 0;
    for round in 0..rounds + 2 {
        order.shuffle(&mut sequence);
        let mut times = vec![Duration::ZERO; contenders.len()];
        for &c in &sequence {
            let start = Instant::now();
            for _ in 0..reps {
                (contenders[c].op)(op).await;
                op += 1;
            }
            times[c] = start.elapsed();
        }
        if round < 2 {
            continue; // warm-up
        }
        for c in 0..contenders.len() {
            totals[c] += times[c];
            ratios[c].push(times[0].as_secs_f64() / times[c].as_secs_f64());
        }
    }
    let per_op = |total: Duration| total / (rounds * reps) as u32;
    for c in 1..contenders.len() {
        let mut sorted = ratios[c].clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "{workload} | {} vs {} | median {:.3} (p10 {:.3}, p90 {:.3}) | {:.1?} vs {:.1?} per op",
            contenders[0].name,
            contenders[c].name,
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.1),
            percentile(&sorted, 0.9),
            per_op(totals[0]),
            per_op(totals[c]),
        );
    }
    contenders.clear();
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let bench = Bench::seeded().await;
        let s = bench.scope();
        let (pool, tenant) = (bench.pool.clone(), bench.tenant);
        let ids = Arc::new(bench.project_ids.clone());
        let accounts = Arc::new(bench.account_ids.clone());
        let actor = Uuid::from_u128(42);
        let mut order = Order(0x9e37_79b9_7f4a_7c15);
        let pick = |ids: &Arc<Vec<Uuid>>, i: usize| ids[i % ids.len()];

        let (s1, p1, i1, i2) = (s.clone(), pool.clone(), ids.clone(), ids.clone());
        compare(
            "W1 point lookup",
            30,
            200,
            vec![
                contender("library", move |i| {
                    let (s, id) = (s1.clone(), pick(&i1, i));
                    async move {
                        assert!(Project::find(&s, id).await.unwrap().is_some());
                    }
                }),
                contender("raw", move |i| {
                    let (p, id) = (p1.clone(), pick(&i2, i));
                    async move {
                        assert!(raw::find_project(&p, tenant, id).await.is_some());
                    }
                }),
            ],
            &mut order,
        )
        .await;

        let (s1, p1) = (s.clone(), pool.clone());
        compare(
            "W2 list 100",
            30,
            50,
            vec![
                contender("library", move |_| {
                    let s = s1.clone();
                    async move {
                        let rows = Project::query()
                            .filter(Project::STATUS.eq("active"))
                            .order_by(Project::CREATED_AT.desc())
                            .limit(100)
                            .all(&s)
                            .await
                            .unwrap();
                        assert_eq!(rows.len(), 100);
                    }
                }),
                contender("raw", move |_| {
                    let p = p1.clone();
                    async move {
                        assert_eq!(raw::list_projects(&p, tenant).await.len(), 100);
                    }
                }),
            ],
            &mut order,
        )
        .await;

        let (s1, p1, i1, i2) = (s.clone(), pool.clone(), ids.clone(), ids.clone());
        compare(
            "W3 relation load, 1000 parents",
            20,
            5,
            vec![
                contender("library", move |_| {
                    let (s, ids) = (s1.clone(), i1.clone());
                    async move {
                        Task::load_by_project_id(&s, &ids[..1000]).await.unwrap();
                    }
                }),
                contender("raw", move |_| {
                    let (p, ids) = (p1.clone(), i2.clone());
                    async move {
                        raw::tasks_by_project(&p, tenant, &ids[..1000]).await;
                    }
                }),
            ],
            &mut order,
        )
        .await;

        let (s1, p1) = (s.clone(), pool.clone());
        compare(
            "W4 bulk insert, 1000 rows",
            20,
            3,
            vec![
                contender("library", move |i| {
                    let s = s1.clone();
                    async move {
                        let rows = (0..1000)
                            .map(|n| NewEvent {
                                kind: format!("k{n}"),
                                amount: (i * 1000 + n) as i64,
                            })
                            .collect();
                        Event::insert_many(&s, rows).await.unwrap();
                    }
                }),
                contender("raw", move |i| {
                    let p = p1.clone();
                    async move {
                        let rows: Vec<(String, i64)> = (0..1000)
                            .map(|n| (format!("k{n}"), (i * 1000 + n) as i64))
                            .collect();
                        raw::insert_events(&p, tenant, &rows).await;
                    }
                }),
            ],
            &mut order,
        )
        .await;

        let (s1, p1, p2, p3) = (s.clone(), pool.clone(), pool.clone(), pool.clone());
        let (a1, a2, a3, a4) = (
            accounts.clone(),
            accounts.clone(),
            accounts.clone(),
            accounts.clone(),
        );
        compare(
            "W5 audited update",
            30,
            100,
            vec![
                contender("library", move |i| {
                    let (s, id) = (s1.clone(), pick(&a1, i));
                    async move {
                        Account::update(
                            &s,
                            id,
                            AccountPatch {
                                balance: Some(1_000_000 + i as i64),
                                ..Default::default()
                            },
                        )
                        .await
                        .unwrap();
                    }
                }),
                contender("plain update", move |i| {
                    let (p, id) = (p1.clone(), pick(&a2, i));
                    async move {
                        raw::update_balance(&p, tenant, id, 1_000_000 + i as i64).await;
                    }
                }),
                contender("one-statement audited update", move |i| {
                    let (p, id) = (p2.clone(), pick(&a3, i));
                    async move {
                        raw::update_balance_one_statement(
                            &p,
                            tenant,
                            actor,
                            id,
                            1_000_000 + i as i64,
                        )
                        .await;
                    }
                }),
                contender("audited transaction (5 round trips)", move |i| {
                    let (p, id) = (p3.clone(), pick(&a4, i));
                    async move {
                        raw::update_balance_audited(&p, tenant, actor, id, 1_000_000 + i as i64)
                            .await;
                    }
                }),
            ],
            &mut order,
        )
        .await;

        let (s1, p1, i1, i2) = (s.clone(), pool.clone(), ids.clone(), ids.clone());
        compare(
            "W6 throughput, 32 tasks on a pool of 8",
            16,
            1,
            vec![
                contender("library", move |_| {
                    let (s, ids) = (s1.clone(), i1.clone());
                    async move {
                        let tasks: Vec<_> = (0..32)
                            .map(|t| {
                                let (s, ids) = (s.clone(), ids.clone());
                                tokio::spawn(async move {
                                    for n in 0..50 {
                                        assert!(
                                            Project::find(&s, ids[(t * 50 + n) % ids.len()])
                                                .await
                                                .unwrap()
                                                .is_some()
                                        );
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                    }
                }),
                contender("raw", move |_| {
                    let (p, ids) = (p1.clone(), i2.clone());
                    async move {
                        let tasks: Vec<_> = (0..32)
                            .map(|t| {
                                let (p, ids) = (p.clone(), ids.clone());
                                tokio::spawn(async move {
                                    for n in 0..50 {
                                        assert!(
                                            raw::find_project(
                                                &p,
                                                tenant,
                                                ids[(t * 50 + n) % ids.len()]
                                            )
                                            .await
                                            .is_some()
                                        );
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                    }
                }),
            ],
            &mut order,
        )
        .await;

        let rls = TenantDb::new(bench.app_pool.clone())
            .row_level_security("app.tenant_id")
            .unwrap();
        let rls_scope = rls.scope(&TenantScope::new(tenant));
        let (ap1, ap2, i1, i2, i3) = (
            bench.app_pool.clone(),
            bench.app_pool.clone(),
            ids.clone(),
            ids.clone(),
            ids.clone(),
        );
        compare(
            "W7 RLS point lookup",
            30,
            100,
            vec![
                contender("library", move |i| {
                    let (s, id) = (rls_scope.clone(), pick(&i1, i));
                    async move {
                        assert!(Project::find(&s, id).await.unwrap().is_some());
                    }
                }),
                contender("raw, 3 round trips", move |i| {
                    let (p, id) = (ap1.clone(), pick(&i2, i));
                    async move {
                        assert!(
                            raw::find_project_rls_three_round_trips(&p, tenant, id)
                                .await
                                .is_some()
                        );
                    }
                }),
                contender("raw, 4 round trips", move |i| {
                    let (p, id) = (ap2.clone(), pick(&i3, i));
                    async move {
                        assert!(raw::find_project_rls(&p, tenant, id).await.is_some());
                    }
                }),
            ],
            &mut order,
        )
        .await;

        let (s1, p1) = (s.clone(), pool.clone());
        compare(
            "W8 audited update of 1000 rows by filter",
            20,
            2,
            vec![
                contender("library", move |i| {
                    let s = s1.clone();
                    async move {
                        let rows = Entry::query()
                            .filter(Entry::BUCKET.eq((i % 10) as i32))
                            .update(
                                &s,
                                EntryPatch {
                                    amount: Some(i as i64 + 1),
                                    ..Default::default()
                                },
                            )
                            .await
                            .unwrap();
                        assert_eq!(rows.len(), 1000);
                    }
                }),
                contender("raw", move |i| {
                    let p = p1.clone();
                    async move {
                        assert_eq!(
                            raw::update_bucket(&p, tenant, actor, (i % 10) as i32, i as i64 + 1)
                                .await
                                .len(),
                            1000
                        );
                    }
                }),
            ],
            &mut order,
        )
        .await;

        let (s1, p1) = (s.clone(), pool.clone());
        compare(
            "W9 audited upsert",
            30,
            100,
            vec![
                contender("library", move |i| {
                    let s = s1.clone();
                    async move {
                        let new = NewSetting {
                            key: format!("key {}", i % 1000),
                            value: format!("v{i}"),
                        };
                        Setting::insert_or_update(&s, Setting::KEY_KEY, new)
                            .await
                            .unwrap();
                    }
                }),
                contender("raw", move |i| {
                    let p = p1.clone();
                    async move {
                        raw::upsert_setting(
                            &p,
                            tenant,
                            actor,
                            &format!("key {}", i % 1000),
                            &format!("v{i}"),
                        )
                        .await;
                    }
                }),
            ],
            &mut order,
        )
        .await;

        let (s1, p1) = (s.clone(), pool.clone());
        compare(
            "W10 count_by",
            30,
            20,
            vec![
                contender("library", move |_| {
                    let s = s1.clone();
                    async move {
                        assert_eq!(
                            Project::query()
                                .count_by(Project::STATUS, &s)
                                .await
                                .unwrap()
                                .len(),
                            2
                        );
                    }
                }),
                contender("raw", move |_| {
                    let p = p1.clone();
                    async move {
                        assert_eq!(raw::count_by_status(&p, tenant).await.len(), 2);
                    }
                }),
            ],
            &mut order,
        )
        .await;

        let (s1, p1) = (s.clone(), pool.clone());
        compare(
            "W11 relation-filtered list",
            30,
            20,
            vec![
                contender("library", move |_| {
                    let s = s1.clone();
                    async move {
                        let rows = Task::query()
                            .filter(Task::BY_PROJECT.has(Project::STATUS.eq("archived")))
                            .order_by(Task::ID.asc())
                            .limit(100)
                            .all(&s)
                            .await
                            .unwrap();
                        assert_eq!(rows.len(), 100);
                    }
                }),
                contender("raw", move |_| {
                    let p = p1.clone();
                    async move {
                        assert_eq!(raw::tasks_of_archived(&p, tenant).await.len(), 100);
                    }
                }),
            ],
            &mut order,
        )
        .await;
    });
}
