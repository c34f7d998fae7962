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

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "comments")]
pub struct Comment {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    #[tenant(belongs_to = Task)] pub task_id: Uuid,
}

fn main() {
    // Tasks hang under projects, not under comments: the levels do not meet.
    let _ = Comment::BY_TASK.then(Task::BY_PROJECT);
}
