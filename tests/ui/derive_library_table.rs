use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(TenantEntity)]
#[tenant(table = "tenant_audit_log")]
pub struct Forged {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub tenant_id: Uuid,
}

fn main() {}
