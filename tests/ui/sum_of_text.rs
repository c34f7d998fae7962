use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "projects")]
pub struct Project {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    pub name: String,
}

async fn total(s: &ScopedDb) {
    // Text has no sum.
    let _ = Project::query().sum(Project::NAME, s).await;
}

fn main() {}
