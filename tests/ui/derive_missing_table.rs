use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(TenantEntity)]
pub struct Event {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
}

fn main() {}
