use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(TenantEntity)]
#[tenant(table = "events", table = "again")]
pub struct Event {
    #[tenant(id, id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    #[tenant(tenant_id)] pub other_org: Uuid,
}

fn main() {}
