use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "projects")]
pub struct Project {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
}

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "tasks")]
pub struct Task {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    #[tenant(belongs_to = Project)] pub project_id: Uuid,
}

async fn tree(s: &ScopedDb, tasks: Vec<Task>) {
    // Tasks are attached to projects; a list of tasks is not a list of projects.
    let _ = Task::BY_PROJECT.attach(s, tasks).await;
}

fn main() {}
