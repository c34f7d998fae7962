// A `via` child proves its tenant by its parent's id alone. When the caller gives the
// parent's ids (a natural key, unique only within a tenant), two tenants can hold the same
// key, and one tenant's child would be proven the other's: refused at the parent's name.
use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "flags")]
pub struct Flag {
    #[tenant(id)] pub key: String,
    #[tenant(tenant_id)] pub org_id: Uuid,
    pub enabled: bool,
}

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "flag_notes", via = flag_key)]
pub struct FlagNote {
    #[tenant(id)] pub id: Uuid,
    #[tenant(belongs_to = Flag)] pub flag_key: String,
    pub body: String,
}

// Ids the database makes are unique across tenants: a fine parent.
#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "accounts")]
pub struct Account {
    #[tenant(id, default)] pub id: i64,
    #[tenant(tenant_id)] pub org_id: Uuid,
}

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "account_notes", via = account_id)]
pub struct AccountNote {
    #[tenant(id)] pub id: Uuid,
    #[tenant(belongs_to = Account)] pub account_id: i64,
}

fn main() {}
