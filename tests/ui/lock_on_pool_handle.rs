use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "jobs")]
pub struct Job {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
}

async fn take(s: &ScopedDb) {
    // A row lock ends with its statement outside a transaction: locking reads need one.
    let _ = Job::query().for_update().skip_locked().all(s).await;
}

fn main() {}
