use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "workflows")]
pub struct Workflow {
    #[tenant(id, default)] pub id: i64,
    #[tenant(tenant_id)] pub org_id: Uuid,
    pub name: String,
    #[tenant(generated)] pub slug: String,
}

fn main() {
    // The database makes the id and computes the slug: neither is written by a caller.
    let _ = NewWorkflow { id: 7, name: "a".into() };
    let _ = NewWorkflow { name: "a".into(), slug: "a".into() };
    let _ = WorkflowPatch { slug: Some("b".into()), ..Default::default() };
}
