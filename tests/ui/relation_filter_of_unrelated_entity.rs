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
    pub title: String,
}

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "users")]
pub struct User {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    pub email: String,
}

fn main() {
    // A task's parent is a project: a filter on users cannot describe it.
    let _ = Task::query().filter(Task::BY_PROJECT.has(User::EMAIL.eq("a@b.c")));
}
