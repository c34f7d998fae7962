use chrono::{DateTime, Utc};
use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "projects", migrations = "migrations/mismatched")]
pub struct Project {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    // `name` has no default in the migrations; `status` has one.
    #[tenant(default)] pub name: String,
    #[tenant(default)] pub status: String,
}

// Every field below disagrees with the migrations in its own way.
#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "tasks", migrations = "migrations/mismatched")]
pub struct Task {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    #[tenant(belongs_to = Project)] pub project_id: Uuid,
    pub title: String,
    pub estimate: i64,
    pub due: Option<DateTime<Utc>>,
    pub missing: bool,
}

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "comments", audit, migrations = "migrations/mismatched")]
pub struct Comment {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    pub task_id: Uuid,
    pub body: String,
}

fn main() {}
