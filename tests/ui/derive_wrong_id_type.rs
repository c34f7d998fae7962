use tenant_query::prelude::*;
use uuid::Uuid;

// An id or a tenant is never optional.
#[derive(TenantEntity)]
#[tenant(table = "events")]
pub struct Event {
    #[tenant(id)] pub id: Option<i64>,
    #[tenant(tenant_id)] pub org_id: Option<Uuid>,
}

fn main() {}
