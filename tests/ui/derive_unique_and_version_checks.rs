use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(TenantEntity)]
#[tenant(table = "labels", unique = "name, colour", unique = "org_id")]
pub struct Label {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    pub name: String,
    pub color: String,
    #[tenant(version)] pub version: String,
}

fn main() {}
