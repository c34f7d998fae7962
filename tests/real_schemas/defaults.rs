//! `#[tenant(default)]`: `None` in `New…` lets the database's default apply, per row, in
//! one-row and batch inserts; the audit record holds the value the database chose.

use chrono::{DateTime, Utc};
use serde_json::json;
use tenant_query::AuditAction;
use tenant_query::prelude::*;
use uuid::Uuid;

use crate::common::*;

#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "invoices", audit, unique = "number")]
pub struct Invoice {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub customer: String,
    #[tenant(default)]
    pub status: String,
    #[tenant(default)]
    pub number: i64,
    #[tenant(default)]
    pub labels: Vec<String>,
    #[tenant(default)]
    pub memo: Option<String>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The same table, with a field the database has no default for.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "invoices")]
pub struct NoDefault {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(default)]
    pub customer: String,
}

const INVOICES: &str = "
CREATE SEQUENCE invoice_numbers START 1000;
CREATE TABLE invoices (
    id uuid NOT NULL, org_id uuid NOT NULL, customer text NOT NULL,
    status text NOT NULL DEFAULT 'draft',
    number int8 NOT NULL DEFAULT nextval('invoice_numbers'),
    labels text[] NOT NULL DEFAULT '{new}',
    memo text DEFAULT 'none',
    deleted_at timestamptz,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX invoices_number_key ON invoices (org_id, number) WHERE deleted_at IS NULL;
";

fn invoice(customer: &str) -> NewInvoice {
    NewInvoice {
        customer: customer.into(),
        status: None,
        number: None,
        labels: None,
        memo: None,
    }
}

#[tokio::test]
async fn a_missing_value_takes_the_database_default_per_row() {
    let f = Fixture::new().await;
    f.test_db.execute_script(INVOICES).await.unwrap();
    // Tenant b's row and a deleted row of a's, which nothing below may change.
    let theirs = Invoice::insert(&f.b, invoice("theirs")).await.unwrap();
    let gone = Invoice::insert(&f.a, invoice("gone")).await.unwrap();
    Invoice::delete(&f.a, gone.id).await.unwrap();

    let mut tx = f.test_db.db().begin(f.a.tenant_scope()).await.unwrap();
    let defaulted = Invoice::insert(&mut tx, invoice("acme")).await.unwrap();
    assert_eq!(defaulted.status, "draft");
    assert_eq!(
        defaulted.number, 1002,
        "the sequence ran once per defaulted row"
    );
    assert_eq!(defaulted.labels, ["new"]);
    assert_eq!(defaulted.memo.as_deref(), Some("none"));
    let given = Invoice::insert(
        &mut tx,
        NewInvoice {
            status: Some("sent".into()),
            number: Some(7),
            labels: Some(vec![]),
            memo: Some("paid".into()),
            ..invoice("given")
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            given.status.as_str(),
            given.number,
            given.labels.len(),
            given.memo.as_deref()
        ),
        ("sent", 7, 0, Some("paid"))
    );
    // A batch mixes both, row by row.
    let batch = Invoice::insert_many(
        &mut tx,
        vec![
            NewInvoice {
                status: Some("sent".into()),
                labels: Some(vec!["a".into(), "b".into()]),
                ..invoice("b1")
            },
            invoice("b2"),
            NewInvoice {
                number: Some(8),
                ..invoice("b3")
            },
        ],
    )
    .await
    .unwrap();
    let got: Vec<(&str, i64, Vec<String>)> = batch
        .iter()
        .map(|i| (i.status.as_str(), i.number, i.labels.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("sent", 1003, vec!["a".to_owned(), "b".to_owned()]),
            ("draft", 1004, vec!["new".to_owned()]),
            ("draft", 8, vec!["new".to_owned()]),
        ]
    );
    // The audit record holds what the database chose.
    let history = AuditRecord::for_entity::<Invoice>(&mut tx, defaulted.id)
        .await
        .unwrap();
    assert_eq!(history[0].action, AuditAction::Insert);
    assert_eq!(history[0].changes["number"]["to"], json!(1002));
    assert_eq!(history[0].changes["status"]["to"], json!("draft"));
    assert_eq!(history[0].changes["labels"]["to"], json!(["new"]));
    tx.commit().await.unwrap();

    // Upserts default the same way, and find only the scope's live row.
    let upserted = Invoice::insert_or_update(
        &f.a,
        Invoice::KEY_NUMBER,
        NewInvoice {
            number: Some(theirs.number),
            status: Some("void".into()),
            ..invoice("again")
        },
    )
    .await
    .unwrap();
    assert_ne!(upserted.id, theirs.id);
    assert_eq!(upserted.labels, ["new"]);
    let theirs_now = Invoice::get(&f.b, theirs.id).await.unwrap();
    assert_eq!(theirs_now, theirs);
    let gone_now = Invoice::query().only_deleted().all(&f.a).await.unwrap();
    assert_eq!(gone_now.len(), 1);
    assert_eq!(gone_now[0].status, gone.status);
    assert_eq!(Invoice::query().count(&f.a).await.unwrap(), 6);
    assert_eq!(Invoice::query().count(&f.b).await.unwrap(), 1);
}

#[tokio::test]
async fn a_default_field_without_a_database_default_is_reported() {
    let f = Fixture::new().await;
    f.test_db.execute_script(INVOICES).await.unwrap();
    let refused = NoDefault::insert(&f.a, NewNoDefault { customer: None }).await;
    assert!(
        matches!(refused, Err(Error::Configuration(_))),
        "{refused:?}"
    );
    let report = f
        .test_db
        .db()
        .verify_schema()
        .entity::<Invoice>()
        .entity::<NoDefault>()
        .run()
        .await;
    let Err(Error::Schema(problems)) = report else {
        panic!("expected schema problems: {report:?}");
    };
    let text = problems.to_string();
    assert!(
        text.contains("`invoices.customer` is marked `default`"),
        "{text}"
    );
    assert!(!text.contains("invoices.status"), "{text}");
    assert!(
        !text.contains("invoices.labels"),
        "array columns match their type: {text}"
    );
}
