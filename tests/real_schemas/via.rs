//! Tables that reach their tenant through a parent (`#[tenant(via = ...)]`): a project's
//! versions, and a version's triggers (two parents deep). Each test has a second tenant's
//! rows, rows under a soft-deleted parent and soft-deleted rows of its own.

use chrono::{DateTime, Utc};
use tenant_query::AuditAction;
use tenant_query::prelude::*;
use uuid::Uuid;

use crate::common::*;

/// A project's version: no tenant column, the project proves the tenant.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "versions", audit, via = project_id, unique = "project_id, number")]
pub struct Version {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(belongs_to = Project)]
    pub project_id: Uuid,
    pub number: i32,
    pub note: String,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A version's trigger: its tenant is two parents away.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "triggers", audit, via = version_id)]
pub struct Trigger {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(belongs_to = Version)]
    pub version_id: Uuid,
    pub event: String,
}

const VIA_SCHEMA: &str = "
CREATE TABLE versions (
    id uuid PRIMARY KEY, project_id uuid NOT NULL, number int NOT NULL, note text NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX versions_project_idx ON versions (project_id);
CREATE UNIQUE INDEX versions_number_key ON versions (project_id, number) WHERE deleted_at IS NULL;
CREATE TABLE triggers (id uuid PRIMARY KEY, version_id uuid NOT NULL, event text NOT NULL);
CREATE INDEX triggers_version_idx ON triggers (version_id);
";

fn version(project: Uuid, number: i32) -> NewVersion {
    NewVersion {
        project_id: project,
        number,
        note: format!("v{number}"),
    }
}

struct World {
    f: Fixture,
    /// A live project of tenant a, one of tenant b, and a soft-deleted one of tenant a.
    mine: Project,
    theirs: Project,
    trashed: Project,
    /// Tenant b's version, and tenant a's version under the soft-deleted project.
    their_version: Version,
    orphaned: Version,
}

async fn world() -> World {
    let f = Fixture::new().await;
    f.test_db.execute_script(VIA_SCHEMA).await.unwrap();
    let mine = Project::insert(&f.a, new_project("mine")).await.unwrap();
    let theirs = Project::insert(&f.b, new_project("theirs")).await.unwrap();
    let trashed = Project::insert(&f.a, new_project("trashed")).await.unwrap();
    let their_version = Version::insert(&f.b, version(theirs.id, 1)).await.unwrap();
    let orphaned = Version::insert(&f.a, version(trashed.id, 1)).await.unwrap();
    Project::delete(&f.a, trashed.id).await.unwrap();
    World {
        f,
        mine,
        theirs,
        trashed,
        their_version,
        orphaned,
    }
}

/// Every version row as stored, whatever its tenant.
async fn stored(f: &Fixture) -> Vec<(Uuid, String, Option<DateTime<Utc>>)> {
    sqlx::query_as("SELECT id, note, deleted_at FROM versions ORDER BY id")
        .fetch_all(f.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn via_inserts_need_a_live_parent_of_the_scope() {
    let w = world().await;
    let (f, a) = (&w.f, &w.f.a);
    let before = stored(f).await;
    for parent in [w.theirs.id, w.trashed.id, Uuid::now_v7()] {
        let refused = Version::insert(a, version(parent, 9)).await;
        assert!(
            matches!(refused, Err(Error::ForeignKey { .. })),
            "{refused:?}"
        );
        let refused =
            Version::insert_many(a, vec![version(w.mine.id, 8), version(parent, 9)]).await;
        assert!(
            matches!(refused, Err(Error::ForeignKey { .. })),
            "{refused:?}"
        );
        let refused =
            Version::insert_or_update(a, Version::KEY_PROJECT_ID_NUMBER, version(parent, 1)).await;
        assert!(refused.is_err(), "{refused:?}");
    }
    assert_eq!(stored(f).await, before, "nothing was written");

    let v = Version::insert(a, version(w.mine.id, 1)).await.unwrap();
    let many = Version::insert_many(a, vec![version(w.mine.id, 2), version(w.mine.id, 3)])
        .await
        .unwrap();
    assert_eq!(many.len(), 2);
    // The audit record carries the scope's tenant, though the row has no tenant column.
    let history = AuditRecord::for_entity::<Version>(a, v.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].action, AuditAction::Insert);
    assert_eq!(history[0].tenant_id, a.tenant_scope().tenant_id());
    assert_eq!(history[0].changes["note"]["to"], "v1");
    assert!(
        AuditRecord::for_entity::<Version>(&f.b, v.id)
            .await
            .unwrap()
            .is_empty(),
        "another tenant sees no history"
    );
}

#[tokio::test]
async fn via_reads_see_only_rows_under_live_parents_of_the_scope() {
    let w = world().await;
    let a = &w.f.a;
    let v1 = Version::insert(a, version(w.mine.id, 1)).await.unwrap();
    let v2 = Version::insert(a, version(w.mine.id, 2)).await.unwrap();
    Version::delete(a, v2.id).await.unwrap();

    for hidden in [w.their_version.id, w.orphaned.id, v2.id] {
        assert_eq!(Version::find(a, hidden).await.unwrap(), None);
        assert!(matches!(
            Version::get(a, hidden).await,
            Err(Error::NotFound { .. })
        ));
    }
    let found = Version::find_many(a, &[v1.id, v2.id, w.their_version.id, w.orphaned.id])
        .await
        .unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), vec![&v1.id]);
    assert_eq!(Version::query().all(a).await.unwrap(), vec![v1.clone()]);
    assert_eq!(Version::query().count(a).await.unwrap(), 1);
    let deleted = Version::query().only_deleted().all(a).await.unwrap();
    assert_eq!(
        deleted.iter().map(|v| v.id).collect::<Vec<_>>(),
        vec![v2.id]
    );
    assert_eq!(
        Version::query().with_deleted().count(a).await.unwrap(),
        2,
        "the orphan stays hidden: its parent is deleted"
    );
    assert_eq!(
        Version::query().sum(Version::NUMBER, a).await.unwrap(),
        Some(1)
    );
    assert_eq!(
        Version::query()
            .group_by(Version::PROJECT_ID)
            .count(a)
            .await
            .unwrap(),
        vec![(w.mine.id, 1)]
    );

    // Loaders and relation filters, both ways.
    let by_project = Version::load_by_project_id(a, &[w.mine.id, w.theirs.id, w.trashed.id])
        .await
        .unwrap();
    assert_eq!(by_project[&w.mine.id], vec![v1.clone()]);
    assert!(by_project[&w.theirs.id].is_empty());
    assert!(by_project[&w.trashed.id].is_empty());
    let parents = Version::load_project(a, &[v1.clone(), w.their_version.clone()])
        .await
        .unwrap();
    assert_eq!(parents.keys().collect::<Vec<_>>(), vec![&w.mine.id]);
    let named = Version::query()
        .filter(Version::BY_PROJECT.has(Project::NAME.eq("theirs")))
        .all(a)
        .await
        .unwrap();
    assert!(named.is_empty());
    let with_versions = Project::query()
        .filter(Version::BY_PROJECT.any(Version::NUMBER.eq(1)))
        .all(a)
        .await
        .unwrap();
    assert_eq!(with_versions, vec![w.mine.clone()]);
    let b_with_versions = Project::query()
        .filter(Version::BY_PROJECT.any(Version::NUMBER.eq(1)))
        .count(&w.f.b)
        .await
        .unwrap();
    assert_eq!(b_with_versions, 1);
}

#[tokio::test]
async fn via_writes_leave_foreign_and_orphaned_rows_alone() {
    let w = world().await;
    let (f, a) = (&w.f, &w.f.a);
    let v = Version::insert(a, version(w.mine.id, 1)).await.unwrap();
    let before = stored(f).await;
    let patch = || VersionPatch {
        note: Some("taken".into()),
        ..Default::default()
    };
    for foreign in [w.their_version.id, w.orphaned.id] {
        assert!(matches!(
            Version::update(a, foreign, patch()).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            Version::delete(a, foreign).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            Version::restore(a, foreign).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            Version::purge(a, foreign).await,
            Err(Error::NotFound { .. })
        ));
    }
    // Set-based writes select through the same predicate.
    assert_eq!(
        Version::query()
            .with_deleted()
            .update(a, patch())
            .await
            .unwrap()
            .len(),
        1
    );
    let after = stored(f).await;
    let changed: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(x, y)| x != y)
        .map(|(_, y)| y.0)
        .collect();
    assert_eq!(
        changed,
        vec![v.id],
        "only the scope's live-parented row changed"
    );
    assert_eq!(Version::query().delete(a).await.unwrap().len(), 1);
    assert_eq!(Version::query().restore(a).await.unwrap().len(), 1);

    // Moving a row to a foreign parent is refused.
    let moved = Version::update(
        a,
        v.id,
        VersionPatch {
            project_id: Some(w.theirs.id),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(moved, Err(Error::ForeignKey { .. })), "{moved:?}");

    // An upsert on the key finds the scope's row, never the other tenant's.
    let up = Version::insert_or_update(
        a,
        Version::KEY_PROJECT_ID_NUMBER,
        NewVersion {
            note: "upserted".into(),
            ..version(w.mine.id, 1)
        },
    )
    .await
    .unwrap();
    assert_eq!((up.id, up.note.as_str()), (v.id, "upserted"));
    let actions: Vec<AuditAction> = AuditRecord::for_entity::<Version>(a, v.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions,
        vec![
            AuditAction::Insert,
            AuditAction::Update,
            AuditAction::Delete,
            AuditAction::Restore,
            AuditAction::Update
        ]
    );
    Version::purge(a, v.id).await.unwrap();
    let theirs: Vec<_> = stored(f)
        .await
        .into_iter()
        .filter(|r| r.0 != v.id)
        .collect();
    assert_eq!(
        theirs,
        before
            .into_iter()
            .filter(|r| r.0 != v.id)
            .collect::<Vec<_>>()
    );
    assert!(
        AuditRecord::for_entity::<Version>(&f.b, w.their_version.id)
            .await
            .unwrap()
            .iter()
            .all(|r| r.action == AuditAction::Insert)
    );
}

#[tokio::test]
async fn a_grandchild_reaches_its_tenant_through_two_parents_in_a_transaction() {
    let w = world().await;
    let f = &w.f;
    let theirs = Trigger::insert(
        &f.b,
        NewTrigger {
            version_id: w.their_version.id,
            event: "push".into(),
        },
    )
    .await
    .unwrap();
    let mut tx = f.test_db.db().begin(f.a.tenant_scope()).await.unwrap();
    let v = Version::insert(&mut tx, version(w.mine.id, 1))
        .await
        .unwrap();
    let t = Trigger::insert(
        &mut tx,
        NewTrigger {
            version_id: v.id,
            event: "push".into(),
        },
    )
    .await
    .unwrap();
    for parent in [w.their_version.id, w.orphaned.id] {
        let refused = Trigger::insert(
            &mut tx,
            NewTrigger {
                version_id: parent,
                event: "x".into(),
            },
        )
        .await;
        assert!(
            matches!(refused, Err(Error::ForeignKey { .. })),
            "{refused:?}"
        );
    }
    assert_eq!(
        Trigger::query().all(&mut tx).await.unwrap(),
        vec![t.clone()]
    );
    assert_eq!(Trigger::find(&mut tx, theirs.id).await.unwrap(), None);
    assert!(matches!(
        Trigger::delete(&mut tx, theirs.id).await,
        Err(Error::NotFound { .. })
    ));
    let history = AuditRecord::for_entity::<Trigger>(&mut tx, t.id)
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].tenant_id, f.a.tenant_scope().tenant_id());
    tx.commit().await.unwrap();

    // Deleting the version hides its triggers.
    Version::delete(&f.a, v.id).await.unwrap();
    assert!(Trigger::query().all(&f.a).await.unwrap().is_empty());
    assert_eq!(Trigger::query().all(&f.b).await.unwrap(), vec![theirs]);
    assert!(matches!(
        Trigger::update(
            &f.a,
            t.id,
            TriggerPatch {
                event: Some("y".into()),
                ..Default::default()
            }
        )
        .await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn via_entities_refuse_what_needs_a_tenant_column() {
    let w = world().await;
    let admin =
        w.f.test_db
            .db()
            .cross_tenant("test: owner of a version")
            .unwrap();
    let refused = admin.owner_of::<Version>(w.their_version.id).await;
    assert!(
        matches!(refused, Err(Error::Configuration(_))),
        "{refused:?}"
    );
    let loader = tenant_query::Loader::<Version>::new(&w.f.b);
    let refused = loader.prime(w.their_version.clone());
    assert!(
        matches!(refused, Err(Error::InvalidInput { .. })),
        "{refused:?}"
    );
}

#[test]
fn the_generated_ddl_of_a_via_table_has_no_tenant_column() {
    let ddl = tenant_query::schema::create_table_sql::<Trigger>(Some("app.tenant_id"));
    assert!(ddl.contains(r#"PRIMARY KEY ("id")"#), "{ddl}");
    assert!(
        ddl.contains(r#"FOREIGN KEY ("version_id") REFERENCES "versions" ("id")"#),
        "{ddl}"
    );
    assert!(!ddl.contains("org_id") && !ddl.contains("POLICY"), "{ddl}");
}

/// A deploy of a version: a table with a tenant column whose parent has none.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "deploys", audit)]
pub struct Deploy {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(belongs_to = Version)]
    pub version_id: Option<Uuid>,
    pub env: String,
}

#[tokio::test]
async fn a_child_with_a_tenant_column_under_a_via_parent() {
    let w = world().await;
    let (f, a) = (&w.f, &w.f.a);
    // The only foreign key a parent without a tenant column allows: by its id alone.
    f.test_db
        .execute_script(
            "CREATE TABLE deploys (
                id uuid NOT NULL, org_id uuid NOT NULL, version_id uuid REFERENCES versions (id),
                env text NOT NULL, PRIMARY KEY (org_id, id)
            );
            CREATE INDEX deploys_version_idx ON deploys (org_id, version_id);",
        )
        .await
        .unwrap();
    let report = f
        .test_db
        .db()
        .verify_schema()
        .entity::<Deploy>()
        .run()
        .await
        .unwrap();
    assert!(report.problems.is_empty());
    let ddl = tenant_query::schema::create_table_sql::<Deploy>(None);
    assert!(
        ddl.contains(r#"FOREIGN KEY ("version_id") REFERENCES "versions" ("id")"#),
        "the printed DDL has the same key: {ddl}"
    );

    let v = Version::insert(a, version(w.mine.id, 1)).await.unwrap();
    let deploy = |version_id| NewDeploy {
        version_id,
        env: "prod".into(),
    };
    let mine = Deploy::insert(a, deploy(Some(v.id))).await.unwrap();
    let loose = Deploy::insert(a, deploy(None)).await.unwrap();
    // Another tenant's version, and one under a deleted project, are not the scope's.
    for foreign in [w.their_version.id, w.orphaned.id] {
        let refused = Deploy::insert(a, deploy(Some(foreign))).await;
        assert!(
            matches!(refused, Err(Error::ForeignKey { .. })),
            "{refused:?}"
        );
        let refused = Deploy::insert_many(a, vec![deploy(None), deploy(Some(foreign))]).await;
        assert!(
            matches!(refused, Err(Error::ForeignKey { .. })),
            "{refused:?}"
        );
        let refused = Deploy::update(
            a,
            mine.id,
            DeployPatch {
                version_id: Some(Some(foreign)),
                ..Default::default()
            },
        )
        .await;
        assert!(
            matches!(refused, Err(Error::ForeignKey { .. })),
            "{refused:?}"
        );
    }
    let by_version = Deploy::load_by_version_id(a, &[v.id, w.their_version.id])
        .await
        .unwrap();
    assert_eq!(by_version[&v.id], vec![mine.clone()]);
    assert!(by_version[&w.their_version.id].is_empty());
    let parents = Deploy::load_version(a, &[mine.clone(), loose.clone()])
        .await
        .unwrap();
    assert_eq!(parents.keys().collect::<Vec<_>>(), vec![&v.id]);
    let has = || {
        Deploy::query()
            .filter(Deploy::BY_VERSION.has(Version::NUMBER.eq(1)))
            .all(a)
    };
    assert_eq!(has().await.unwrap(), vec![mine.clone()]);
    let deployed = Version::query()
        .filter(Deploy::BY_VERSION.any(Deploy::ENV.eq("prod")))
        .all(a)
        .await
        .unwrap();
    assert_eq!(deployed, vec![v.clone()]);

    // Deleting the project hides its version, so the deploy has no live parent.
    Project::delete(a, w.mine.id).await.unwrap();
    assert!(has().await.unwrap().is_empty());
    assert!(Deploy::load_version(a, &[mine]).await.unwrap().is_empty());
}
