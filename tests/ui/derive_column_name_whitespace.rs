use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(TenantEntity)]
#[tenant(table = "events")]
pub struct Event {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    #[tenant(rename = " old 0")] pub old: i32,
}

fn main() {}
