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


// The handle must come from `db.scope(..)`: the database itself is not scoped.
async fn find(db: TenantDb, id: Uuid) {
    let _ = Project::find(&db, id).await;
}

fn main() {}
