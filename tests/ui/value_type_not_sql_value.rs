use tenant_query::prelude::*;
use uuid::Uuid;

// Bindable by sqlx, but not declared to tenant-query.
#[derive(Debug, Clone, sqlx::Type)]
#[sqlx(transparent)]
pub struct Email(String);

#[derive(TenantEntity)]
#[tenant(table = "users")]
pub struct User {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    pub email: Email,
}

fn main() {}
