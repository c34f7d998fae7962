use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "events")]
pub struct Event {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
}

async fn restore(s: ScopedDb, id: Uuid) {
    // Without a soft-delete column there is nothing to restore or include.
    let _ = Event::restore(&s, id).await;
    let _ = Event::query().with_deleted();
}

fn main() {}
