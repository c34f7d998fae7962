use chrono::{DateTime, Utc};
use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "projects")]
pub struct Project {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    pub name: String,
    #[tenant(soft_delete)] pub deleted_at: Option<DateTime<Utc>>,
}


fn main() {
    let _ = Project::query().filter(Project::NAME.eq(5));
}
