use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(TenantEntity)]
#[tenant(table = "events")]
pub struct Event {
    pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
}

fn main() {}
