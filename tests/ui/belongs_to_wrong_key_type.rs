use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "projects")]
pub struct Project {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
}

// The foreign key must have the parent's id type (`Uuid` here).
#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "tasks")]
pub struct Task {
    #[tenant(id)] pub id: i64,
    #[tenant(tenant_id)] pub org_id: Uuid,
    #[tenant(belongs_to = Project)] pub project_id: i64,
}

fn main() {}
