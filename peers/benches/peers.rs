//! The shared workloads through SeaORM and diesel-async, next to tenant-query and the
//! hand-written sqlx, on the benchmarks' seeded data set, measured A/B-interleaved (each
//! round runs every contender in a fresh random order). Prints each contender's median
//! time ratio to raw sqlx, with its spread, and the time per operation.
//!
//! Each peer is written as its documentation shows, with the same SQL semantics as the
//! others: the tenant predicate, `deleted_at IS NULL`, full rows decoded, inserted rows
//! returned. Pools hold 8 connections each.
//!
//! ```sh
//! cargo bench -p tenant-query-peers                 # every workload
//! cargo bench -p tenant-query-peers -- W3           # the workloads whose names start so
//! TQ_PG_PROFILE=durable cargo bench -p tenant-query-peers
//! ```

#[path = "../../benches/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use support::ab::*;
use support::*;
use tenant_query::prelude::*;
use uuid::Uuid;

/// SeaORM entities for the seeded tables, in its compact entity format.
mod sea {
    pub mod project {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "projects")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub org_id: Uuid,
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: Uuid,
            pub name: String,
            pub status: String,
            pub created_at: DateTimeUtc,
            pub updated_at: DateTimeUtc,
            pub deleted_at: Option<DateTimeUtc>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod task {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "tasks")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub org_id: Uuid,
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: Uuid,
            pub project_id: Uuid,
            pub title: String,
            pub done: bool,
            pub deleted_at: Option<DateTimeUtc>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod event {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "events")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub org_id: Uuid,
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: Uuid,
            pub kind: String,
            pub amount: i64,
            pub created_at: DateTimeUtc,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

/// diesel's schema and models for the same tables.
mod dsl {
    use chrono::{DateTime, Utc};
    use diesel::prelude::*;
    use uuid::Uuid;

    diesel::table! {
        projects (org_id, id) {
            id -> Uuid,
            org_id -> Uuid,
            name -> Text,
            status -> Text,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
            deleted_at -> Nullable<Timestamptz>,
        }
    }

    diesel::table! {
        tasks (org_id, id) {
            id -> Uuid,
            org_id -> Uuid,
            project_id -> Uuid,
            title -> Text,
            done -> Bool,
            deleted_at -> Nullable<Timestamptz>,
        }
    }

    diesel::table! {
        events (org_id, id) {
            id -> Uuid,
            org_id -> Uuid,
            kind -> Text,
            amount -> Int8,
            created_at -> Timestamptz,
        }
    }

    // Decoded in full like every other side's rows; the benchmark only times that.
    #[allow(dead_code)]
    #[derive(Debug, Queryable, Selectable)]
    #[diesel(table_name = projects, check_for_backend(diesel::pg::Pg))]
    pub struct Project {
        pub id: Uuid,
        pub org_id: Uuid,
        pub name: String,
        pub status: String,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
        pub deleted_at: Option<DateTime<Utc>>,
    }

    #[allow(dead_code)]
    #[derive(Debug, Queryable, Selectable)]
    #[diesel(table_name = tasks, check_for_backend(diesel::pg::Pg))]
    pub struct Task {
        pub id: Uuid,
        pub org_id: Uuid,
        pub project_id: Uuid,
        pub title: String,
        pub done: bool,
        pub deleted_at: Option<DateTime<Utc>>,
    }

    #[allow(dead_code)]
    #[derive(Debug, Queryable, Selectable)]
    #[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
    pub struct Event {
        pub id: Uuid,
        pub org_id: Uuid,
        pub kind: String,
        pub amount: i64,
        pub created_at: DateTime<Utc>,
    }

    #[derive(Insertable)]
    #[diesel(table_name = events)]
    pub struct NewEvent {
        pub id: Uuid,
        pub org_id: Uuid,
        pub kind: String,
        pub amount: i64,
        pub created_at: DateTime<Utc>,
    }
}

type DieselPool = bb8::Pool<AsyncDieselConnectionManager<AsyncPgConnection>>;

async fn sea_find(
    db: &sea_orm::DatabaseConnection,
    tenant: Uuid,
    id: Uuid,
) -> Option<sea::project::Model> {
    use sea::project::{Column, Entity};
    Entity::find()
        .filter(Column::OrgId.eq(tenant))
        .filter(Column::Id.eq(id))
        .filter(Column::DeletedAt.is_null())
        .one(db)
        .await
        .unwrap()
}

async fn sea_tasks_by_project(
    db: &sea_orm::DatabaseConnection,
    tenant: Uuid,
    ids: &[Uuid],
) -> HashMap<Uuid, Vec<sea::task::Model>> {
    use sea::task::{Column, Entity};
    let rows = Entity::find()
        .filter(Column::OrgId.eq(tenant))
        .filter(Column::ProjectId.is_in(ids.iter().copied()))
        .filter(Column::DeletedAt.is_null())
        .order_by_asc(Column::ProjectId)
        .order_by_asc(Column::Id)
        .all(db)
        .await
        .unwrap();
    let mut grouped: HashMap<Uuid, Vec<_>> = ids.iter().map(|id| (*id, Vec::new())).collect();
    for row in rows {
        grouped.entry(row.project_id).or_default().push(row);
    }
    grouped
}

async fn sea_insert_events(
    db: &sea_orm::DatabaseConnection,
    tenant: Uuid,
    rows: Vec<(String, i64)>,
) -> Vec<sea::event::Model> {
    use sea::event::{ActiveModel, Entity};
    let now = Utc::now();
    let models = rows.into_iter().map(|(kind, amount)| ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(tenant),
        kind: Set(kind),
        amount: Set(amount),
        created_at: Set(now),
    });
    Entity::insert_many(models)
        .exec_with_returning(db)
        .await
        .unwrap()
}

async fn diesel_find(pool: &DieselPool, tenant: Uuid, id: Uuid) -> Option<dsl::Project> {
    use dsl::projects;
    let mut conn = pool.get().await.unwrap();
    projects::table
        .filter(projects::org_id.eq(tenant))
        .filter(projects::id.eq(id))
        .filter(projects::deleted_at.is_null())
        .select(dsl::Project::as_select())
        .get_result(&mut conn)
        .await
        .optional()
        .unwrap()
}

async fn diesel_tasks_by_project(
    pool: &DieselPool,
    tenant: Uuid,
    ids: &[Uuid],
) -> HashMap<Uuid, Vec<dsl::Task>> {
    use dsl::tasks;
    let mut conn = pool.get().await.unwrap();
    // `eq_any` binds the keys as one array: `project_id = ANY($2)`.
    let rows: Vec<dsl::Task> = tasks::table
        .filter(tasks::org_id.eq(tenant))
        .filter(tasks::project_id.eq_any(ids))
        .filter(tasks::deleted_at.is_null())
        .order_by((tasks::project_id, tasks::id))
        .select(dsl::Task::as_select())
        .load(&mut conn)
        .await
        .unwrap();
    let mut grouped: HashMap<Uuid, Vec<_>> = ids.iter().map(|id| (*id, Vec::new())).collect();
    for row in rows {
        grouped.entry(row.project_id).or_default().push(row);
    }
    grouped
}

async fn diesel_insert_events(
    pool: &DieselPool,
    tenant: Uuid,
    rows: Vec<(String, i64)>,
) -> Vec<dsl::Event> {
    let mut conn = pool.get().await.unwrap();
    let now = Utc::now();
    let rows: Vec<dsl::NewEvent> = rows
        .into_iter()
        .map(|(kind, amount)| dsl::NewEvent {
            id: Uuid::now_v7(),
            org_id: tenant,
            kind,
            amount,
            created_at: now,
        })
        .collect();
    diesel::insert_into(dsl::events::table)
        .values(&rows)
        .returning(dsl::Event::as_returning())
        .get_results(&mut conn)
        .await
        .unwrap()
}

/// A bb8 pool of 8 as diesel-async documents it; `ping` keeps bb8's default of testing
/// each connection on checkout (diesel-async's `SELECT 1`).
async fn diesel_pool(url: &str, ping: bool) -> DieselPool {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    bb8::Pool::builder()
        .max_size(8)
        .min_idle(Some(8))
        .test_on_check_out(ping)
        .build(manager)
        .await
        .unwrap()
}

fn events(i: usize) -> Vec<(String, i64)> {
    (0..1000)
        .map(|n| (format!("k{n}"), (i * 1000 + n) as i64))
        .collect()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let bench = Bench::seeded().await;
        let tenant = bench.tenant;
        let options = bench._test_db.connect_options();
        let url = format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap()
        );
        let pool = bench.pool.clone();
        // sqlx pings (one round trip) on every checkout unless told not to; the contenders
        // on this pool show what that costs, next to diesel-async without its ping.
        let pool_np = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .min_connections(8)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .unwrap();
        let lib = bench.scope();
        let lib_np = TenantDb::new(pool_np.clone()).scope(&TenantScope::new(tenant).with_actor(Uuid::from_u128(42)));
        let mut sea_options = sea_orm::ConnectOptions::new(url.clone());
        // The sqlx side logs no statements either.
        sea_options.max_connections(8).min_connections(8).sqlx_logging(false);
        let sea = sea_orm::Database::connect(sea_options).await.unwrap();
        let diesel = diesel_pool(&url, true).await;
        let diesel_np = diesel_pool(&url, false).await;
        let ids = Arc::new(bench.project_ids.clone());
        let mut order = Order(0x9e37_79b9_7f4a_7c15);

        let pick = move |ids: &Arc<Vec<Uuid>>, i: usize| ids[i % ids.len()];
        macro_rules! lookups {
            ($($name:literal => |$h:ident, $id:ident| $call:expr),* $(,)?) => {
                vec![$({
                    let ($h, ids) = ($h.clone(), ids.clone());
                    contender($name, move |i| {
                        let ($h, $id) = ($h.clone(), pick(&ids, i));
                        async move { assert!($call.is_some()); }
                    })
                }),*]
            };
        }
        against_baseline("W1 point lookup", 30, 200, lookups![
            "raw sqlx" => |pool, id| raw::find_project(&pool, tenant, id).await,
            "raw sqlx, no ping" => |pool_np, id| raw::find_project(&pool_np, tenant, id).await,
            "tenant-query" => |lib, id| Project::find(&lib, id).await.unwrap(),
            "tenant-query, no ping" => |lib_np, id| Project::find(&lib_np, id).await.unwrap(),
            "SeaORM" => |sea, id| sea_find(&sea, tenant, id).await,
            "diesel-async, bb8 ping" => |diesel, id| diesel_find(&diesel, tenant, id).await,
            "diesel-async, no ping" => |diesel_np, id| diesel_find(&diesel_np, tenant, id).await,
        ], &mut order).await;

        for (parents, rounds, reps) in [(100, 30, 20), (1000, 20, 5)] {
            macro_rules! loads {
                ($($name:literal => |$h:ident, $keys:ident| $call:expr),* $(,)?) => {
                    vec![$({
                        let ($h, ids) = ($h.clone(), ids.clone());
                        contender($name, move |_| {
                            let ($h, ids) = ($h.clone(), ids.clone());
                            async move { let $keys = &ids[..parents]; assert_eq!($call.len(), parents); }
                        })
                    }),*]
                };
            }
            let workload = format!("W3 relation load, {parents} parents");
            against_baseline(&workload, rounds, reps, loads![
                "raw sqlx" => |pool, keys| raw::tasks_by_project(&pool, tenant, keys).await,
                "raw sqlx, no ping" => |pool_np, keys| raw::tasks_by_project(&pool_np, tenant, keys).await,
                "tenant-query" => |lib, keys| Task::load_by_project_id(&lib, keys).await.unwrap(),
                "tenant-query, no ping" => |lib_np, keys| Task::load_by_project_id(&lib_np, keys).await.unwrap(),
                "SeaORM" => |sea, keys| sea_tasks_by_project(&sea, tenant, keys).await,
                "diesel-async, bb8 ping" => |diesel, keys| diesel_tasks_by_project(&diesel, tenant, keys).await,
                "diesel-async, no ping" => |diesel_np, keys| diesel_tasks_by_project(&diesel_np, tenant, keys).await,
            ], &mut order).await;
        }

        macro_rules! inserts {
            ($($name:literal => |$h:ident, $rows:ident| $call:expr),* $(,)?) => {
                vec![$({
                    let $h = $h.clone();
                    contender($name, move |i| {
                        let ($h, $rows) = ($h.clone(), events(i));
                        async move { assert_eq!($call.len(), 1000); }
                    })
                }),*]
            };
        }
        against_baseline("W4 bulk insert, 1000 rows", 20, 3, inserts![
            "raw sqlx" => |pool, rows| raw::insert_events(&pool, tenant, &rows).await,
            "raw sqlx, no ping" => |pool_np, rows| raw::insert_events(&pool_np, tenant, &rows).await,
            "tenant-query" => |lib, rows| Event::insert_many(&lib, new_events(rows)).await.unwrap(),
            "tenant-query, no ping" => |lib_np, rows| Event::insert_many(&lib_np, new_events(rows)).await.unwrap(),
            "SeaORM" => |sea, rows| sea_insert_events(&sea, tenant, rows).await,
            "diesel-async, bb8 ping" => |diesel, rows| diesel_insert_events(&diesel, tenant, rows).await,
            "diesel-async, no ping" => |diesel_np, rows| diesel_insert_events(&diesel_np, tenant, rows).await,
        ], &mut order).await;
    });
}

fn new_events(rows: Vec<(String, i64)>) -> Vec<NewEvent> {
    rows.into_iter()
        .map(|(kind, amount)| NewEvent { kind, amount })
        .collect()
}
