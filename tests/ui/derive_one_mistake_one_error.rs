use chrono::{DateTime, Utc};
use tenant_query::prelude::*;
use uuid::Uuid;

// The soft-delete column has the wrong type: that is the one error, although the code
// below uses the entity's generated names and functions.
#[derive(Debug, Clone, TenantEntity)]
#[tenant(table = "events")]
pub struct Event {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    pub name: String,
    #[tenant(soft_delete)] pub deleted_at: DateTime<Utc>,
}

async fn use_it(s: &ScopedDb) -> tenant_query::Result<()> {
    let event = Event::insert(s, NewEvent { name: "x".into() }).await?;
    Event::update(s, event.id, EventPatch { name: Some("y".into()) }).await?;
    let _ = Event::query().filter(Event::NAME.eq("y")).all(s).await?;
    Event::restore(s, event.id).await?;
    Ok(())
}

fn main() {}
