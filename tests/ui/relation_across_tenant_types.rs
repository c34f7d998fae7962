use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "workspaces")]
pub struct Workspace {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
}

// A child keyed by another tenant type than its parent's cannot point at it.
#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "notes")]
pub struct Note {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub account_id: i64,
    #[tenant(belongs_to = Workspace)] pub workspace_id: Uuid,
}

fn main() {}
