use chrono::{DateTime, Utc};
use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "projects")]
pub struct Project {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    pub name: String,
    #[tenant(soft_delete)] pub deleted_at: Option<DateTime<Utc>>,
}


async fn delete(pool: sqlx::PgPool, id: Uuid) {
    let mut tx = pool.begin().await.unwrap();
    let _ = Project::delete(&mut tx, id).await;
}

fn main() {}
