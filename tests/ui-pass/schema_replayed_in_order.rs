use chrono::{DateTime, Utc};
use tenant_query::prelude::*;
use uuid::Uuid;

// Fits the table as the migrations leave it after ADD, RENAME and DROP COLUMN.
#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "projects", migrations = "../ui/migrations/evolved")]
pub struct Project {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    pub name: String,
    pub budget: i64,
    #[tenant(soft_delete)] pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "tasks", migrations = "../ui/migrations/evolved")]
pub struct Task {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    #[tenant(belongs_to = Project)] pub project_id: Uuid,
}

fn main() {
    assert_eq!(<Project as TenantEntity>::table(), "projects");
}
