use chrono::{DateTime, Utc};
use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(TenantEntity)]
#[tenant(table = "projects")]
pub struct Project {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
}

#[derive(TenantEntity)]
#[tenant(table = "tasks")]
pub struct Task {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    // The library sets a role field itself.
    #[tenant(created_at, default)] pub created_at: DateTime<Utc>,
    // A parent is checked against the scope; a default would bypass that.
    #[tenant(belongs_to = Project, default)] pub project_id: Uuid,
    // A generated column is never written.
    #[tenant(generated, default)] pub slug: String,
}

fn main() {}
