//! A multi-tenant project tracker over HTTP: the router, its handlers and its database
//! setup. `main.rs` serves it; `tests/service.rs` drives it over a real socket.
//!
//! Every handler takes its tenant from the request (a bearer token resolved by
//! [`TenantLayer`]) and passes it explicitly as a `ScopedDb` or `Loaders`. Another
//! tenant's row is answered exactly like a missing one, `404`, so ids do not leak.

// The test binary that includes this file uses part of it.
#![allow(dead_code)]

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use tenant_query::http::{Loaders, ResolveTenant, TenantLayer};
use tenant_query::prelude::*;
use tenant_query::testing::TestDb;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, TenantEntity)]
#[tenant(table = "projects", audit)]
pub struct Project {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub name: String,
    pub status: String,
    #[tenant(created_at)]
    pub created_at: DateTime<Utc>,
    #[tenant(updated_at)]
    pub updated_at: DateTime<Utc>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, TenantEntity)]
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

#[derive(Debug, Clone, PartialEq, Serialize, TenantEntity)]
#[tenant(table = "comments", audit)]
pub struct Comment {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(belongs_to = Task)]
    pub task_id: Uuid,
    pub body: String,
    #[tenant(created_at)]
    pub created_at: DateTime<Utc>,
}

pub const SCHEMA: &str = "
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
CREATE UNIQUE INDEX projects_live_name_key ON projects (org_id, name) WHERE deleted_at IS NULL;
CREATE TABLE tasks (
    id         uuid        NOT NULL,
    org_id     uuid        NOT NULL,
    project_id uuid        NOT NULL,
    title      text        NOT NULL,
    done       boolean     NOT NULL,
    deleted_at timestamptz,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, project_id) REFERENCES projects (org_id, id)
);
CREATE INDEX tasks_project_idx ON tasks (org_id, project_id);
CREATE TABLE comments (
    id         uuid        NOT NULL,
    org_id     uuid        NOT NULL,
    task_id    uuid        NOT NULL,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, task_id) REFERENCES tasks (org_id, id)
);
CREATE INDEX comments_task_idx ON comments (org_id, task_id);
";

/// The setting RLS policies read the tenant from.
const RLS_SETTING: &str = "app.tenant_id";

/// Creates the schema and the audit log on `test_db` (as its superuser), turns on row-level
/// security, and returns the service's database: a pool connected as an application role
/// that owns nothing and cannot bypass RLS, in RLS mode, checked by `verify_isolation`.
pub async fn setup(test_db: &TestDb) -> Result<TenantDb, Box<dyn std::error::Error>> {
    test_db.execute_script(SCHEMA).await?;
    let admin = TenantDb::new(test_db.pool().clone()).row_level_security(RLS_SETTING)?;
    admin.migrate().await?;
    admin.enable_row_level_security::<Project>().await?;
    admin.enable_row_level_security::<Task>().await?;
    admin.enable_row_level_security::<Comment>().await?;
    admin.enable_audit_log_row_level_security().await?;

    // Roles belong to the server, not the database: a unique name per setup.
    let suffix = Uuid::now_v7().simple().to_string();
    let role = format!("tracker_{suffix}");
    // Throwaway credentials; a UUIDv7 carries 74 random bits.
    let password = Uuid::now_v7().simple().to_string();
    test_db
        .execute_script(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{password}';
             GRANT SELECT, INSERT, UPDATE, DELETE ON projects, tasks, comments, tenant_audit_log
                 TO {role};"
        ))
        .await?;
    let options = test_db
        .connect_options()
        .clone()
        .username(&role)
        .password(&password);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    let db = TenantDb::new(pool).row_level_security(RLS_SETTING)?;
    db.verify_isolation()
        .entity::<Project>()
        .entity::<Task>()
        .entity::<Comment>()
        .audit_log()
        .run()
        .await?;
    Ok(db)
}

/// Bearer tokens and the scope each one acts in. A real service verifies a signed token
/// (a JWT) here and reads the tenant and user from its claims.
#[derive(Debug, Default)]
pub struct Tokens(HashMap<String, TenantScope>);

impl Tokens {
    /// Lets `token` act as `user` in `tenant`.
    pub fn with(mut self, token: &str, tenant: Uuid, user: Uuid) -> Self {
        self.0
            .insert(token.to_owned(), TenantScope::new(tenant).with_actor(user));
        self
    }
}

impl ResolveTenant for Tokens {
    fn resolve(&self, parts: &Parts) -> impl Future<Output = Option<TenantScope>> + Send {
        let scope = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| self.0.get(token))
            .copied();
        async move { scope }
    }
}

/// The service's routes, behind the tenant layer.
pub fn router(db: TenantDb, tokens: Tokens) -> Router {
    Router::new()
        .route("/projects", post(create_project).get(list_projects))
        .route(
            "/projects/{id}",
            get(get_project)
                .patch(update_project)
                .delete(delete_project),
        )
        .route("/projects/{id}/history", get(project_history))
        .route("/projects/{id}/tasks", post(create_task).get(list_tasks))
        .route("/tasks/open", get(open_tasks))
        .route("/tasks/{id}", patch(update_task).delete(delete_task))
        .route("/tasks/{id}/comments", post(create_comment))
        .route("/tree", get(tree))
        .layer(TenantLayer::new(db, tokens))
}

/// A library error as an HTTP answer. Details of unexpected errors go to the log, not to
/// the client.
pub struct ApiError(tenant_query::Error);

impl From<tenant_query::Error> for ApiError {
    fn from(error: tenant_query::Error) -> Self {
        ApiError(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use tenant_query::Error;
        let (status, message) = match &self.0 {
            // Absent, deleted and another tenant's look the same.
            Error::NotFound { .. } => (StatusCode::NOT_FOUND, "not found"),
            // A parent that is absent, deleted or another tenant's: the same answer.
            Error::ForeignKey { .. } => (StatusCode::NOT_FOUND, "referenced row not found"),
            Error::Conflict { .. } => (StatusCode::CONFLICT, "already exists"),
            Error::InvalidInput { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid value"),
            error => {
                tracing::error!(%error, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn not_found(entity: &'static str) -> ApiError {
    ApiError(tenant_query::Error::NotFound { entity })
}

#[derive(Debug, Deserialize)]
pub struct CreateProject {
    pub name: String,
    pub status: Option<String>,
}

async fn create_project(
    s: ScopedDb,
    Json(body): Json<CreateProject>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    let new = NewProject {
        name: body.name,
        status: body.status.unwrap_or_else(|| "active".into()),
    };
    Ok((StatusCode::CREATED, Json(Project::insert(&s, new).await?)))
}

/// The most rows one page returns.
pub const MAX_PAGE: u32 = 100;

#[derive(Debug, Deserialize)]
pub struct Page {
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub after: Option<Uuid>,
    pub status: Option<String>,
}

/// Projects in creation order, a page at a time: `next` is the cursor of the following
/// page (keyset pagination on the UUIDv7 id: no offset, stable under inserts).
async fn list_projects(s: ScopedDb, Query(page): Query<Page>) -> ApiResult<Json<Value>> {
    let limit = page.limit.unwrap_or(20).clamp(1, MAX_PAGE);
    let mut query = Project::query();
    if let Some(after) = page.after {
        query = query.after_id(after);
    } else {
        query = query.order_by(Project::ID.asc());
    }
    if let Some(status) = page.status {
        query = query.filter(Project::STATUS.eq(status));
    }
    // One row more than the page tells whether another page follows.
    let mut items = query.limit(limit + 1).all(&s).await?;
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|p| p.id)
    } else {
        None
    };
    Ok(Json(json!({ "items": items, "next": next })))
}

async fn get_project(s: ScopedDb, Path(id): Path<Uuid>) -> ApiResult<Json<Project>> {
    Ok(Json(Project::get(&s, id).await?))
}

#[derive(Debug, Deserialize)]
pub struct ChangeProject {
    pub name: Option<String>,
    pub status: Option<String>,
}

async fn update_project(
    s: ScopedDb,
    Path(id): Path<Uuid>,
    Json(body): Json<ChangeProject>,
) -> ApiResult<Json<Project>> {
    let patch = ProjectPatch {
        name: body.name,
        status: body.status,
    };
    Ok(Json(Project::update(&s, id, patch).await?))
}

async fn delete_project(s: ScopedDb, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    Project::delete(&s, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every audit record of the project, oldest first; `404` when the tenant has none (the
/// project is another tenant's, or never existed). Deleted projects keep their history.
async fn project_history(s: ScopedDb, Path(id): Path<Uuid>) -> ApiResult<Json<Vec<Value>>> {
    let records = AuditRecord::for_entity::<Project>(&s, id).await?;
    if records.is_empty() {
        return Err(not_found("projects"));
    }
    let records = records
        .into_iter()
        .map(|r| {
            json!({
                "action": r.action.to_string(),
                "actor": r.actor,
                "changes": r.changes,
                "recorded_at": r.recorded_at,
            })
        })
        .collect();
    Ok(Json(records))
}

#[derive(Debug, Deserialize)]
pub struct CreateTask {
    pub title: String,
}

/// A task in the project; `404` when the project is not the tenant's live project (the
/// library checks the parent in the insert's own statement).
async fn create_task(
    s: ScopedDb,
    Path(project_id): Path<Uuid>,
    Json(body): Json<CreateTask>,
) -> ApiResult<(StatusCode, Json<Task>)> {
    let new = NewTask {
        project_id,
        title: body.title,
        done: false,
    };
    Ok((StatusCode::CREATED, Json(Task::insert(&s, new).await?)))
}

async fn list_tasks(s: ScopedDb, Path(project_id): Path<Uuid>) -> ApiResult<Json<Vec<Task>>> {
    let mut tx = s.begin().await?;
    // Read the project and its tasks in one transaction, so "no project" is not an
    // empty list of a project deleted in between.
    Project::get(&mut tx, project_id).await?;
    let tasks = Task::query()
        .filter(Task::PROJECT_ID.eq(project_id))
        .order_by(Task::ID.asc())
        .all(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(Json(tasks))
}

#[derive(Debug, Deserialize)]
pub struct ChangeTask {
    pub title: Option<String>,
    pub done: Option<bool>,
}

async fn update_task(
    s: ScopedDb,
    Path(id): Path<Uuid>,
    Json(body): Json<ChangeTask>,
) -> ApiResult<Json<Task>> {
    let patch = TaskPatch {
        title: body.title,
        done: body.done,
        ..Default::default()
    };
    Ok(Json(Task::update(&s, id, patch).await?))
}

async fn delete_task(s: ScopedDb, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    Task::delete(&s, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct CreateComment {
    pub body: String,
}

async fn create_comment(
    s: ScopedDb,
    Path(task_id): Path<Uuid>,
    Json(body): Json<CreateComment>,
) -> ApiResult<(StatusCode, Json<Comment>)> {
    let new = NewComment {
        task_id,
        body: body.body,
    };
    Ok((StatusCode::CREATED, Json(Comment::insert(&s, new).await?)))
}

/// Open tasks with their project's name. Each item asks for its project on its own, as a
/// GraphQL resolver would; the request's loader turns those asks into one query.
async fn open_tasks(s: ScopedDb, loaders: Loaders) -> ApiResult<Json<Vec<Value>>> {
    let tasks = Task::query()
        .filter(Task::DONE.eq(false))
        .order_by(Task::ID.asc())
        .limit(MAX_PAGE)
        .all(&s)
        .await?;
    let items = tasks.into_iter().map(|task| {
        let projects = loaders.get::<Project>();
        async move {
            let project = projects.load(task.project_id).await?;
            Ok::<_, tenant_query::Error>(json!({
                "task": task,
                "project": project.map(|p| p.name),
            }))
        }
    });
    Ok(Json(futures_util::future::try_join_all(items).await?))
}

#[derive(Debug, Serialize)]
pub struct TaskTree {
    #[serde(flatten)]
    pub task: Task,
    pub comments: Vec<Comment>,
}

#[derive(Debug, Serialize)]
pub struct ProjectTree {
    #[serde(flatten)]
    pub project: Project,
    pub tasks: Vec<TaskTree>,
}

/// A page of projects with their tasks and the tasks' comments: three queries, whatever
/// the number of rows (one per level).
async fn tree(s: ScopedDb, Query(page): Query<Page>) -> ApiResult<Json<Vec<ProjectTree>>> {
    let limit = page.limit.unwrap_or(20).clamp(1, MAX_PAGE);
    let mut query = Project::query().limit(limit);
    query = match page.after {
        Some(after) => query.after_id(after),
        None => query.order_by(Project::ID.asc()),
    };
    let projects = query.all(&s).await?;
    let nested = Task::BY_PROJECT
        .then(Comment::BY_TASK)
        .attach(&s, projects)
        .await?;
    let tree = nested
        .into_iter()
        .map(|p| ProjectTree {
            project: p.row,
            tasks: p
                .children
                .into_iter()
                .map(|t| TaskTree {
                    task: t.row,
                    comments: t.children,
                })
                .collect(),
        })
        .collect();
    Ok(Json(tree))
}

/// Shared by `main.rs` and the tests: the two demo tenants.
pub struct Demo {
    pub acme: Uuid,
    pub globex: Uuid,
    pub alice: Uuid,
    pub bob: Uuid,
}

pub const ACME_TOKEN: &str = "acme-token";
pub const GLOBEX_TOKEN: &str = "globex-token";

impl Default for Demo {
    fn default() -> Self {
        Demo {
            acme: Uuid::now_v7(),
            globex: Uuid::now_v7(),
            alice: Uuid::now_v7(),
            bob: Uuid::now_v7(),
        }
    }
}

impl Demo {
    /// Alice acts in Acme with `ACME_TOKEN`, Bob in Globex with `GLOBEX_TOKEN`.
    pub fn tokens(&self) -> Tokens {
        Tokens::default()
            .with(ACME_TOKEN, self.acme, self.alice)
            .with(GLOBEX_TOKEN, self.globex, self.bob)
    }
}
