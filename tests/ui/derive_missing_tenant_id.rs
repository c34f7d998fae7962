use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(TenantEntity)]
#[tenant(table = "events")]
pub struct Event {
    #[tenant(id)] pub id: Uuid,
    pub org_id: Uuid,
}

fn main() {}
