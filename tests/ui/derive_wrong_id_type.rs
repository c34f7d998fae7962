use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(TenantEntity)]
#[tenant(table = "events")]
pub struct Event {
    #[tenant(id)] pub id: i64,
    #[tenant(tenant_id)] pub org_id: Uuid,
    #[tenant(belongs_to = Parent)] pub parent: String,
}

fn main() {}
