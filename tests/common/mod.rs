//! Entities and schema shared by the integration tests.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use tenant_query::prelude::*;
use tenant_query::testing::TestDb;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "projects", audit)]
pub struct Project {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub name: String,
    pub status: String,
    pub description: Option<String>,
    #[tenant(created_at)]
    pub created_at: DateTime<Utc>,
    #[tenant(updated_at)]
    pub updated_at: DateTime<Utc>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "tasks", audit)]
pub struct Task {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(belongs_to = Project)]
    pub project_id: Uuid,
    pub title: String,
    pub done: bool,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// No soft-delete column and no audit: deletes are hard, writes pay for nothing else.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "tags")]
pub struct Tag {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id, rename = "tenant")]
    pub org_id: Uuid,
    #[tenant(rename = "tag_label")]
    pub label: String,
    pub weight: i32,
}

/// Audited, without soft delete: deletes are hard and record the whole row.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "comments", audit)]
pub struct Comment {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(belongs_to = Task)]
    pub task_id: Uuid,
    pub body: String,
}

/// An audited counter, for concurrency tests.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "counters", audit)]
pub struct Counter {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub value: i64,
}

/// Unique by name among live rows (a partial index), versioned, pointing at a project.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "labels", audit, unique = "name")]
pub struct Label {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(belongs_to = Project)]
    pub project_id: Uuid,
    pub name: String,
    pub color: String,
    pub weight: i32,
    #[tenant(version)]
    pub version: i64,
    #[tenant(updated_at)]
    pub updated_at: DateTime<Utc>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The table of [`Label`], for the tests that use it.
pub const LABELS: &str = "
CREATE TABLE labels (
    id uuid NOT NULL, org_id uuid NOT NULL, project_id uuid NOT NULL,
    name text NOT NULL, color text NOT NULL, weight integer NOT NULL,
    version bigint NOT NULL, updated_at timestamptz NOT NULL, deleted_at timestamptz,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, project_id) REFERENCES projects (org_id, id)
);
CREATE INDEX labels_project_idx ON labels (org_id, project_id);
CREATE UNIQUE INDEX labels_live_name ON labels (org_id, name) WHERE deleted_at IS NULL;
";

pub fn label(project: Uuid, name: &str, weight: i32) -> NewLabel {
    NewLabel {
        project_id: project,
        name: name.into(),
        color: "red".into(),
        weight,
    }
}

pub const SCHEMA: &str = r#"
CREATE TABLE projects (
    id          uuid        NOT NULL,
    org_id      uuid        NOT NULL,
    name        text        NOT NULL,
    status      text        NOT NULL,
    description text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz,
    PRIMARY KEY (org_id, id),
    CONSTRAINT projects_org_name_key UNIQUE (org_id, name)
);
CREATE TABLE tasks (
    id          uuid        NOT NULL,
    org_id      uuid        NOT NULL,
    project_id  uuid        NOT NULL,
    title       text        NOT NULL,
    done        boolean     NOT NULL,
    deleted_at  timestamptz,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, project_id) REFERENCES projects (org_id, id)
);
CREATE INDEX tasks_project_idx ON tasks (org_id, project_id);
CREATE TABLE comments (
    id          uuid        NOT NULL,
    org_id      uuid        NOT NULL,
    task_id     uuid        NOT NULL,
    body        text        NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, task_id) REFERENCES tasks (org_id, id)
);
CREATE INDEX comments_task_idx ON comments (org_id, task_id);
CREATE TABLE counters (
    id          uuid        NOT NULL,
    org_id      uuid        NOT NULL,
    value       bigint      NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE TABLE tags (
    id          uuid        NOT NULL,
    tenant      uuid        NOT NULL,
    tag_label   text        NOT NULL,
    weight      integer     NOT NULL,
    PRIMARY KEY (tenant, id)
);
"#;

/// A fresh database with the schema and the library's tables, and two tenants.
pub struct Fixture {
    pub test_db: TestDb,
    pub a: ScopedDb,
    pub b: ScopedDb,
    pub actor: Uuid,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let test_db = TestDb::new().await.expect("a test database");
        test_db.execute_script(SCHEMA).await.expect("schema");
        test_db.db().migrate().await.expect("migrate");
        let actor = Uuid::now_v7();
        let a = test_db
            .db()
            .scope(&TenantScope::new(Uuid::now_v7()).with_actor(actor));
        let b = test_db
            .db()
            .scope(&TenantScope::new(Uuid::now_v7()).with_actor(actor));
        Fixture {
            test_db,
            a,
            b,
            actor,
        }
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        self.test_db.pool()
    }

    /// The row as stored, read behind the library's back.
    pub async fn raw_project(&self, id: Uuid) -> Option<Project> {
        sqlx::query_as::<_, Project>("SELECT * FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .expect("raw read")
    }

    pub async fn raw_count(&self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(self.pool())
            .await
            .expect("count")
    }
}

/// How many times PostgreSQL executed statements whose text contains `needle`, in this
/// test's database (from `pg_stat_statements`).
pub async fn executed(f: &Fixture, needle: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND query LIKE '%' || $1 || '%'",
    )
    .bind(needle)
    .fetch_one(f.pool())
    .await
    .expect("pg_stat_statements is loaded")
}

/// A fixture whose statements can be counted with [`executed`].
pub async fn counting_fixture() -> Fixture {
    let f = Fixture::new().await;
    f.test_db
        .execute_script("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .unwrap();
    f
}

pub fn new_project(name: &str) -> NewProject {
    NewProject {
        name: name.into(),
        status: "active".into(),
        description: None,
    }
}

/// A patch that renames a project and changes nothing else.
pub fn rename(name: &str) -> ProjectPatch {
    ProjectPatch {
        name: Some(name.into()),
        ..Default::default()
    }
}

pub fn new_task(project_id: Uuid, title: &str) -> NewTask {
    NewTask {
        project_id,
        title: title.into(),
        done: false,
    }
}
