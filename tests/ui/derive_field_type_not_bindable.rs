use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Color(u8);

#[derive(TenantEntity)]
#[tenant(table = "paints")]
pub struct Paint {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    pub color: Color,
}

fn main() {}
