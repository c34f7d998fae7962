//! Adversarial probes of the guarantees, through the public API only: tenant isolation,
//! soft-delete hiding, audit records in the same statement, values in their own columns,
//! and typed errors for bad input. Each test asserts a guarantee; a failing test is a
//! finding. Passing tests document what was tried.

#[path = "attack/arrays.rs"]
mod arrays;
mod common;
#[path = "attack/keys.rs"]
mod keys;
#[path = "attack/placement.rs"]
mod placement;
#[path = "attack/via.rs"]
mod via;

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use common::*;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use tenant_query::AuditAction;
use tenant_query::Loader;
use tenant_query::prelude::*;
use uuid::Uuid;

/// The same shape, but the unique key is a plain (non-partial) constraint.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "hard_labels", audit, unique = "name")]
pub struct HardLabel {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub name: String,
    pub weight: i32,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A unique key whose only index is partial on something other than liveness.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "odd_labels", audit, unique = "name")]
pub struct OddLabel {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub name: String,
    pub archived: bool,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A self-referencing tree with an optional parent.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "nodes", audit)]
pub struct Node {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(belongs_to = Node)]
    pub parent_id: Option<Uuid>,
    pub name: String,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub retries: i32,
    pub channel: String,
}

/// Naive timestamps, a generated column, JSON.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "workflows", audit)]
pub struct Workflow {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(belongs_to = Project)]
    pub project_id: Option<Uuid>,
    pub name: String,
    #[tenant(generated)]
    pub slug: String,
    pub settings: Json<Settings>,
    #[tenant(created_at)]
    pub created_at: NaiveDateTime,
    #[tenant(updated_at)]
    pub updated_at: NaiveDateTime,
    #[tenant(soft_delete)]
    pub deleted_at: Option<NaiveDateTime>,
}

const SCHEMA_EXTRA: &str = "
CREATE TABLE hard_labels (
    id uuid NOT NULL, org_id uuid NOT NULL, name text NOT NULL, weight integer NOT NULL,
    deleted_at timestamptz,
    PRIMARY KEY (org_id, id),
    CONSTRAINT hard_labels_name_key UNIQUE (org_id, name)
);
CREATE TABLE odd_labels (
    id uuid NOT NULL, org_id uuid NOT NULL, name text NOT NULL, archived boolean NOT NULL,
    deleted_at timestamptz,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX odd_labels_name ON odd_labels (org_id, name) WHERE NOT archived;
CREATE TABLE nodes (
    id uuid NOT NULL, org_id uuid NOT NULL, parent_id uuid, name text NOT NULL,
    deleted_at timestamptz,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, parent_id) REFERENCES nodes (org_id, id)
);
CREATE INDEX nodes_parent_idx ON nodes (org_id, parent_id);
CREATE TABLE workflows (
    id uuid NOT NULL, org_id uuid NOT NULL, project_id uuid,
    name text NOT NULL,
    slug text GENERATED ALWAYS AS (lower(replace(name, ' ', '-'))) STORED,
    settings jsonb NOT NULL,
    created_at timestamp NOT NULL, updated_at timestamp NOT NULL, deleted_at timestamp,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, project_id) REFERENCES projects (org_id, id)
);
";

async fn fixture() -> Fixture {
    let f = Fixture::new().await;
    f.test_db.execute_script(LABELS).await.unwrap();
    f.test_db.execute_script(SCHEMA_EXTRA).await.unwrap();
    f
}

fn node(parent: Option<Uuid>, name: &str) -> NewNode {
    NewNode {
        parent_id: parent,
        name: name.into(),
    }
}

fn workflow(project: Option<Uuid>, name: &str, channel: &str) -> NewWorkflow {
    NewWorkflow {
        project_id: project,
        name: name.into(),
        settings: Json(Settings {
            retries: 3,
            channel: channel.into(),
        }),
    }
}

async fn history<E: TenantEntity<Id = Uuid, Tenant = Uuid>>(
    s: &ScopedDb,
    id: Uuid,
) -> Vec<tenant_query::AuditRecord> {
    AuditRecord::for_entity::<E>(s, id).await.unwrap()
}

fn actions(records: &[tenant_query::AuditRecord]) -> Vec<AuditAction> {
    records.iter().map(|r| r.action).collect()
}

fn keys(changes: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = changes.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

async fn log_count(f: &Fixture) -> i64 {
    f.raw_count("tenant_audit_log").await
}

/// A project of A and one of B, for labels to point at.
async fn two_projects(f: &Fixture) -> (Project, Project) {
    (
        Project::insert(&f.a, new_project("mine")).await.unwrap(),
        Project::insert(&f.b, new_project("theirs")).await.unwrap(),
    )
}

// ---------------------------------------------------------------------------------------
// Upserts
// ---------------------------------------------------------------------------------------

/// Two requests upsert the same new key at once. The one that loses the race turns into
/// an update of the winner's row: its record must diff against the winner's values, not
/// against nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upserts_of_a_new_key_record_the_real_diff() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let mut tx = f.a.begin().await.unwrap();
    let first = Label::insert_or_update(&mut tx, Label::KEY_NAME, label(p.id, "race", 1))
        .await
        .unwrap();
    let a = f.a.clone();
    let pid = p.id;
    let racer = tokio::spawn(async move {
        Label::insert_or_update(&a, Label::KEY_NAME, label(pid, "race", 2)).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    tx.commit().await.unwrap();
    let second = racer.await.unwrap().unwrap();
    assert_eq!(second.id, first.id);
    assert_eq!((second.weight, second.version), (2, 2));
    let records = history::<Label>(&f.a, first.id).await;
    assert_eq!(
        actions(&records),
        [AuditAction::Insert, AuditAction::Update]
    );
    let diff = &records[1].changes;
    assert_eq!(
        keys(diff),
        ["version", "weight"],
        "the update's diff lists only what changed: {diff}"
    );
    assert_eq!(diff["weight"]["from"], 1, "{diff}");
}

/// The same race with identical values: the loser changes nothing, so it records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_upserts_record_one_insert_only() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let mut tx = f.a.begin().await.unwrap();
    let first = Label::insert_or_update(&mut tx, Label::KEY_NAME, label(p.id, "same", 1))
        .await
        .unwrap();
    let a = f.a.clone();
    let pid = p.id;
    let racer = tokio::spawn(async move {
        Label::insert_or_update(&a, Label::KEY_NAME, label(pid, "same", 1)).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    tx.commit().await.unwrap();
    let second = racer.await.unwrap().unwrap();
    assert_eq!(second.version, 1, "nothing changed, the version stays");
    let records = history::<Label>(&f.a, first.id).await;
    assert_eq!(
        actions(&records),
        [AuditAction::Insert],
        "{:#?}",
        records.iter().map(|r| &r.changes).collect::<Vec<_>>()
    );
}

/// An insert then an update of the same key inside one transaction.
#[tokio::test]
async fn upserts_twice_in_one_transaction_record_insert_then_update() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let mut tx = f.a.begin().await.unwrap();
    let first = Label::insert_or_update(&mut tx, Label::KEY_NAME, label(p.id, "tx", 1))
        .await
        .unwrap();
    let second = Label::insert_or_update(&mut tx, Label::KEY_NAME, label(p.id, "tx", 5))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(first.id, second.id);
    let records = history::<Label>(&f.a, first.id).await;
    assert_eq!(
        actions(&records),
        [AuditAction::Insert, AuditAction::Update]
    );
    assert_eq!(keys(&records[1].changes), ["version", "weight"]);
    assert_eq!(records[1].actor, Some(f.actor));
}

/// A non-partial unique constraint: a soft-deleted row still holds its key. The upsert
/// must give a typed error and write nothing, and the schema check should say that a
/// deleted row cannot free its name.
#[tokio::test]
async fn upsert_on_a_key_held_by_a_deleted_row_under_a_plain_unique_constraint() {
    let f = fixture().await;
    let new = |w| NewHardLabel {
        name: "x".into(),
        weight: w,
    };
    let old = HardLabel::insert(&f.a, new(1)).await.unwrap();
    HardLabel::delete(&f.a, old.id).await.unwrap();
    let log = log_count(&f).await;
    let upserted = HardLabel::insert_or_update(&f.a, HardLabel::KEY_NAME, new(2)).await;
    assert!(
        matches!(upserted, Err(Error::Conflict { .. })),
        "{upserted:?}"
    );
    assert_eq!(log_count(&f).await, log);
    let ignored = HardLabel::insert_or_ignore(&f.a, HardLabel::KEY_NAME, new(3)).await;
    assert!(matches!(ignored, Ok(None)), "{ignored:?}");
    assert_eq!(log_count(&f).await, log);
    // The deleted row is untouched, and tenant B can use the name.
    let raw: i32 = sqlx::query_scalar("SELECT weight FROM hard_labels WHERE id = $1")
        .bind(old.id)
        .fetch_one(f.pool())
        .await
        .unwrap();
    assert_eq!(raw, 1);
    HardLabel::insert_or_update(&f.b, HardLabel::KEY_NAME, new(9))
        .await
        .unwrap();
}

/// verify_schema should not pass a unique key whose only index cannot be the upsert's
/// arbiter (partial on another predicate); if it passes, the upsert must at least work.
#[tokio::test]
async fn verify_schema_and_upsert_agree_on_a_partial_index_with_another_predicate() {
    let f = fixture().await;
    let report = f
        .test_db
        .db()
        .verify_schema()
        .entity::<OddLabel>()
        .run()
        .await;
    let upsert = OddLabel::insert_or_update(
        &f.a,
        OddLabel::KEY_NAME,
        NewOddLabel {
            name: "n".into(),
            archived: false,
        },
    )
    .await;
    assert!(
        report.is_err() || upsert.is_ok(),
        "verify_schema passed ({report:?}) but the upsert fails: {upsert:?}"
    );
}

/// verify_schema on a soft-deleting entity whose unique key is a plain constraint: the
/// README promises a deleted row frees its name, which such a constraint forbids.
#[tokio::test]
async fn verify_schema_reports_a_non_partial_unique_key_on_a_soft_deleting_entity() {
    let f = fixture().await;
    let report = f
        .test_db
        .db()
        .verify_schema()
        .entity::<HardLabel>()
        .run()
        .await;
    assert!(
        report.is_err(),
        "a plain UNIQUE (org_id, name) passes for a soft-deleting entity: {report:?}"
    );
}

/// An upsert that would move the live row to another tenant's parent writes nothing.
#[tokio::test]
async fn upsert_update_to_a_foreign_parent_writes_nothing() {
    let f = fixture().await;
    let (p, theirs) = two_projects(&f).await;
    let l = Label::insert(&f.a, label(p.id, "k", 1)).await.unwrap();
    let log = log_count(&f).await;
    let moved = Label::insert_or_update(&f.a, Label::KEY_NAME, label(theirs.id, "k", 2)).await;
    assert!(matches!(moved, Err(Error::ForeignKey { .. })), "{moved:?}");
    assert_eq!(Label::get(&f.a, l.id).await.unwrap(), l);
    assert_eq!(log_count(&f).await, log);
    // A deleted parent of the tenant is refused too.
    let gone = Project::insert(&f.a, new_project("gone")).await.unwrap();
    Project::delete(&f.a, gone.id).await.unwrap();
    let log = log_count(&f).await;
    let to_deleted = Label::insert_or_update(&f.a, Label::KEY_NAME, label(gone.id, "k", 2)).await;
    assert!(
        matches!(to_deleted, Err(Error::ForeignKey { .. })),
        "{to_deleted:?}"
    );
    let ignored = Label::insert_or_ignore(&f.a, Label::KEY_NAME, label(gone.id, "new", 2)).await;
    assert!(
        matches!(ignored, Err(Error::ForeignKey { .. })),
        "{ignored:?}"
    );
    assert_eq!(log_count(&f).await, log);
}

/// Upserts keep tenants apart: the same key in two tenants is two rows; B's upsert never
/// updates A's row.
#[tokio::test]
async fn upserts_never_cross_tenants() {
    let f = fixture().await;
    let (p, theirs) = two_projects(&f).await;
    let mine = Label::insert_or_update(&f.a, Label::KEY_NAME, label(p.id, "k", 1))
        .await
        .unwrap();
    let ignored = Label::insert_or_ignore(&f.b, Label::KEY_NAME, label(theirs.id, "k", 7))
        .await
        .unwrap()
        .expect("B has no such key: inserted");
    assert_ne!(ignored.id, mine.id);
    let again = Label::insert_or_update(&f.b, Label::KEY_NAME, label(theirs.id, "k", 8))
        .await
        .unwrap();
    assert_eq!(again.id, ignored.id);
    assert_eq!(Label::get(&f.a, mine.id).await.unwrap(), mine);
    assert_eq!(history::<Label>(&f.a, ignored.id).await.len(), 0);
    assert_eq!(history::<Label>(&f.b, ignored.id).await.len(), 2);
}

// ---------------------------------------------------------------------------------------
// Set-based writes
// ---------------------------------------------------------------------------------------

/// A set-based update that carries a stale version must not silently do nothing.
#[tokio::test]
async fn set_based_update_with_a_stale_version_is_a_conflict() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let l = Label::insert(&f.a, label(p.id, "v", 1)).await.unwrap();
    Label::update(
        &f.a,
        l.id,
        LabelPatch {
            weight: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let log = log_count(&f).await;
    let stale = Label::query()
        .filter(Label::ID.eq(l.id))
        .update(
            &f.a,
            LabelPatch {
                weight: Some(3),
                version: Some(l.version),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(log_count(&f).await, log);
    assert_eq!(Label::get(&f.a, l.id).await.unwrap().weight, 2);
    // Documented: a set-based update takes the patch's version as one more condition;
    // rows that moved on are left alone and not returned (a one-row update says Conflict).
    assert!(
        matches!(&stale, Ok(rows) if rows.is_empty()),
        "a stale version in a set-based update: {stale:?}"
    );
}

/// A bulk update whose patch changes nothing on some rows: records only for changed rows,
/// versions and updated_at move only there, and B's rows and deleted rows are untouched.
#[tokio::test]
async fn set_based_update_records_only_changed_rows() {
    let f = fixture().await;
    let (p, theirs) = two_projects(&f).await;
    let blue = Label::insert(&f.a, label(p.id, "blue", 1)).await.unwrap();
    let blue = Label::update(
        &f.a,
        blue.id,
        LabelPatch {
            color: Some("blue".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let red = Label::insert(&f.a, label(p.id, "red", 1)).await.unwrap();
    let gone = Label::insert(&f.a, label(p.id, "gone", 1)).await.unwrap();
    Label::delete(&f.a, gone.id).await.unwrap();
    let other = Label::insert(&f.b, label(theirs.id, "red", 1))
        .await
        .unwrap();
    let rows = Label::query()
        .update(
            &f.a,
            LabelPatch {
                color: Some("blue".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let unchanged = rows.iter().find(|r| r.id == blue.id).unwrap();
    assert_eq!(unchanged, &blue, "unchanged row comes back as it was");
    let changed = rows.iter().find(|r| r.id == red.id).unwrap();
    assert_eq!(changed.version, 2);
    assert_eq!(
        actions(&history::<Label>(&f.a, blue.id).await),
        [AuditAction::Insert, AuditAction::Update]
    );
    let red_log = history::<Label>(&f.a, red.id).await;
    assert_eq!(
        actions(&red_log),
        [AuditAction::Insert, AuditAction::Update]
    );
    assert_eq!(keys(&red_log[1].changes), ["color", "version"]);
    assert_eq!(red_log[1].changes["color"]["from"], "red");
    assert_eq!(red_log[1].changes["color"]["to"], "blue");
    assert_eq!(red_log[1].actor, Some(f.actor));
    assert_eq!(Label::get(&f.b, other.id).await.unwrap(), other);
    let raw_gone: String = sqlx::query_scalar("SELECT color FROM labels WHERE id = $1")
        .bind(gone.id)
        .fetch_one(f.pool())
        .await
        .unwrap();
    assert_eq!(raw_gone, "red");
}

/// with_deleted / only_deleted in set-based writes stay inside the tenant.
#[tokio::test]
async fn set_based_writes_with_deleted_stay_in_the_tenant() {
    let f = Fixture::new().await;
    for s in [&f.a, &f.b] {
        let rows = Project::insert_many(s, vec![new_project("x1"), new_project("x2")])
            .await
            .unwrap();
        Project::delete(s, rows[1].id).await.unwrap();
    }
    let theirs_before = Project::query().with_deleted().all(&f.b).await.unwrap();
    let updated = Project::query()
        .with_deleted()
        .update(
            &f.a,
            ProjectPatch {
                status: Some("zz".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.len(), 2);
    let restored = Project::query().with_deleted().restore(&f.a).await.unwrap();
    assert_eq!(restored.len(), 1, "restore takes only deleted rows");
    let gone = Project::query().delete(&f.a).await.unwrap();
    assert_eq!(gone.len(), 2);
    let purged = Project::query().only_deleted().purge(&f.a).await.unwrap();
    assert_eq!(purged.len(), 2);
    assert_eq!(
        Project::query().with_deleted().count(&f.a).await.unwrap(),
        0
    );
    assert_eq!(
        Project::query().with_deleted().all(&f.b).await.unwrap(),
        theirs_before
    );
    // Every write left its records: 2 inserts, 1 delete, 2 updates, 1 restore, 2 deletes,
    // 2 purges.
    let records = AuditRecord::query()
        .entity::<Project>()
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(records.len(), 10, "{:#?}", actions(&records));
    assert!(
        records
            .iter()
            .all(|r| r.tenant_id == f.a.tenant_scope().tenant_id())
    );
}

/// Keyset, order, limit and offset choose exactly the rows a read would.
#[tokio::test]
async fn set_based_writes_follow_keyset_order_limit_and_offset() {
    let f = Fixture::new().await;
    let rows = Project::insert_many(
        &f.a,
        (0..6).map(|i| new_project(&format!("n{i}"))).collect(),
    )
    .await
    .unwrap();
    Project::insert_many(
        &f.b,
        (0..6).map(|i| new_project(&format!("n{i}"))).collect(),
    )
    .await
    .unwrap();
    // after(name asc, n1) limit 2 → n2, n3
    let read: Vec<Uuid> = Project::query()
        .after(Project::NAME.asc(), "n1", rows[1].id)
        .limit(2)
        .all(&f.a)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    let deleted: Vec<Uuid> = Project::query()
        .after(Project::NAME.asc(), "n1", rows[1].id)
        .limit(2)
        .delete(&f.a)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(deleted, read);
    assert_eq!(deleted, [rows[2].id, rows[3].id]);
    // after_id + offset + desc order: live rows after n0 are n1, n4, n5; desc by name,
    // offset 1, limit 1 → n4.
    let renamed = Project::query()
        .after_id(rows[0].id)
        .order_by(Project::NAME.desc())
        .offset(1)
        .limit(1)
        .update(&f.a, rename("renamed"))
        .await
        .unwrap();
    // after_id orders by id first, so the order is id asc: n1, n4, n5; offset 1 → n4.
    assert_eq!(renamed.len(), 1);
    assert_eq!(renamed[0].id, rows[4].id);
    assert_eq!(Project::query().count(&f.b).await.unwrap(), 6);
    let none = Project::query().limit(0).delete(&f.a).await.unwrap();
    assert!(none.is_empty());
    let none = Project::query().offset(100).purge(&f.a).await.unwrap();
    assert!(none.is_empty());
}

/// A failed set-based write inside a transaction: nothing kept, commit says RolledBack.
#[tokio::test]
async fn a_failed_set_based_write_rolls_back_the_transaction() {
    let f = Fixture::new().await;
    Project::insert_many(&f.a, vec![new_project("a"), new_project("b")])
        .await
        .unwrap();
    let log = log_count(&f).await;
    let mut tx = f.a.begin().await.unwrap();
    Project::insert(&mut tx, new_project("c")).await.unwrap();
    // Renaming every project to one name violates projects_org_name_key.
    let clash = Project::query().update(&mut tx, rename("same")).await;
    assert!(matches!(clash, Err(Error::Conflict { .. })), "{clash:?}");
    let after = Project::query().count(&mut tx).await;
    assert!(after.is_err(), "the transaction has failed: {after:?}");
    let committed = tx.commit().await;
    assert!(matches!(committed, Err(Error::RolledBack)), "{committed:?}");
    assert_eq!(Project::query().count(&f.a).await.unwrap(), 2);
    assert_eq!(log_count(&f).await, log);
}

/// Restoring rows whose key a live row has taken since is a unique violation: typed,
/// nothing restored, nothing recorded.
#[tokio::test]
async fn set_based_restore_into_a_taken_key_is_a_conflict() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let old = Label::insert(&f.a, label(p.id, "k", 1)).await.unwrap();
    Label::delete(&f.a, old.id).await.unwrap();
    Label::insert(&f.a, label(p.id, "k", 2)).await.unwrap();
    let log = log_count(&f).await;
    let restored = Label::query().only_deleted().restore(&f.a).await;
    assert!(
        matches!(restored, Err(Error::Conflict { .. })),
        "{restored:?}"
    );
    let one = Label::restore(&f.a, old.id).await;
    assert!(matches!(one, Err(Error::Conflict { .. })), "{one:?}");
    assert_eq!(log_count(&f).await, log);
    assert_eq!(Label::query().only_deleted().count(&f.a).await.unwrap(), 1);
}

/// A set-based update pointing rows at a soft-deleted parent of the tenant is refused.
#[tokio::test]
async fn set_based_update_to_a_deleted_parent_is_refused() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let gone = Project::insert(&f.a, new_project("gone")).await.unwrap();
    Project::delete(&f.a, gone.id).await.unwrap();
    Label::insert(&f.a, label(p.id, "k", 1)).await.unwrap();
    let log = log_count(&f).await;
    let moved = Label::query()
        .update(
            &f.a,
            LabelPatch {
                project_id: Some(gone.id),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(moved, Err(Error::ForeignKey { .. })), "{moved:?}");
    assert_eq!(log_count(&f).await, log);
    // With a limit and an order, and another tenant's parent, the same.
    let theirs = Project::query().one(&f.b).await.unwrap();
    let moved = Label::query()
        .order_by(Label::NAME.asc())
        .limit(1)
        .update(
            &f.a,
            LabelPatch {
                project_id: Some(theirs.id),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(moved, Err(Error::ForeignKey { .. })), "{moved:?}");
}

/// A hard delete (purge) by query of an audited entity refuses to cascade.
#[tokio::test]
async fn set_based_purge_refuses_cascades() {
    let f = fixture().await;
    f.test_db
        .execute_script(
            "CREATE TABLE node_notes (org_id uuid NOT NULL, id uuid NOT NULL, node_id uuid NOT NULL, \
             PRIMARY KEY (org_id, id), \
             FOREIGN KEY (org_id, node_id) REFERENCES nodes (org_id, id) ON DELETE CASCADE)",
        )
        .await
        .unwrap();
    let n = Node::insert(&f.a, node(None, "n")).await.unwrap();
    sqlx::query("INSERT INTO node_notes VALUES ($1, $2, $3)")
        .bind(f.a.tenant_scope().tenant_id())
        .bind(Uuid::now_v7())
        .bind(n.id)
        .execute(f.pool())
        .await
        .unwrap();
    let purged = Node::query().purge(&f.a).await;
    assert!(
        matches!(purged, Err(Error::CascadeRefused { .. })),
        "{purged:?}"
    );
    assert_eq!(f.raw_count("node_notes").await, 1);
    assert_eq!(Node::query().count(&f.a).await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------
// Aggregates
// ---------------------------------------------------------------------------------------

/// Aggregates of a keyset page without a limit must cover the same rows `all` returns.
#[tokio::test]
async fn aggregates_honor_a_keyset_without_a_window() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let mut ids = Vec::new();
    for w in 1..=5 {
        ids.push(
            Label::insert(&f.a, label(p.id, &format!("w{w}"), w))
                .await
                .unwrap()
                .id,
        );
    }
    let page = || Label::query().after_id(ids[1]);
    let rows = page().all(&f.a).await.unwrap();
    let expected: i64 = rows.iter().map(|l| i64::from(l.weight)).sum();
    assert_eq!(expected, 12);
    assert_eq!(page().count(&f.a).await.unwrap(), 3);
    let sum = page().sum(Label::WEIGHT, &f.a).await.unwrap();
    let min = page().min(Label::WEIGHT, &f.a).await.unwrap();
    let per_project = page()
        .group_by(Label::PROJECT_ID)
        .count(&f.a)
        .await
        .unwrap();
    assert_eq!(
        (sum, min, per_project),
        (Some(12), Some(3), vec![(p.id, 3)]),
        "aggregates over `after_id` pages ignore the keyset"
    );
}

/// Aggregates: with_deleted, only_deleted, windows with offset, empty sets, another
/// tenant's rows never counted.
#[tokio::test]
async fn aggregates_cover_the_scope_and_its_deleted_rows_only_when_asked() {
    let f = fixture().await;
    let (p, theirs) = two_projects(&f).await;
    for w in [10, 20, 30] {
        Label::insert(&f.a, label(p.id, &format!("l{w}"), w))
            .await
            .unwrap();
    }
    let gone = Label::insert(&f.a, label(p.id, "gone", 1000))
        .await
        .unwrap();
    Label::delete(&f.a, gone.id).await.unwrap();
    Label::insert(&f.b, label(theirs.id, "b", 100_000))
        .await
        .unwrap();
    let q = Label::query;
    assert_eq!(q().max(Label::WEIGHT, &f.a).await.unwrap(), Some(30));
    assert_eq!(
        q().with_deleted().max(Label::WEIGHT, &f.a).await.unwrap(),
        Some(1000)
    );
    assert_eq!(
        q().only_deleted().sum(Label::WEIGHT, &f.a).await.unwrap(),
        Some(1000)
    );
    assert_eq!(
        q().order_by(Label::WEIGHT.asc())
            .offset(1)
            .avg(Label::WEIGHT, &f.a)
            .await
            .unwrap(),
        Some(25.0)
    );
    assert_eq!(q().offset(10).sum(Label::WEIGHT, &f.a).await.unwrap(), None);
    assert_eq!(
        q().order_by(Label::WEIGHT.desc())
            .limit(1)
            .group_by(Label::COLOR)
            .sum(Label::WEIGHT, &f.a)
            .await
            .unwrap(),
        [("red".to_owned(), Some(30))]
    );
    assert_eq!(
        q().min(Label::NAME, &f.a).await.unwrap().as_deref(),
        Some("l10")
    );
    let by_project = q()
        .with_deleted()
        .count_by(Label::PROJECT_ID, &f.a)
        .await
        .unwrap();
    assert_eq!(by_project, [(p.id, 4)]);
    // latest_by hides deleted rows and other tenants.
    let latest = q()
        .latest_by(Label::PROJECT_ID, Label::WEIGHT.desc(), &f.a)
        .await
        .unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].weight, 30);
    let latest = q()
        .with_deleted()
        .latest_by(Label::PROJECT_ID, Label::WEIGHT.desc(), &f.a)
        .await
        .unwrap();
    assert_eq!(latest[0].weight, 1000);
    // Relation filters inside aggregates.
    let of_mine = q()
        .filter(Label::BY_PROJECT.has(Project::NAME.eq("theirs")))
        .count(&f.a)
        .await
        .unwrap();
    assert_eq!(of_mine, 0);
}

/// An aggregate that fails (overflow, a type with no aggregate) is a typed error.
#[tokio::test]
async fn aggregate_overflow_and_unsupported_types_are_typed_errors() {
    let f = Fixture::new().await;
    let c = Counter::insert_many(
        &f.a,
        vec![
            NewCounter { value: i64::MAX },
            NewCounter { value: i64::MAX },
        ],
    )
    .await
    .unwrap();
    assert_eq!(c.len(), 2);
    let sum = Counter::query().sum(Counter::VALUE, &f.a).await;
    assert!(matches!(sum, Err(Error::Database(_))), "{sum:?}");
    let avg = Counter::query().avg(Counter::VALUE, &f.a).await.unwrap();
    assert!(avg.unwrap() > 9.0e18);
    let min_bool = Task::query().min(Task::DONE, &f.a).await;
    assert!(min_bool.is_err(), "{min_bool:?}");
}

// ---------------------------------------------------------------------------------------
// Relation filters
// ---------------------------------------------------------------------------------------

/// A self-referencing relation: parents, children, nested, deleted and foreign rows.
#[tokio::test]
async fn self_referencing_relation_filters_stay_live_and_scoped() {
    let f = fixture().await;
    let root = Node::insert(&f.a, node(None, "root")).await.unwrap();
    let child = Node::insert(&f.a, node(Some(root.id), "child"))
        .await
        .unwrap();
    let grand = Node::insert(&f.a, node(Some(child.id), "grand"))
        .await
        .unwrap();
    let dead = Node::insert(&f.a, node(Some(root.id), "dead"))
        .await
        .unwrap();
    Node::insert(&f.a, node(Some(dead.id), "orphan"))
        .await
        .unwrap();
    Node::delete(&f.a, dead.id).await.unwrap();
    let b_root = Node::insert(&f.b, node(None, "root")).await.unwrap();
    Node::insert(&f.b, node(Some(b_root.id), "b_child"))
        .await
        .unwrap();

    let names = |rows: Vec<Node>| {
        let mut n: Vec<String> = rows.into_iter().map(|r| r.name).collect();
        n.sort();
        n
    };
    let children_of_root = Node::query()
        .filter(Node::BY_PARENT.has(Node::NAME.eq("root")))
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(names(children_of_root), ["child"]);
    let with_children = Node::query()
        .filter(Node::BY_PARENT.any(Filter::all([])))
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(names(with_children), ["child", "root"]);
    let leaves = Node::query()
        .filter(Node::BY_PARENT.none(Filter::all([])))
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(names(leaves), ["grand", "orphan"]);
    let grandchildren = Node::query()
        .filter(Node::BY_PARENT.has(Node::BY_PARENT.has(Node::NAME.eq("root"))))
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(names(grandchildren), ["grand"]);
    let grandparents = Node::query()
        .filter(Node::BY_PARENT.any(Node::BY_PARENT.any(Node::ID.eq(grand.id))))
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(names(grandparents), ["root"]);
    // In a set-based write.
    let renamed = Node::query()
        .filter(Node::BY_PARENT.has(Node::NAME.eq("root")))
        .update(
            &f.a,
            NodePatch {
                name: Some("renamed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.len(), 1);
    assert_eq!(renamed[0].id, child.id);
    assert_eq!(
        names(Node::query().all(&f.b).await.unwrap()),
        ["b_child", "root"]
    );
    // Re-parent to a deleted node, to a foreign node: refused.
    for bad in [dead.id, b_root.id] {
        let moved = Node::query()
            .filter(Node::ID.eq(grand.id))
            .update(
                &f.a,
                NodePatch {
                    parent_id: Some(Some(bad)),
                    ..Default::default()
                },
            )
            .await;
        assert!(matches!(moved, Err(Error::ForeignKey { .. })), "{moved:?}");
        let moved = Node::update(
            &f.a,
            grand.id,
            NodePatch {
                parent_id: Some(Some(bad)),
                ..Default::default()
            },
        )
        .await;
        assert!(matches!(moved, Err(Error::ForeignKey { .. })), "{moved:?}");
    }
    // Detach in bulk.
    let detached = Node::query()
        .filter(Node::PARENT_ID.is_not_null())
        .update(
            &f.a,
            NodePatch {
                parent_id: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // child, grand, and orphan (live, its parent deleted).
    assert_eq!(detached.len(), 3);
    assert!(detached.iter().all(|n| n.parent_id.is_none()));
}

/// Relation filters in set-based deletes and purges: a child whose parent is another
/// tenant's (impossible through the API) or deleted is not matched.
#[tokio::test]
async fn relation_filters_in_set_based_deletes_do_not_reach_other_tenants() {
    let f = Fixture::new().await;
    let mine = Project::insert(&f.a, new_project("same")).await.unwrap();
    let theirs = Project::insert(&f.b, new_project("same")).await.unwrap();
    let my_task = Task::insert(&f.a, new_task(mine.id, "t")).await.unwrap();
    let their_task = Task::insert(&f.b, new_task(theirs.id, "t")).await.unwrap();
    let deleted = Task::query()
        .filter(Task::BY_PROJECT.has(Project::NAME.eq("same")))
        .delete(&f.a)
        .await
        .unwrap();
    assert_eq!(
        deleted.iter().map(|t| t.id).collect::<Vec<_>>(),
        [my_task.id]
    );
    assert!(Task::get(&f.b, their_task.id).await.is_ok());
    // Projects with no live task: "same" of A now.
    let idle = Project::query()
        .filter(Task::BY_PROJECT.none(Filter::all([])))
        .delete(&f.a)
        .await
        .unwrap();
    assert_eq!(idle.len(), 1);
    assert!(Project::get(&f.b, theirs.id).await.is_ok());
    // Trash purged through a relation filter on a deleted parent: the parent must be live,
    // so nothing matches.
    let purged = Task::query()
        .only_deleted()
        .filter(Task::BY_PROJECT.has(Filter::all([])))
        .purge(&f.a)
        .await
        .unwrap();
    assert!(purged.is_empty());
}

// ---------------------------------------------------------------------------------------
// Optimistic locking
// ---------------------------------------------------------------------------------------

/// Concurrent writers with the same read version: exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_versioned_updates_let_exactly_one_win() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let l = Label::insert(&f.a, label(p.id, "v", 0)).await.unwrap();
    let mut handles = Vec::new();
    for i in 1..=8 {
        let a = f.a.clone();
        let (id, version) = (l.id, l.version);
        handles.push(tokio::spawn(async move {
            Label::update(
                &a,
                id,
                LabelPatch {
                    weight: Some(i),
                    version: Some(version),
                    ..Default::default()
                },
            )
            .await
        }));
    }
    let mut wins = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => wins += 1,
            Err(Error::Conflict { .. }) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(wins, 1);
    let records = history::<Label>(&f.a, l.id).await;
    assert_eq!(
        actions(&records),
        [AuditAction::Insert, AuditAction::Update]
    );
    assert_eq!(Label::get(&f.a, l.id).await.unwrap().version, 2);
}

/// A version in a patch is only a guard: it is never written as the row's version.
#[tokio::test]
async fn a_version_in_a_patch_is_never_written() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let l = Label::insert(&f.a, label(p.id, "v", 0)).await.unwrap();
    let same = Label::update(
        &f.a,
        l.id,
        LabelPatch {
            version: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(same.version, 1);
    let future = Label::update(
        &f.a,
        l.id,
        LabelPatch {
            weight: Some(9),
            version: Some(99),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(future, Err(Error::Conflict { .. })), "{future:?}");
    let deleted = Label::insert(&f.a, label(p.id, "d", 0)).await.unwrap();
    Label::delete(&f.a, deleted.id).await.unwrap();
    let on_deleted = Label::update(
        &f.a,
        deleted.id,
        LabelPatch {
            weight: Some(9),
            version: Some(1),
            ..Default::default()
        },
    )
    .await;
    assert!(
        matches!(on_deleted, Err(Error::NotFound { .. })),
        "{on_deleted:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Locking reads
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_locked_and_nowait_respect_scope_and_locks() {
    let f = Fixture::new().await;
    let rows = Project::insert_many(&f.a, vec![new_project("q1"), new_project("q2")])
        .await
        .unwrap();
    Project::insert(&f.b, new_project("q1")).await.unwrap();
    let mut holder = f.a.begin().await.unwrap();
    let held = Project::query()
        .filter(Project::ID.eq(rows[0].id))
        .for_update()
        .one(&mut holder)
        .await
        .unwrap();
    assert_eq!(held.id, rows[0].id);
    let mut worker = f.a.begin().await.unwrap();
    let free = Project::query()
        .for_update()
        .skip_locked()
        .all(&mut worker)
        .await
        .unwrap();
    assert_eq!(free.iter().map(|p| p.id).collect::<Vec<_>>(), [rows[1].id]);
    let nowait = Project::query()
        .filter(Project::ID.eq(rows[0].id))
        .for_update()
        .nowait()
        .one(&mut worker)
        .await;
    let err = nowait.unwrap_err();
    assert_eq!(err.sqlstate().as_deref(), Some("55P03"), "{err:?}");
    assert!(matches!(worker.commit().await, Err(Error::RolledBack)));
    holder.commit().await.unwrap();
    // Tenant B's worker sees its own row only, never A's locked or free rows.
    let mut b = f.b.begin().await.unwrap();
    let theirs = Project::query()
        .for_update()
        .skip_locked()
        .all(&mut b)
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);
    b.commit().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Cross tenant
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn owner_of_an_id_two_tenants_share_is_not_unique() {
    let f = Fixture::new().await;
    let mine = Project::insert(&f.a, new_project("x")).await.unwrap();
    sqlx::query(
        "INSERT INTO projects (id, org_id, name, status, created_at, updated_at) \
         VALUES ($1, $2, 'x', 'active', now(), now())",
    )
    .bind(mine.id)
    .bind(f.b.tenant_scope().tenant_id())
    .execute(f.pool())
    .await
    .unwrap();
    let admin = f.test_db.db().cross_tenant("test").unwrap();
    let owner = admin.owner_of::<Project>(mine.id).await;
    assert!(matches!(owner, Err(Error::NotUnique { .. })), "{owner:?}");
    assert!(f.test_db.db().cross_tenant("").is_err());
    // The owner's scope carries no actor of its own; a tag (no soft delete) works too.
    let tag = Tag::insert(
        &f.a,
        NewTag {
            label: "t".into(),
            weight: 1,
        },
    )
    .await
    .unwrap();
    let scope = admin.owner_of::<Tag>(tag.id).await.unwrap().unwrap();
    assert_eq!(scope.tenant_id(), f.a.tenant_scope().tenant_id());
}

// ---------------------------------------------------------------------------------------
// RLS and PgBouncer
// ---------------------------------------------------------------------------------------

const SETTING: &str = "app.tenant_id";

/// An application role under RLS (no superuser, no BYPASSRLS) over the fixture's tables.
async fn app_role(f: &Fixture, tables: &[&str]) -> String {
    let suffix = Uuid::now_v7().simple().to_string();
    let (owner, app) = (format!("owner_{suffix}"), format!("app_{suffix}"));
    let mut ddl = format!("CREATE ROLE {owner} LOGIN; CREATE ROLE {app} LOGIN;");
    for table in tables {
        ddl.push_str(&format!(
            "ALTER TABLE {table} OWNER TO {owner}; GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {app};"
        ));
    }
    f.test_db.execute_script(&ddl).await.unwrap();
    let admin = TenantDb::new(f.pool().clone())
        .row_level_security(SETTING)
        .unwrap();
    admin.enable_row_level_security::<Project>().await.unwrap();
    admin.enable_row_level_security::<Task>().await.unwrap();
    admin.enable_row_level_security::<Label>().await.unwrap();
    admin.enable_audit_log_row_level_security().await.unwrap();
    app
}

/// In RLS mode, `owner_of` would run with no tenant setting and the policies would hide
/// every row: it is refused, typed, rather than answering `None`.
#[tokio::test]
async fn owner_of_is_refused_in_rls_mode() {
    let f = fixture().await;
    let app = app_role(&f, &["projects", "tasks", "labels", "tenant_audit_log"]).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(f.test_db.connect_options().clone().username(&app))
        .await
        .unwrap();
    let db = TenantDb::new(pool).row_level_security(SETTING).unwrap();
    let scope = TenantScope::new(Uuid::now_v7());
    let p = Project::insert(&db.scope(&scope), new_project("p"))
        .await
        .unwrap();
    let owner = db
        .cross_tenant("webhook")
        .unwrap()
        .owner_of::<Project>(p.id)
        .await;
    assert!(
        matches!(&owner, Err(Error::Configuration(_))),
        "owner_of in RLS mode: {owner:?}"
    );
    // The same lookup through a TenantDb without RLS mode, as the table owner, finds it.
    let owner = f
        .test_db
        .db()
        .cross_tenant("webhook")
        .unwrap()
        .owner_of::<Project>(p.id)
        .await
        .unwrap();
    assert_eq!(owner.map(|s| s.tenant_id()), Some(scope.tenant_id()));
}

/// The new statements (set-based writes, upserts, aggregates, relation filters, locking
/// reads) through PgBouncer in transaction mode, in RLS mode, as the application role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_statements_work_under_rls_behind_pgbouncer() {
    let f = fixture().await;
    let app = app_role(&f, &["projects", "tasks", "labels", "tenant_audit_log"]).await;
    let bouncer = tenant_query::testing::PgBouncer::start(&f.test_db, &["postgres", &app], 2)
        .await
        .unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(bouncer.connect_options(&app))
        .await
        .unwrap();
    let db = TenantDb::new(pool)
        .behind_transaction_pooler()
        .row_level_security(SETTING)
        .unwrap();
    let (sa, sb) = (
        TenantScope::new(Uuid::now_v7()).with_actor(f.actor),
        TenantScope::new(Uuid::now_v7()).with_actor(f.actor),
    );
    let (a, b) = (db.scope(&sa), db.scope(&sb));
    for _round in 0..3 {
        for s in [&a, &b] {
            let p = Project::insert(s, new_project(&Uuid::now_v7().to_string()))
                .await
                .unwrap();
            Task::insert_many(s, vec![new_task(p.id, "x"), new_task(p.id, "y")])
                .await
                .unwrap();
            let l = Label::insert_or_update(s, Label::KEY_NAME, label(p.id, "k", 1))
                .await
                .unwrap();
            Label::insert_or_update(s, Label::KEY_NAME, label(p.id, "k", 2))
                .await
                .unwrap();
            assert!(
                Label::insert_or_ignore(s, Label::KEY_NAME, label(p.id, "k", 3))
                    .await
                    .unwrap()
                    .is_none()
            );
            let done = Task::query()
                .filter(Task::BY_PROJECT.has(Project::ID.eq(p.id)))
                .order_by(Task::TITLE.asc())
                .limit(1)
                .update(
                    s,
                    TaskPatch {
                        done: Some(true),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(done.len(), 1);
            let per_done = Task::query().count_by(Task::DONE, s).await.unwrap();
            assert_eq!(per_done.len(), 2);
            let mut tx = s.begin().await.unwrap();
            let locked = Task::query()
                .for_update()
                .skip_locked()
                .all(&mut tx)
                .await
                .unwrap();
            assert!(
                locked
                    .iter()
                    .all(|t| t.org_id == s.tenant_scope().tenant_id())
            );
            Task::query()
                .filter(Task::DONE.eq(true))
                .delete(&mut tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            let stale = Label::update(
                s,
                l.id,
                LabelPatch {
                    weight: Some(7),
                    version: Some(1),
                    ..Default::default()
                },
            )
            .await;
            assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
            Label::query().delete(s).await.unwrap();
        }
    }
    for s in [&a, &b] {
        let tenant = s.tenant_scope().tenant_id();
        assert!(
            Task::query()
                .with_deleted()
                .all(s)
                .await
                .unwrap()
                .iter()
                .all(|t| t.org_id == tenant)
        );
        let records = AuditRecord::query().all(s).await.unwrap();
        assert!(
            records
                .iter()
                .all(|r| r.tenant_id == tenant && r.actor == Some(f.actor))
        );
        // 3 rounds × (1 project + 2 tasks + label insert + label update + 1 task done
        // + 1 task deleted + 1 label deleted) = 3 × 8
        assert_eq!(records.len(), 24, "{:#?}", actions(&records));
    }
}

// ---------------------------------------------------------------------------------------
// Bad input, text, JSON, naive timestamps, generated columns
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn nul_bytes_are_invalid_input_on_every_new_path() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let log = log_count(&f).await;
    let bad = "a\0b";
    let r1 = Label::insert_or_update(&f.a, Label::KEY_NAME, label(p.id, bad, 1)).await;
    let r2 = Label::insert_or_ignore(&f.a, Label::KEY_NAME, label(p.id, bad, 1)).await;
    let r3 = Project::query().update(&f.a, rename(bad)).await;
    let r4 = Project::query()
        .filter(Project::NAME.starts_with(bad))
        .count(&f.a)
        .await;
    let r5 = Project::query()
        .filter(Project::NAME.ilike(bad))
        .delete(&f.a)
        .await;
    let r6 = Workflow::query()
        .filter(Workflow::SETTINGS.json_contains(serde_json::json!({ "channel": bad })))
        .count(&f.a)
        .await;
    let r7 = Workflow::insert(&f.a, workflow(None, "w", bad)).await;
    let r8 = Project::query()
        .after(Project::NAME.asc(), bad, p.id)
        .update(&f.a, rename("x"))
        .await;
    let r9 = Project::query()
        .group_by(Project::STATUS)
        .count(&f.a)
        .await
        .map(|_| ());
    for (i, r) in [
        r1.map(|_| ()),
        r2.map(|_| ()),
        r3.map(|_| ()),
        r4.map(|_| ()),
        r5.map(|_| ()),
        r6.map(|_| ()),
        r7.map(|_| ()),
        r8.map(|_| ()),
    ]
    .into_iter()
    .enumerate()
    {
        assert!(
            matches!(r, Err(Error::InvalidInput { .. })),
            "probe {i}: {r:?}"
        );
    }
    r9.unwrap();
    assert_eq!(log_count(&f).await, log);
    assert_eq!(Project::get(&f.a, p.id).await.unwrap().name, "mine");
}

#[tokio::test]
async fn text_helpers_escape_wildcards_in_every_position() {
    let f = Fixture::new().await;
    for name in ["a%b", "axb", "a_b", "a\\b", "a\\\\b", "A%B", "%", "_", "\\"] {
        Project::insert(&f.a, new_project(name)).await.unwrap();
    }
    Project::insert(&f.b, new_project("a%b")).await.unwrap();
    let names = |rows: Vec<Project>| {
        let mut n: Vec<String> = rows.into_iter().map(|p| p.name).collect();
        n.sort();
        n
    };
    let q = |filter| Project::query().filter(filter).all(&f.a);
    assert_eq!(
        names(q(Project::NAME.contains("%")).await.unwrap()),
        ["%", "A%B", "a%b"]
    );
    assert_eq!(
        names(q(Project::NAME.starts_with("\\")).await.unwrap()),
        ["\\"]
    );
    assert_eq!(
        names(q(Project::NAME.ends_with("\\")).await.unwrap()),
        ["\\"]
    );
    assert_eq!(
        names(q(Project::NAME.contains("\\\\")).await.unwrap()),
        ["a\\\\b"]
    );
    assert_eq!(
        names(q(Project::NAME.icontains("a%b")).await.unwrap()),
        ["A%B", "a%b"]
    );
    assert_eq!(
        names(q(Project::NAME.starts_with("_")).await.unwrap()),
        ["_"]
    );
    assert_eq!(names(q(Project::NAME.ilike("a_b")).await.unwrap()).len(), 5);
    // A pattern ending in the escape character is PostgreSQL's error, typed, no panic.
    let _ = q(Project::NAME.like("a\\")).await;
    // In set-based writes, the literal helpers select exactly the literal rows.
    let deleted = Project::query()
        .filter(Project::NAME.contains("_"))
        .delete(&f.a)
        .await
        .unwrap();
    assert_eq!(names(deleted), ["_", "a_b"]);
}

#[tokio::test]
async fn naive_timestamps_in_set_based_writes_keysets_and_aggregates() {
    let f = fixture().await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::raw_sql("SET timezone = 'America/Los_Angeles'")
                    .execute(conn)
                    .await
                    .map(|_| ())
            })
        })
        .connect_with(f.test_db.connect_options().clone())
        .await
        .unwrap();
    let db = TenantDb::new(pool);
    let a = db.scope(f.a.tenant_scope());
    let rows = Workflow::insert_many(
        &a,
        vec![
            workflow(None, "One Two", "e"),
            workflow(None, "Three", "slack"),
            workflow(None, "Four", "e"),
        ],
    )
    .await
    .unwrap();
    Workflow::insert(&f.b, workflow(None, "theirs", "e"))
        .await
        .unwrap();
    let deleted = Workflow::query()
        .filter(Workflow::SETTINGS.json_contains(serde_json::json!({"channel": "slack"})))
        .delete(&a)
        .await
        .unwrap();
    assert_eq!(deleted.len(), 1);
    let at = deleted[0].deleted_at.unwrap();
    let now = Utc::now().naive_utc();
    assert!((at - now).num_seconds().abs() < 60, "{at} vs UTC {now}");
    let renamed = Workflow::query()
        .after(Workflow::CREATED_AT.asc(), rows[0].created_at, rows[0].id)
        .update(
            &a,
            WorkflowPatch {
                name: Some("Renamed Here".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.len(), 1, "only the live row after the first");
    assert_eq!(renamed[0].slug, "renamed-here");
    assert!(renamed[0].updated_at >= rows[2].updated_at);
    let records = history::<Workflow>(&a, rows[2].id).await;
    assert_eq!(keys(&records[1].changes), ["name", "slug"]);
    let newest = Workflow::query()
        .max(Workflow::CREATED_AT, &a)
        .await
        .unwrap()
        .unwrap();
    assert!(
        (newest - now).num_seconds().abs() < 60,
        "{newest} vs UTC {now}"
    );
    let restored = Workflow::query().restore(&a).await.unwrap();
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0].deleted_at, None);
    assert_eq!(Workflow::query().count(&f.b).await.unwrap(), 1);
}

/// Values land in their own columns: every column distinct, through upsert and bulk.
#[tokio::test]
async fn values_land_in_their_own_columns_through_upserts_and_bulk_updates() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let p2 = Project::insert(&f.a, new_project("second")).await.unwrap();
    let l = Label::insert_or_update(
        &f.a,
        Label::KEY_NAME,
        NewLabel {
            project_id: p.id,
            name: "NAME".into(),
            color: "COLOR".into(),
            weight: 42,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (l.project_id, l.name.as_str(), l.color.as_str(), l.weight),
        (p.id, "NAME", "COLOR", 42)
    );
    let u = Label::insert_or_update(
        &f.a,
        Label::KEY_NAME,
        NewLabel {
            project_id: p2.id,
            name: "NAME".into(),
            color: "C2".into(),
            weight: 43,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (u.project_id, u.name.as_str(), u.color.as_str(), u.weight),
        (p2.id, "NAME", "C2", 43)
    );
    let b = Label::query()
        .filter(Label::COLOR.eq("C2"))
        .filter(Label::WEIGHT.eq(43))
        .update(
            &f.a,
            LabelPatch {
                color: Some("C3".into()),
                weight: Some(44),
                project_id: Some(p.id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            b[0].project_id,
            b[0].name.as_str(),
            b[0].color.as_str(),
            b[0].weight
        ),
        (p.id, "NAME", "C3", 44)
    );
    let records = history::<Label>(&f.a, l.id).await;
    let last = &records[2].changes;
    assert_eq!(last["color"]["from"], "C2");
    assert_eq!(last["color"]["to"], "C3");
    assert_eq!(last["weight"]["from"], 43);
    assert_eq!(last["project_id"]["to"], p.id.to_string());
}

// ---------------------------------------------------------------------------------------
// Loader
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn loader_in_a_transaction_sees_its_writes_and_never_another_tenant() {
    let f = Fixture::new().await;
    let theirs = Project::insert(&f.b, new_project("theirs")).await.unwrap();
    let gone = Project::insert(&f.a, new_project("gone")).await.unwrap();
    Project::delete(&f.a, gone.id).await.unwrap();
    let mut tx = f.a.begin().await.unwrap();
    let mine = Project::insert(&mut tx, new_project("mine")).await.unwrap();
    {
        let loader = Loader::<Project>::new(&mut tx);
        let (x, y, z, w) = tokio::join!(
            loader.load(mine.id),
            loader.load(theirs.id),
            loader.load(gone.id),
            loader.load(mine.id)
        );
        assert_eq!(x.unwrap(), Some(mine.clone()));
        assert_eq!(y.unwrap(), None);
        assert_eq!(z.unwrap(), None);
        assert_eq!(w.unwrap(), Some(mine.clone()));
    }
    tx.rollback().await.unwrap();
    let loader = Loader::<Project>::new(&f.a);
    assert_eq!(loader.load(mine.id).await.unwrap(), None);
}

#[tokio::test]
async fn a_cancelled_loader_leader_hands_the_batch_over() {
    let f = Fixture::new().await;
    let rows = Project::insert_many(&f.a, vec![new_project("1"), new_project("2")])
        .await
        .unwrap();
    let loader = Loader::<Project>::new(&f.a);
    // Both callers queue their ids; the first leads. Drop it after one poll.
    let mut leader = Box::pin(loader.load(rows[0].id));
    let mut follower = Box::pin(loader.load(rows[1].id));
    futures_util::future::poll_fn(|cx| {
        use std::future::Future;
        assert!(leader.as_mut().poll(cx).is_pending());
        assert!(follower.as_mut().poll(cx).is_pending());
        std::task::Poll::Ready(())
    })
    .await;
    drop(leader);
    let result = tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .expect("the follower is not left hanging");
    assert_eq!(result.unwrap(), Some(rows[1].clone()));
    assert_eq!(
        loader.load(rows[0].id).await.unwrap(),
        Some(rows[0].clone())
    );
}

/// `only_deleted()` selects the trash; a set-based delete of that selection must not
/// soft-delete the live rows the query did not select.
#[tokio::test]
async fn only_deleted_then_delete_does_not_delete_live_rows() {
    let f = Fixture::new().await;
    let rows = Project::insert_many(&f.a, vec![new_project("live"), new_project("trash")])
        .await
        .unwrap();
    Project::delete(&f.a, rows[1].id).await.unwrap();
    let selected = Project::query().only_deleted().all(&f.a).await.unwrap();
    assert_eq!(
        selected.iter().map(|p| p.id).collect::<Vec<_>>(),
        [rows[1].id]
    );
    let log = log_count(&f).await;
    let deleted = Project::query().only_deleted().delete(&f.a).await.unwrap();
    assert!(
        deleted.is_empty(),
        "only_deleted().delete() soft-deleted rows it did not select: {:?}",
        deleted.iter().map(|p| &p.name).collect::<Vec<_>>()
    );
    assert!(Project::get(&f.a, rows[0].id).await.is_ok());
    assert_eq!(log_count(&f).await, log);
}

/// The same for restore of live rows: `restore` on a query that selects live rows only
/// (the default) must not restore deleted rows the query did not select? The README says
/// restore takes "every deleted row the query's filters select", so this documents it.
#[tokio::test]
async fn restore_by_query_takes_the_deleted_rows_its_filters_select() {
    let f = Fixture::new().await;
    let rows = Project::insert_many(&f.a, vec![new_project("a"), new_project("b")])
        .await
        .unwrap();
    Project::delete(&f.a, rows[1].id).await.unwrap();
    let restored = Project::query()
        .filter(Project::NAME.eq("b"))
        .restore(&f.a)
        .await
        .unwrap();
    assert_eq!(restored.len(), 1);
}

/// `first()` on a query limited to zero rows: `all` and `count` say none.
#[tokio::test]
async fn first_respects_a_limit_of_zero() {
    let f = Fixture::new().await;
    Project::insert(&f.a, new_project("a")).await.unwrap();
    assert_eq!(Project::query().limit(0).count(&f.a).await.unwrap(), 0);
    assert!(
        Project::query()
            .limit(0)
            .all(&f.a)
            .await
            .unwrap()
            .is_empty()
    );
    let first = Project::query().limit(0).first(&f.a).await.unwrap();
    assert_eq!(first, None, "limit(0).first() returned a row");
}

/// A relation marked with_deleted, used as a filter, should see deleted children (or the
/// API should not offer it there).
#[tokio::test]
async fn relation_filter_with_deleted_sees_deleted_children() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("p")).await.unwrap();
    let t = Task::insert(&f.a, new_task(p.id, "trashed")).await.unwrap();
    Task::delete(&f.a, t.id).await.unwrap();
    let live_only = Project::query()
        .filter(Task::BY_PROJECT.any(Task::TITLE.eq("trashed")))
        .count(&f.a)
        .await
        .unwrap();
    assert_eq!(live_only, 0);
    let with_deleted = Project::query()
        .filter(
            Task::BY_PROJECT
                .with_deleted()
                .any(Task::TITLE.eq("trashed")),
        )
        .count(&f.a)
        .await
        .unwrap();
    assert_eq!(
        with_deleted, 1,
        "with_deleted() is ignored by relation filters"
    );
}

/// Hard deletes by query (an audited entity without soft delete) and set-based writes on
/// an unaudited entity with a renamed tenant column stay in the tenant.
#[tokio::test]
async fn hard_and_unaudited_set_based_writes_stay_in_the_tenant() {
    let f = Fixture::new().await;
    for s in [&f.a, &f.b] {
        let p = Project::insert(s, new_project("p")).await.unwrap();
        let t = Task::insert(s, new_task(p.id, "t")).await.unwrap();
        Comment::insert(
            s,
            NewComment {
                task_id: t.id,
                body: "c".into(),
            },
        )
        .await
        .unwrap();
        Tag::insert_many(
            s,
            vec![
                NewTag {
                    label: "x".into(),
                    weight: 1,
                },
                NewTag {
                    label: "y".into(),
                    weight: 2,
                },
            ],
        )
        .await
        .unwrap();
    }
    let gone = Comment::query().delete(&f.a).await.unwrap();
    assert_eq!(gone.len(), 1);
    let records = history::<Comment>(&f.a, gone[0].id).await;
    assert_eq!(
        actions(&records),
        [AuditAction::Insert, AuditAction::Delete]
    );
    assert_eq!(records[1].changes["body"]["from"], "c");
    assert_eq!(Comment::query().count(&f.b).await.unwrap(), 1);
    let tags = Tag::query()
        .filter(Tag::WEIGHT.gt(1))
        .update(
            &f.a,
            TagPatch {
                label: Some("z".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].label, "z");
    assert_eq!(Tag::query().delete(&f.a).await.unwrap().len(), 2);
    assert_eq!(Tag::query().count(&f.b).await.unwrap(), 2);
    assert_eq!(
        Tag::query()
            .filter(Tag::LABEL.eq("z"))
            .count(&f.b)
            .await
            .unwrap(),
        0
    );
}

// ---------------------------------------------------------------------------------------
// Concurrency of set-based writes and upserts with other writers
// ---------------------------------------------------------------------------------------

/// A set-based update waits for a concurrent writer, then re-checks its filter on the
/// row as committed: a row that no longer matches is left alone and records nothing; a
/// row that still matches records its diff from the committed values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_based_update_rechecks_rows_changed_concurrently() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let moved = Label::insert(&f.a, label(p.id, "moved", 1)).await.unwrap();
    let recolored = Label::insert(&f.a, label(p.id, "recolored", 1))
        .await
        .unwrap();
    let mut tx = f.a.begin().await.unwrap();
    Label::update(
        &mut tx,
        moved.id,
        LabelPatch {
            weight: Some(5),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    Label::update(
        &mut tx,
        recolored.id,
        LabelPatch {
            color: Some("green".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let a = f.a.clone();
    let bulk = tokio::spawn(async move {
        Label::query()
            .filter(Label::WEIGHT.eq(1))
            .update(
                &a,
                LabelPatch {
                    color: Some("blue".into()),
                    ..Default::default()
                },
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    tx.commit().await.unwrap();
    let rows = bulk.await.unwrap().unwrap();
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        [recolored.id]
    );
    let now = Label::get(&f.a, moved.id).await.unwrap();
    assert_eq!((now.color.as_str(), now.weight, now.version), ("red", 5, 2));
    let r = history::<Label>(&f.a, recolored.id).await;
    assert_eq!(
        actions(&r),
        [
            AuditAction::Insert,
            AuditAction::Update,
            AuditAction::Update
        ]
    );
    assert_eq!(r[2].changes["color"]["from"], "green");
    assert_eq!(r[2].changes["version"]["from"], 2);
    assert_eq!(r[2].changes["version"]["to"], 3);
    assert_eq!(history::<Label>(&f.a, moved.id).await.len(), 2);
}

/// A set-based delete racing a single delete of the same row: one delete, one record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_deletes_record_one_delete() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("p")).await.unwrap();
    let mut tx = f.a.begin().await.unwrap();
    Project::delete(&mut tx, p.id).await.unwrap();
    let a = f.a.clone();
    let bulk = tokio::spawn(async move { Project::query().delete(&a).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    tx.commit().await.unwrap();
    assert!(bulk.await.unwrap().unwrap().is_empty());
    let r = history::<Project>(&f.a, p.id).await;
    assert_eq!(actions(&r), [AuditAction::Insert, AuditAction::Delete]);
}

/// An upsert racing an update of the live row it will update: the diff is from the
/// committed values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_racing_an_update_diffs_from_the_committed_row() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let l = Label::insert(&f.a, label(p.id, "k", 1)).await.unwrap();
    let mut tx = f.a.begin().await.unwrap();
    Label::update(
        &mut tx,
        l.id,
        LabelPatch {
            weight: Some(5),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let a = f.a.clone();
    let pid = p.id;
    let up = tokio::spawn(async move {
        Label::insert_or_update(&a, Label::KEY_NAME, label(pid, "k", 2)).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    tx.commit().await.unwrap();
    let row = up.await.unwrap().unwrap();
    assert_eq!((row.weight, row.version), (2, 3));
    let r = history::<Label>(&f.a, l.id).await;
    assert_eq!(
        actions(&r),
        [
            AuditAction::Insert,
            AuditAction::Update,
            AuditAction::Update
        ]
    );
    assert_eq!(r[2].changes["weight"]["from"], 5);
    assert_eq!(keys(&r[2].changes), ["version", "weight"]);
}

/// An upsert racing a soft delete of the row holding its key: it inserts a new row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_racing_a_delete_inserts_a_new_row() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let l = Label::insert(&f.a, label(p.id, "k", 1)).await.unwrap();
    let mut tx = f.a.begin().await.unwrap();
    Label::delete(&mut tx, l.id).await.unwrap();
    let a = f.a.clone();
    let pid = p.id;
    let up = tokio::spawn(async move {
        Label::insert_or_update(&a, Label::KEY_NAME, label(pid, "k", 2)).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    tx.commit().await.unwrap();
    let row = up.await.unwrap();
    let row = row.unwrap();
    assert_ne!(row.id, l.id);
    let r = history::<Label>(&f.a, row.id).await;
    assert_eq!(actions(&r), [AuditAction::Insert]);
    let old = history::<Label>(&f.a, l.id).await;
    assert_eq!(actions(&old), [AuditAction::Insert, AuditAction::Delete]);
}

// ---------------------------------------------------------------------------------------
// Loader and DDL
// ---------------------------------------------------------------------------------------

/// "A loader holds one scope and never serves another tenant": priming it with another
/// tenant's row should not make it serve that row.
#[tokio::test]
async fn a_primed_loader_never_serves_another_tenants_row() {
    let f = Fixture::new().await;
    let theirs = Project::insert(&f.b, new_project("theirs")).await.unwrap();
    let loader = Loader::<Project>::new(&f.a);
    assert!(loader.prime(theirs.clone()).is_err());
    let served = loader.load(theirs.id).await.unwrap();
    assert_eq!(served, None, "A's loader served B's row");
}

/// The DDL the library generates passes its own check and works for upserts and
/// self-referencing relations.
#[tokio::test]
async fn generated_ddl_passes_the_check_and_serves_the_new_features() {
    let test_db = tenant_query::testing::TestDb::new().await.unwrap();
    test_db.execute_script(SCHEMA).await.unwrap();
    test_db.db().migrate().await.unwrap();
    for ddl in [
        tenant_query::schema::create_table_sql::<Label>(Some(SETTING)),
        tenant_query::schema::create_table_sql::<Node>(None),
        tenant_query::schema::create_table_sql::<HardLabel>(None),
    ] {
        test_db
            .execute_script(&ddl)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{ddl}"));
    }
    let report = test_db
        .db()
        .verify_schema()
        .entity::<Label>()
        .entity::<Node>()
        .entity::<HardLabel>()
        .run()
        .await
        .unwrap();
    assert!(report.problems.is_empty());
    let s = test_db.db().scope(&TenantScope::new(Uuid::now_v7()));
    let root = Node::insert(&s, node(None, "r")).await.unwrap();
    Node::insert(&s, node(Some(root.id), "c")).await.unwrap();
    let h = HardLabel::insert(
        &s,
        NewHardLabel {
            name: "n".into(),
            weight: 1,
        },
    )
    .await
    .unwrap();
    HardLabel::delete(&s, h.id).await.unwrap();
    let again = HardLabel::insert_or_update(
        &s,
        HardLabel::KEY_NAME,
        NewHardLabel {
            name: "n".into(),
            weight: 2,
        },
    )
    .await
    .unwrap();
    assert_ne!(again.id, h.id, "the generated partial index frees the name");
}

/// A column whose type accepts the bound value but does not decode back: the statement
/// runs (outside a transaction it commits) and then the row fails to decode. Documented:
/// such a schema mistake is for the schema checks to catch before any write; this probe
/// pins that `verify_schema` does.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "loose", audit)]
pub struct Loose {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub n: i32,
}

#[tokio::test]
async fn a_type_that_does_not_read_back_is_caught_by_the_schema_check() {
    let f = Fixture::new().await;
    f.test_db
        .execute_script(
            "CREATE TABLE loose (id uuid NOT NULL, org_id uuid NOT NULL, n numeric NOT NULL, \
             PRIMARY KEY (org_id, id))",
        )
        .await
        .unwrap();
    let report = f.test_db.db().verify_schema().entity::<Loose>().run().await;
    match report {
        Err(Error::Schema(report)) => assert!(
            report.problems.iter().any(|p| matches!(
                p,
                tenant_query::SchemaProblem::TypeMismatch { column: "n", .. }
            )),
            "{report}"
        ),
        other => panic!("{other:?}"),
    }
    let inserted = Loose::insert(&f.a, NewLoose { n: 1 }).await;
    assert!(inserted.is_err(), "{inserted:?}");
    // Inside a transaction, the failed write goes with it.
    let mut tx = f.a.begin().await.unwrap();
    assert!(Loose::insert(&mut tx, NewLoose { n: 2 }).await.is_err());
    tx.rollback().await.unwrap();
    assert_eq!(f.raw_count("loose").await, 1, "only the autocommitted one");
}

/// An empty patch in a set-based update: rows come back unchanged, nothing is recorded,
/// versions and updated_at stay.
#[tokio::test]
async fn an_empty_set_based_patch_changes_and_records_nothing() {
    let f = fixture().await;
    let (p, _) = two_projects(&f).await;
    let l = Label::insert(&f.a, label(p.id, "k", 1)).await.unwrap();
    let log = log_count(&f).await;
    let rows = Label::query()
        .update(&f.a, LabelPatch::default())
        .await
        .unwrap();
    assert_eq!(rows, std::slice::from_ref(&l));
    let rows = Label::query()
        .update(
            &f.a,
            LabelPatch {
                version: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rows, [l]);
    assert_eq!(log_count(&f).await, log);
}

/// An InvalidInput inside a transaction fails before the database sees it: the
/// transaction is still good and commits the earlier write.
#[tokio::test]
async fn invalid_input_in_a_transaction_does_not_poison_it() {
    let f = Fixture::new().await;
    let mut tx = f.a.begin().await.unwrap();
    let p = Project::insert(&mut tx, new_project("ok")).await.unwrap();
    let bad = Project::query().update(&mut tx, rename("x\0")).await;
    assert!(matches!(bad, Err(Error::InvalidInput { .. })), "{bad:?}");
    tx.commit().await.unwrap();
    assert_eq!(Project::get(&f.a, p.id).await.unwrap().name, "ok");
}
