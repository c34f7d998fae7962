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

use std::sync::Arc;

use support::ab::*;
use support::*;
use tenant_query::prelude::*;
use uuid::Uuid;

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
        // What text row ids in the audit log cost: the same one-statement audited update,
        // recording into the log (text row ids) and into a copy with uuid row ids.
        let (p1, p2, a1, a2) = (
            pool.clone(),
            pool.clone(),
            accounts.clone(),
            accounts.clone(),
        );
        compare(
            "W5t audit log row ids, text vs uuid",
            30,
            100,
            vec![
                contender("text row ids", move |i| {
                    let (p, id) = (p1.clone(), pick(&a1, i));
                    async move {
                        raw::update_balance_one_statement(
                            &p,
                            tenant,
                            actor,
                            id,
                            2_000_000 + i as i64,
                        )
                        .await;
                    }
                }),
                contender("uuid row ids", move |i| {
                    let (p, id) = (p2.clone(), pick(&a2, i));
                    async move {
                        raw::update_balance_one_statement_into(
                            &p,
                            "tenant_audit_log_uuid_ids",
                            tenant,
                            actor,
                            id,
                            2_000_000 + i as i64,
                        )
                        .await;
                    }
                }),
            ],
            &mut order,
        )
        .await;
        // Where W5's time goes, as the server saw it.
        statement_costs(&pool, "UPDATE \"accounts\"", "library's audited update").await;
        statement_costs(
            &pool,
            "UPDATE accounts SET balance = $3, updated_at = now() WHERE",
            "plain update",
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

        let tickets = Arc::new(bench.ticket_ids.clone());
        let t = bench.db.scope(&TenantScope::new(1_i64));
        let (t1, p1, i1, i2) = (t.clone(), pool.clone(), tickets.clone(), tickets.clone());
        compare(
            "W13 point lookup by bigint id",
            30,
            200,
            vec![
                contender("library", move |i| {
                    let (t, id) = (t1.clone(), i1[i % i1.len()]);
                    async move {
                        assert!(Ticket::find(&t, id).await.unwrap().is_some());
                    }
                }),
                contender("raw", move |i| {
                    let (p, id) = (p1.clone(), i2[i % i2.len()]);
                    async move {
                        assert!(raw::find_ticket(&p, 1, id).await.is_some());
                    }
                }),
            ],
            &mut order,
        )
        .await;

        // The cost of `via`: a point lookup whose tenant is proven by an `EXISTS` on the
        // parent, against the same lookup on a table with a tenant column.
        let steps = Arc::new(bench.step_ids.clone());
        let (s1, s2, p1) = (s.clone(), s.clone(), pool.clone());
        let (t1, t2, i1) = (steps.clone(), steps.clone(), ids.clone());
        compare(
            "W12 via point lookup",
            30,
            200,
            vec![
                contender("library, via", move |i| {
                    let (s, id) = (s1.clone(), pick(&t1, i));
                    async move {
                        assert!(Step::find(&s, id).await.unwrap().is_some());
                    }
                }),
                contender("library, tenant column", move |i| {
                    let (s, id) = (s2.clone(), pick(&i1, i));
                    async move {
                        assert!(Project::find(&s, id).await.unwrap().is_some());
                    }
                }),
                contender("raw, via", move |i| {
                    let (p, id) = (p1.clone(), pick(&t2, i));
                    async move {
                        assert!(raw::find_step(&p, tenant, id).await.is_some());
                    }
                }),
            ],
            &mut order,
        )
        .await;

        let keys = Arc::new(bench.flag_keys.clone());
        let (s1, p1, k1, k2) = (s.clone(), pool.clone(), keys.clone(), keys.clone());
        compare(
            "W14 point lookup by natural key",
            30,
            200,
            vec![
                contender("library", move |i| {
                    let (s, key) = (s1.clone(), k1[i % k1.len()].clone());
                    async move {
                        assert!(Flag::find(&s, key).await.unwrap().is_some());
                    }
                }),
                contender("raw", move |i| {
                    let (p, key) = (p1.clone(), k2[i % k2.len()].clone());
                    async move {
                        assert!(raw::find_flag(&p, tenant, &key).await.is_some());
                    }
                }),
            ],
            &mut order,
        )
        .await;
        placed_point_lookups(&bench, ids.clone(), &mut order).await;
    });
}

/// W15: the point lookup of W1 in each placement model (shared tables, a schema of the
/// tenant's own, a database of its own on another server), the library with placements
/// against hand-written sqlx sending the same prologue (`BEGIN`, `search_path`, fence
/// check), the query and `COMMIT` on a pool of the same size.
async fn placed_point_lookups(bench: &Bench, ids: Arc<Vec<Uuid>>, order: &mut Order) {
    use tenant_query::cells::Cells;
    use tenant_query::placement::{MemoryPlacements, Placement, SchemaName, TenantPlacement};
    if !selected("W15") {
        return;
    }
    let tenant = bench.tenant;
    let key = tenant.to_string();
    // The tenant's projects again, in a schema and in a database on a second server.
    let cell_server = tenant_query::testing::TestServer::start().await.unwrap();
    let cell_db = cell_server.database().await.unwrap();
    let ddl = "CREATE TABLE projects (id uuid NOT NULL, org_id uuid NOT NULL, name text NOT NULL, \
               status text NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, \
               deleted_at timestamptz, PRIMARY KEY (org_id, id))";
    cell_db.execute_script(ddl).await.unwrap();
    let rows: String =
        sqlx::query_scalar("SELECT jsonb_agg(to_jsonb(p))::text FROM projects p WHERE org_id = $1")
            .bind(tenant)
            .fetch_one(&bench.pool)
            .await
            .unwrap();
    for pool in [&bench.pool, cell_db.pool()] {
        let into = if std::ptr::eq(pool, &bench.pool) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA tenant_big; SET search_path = tenant_big; {ddl}; RESET search_path"
            )))
            .execute(pool)
            .await
            .unwrap();
            "tenant_big.projects"
        } else {
            "projects"
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {into} SELECT * FROM jsonb_populate_recordset(NULL::{into}, $1::jsonb)"
        )))
        .bind(&rows)
        .execute(pool)
        .await
        .unwrap();
        sqlx::raw_sql("ANALYZE").execute(pool).await.unwrap();
    }
    let schema = TenantPlacement::Schema(SchemaName::new("tenant_big").unwrap());
    let cell = TenantPlacement::Database("cell".into());
    let cell_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .min_connections(8)
        .connect_with(cell_db.connect_options().clone())
        .await
        .unwrap();
    let fence = |home: &str| format!("tenant_query.fence('{key}', '{home}', 0, false)");
    let models = [
        (
            "W15a placed point lookup, shared tables",
            TenantPlacement::Shared,
            bench.pool.clone(),
            format!("BEGIN; SELECT {}", fence("shared")),
        ),
        (
            "W15b placed point lookup, schema per tenant",
            schema,
            bench.pool.clone(),
            format!(
                "BEGIN; SELECT set_config('search_path', '\"tenant_big\"', true), {}",
                fence("schema:tenant_big")
            ),
        ),
        (
            "W15c placed point lookup, database per tenant",
            cell,
            cell_pool,
            format!("BEGIN; SELECT {}", fence("shared")),
        ),
    ];
    for (workload, home, raw_pool, prologue) in models {
        let directory = Arc::new(MemoryPlacements::new(Placement::new(home.clone())));
        let cells = Cells::new()
            .cell("cell", cell_db.connect_options().clone())
            .connections_per_cell(8);
        let db = bench.db.clone().with_placements(directory, cells);
        db.migrate_home(&home).await.unwrap();
        let s = db.scope(&TenantScope::new(tenant));
        let (i1, i2) = (ids.clone(), ids.clone());
        let pick = |ids: &Arc<Vec<Uuid>>, i: usize| ids[i % ids.len()];
        let prologue = Arc::new(prologue);
        compare(
            workload,
            30,
            100,
            vec![
                contender("library", move |i| {
                    let (s, id) = (s.clone(), pick(&i1, i));
                    async move {
                        assert!(Project::find(&s, id).await.unwrap().is_some());
                    }
                }),
                contender("raw, same prologue", move |i| {
                    let (p, id, prologue) = (raw_pool.clone(), pick(&i2, i), prologue.clone());
                    async move {
                        assert!(
                            raw::find_project_placed(&p, &prologue, tenant, id)
                                .await
                                .is_some()
                        );
                    }
                }),
            ],
            order,
        )
        .await;
    }
}
