use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(TenantEntity)]
#[tenant(table = "workflows")]
pub struct Workflow {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
}

// `via` names a field that is not a relation.
#[derive(TenantEntity)]
#[tenant(table = "versions", via = workflow_id)]
pub struct Version {
    #[tenant(id)] pub id: Uuid,
    pub workflow_id: Uuid,
}

// `via` together with a tenant column.
#[derive(TenantEntity)]
#[tenant(table = "steps", via = workflow_id)]
pub struct Step {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    #[tenant(belongs_to = Workflow)] pub workflow_id: Uuid,
}

// `via` through an optional relation, and through a field that does not exist.
#[derive(TenantEntity)]
#[tenant(table = "runs", via = workflow_id)]
pub struct Run {
    #[tenant(id)] pub id: Uuid,
    #[tenant(belongs_to = Workflow)] pub workflow_id: Option<Uuid>,
}

#[derive(TenantEntity)]
#[tenant(table = "logs", via = run_id)]
pub struct Log {
    #[tenant(id)] pub id: Uuid,
    #[tenant(belongs_to = Run)] pub workflow_id: Uuid,
}

// `via` through the entity itself: the chain would never reach a tenant.
#[derive(TenantEntity)]
#[tenant(table = "folders", via = parent_id)]
pub struct Folder {
    #[tenant(id)] pub id: Uuid,
    #[tenant(belongs_to = Folder)] pub parent_id: Uuid,
}

fn main() {}
