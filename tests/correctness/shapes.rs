//! A matrix of entity shapes, each round-tripped through every generated function and
//! checked against the table read by hand and against its audit records: field order,
//! roles present or absent, nullable uuids beside the id, renamed and keyword columns,
//! a schema-qualified table and a wide table.

use std::fmt::Debug;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tenant_query::Repository;
use tenant_query::prelude::*;
use tenant_query::testing::TestDb;
use uuid::Uuid;

/// A shape under test: how to make its values and recognise them in a row.
pub trait Shape:
    TenantEntity<Id = uuid::Uuid, Tenant = uuid::Uuid> + Clone + PartialEq + Debug
{
    /// The table, as SQL.
    const TABLE: &'static str;
    /// Its DDL.
    const DDL: &'static str;
    /// Whether writes are audited.
    const AUDITED: bool;
    /// Whether deletes are soft.
    const SOFT: bool;
    /// The id column.
    const ID_COLUMN: &'static str = "id";
    /// New row number `i`, every column's value derived from `i`.
    fn new(i: i64) -> Self::New;
    /// Whether `self` holds exactly the values of new row `i`.
    fn is_new(&self, i: i64) -> bool;
    /// A patch that changes some columns (and clears an optional one, where there is one).
    fn patch() -> Self::Patch;
    /// Whether `self` is new row `i` with [`Shape::patch`] applied.
    fn is_patched(&self, i: i64) -> bool;
}

fn uuid_of(i: i64, column: u8) -> Uuid {
    Uuid::from_u64_pair(i as u64, u64::from(column) + 1)
}

// The id after every data field, the tenant just before it.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "shape_id_last", audit)]
pub struct IdLast {
    pub reference: Uuid,
    pub title: String,
    pub note: Option<String>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(id)]
    pub id: Uuid,
}

impl Shape for IdLast {
    const TABLE: &'static str = "shape_id_last";
    const DDL: &'static str = "CREATE TABLE shape_id_last (reference uuid NOT NULL, title text NOT NULL, \
        note text, deleted_at timestamptz, org_id uuid NOT NULL, id uuid NOT NULL, PRIMARY KEY (org_id, id))";
    const AUDITED: bool = true;
    const SOFT: bool = true;
    fn new(i: i64) -> NewIdLast {
        NewIdLast {
            reference: uuid_of(i, 0),
            title: format!("t{i}"),
            note: Some(format!("n{i}")),
        }
    }
    fn is_new(&self, i: i64) -> bool {
        self.reference == uuid_of(i, 0)
            && self.title == format!("t{i}")
            && self.note == Some(format!("n{i}"))
            && self.id != self.reference
    }
    fn patch() -> IdLastPatch {
        IdLastPatch {
            title: Some("patched".into()),
            note: Some(None),
            ..Default::default()
        }
    }
    fn is_patched(&self, i: i64) -> bool {
        self.reference == uuid_of(i, 0) && self.title == "patched" && self.note.is_none()
    }
}

// The tenant first, timestamps around the id, no audit.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "shape_tenant_first")]
pub struct TenantFirst {
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(created_at)]
    pub created_at: DateTime<Utc>,
    pub label: String,
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(updated_at)]
    pub updated_at: DateTime<Utc>,
    pub amount: i64,
}

impl Shape for TenantFirst {
    const TABLE: &'static str = "shape_tenant_first";
    const DDL: &'static str = "CREATE TABLE shape_tenant_first (org_id uuid NOT NULL, created_at timestamptz NOT NULL, \
        label text NOT NULL, id uuid NOT NULL, updated_at timestamptz NOT NULL, amount bigint NOT NULL, \
        PRIMARY KEY (org_id, id))";
    const AUDITED: bool = false;
    const SOFT: bool = false;
    fn new(i: i64) -> NewTenantFirst {
        NewTenantFirst {
            label: format!("l{i}"),
            amount: i * 10,
        }
    }
    fn is_new(&self, i: i64) -> bool {
        self.label == format!("l{i}") && self.amount == i * 10 && self.updated_at == self.created_at
    }
    fn patch() -> TenantFirstPatch {
        TenantFirstPatch {
            amount: Some(-1),
            ..Default::default()
        }
    }
    fn is_patched(&self, i: i64) -> bool {
        self.label == format!("l{i}") && self.amount == -1 && self.updated_at > self.created_at
    }
}

// Nullable uuid columns on both sides of the id, audited, hard deletes.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "shape_nullable_uuids", audit)]
pub struct NullableUuids {
    pub before: Option<Uuid>,
    #[tenant(id)]
    pub id: Uuid,
    pub after: Option<Uuid>,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub code: i32,
}

impl Shape for NullableUuids {
    const TABLE: &'static str = "shape_nullable_uuids";
    const DDL: &'static str = "CREATE TABLE shape_nullable_uuids (before uuid, id uuid NOT NULL, after uuid, \
        org_id uuid NOT NULL, code integer NOT NULL, PRIMARY KEY (org_id, id))";
    const AUDITED: bool = true;
    const SOFT: bool = false;
    fn new(i: i64) -> NewNullableUuids {
        NewNullableUuids {
            before: Some(uuid_of(i, 1)),
            after: Some(uuid_of(i, 2)),
            code: i as i32,
        }
    }
    fn is_new(&self, i: i64) -> bool {
        self.before == Some(uuid_of(i, 1))
            && self.after == Some(uuid_of(i, 2))
            && self.code == i as i32
    }
    fn patch() -> NullableUuidsPatch {
        NullableUuidsPatch {
            before: Some(None),
            after: Some(Some(uuid_of(99, 9))),
            code: None,
        }
    }
    fn is_patched(&self, i: i64) -> bool {
        self.before.is_none() && self.after == Some(uuid_of(99, 9)) && self.code == i as i32
    }
}

// SQL keywords and renamed columns, and the name the library once used for old values.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "order", audit)]
pub struct Keywords {
    pub r#order: i32,
    #[tenant(rename = "user")]
    pub owner: String,
    #[tenant(id, rename = "select")]
    pub id: Uuid,
    #[tenant(rename = "group")]
    pub group_name: Option<String>,
    #[tenant(tenant_id, rename = "from")]
    pub org_id: Uuid,
    pub tq_old_1: i32,
    #[tenant(soft_delete, rename = "where")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Shape for Keywords {
    const TABLE: &'static str = "\"order\"";
    const ID_COLUMN: &'static str = "select";
    const DDL: &'static str = "CREATE TABLE \"order\" (\"order\" integer NOT NULL, \"user\" text NOT NULL, \
        \"select\" uuid NOT NULL, \"group\" text, \"from\" uuid NOT NULL, tq_old_1 integer NOT NULL, \
        \"where\" timestamptz, PRIMARY KEY (\"from\", \"select\"))";
    const AUDITED: bool = true;
    const SOFT: bool = true;
    fn new(i: i64) -> NewKeywords {
        NewKeywords {
            r#order: i as i32,
            owner: format!("u{i}"),
            group_name: None,
            tq_old_1: -(i as i32),
        }
    }
    fn is_new(&self, i: i64) -> bool {
        self.r#order == i as i32
            && self.owner == format!("u{i}")
            && self.group_name.is_none()
            && self.tq_old_1 == -(i as i32)
    }
    fn patch() -> KeywordsPatch {
        KeywordsPatch {
            group_name: Some(Some("g".into())),
            tq_old_1: Some(7),
            ..Default::default()
        }
    }
    fn is_patched(&self, i: i64) -> bool {
        self.r#order == i as i32 && self.group_name.as_deref() == Some("g") && self.tq_old_1 == 7
    }
}

// A table in another schema.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "billing.invoices", audit)]
pub struct Invoice {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub cents: i64,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Shape for Invoice {
    const TABLE: &'static str = "billing.invoices";
    const DDL: &'static str = "CREATE SCHEMA billing; CREATE TABLE billing.invoices (id uuid NOT NULL, \
        org_id uuid NOT NULL, cents bigint NOT NULL, deleted_at timestamptz, PRIMARY KEY (org_id, id))";
    const AUDITED: bool = true;
    const SOFT: bool = true;
    fn new(i: i64) -> NewInvoice {
        NewInvoice { cents: i * 100 }
    }
    fn is_new(&self, i: i64) -> bool {
        self.cents == i * 100
    }
    fn patch() -> InvoicePatch {
        InvoicePatch { cents: Some(1) }
    }
    fn is_patched(&self, _: i64) -> bool {
        self.cents == 1
    }
}

// 43 columns: more than one `jsonb_build_object` call can take in an audit diff.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "shape_wide", audit)]
pub struct Wide {
    pub c00: i64,
    pub c01: i64,
    pub c02: i64,
    pub c03: i64,
    pub c04: i64,
    pub c05: i64,
    pub c06: i64,
    pub c07: i64,
    pub c08: i64,
    pub c09: i64,
    pub c10: i64,
    pub c11: i64,
    pub c12: i64,
    pub c13: i64,
    pub c14: i64,
    pub c15: i64,
    pub c16: i64,
    pub c17: i64,
    pub c18: i64,
    pub c19: i64,
    pub c20: i64,
    pub c21: i64,
    pub c22: i64,
    pub c23: i64,
    pub c24: i64,
    pub c25: i64,
    pub c26: i64,
    pub c27: i64,
    pub c28: i64,
    pub c29: i64,
    pub c30: i64,
    pub c31: i64,
    pub c32: i64,
    pub c33: i64,
    pub c34: i64,
    pub c35: i64,
    pub c36: i64,
    pub c37: i64,
    pub c38: i64,
    pub c39: i64,
    pub c40: i64,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(id)]
    pub id: Uuid,
}

impl Shape for Wide {
    const TABLE: &'static str = "shape_wide";
    const DDL: &'static str = "CREATE TABLE shape_wide (
    c00 bigint NOT NULL,
    c01 bigint NOT NULL,
    c02 bigint NOT NULL,
    c03 bigint NOT NULL,
    c04 bigint NOT NULL,
    c05 bigint NOT NULL,
    c06 bigint NOT NULL,
    c07 bigint NOT NULL,
    c08 bigint NOT NULL,
    c09 bigint NOT NULL,
    c10 bigint NOT NULL,
    c11 bigint NOT NULL,
    c12 bigint NOT NULL,
    c13 bigint NOT NULL,
    c14 bigint NOT NULL,
    c15 bigint NOT NULL,
    c16 bigint NOT NULL,
    c17 bigint NOT NULL,
    c18 bigint NOT NULL,
    c19 bigint NOT NULL,
    c20 bigint NOT NULL,
    c21 bigint NOT NULL,
    c22 bigint NOT NULL,
    c23 bigint NOT NULL,
    c24 bigint NOT NULL,
    c25 bigint NOT NULL,
    c26 bigint NOT NULL,
    c27 bigint NOT NULL,
    c28 bigint NOT NULL,
    c29 bigint NOT NULL,
    c30 bigint NOT NULL,
    c31 bigint NOT NULL,
    c32 bigint NOT NULL,
    c33 bigint NOT NULL,
    c34 bigint NOT NULL,
    c35 bigint NOT NULL,
    c36 bigint NOT NULL,
    c37 bigint NOT NULL,
    c38 bigint NOT NULL,
    c39 bigint NOT NULL,
    c40 bigint NOT NULL,
    org_id uuid NOT NULL, id uuid NOT NULL, PRIMARY KEY (org_id, id))";
    const AUDITED: bool = true;
    const SOFT: bool = false;
    fn new(base: i64) -> NewWide {
        NewWide {
            c00: base,
            c01: base + 1,
            c02: base + 2,
            c03: base + 3,
            c04: base + 4,
            c05: base + 5,
            c06: base + 6,
            c07: base + 7,
            c08: base + 8,
            c09: base + 9,
            c10: base + 10,
            c11: base + 11,
            c12: base + 12,
            c13: base + 13,
            c14: base + 14,
            c15: base + 15,
            c16: base + 16,
            c17: base + 17,
            c18: base + 18,
            c19: base + 19,
            c20: base + 20,
            c21: base + 21,
            c22: base + 22,
            c23: base + 23,
            c24: base + 24,
            c25: base + 25,
            c26: base + 26,
            c27: base + 27,
            c28: base + 28,
            c29: base + 29,
            c30: base + 30,
            c31: base + 31,
            c32: base + 32,
            c33: base + 33,
            c34: base + 34,
            c35: base + 35,
            c36: base + 36,
            c37: base + 37,
            c38: base + 38,
            c39: base + 39,
            c40: base + 40,
        }
    }
    fn is_new(&self, base: i64) -> bool {
        self.c00 == base
            && self.c01 == base + 1
            && self.c02 == base + 2
            && self.c03 == base + 3
            && self.c04 == base + 4
            && self.c05 == base + 5
            && self.c06 == base + 6
            && self.c07 == base + 7
            && self.c08 == base + 8
            && self.c09 == base + 9
            && self.c10 == base + 10
            && self.c11 == base + 11
            && self.c12 == base + 12
            && self.c13 == base + 13
            && self.c14 == base + 14
            && self.c15 == base + 15
            && self.c16 == base + 16
            && self.c17 == base + 17
            && self.c18 == base + 18
            && self.c19 == base + 19
            && self.c20 == base + 20
            && self.c21 == base + 21
            && self.c22 == base + 22
            && self.c23 == base + 23
            && self.c24 == base + 24
            && self.c25 == base + 25
            && self.c26 == base + 26
            && self.c27 == base + 27
            && self.c28 == base + 28
            && self.c29 == base + 29
            && self.c30 == base + 30
            && self.c31 == base + 31
            && self.c32 == base + 32
            && self.c33 == base + 33
            && self.c34 == base + 34
            && self.c35 == base + 35
            && self.c36 == base + 36
            && self.c37 == base + 37
            && self.c38 == base + 38
            && self.c39 == base + 39
            && self.c40 == base + 40
    }
    fn patch() -> WidePatch {
        WidePatch {
            c40: Some(0),
            ..Default::default()
        }
    }
    fn is_patched(&self, base: i64) -> bool {
        self.c00 == base && self.c39 == base + 39 && self.c40 == 0
    }
}

/// Every shape's tables, in one database.
pub async fn database() -> TestDb {
    let db = TestDb::new().await.expect("a test database");
    for ddl in [
        IdLast::DDL,
        TenantFirst::DDL,
        NullableUuids::DDL,
        Keywords::DDL,
        Invoice::DDL,
        Wide::DDL,
    ] {
        db.execute_script(ddl).await.expect("shape DDL");
    }
    db.db().migrate().await.expect("migrate");
    db
}

/// The row `id` as stored, read behind the library's back (decoded by column name).
async fn raw<E: Shape>(db: &TestDb, id: Uuid) -> Option<E> {
    let sql = format!("SELECT * FROM {} WHERE \"{}\" = $1", E::TABLE, E::ID_COLUMN);
    sqlx::query_as::<_, E>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db.pool())
        .await
        .expect("raw read")
}

/// The row `id` as JSON, keyed by column, read behind the library's back.
async fn raw_json<E: Shape>(db: &TestDb, id: Uuid) -> Value {
    let sql = format!(
        "SELECT to_jsonb(t) FROM {} AS t WHERE \"{}\" = $1",
        E::TABLE,
        E::ID_COLUMN
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(db.pool())
        .await
        .expect("raw json")
}

/// The audit records of row `id`, oldest first: (action, changes).
async fn records(db: &TestDb, s: &ScopedDb, id: Uuid) -> Vec<(String, Value)> {
    let _ = db;
    AuditRecord::query()
        .entity_id(id)
        .all(s)
        .await
        .expect("audit read")
        .into_iter()
        .map(|r| (r.action.to_string(), r.changes))
        .collect()
}

/// The `to` values of an insert record equal the stored row, column by column.
fn assert_created(changes: &Value, row: &Value) {
    let row = row.as_object().expect("a row object");
    assert_eq!(
        changes.as_object().map(|c| c.len()),
        Some(row.len()),
        "{changes}"
    );
    for (column, value) in row {
        assert_eq!(&changes[column]["to"], value, "column {column}: {changes}");
        assert_eq!(changes[column]["from"], Value::Null, "column {column}");
    }
}

/// Round-trips `E` through every generated function, with a second tenant's rows and a
/// soft-deleted row present, inside or outside a transaction.
pub async fn round_trip<E: Shape>(db: &TestDb) {
    let actor = Uuid::now_v7();
    let a = db
        .db()
        .scope(&TenantScope::new(Uuid::now_v7()).with_actor(actor));
    let b = db
        .db()
        .scope(&TenantScope::new(Uuid::now_v7()).with_actor(actor));

    // insert, and the row as stored
    let first = E::insert(&a, E::new(1)).await.expect("insert");
    assert!(first.is_new(1), "{first:?}");
    assert_eq!(raw::<E>(db, first.id()).await.as_ref(), Some(&first));
    let stored = raw_json::<E>(db, first.id()).await;

    // insert_many in a transaction, in input order
    let mut tx = a.begin().await.expect("begin");
    let many = E::insert_many(&mut tx, vec![E::new(2), E::new(3), E::new(4)])
        .await
        .expect("insert_many");
    tx.commit().await.expect("commit");
    for (row, i) in many.iter().zip(2..) {
        assert!(row.is_new(i), "{row:?}");
        assert_eq!(raw::<E>(db, row.id()).await.as_ref(), Some(row));
    }
    let foreign = E::insert(&b, E::new(5)).await.expect("insert for b");

    // reads
    assert_eq!(
        E::find(&a, first.id()).await.expect("find").as_ref(),
        Some(&first)
    );
    assert_eq!(E::get(&a, first.id()).await.expect("get"), first);
    assert!(E::find(&b, first.id()).await.expect("find for b").is_none());
    let ids: Vec<Uuid> = many.iter().map(E::id).chain([foreign.id()]).collect();
    assert_eq!(E::find_many(&a, &ids).await.expect("find_many").len(), 3);
    assert_eq!(E::query().count(&a).await.expect("count"), 4);

    // update: only the patched columns change, in their own columns
    let patched = E::update(&a, first.id(), E::patch()).await.expect("update");
    assert!(patched.is_patched(1), "{patched:?}");
    assert_eq!(raw::<E>(db, first.id()).await.as_ref(), Some(&patched));
    let after = raw_json::<E>(db, first.id()).await;
    assert!(matches!(
        E::update(&b, first.id(), E::patch()).await,
        Err(Error::NotFound { .. })
    ));

    // delete (soft or hard), restore and purge
    let second = many[0].clone();
    E::delete(&a, second.id()).await.expect("delete");
    assert!(
        E::find(&a, second.id())
            .await
            .expect("find deleted")
            .is_none()
    );
    assert_eq!(raw::<E>(db, second.id()).await.is_some(), E::SOFT);
    assert_eq!(E::query().count(&a).await.expect("count"), 3);

    if E::AUDITED {
        let history = records(db, &a, first.id()).await;
        assert_eq!(history.len(), 2, "{history:?}");
        assert_eq!(history[0].0, "insert");
        assert_created(&history[0].1, &stored);
        assert_eq!(history[1].0, "update");
        let diff = history[1].1.as_object().expect("an update diff");
        assert!(!diff.is_empty());
        for (column, change) in diff {
            assert_eq!(change["from"], stored[column], "column {column}");
            assert_eq!(change["to"], after[column], "column {column}");
            assert_ne!(stored[column], after[column], "column {column}");
        }
        for (column, value) in after.as_object().expect("a row") {
            if !diff.contains_key(column) && column != "updated_at" {
                assert_eq!(&stored[column], value, "unrecorded change in {column}");
            }
        }
        let deleted = records(db, &a, second.id()).await;
        assert_eq!(deleted.last().map(|r| r.0.as_str()), Some("delete"));
        assert!(records(db, &b, first.id()).await.is_empty());
    }
}
