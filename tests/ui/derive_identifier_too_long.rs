use tenant_query::prelude::*;
use uuid::Uuid;

#[derive(TenantEntity)]
#[tenant(table = "events_with_a_table_name_that_postgres_would_silently_truncatex")]
pub struct Event {
    #[tenant(id)] pub id: Uuid,
    #[tenant(tenant_id)] pub org_id: Uuid,
    #[tenant(rename = "a_column_name_that_is_far_too_long_for_a_postgres_identifier_xy")]
    pub name: String,
}

fn main() {}
