use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "accounts")]
pub struct Account {
    #[tenant(id)] pub id: i64,
    #[tenant(tenant_id)] pub workspace_id: i64,
    pub name: String,
}

async fn wrong(db: TenantDb, org: Uuid) {
    // A scope of `Uuid` tenants is no scope for an entity whose tenants are `i64`.
    let s = db.scope(&TenantScope::new(org));
    let _ = Account::find(&s, 7).await;
}

fn main() {
    let _ = wrong;
}
