//! The application's own types, and a foreign type behind a newtype (the orphan rule
//! forbids implementing `SqlValue` for it directly), in scalar and array columns.

use serde_json::json;
use sqlx::postgres::types::PgRange;
use tenant_query::SqlValue;
use tenant_query::prelude::*;
use uuid::Uuid;

use crate::common::*;

/// The application's own enum, stored as text.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Kind {
    Meeting,
    Focus,
}

impl SqlValue for Kind {}

/// A foreign type (`PgRange<i64>`, an `int8range`) made the application's own.
#[derive(Debug, Clone, PartialEq, sqlx::Type)]
#[sqlx(transparent)]
pub struct Slot(pub PgRange<i64>);

impl SqlValue for Slot {}

#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "bookings", audit)]
pub struct Booking {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub kind: Kind,
    pub kinds: Vec<Kind>,
    pub slot: Slot,
    #[tenant(soft_delete)]
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

const BOOKINGS: &str = "
CREATE TABLE bookings (
    id uuid NOT NULL, org_id uuid NOT NULL, kind text NOT NULL, kinds text[] NOT NULL,
    slot int8range NOT NULL, deleted_at timestamptz,
    PRIMARY KEY (org_id, id)
);
";

fn booking(kind: Kind, from: i64) -> NewBooking {
    NewBooking {
        kind,
        kinds: vec![kind, Kind::Focus],
        slot: Slot(PgRange::from(from..from + 10)),
    }
}

#[tokio::test]
async fn own_and_wrapped_foreign_types_are_written_filtered_and_audited() {
    let f = Fixture::new().await;
    f.test_db.execute_script(BOOKINGS).await.unwrap();
    Booking::insert(&f.b, booking(Kind::Meeting, 0))
        .await
        .unwrap();
    let gone = Booking::insert(&f.a, booking(Kind::Meeting, 5))
        .await
        .unwrap();
    Booking::delete(&f.a, gone.id).await.unwrap();
    let one = Booking::insert(&f.a, booking(Kind::Meeting, 0))
        .await
        .unwrap();
    let many = Booking::insert_many(
        &f.a,
        vec![booking(Kind::Focus, 20), booking(Kind::Meeting, 40)],
    )
    .await
    .unwrap();
    assert_eq!(many[0].kinds, [Kind::Focus, Kind::Focus]);
    assert_eq!(many[1].slot, Slot(PgRange::from(40..50)));
    let meetings = Booking::query()
        .filter(Booking::KINDS.any_eq(Kind::Meeting))
        .order_by(Booking::SLOT.asc())
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(meetings, vec![one.clone(), many[1].clone()]);
    let at = Booking::query()
        .filter(Booking::SLOT.eq(Slot(PgRange::from(0..10))))
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(at, vec![one.clone()]);
    let history = AuditRecord::for_entity::<Booking>(&f.a, one.id)
        .await
        .unwrap();
    assert_eq!(history[0].changes["kind"]["to"], json!("meeting"));
    assert_eq!(
        history[0].changes["kinds"]["to"],
        json!(["meeting", "focus"])
    );
    assert_eq!(history[0].changes["slot"]["to"], json!("[0,10)"));
}
