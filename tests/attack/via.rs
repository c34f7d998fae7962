//! Probes of `via` tables (no tenant column, the parent proves the tenant): a unique key
//! that, without a tenant column, is unique across tenants; set-based writes that move rows
//! to another tenant's or a deleted parent; loaders handed another tenant's rows; counts
//! and aggregates. Each test has a second tenant's rows and rows under a deleted parent.

use chrono::{DateTime, Utc};
use tenant_query::prelude::*;
use tenant_query::{AuditAction, AuditRecord};
use uuid::Uuid;

use crate::common::*;

/// A project's release: no tenant column; its `code` is unique in the table (there is no
/// tenant column to make it unique per tenant).
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "releases", audit, via = project_id, unique = "code")]
pub struct Release {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(belongs_to = Project)]
    pub project_id: Uuid,
    pub code: String,
    pub size: i64,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A release's asset, two parents from the tenant.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "assets", audit, via = release_id)]
pub struct Asset {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(belongs_to = Release)]
    pub release_id: Uuid,
    pub name: String,
}

const SCHEMA: &str = "
CREATE TABLE releases (
    id uuid PRIMARY KEY, project_id uuid NOT NULL, code text NOT NULL, size bigint NOT NULL,
    deleted_at timestamptz
);
CREATE UNIQUE INDEX releases_code_key ON releases (code) WHERE deleted_at IS NULL;
CREATE INDEX releases_project_idx ON releases (project_id);
CREATE TABLE assets (id uuid PRIMARY KEY, release_id uuid NOT NULL, name text NOT NULL);
CREATE INDEX assets_release_idx ON assets (release_id);
";

fn release(project: Uuid, code: &str, size: i64) -> NewRelease {
    NewRelease {
        project_id: project,
        code: code.into(),
        size,
    }
}

struct World {
    f: Fixture,
    mine: Project,
    theirs: Project,
    trashed: Project,
    their_release: Release,
    orphaned: Release,
}

async fn world() -> World {
    let f = Fixture::new().await;
    f.test_db.execute_script(SCHEMA).await.unwrap();
    let mine = Project::insert(&f.a, new_project("mine")).await.unwrap();
    let theirs = Project::insert(&f.b, new_project("theirs")).await.unwrap();
    let trashed = Project::insert(&f.a, new_project("trashed")).await.unwrap();
    let their_release = Release::insert(&f.b, release(theirs.id, "shared", 100))
        .await
        .unwrap();
    let orphaned = Release::insert(&f.a, release(trashed.id, "orphan", 1000))
        .await
        .unwrap();
    Asset::insert(
        &f.b,
        NewAsset {
            release_id: their_release.id,
            name: "their asset".into(),
        },
    )
    .await
    .unwrap();
    Project::delete(&f.a, trashed.id).await.unwrap();
    World {
        f,
        mine,
        theirs,
        trashed,
        their_release,
        orphaned,
    }
}

async fn stored(f: &Fixture) -> Vec<(Uuid, Uuid, String, i64, Option<DateTime<Utc>>)> {
    sqlx::query_as("SELECT id, project_id, code, size, deleted_at FROM releases ORDER BY id")
        .fetch_all(f.pool())
        .await
        .unwrap()
}

/// Tenant b holds the code `shared`. Tenant a's upsert of `shared` under its own project
/// must neither overwrite b's release nor report b's row; its ignore-insert must not
/// return b's row either; and the audit log must hold nothing of a's for b's row.
#[tokio::test]
async fn a_via_upsert_on_a_key_another_tenant_holds_leaves_it_alone() {
    let w = world().await;
    let (f, a) = (&w.f, &w.f.a);
    let before = stored(f).await;
    let log = f.raw_count("tenant_audit_log").await;

    let up = Release::insert_or_update(a, Release::KEY_CODE, release(w.mine.id, "shared", 1)).await;
    assert!(
        !matches!(&up, Ok(r) if r.id == w.their_release.id),
        "a's upsert returned b's row: {up:?}"
    );
    assert!(up.is_err(), "the key is taken in the table: {up:?}");
    let ignored =
        Release::insert_or_ignore(a, Release::KEY_CODE, release(w.mine.id, "shared", 2)).await;
    assert!(
        matches!(ignored, Ok(None) | Err(_)),
        "a's ignore-insert returned b's row: {ignored:?}"
    );
    assert_eq!(stored(f).await, before);
    assert_eq!(f.raw_count("tenant_audit_log").await, log);
    assert!(
        AuditRecord::for_entity::<Release>(a, w.their_release.id)
            .await
            .unwrap()
            .is_empty()
    );
    let theirs = AuditRecord::for_entity::<Release>(&f.b, w.their_release.id)
        .await
        .unwrap();
    assert_eq!(
        theirs.iter().map(|r| r.action).collect::<Vec<_>>(),
        [AuditAction::Insert]
    );
}

/// Set-based writes whose patch moves rows to another tenant's parent, a deleted parent or
/// a parent that does not exist write nothing; counts, sums and groups see only the
/// scope's rows under live parents.
#[tokio::test]
async fn via_set_based_reparenting_and_aggregates_stay_in_the_tenant() {
    let w = world().await;
    let (f, a) = (&w.f, &w.f.a);
    let r1 = Release::insert(a, release(w.mine.id, "r1", 1))
        .await
        .unwrap();
    let r2 = Release::insert(a, release(w.mine.id, "r2", 2))
        .await
        .unwrap();
    Release::delete(a, r2.id).await.unwrap();
    let before = stored(f).await;
    let log = f.raw_count("tenant_audit_log").await;
    for parent in [w.theirs.id, w.trashed.id, Uuid::now_v7()] {
        let patch = || ReleasePatch {
            project_id: Some(parent),
            ..Default::default()
        };
        let moved = Release::query().with_deleted().update(a, patch()).await;
        assert!(
            matches!(moved, Err(Error::ForeignKey { .. })),
            "set-based move to {parent}: {moved:?}"
        );
        let moved = Release::update(a, r1.id, patch()).await;
        assert!(matches!(moved, Err(Error::ForeignKey { .. })), "{moved:?}");
        assert_eq!(stored(f).await, before);
    }
    assert_eq!(f.raw_count("tenant_audit_log").await, log);

    assert_eq!(Release::query().count(a).await.unwrap(), 1);
    assert_eq!(Release::query().with_deleted().count(a).await.unwrap(), 2);
    assert_eq!(
        Release::query()
            .with_deleted()
            .sum(Release::SIZE, a)
            .await
            .unwrap(),
        Some(3)
    );
    let groups = Release::query()
        .with_deleted()
        .group_by(Release::PROJECT_ID)
        .count(a)
        .await
        .unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(Asset::query().count(a).await.unwrap(), 0);
    // Loaders handed the other tenant's rows or ids find nothing.
    let parents = Asset::load_release(a, &Asset::query().all(&f.b).await.unwrap())
        .await
        .unwrap();
    assert!(parents.is_empty(), "{parents:?}");
    let children = Release::load_by_project_id(a, &[w.theirs.id, w.trashed.id])
        .await
        .unwrap();
    assert!(children.values().all(|v| v.is_empty()), "{children:?}");
    let by_release = Asset::load_by_release_id(a, &[w.their_release.id, w.orphaned.id])
        .await
        .unwrap();
    assert!(by_release.values().all(|v| v.is_empty()));
}

/// A tenant moved to a schema of its own takes its `via` rows along (they have no tenant
/// column to select them by): after the move it sees the same releases and assets, the
/// other tenant's stay where they were, and nothing of the tenant is left behind.
#[tokio::test]
async fn a_moved_tenant_takes_its_via_rows_along() {
    use std::sync::Arc;
    use tenant_query::cells::Cells;
    use tenant_query::placement::{MemoryPlacements, Placement, SchemaName, TenantPlacement};

    let w = world().await;
    let f = &w.f;
    let a = *f.a.tenant_scope();
    let r1 = Release::insert(&f.a, release(w.mine.id, "r1", 1))
        .await
        .unwrap();
    let r2 = Release::insert(&f.a, release(w.mine.id, "r2", 2))
        .await
        .unwrap();
    Release::delete(&f.a, r2.id).await.unwrap();
    let asset = Asset::insert(
        &f.a,
        NewAsset {
            release_id: r1.id,
            name: "mine".into(),
        },
    )
    .await
    .unwrap();
    let their_before = stored(f).await;
    let to = TenantPlacement::Schema(SchemaName::new("big").unwrap());
    let db = f.test_db.db().clone().with_placements(
        Arc::new(MemoryPlacements::new(Placement::new(
            TenantPlacement::Shared,
        ))),
        Cells::new(),
    );
    db.migrate_home(&TenantPlacement::Shared).await.unwrap();
    db.migrate_home(&to).await.unwrap();
    f.test_db
        .execute_script(&format!(
            "BEGIN; SET LOCAL search_path = big; {}; {SCHEMA}; COMMIT",
            crate::common::SCHEMA
        ))
        .await
        .unwrap();
    db.move_tenant("test: via rows move too", &a, to)
        .unwrap()
        .entity::<Project>()
        .entity::<Release>()
        .entity::<Asset>()
        .run()
        .await
        .unwrap();

    let s = db.scope(&a);
    let mut releases = Release::query().with_deleted().all(&s).await.unwrap();
    releases.sort_by_key(|r| r.code.clone());
    assert_eq!(
        releases.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
        ["r1", "r2"],
        "a's releases under its live project moved, the deleted one too"
    );
    assert_eq!(Asset::query().all(&s).await.unwrap(), vec![asset.clone()]);
    let big: i64 = sqlx::query_scalar("SELECT count(*) FROM big.releases")
        .fetch_one(f.pool())
        .await
        .unwrap();
    assert_eq!(big, 3, "the release under a's deleted project moved too");
    // Left behind in the shared tables: b's rows only.
    let left = stored(f).await;
    assert_eq!(
        left,
        vec![
            their_before
                .into_iter()
                .find(|r| r.0 == w.their_release.id)
                .unwrap()
        ]
    );
    let assets: Vec<String> = sqlx::query_scalar("SELECT name FROM public.assets")
        .fetch_all(f.pool())
        .await
        .unwrap();
    assert_eq!(assets, ["their asset"]);
    let history = AuditRecord::for_entity::<Release>(&s, r1.id).await.unwrap();
    assert_eq!(history.len(), 1);
}

/// A careless move lists `via` children before their parents, or leaves the parent out: the
/// old home would find the children through parents already gone (and strand them), or the
/// new home would hold children without parents. Refused before anything moves.
#[tokio::test]
async fn a_move_that_lists_via_children_before_their_parents_is_refused() {
    use std::sync::Arc;
    use tenant_query::cells::Cells;
    use tenant_query::placement::{MemoryPlacements, Placement, SchemaName, TenantPlacement};

    let w = world().await;
    let f = &w.f;
    let a = *f.a.tenant_scope();
    let r1 = Release::insert(&f.a, release(w.mine.id, "r1", 1))
        .await
        .unwrap();
    Asset::insert(
        &f.a,
        NewAsset {
            release_id: r1.id,
            name: "mine".into(),
        },
    )
    .await
    .unwrap();
    let to = TenantPlacement::Schema(SchemaName::new("big").unwrap());
    let db = f.test_db.db().clone().with_placements(
        Arc::new(MemoryPlacements::new(Placement::new(
            TenantPlacement::Shared,
        ))),
        Cells::new(),
    );
    db.migrate_home(&TenantPlacement::Shared).await.unwrap();
    db.migrate_home(&to).await.unwrap();
    f.test_db
        .execute_script(&format!(
            "BEGIN; SET LOCAL search_path = big; {}; {SCHEMA}; COMMIT",
            crate::common::SCHEMA
        ))
        .await
        .unwrap();
    let before = stored(f).await;
    let children_first = db
        .move_tenant("test: children first", &a, to.clone())
        .unwrap()
        .entity::<Asset>()
        .entity::<Release>()
        .entity::<Project>()
        .run()
        .await;
    assert!(
        matches!(children_first, Err(Error::Configuration(_))),
        "{children_first:?}"
    );
    let no_parent = db
        .move_tenant("test: no parent", &a, to.clone())
        .unwrap()
        .entity::<Release>()
        .entity::<Asset>()
        .run()
        .await;
    assert!(
        matches!(no_parent, Err(Error::Configuration(_))),
        "{no_parent:?}"
    );
    // Nothing moved, and the tenant still writes where it was.
    assert_eq!(stored(f).await, before);
    let s = db.scope(&a);
    assert_eq!(Asset::query().count(&s).await.unwrap(), 1);
    Release::insert(&s, release(w.mine.id, "r2", 2))
        .await
        .unwrap();
    // Listed parents first, the move goes through and strands nothing.
    db.move_tenant("test: parents first", &a, to)
        .unwrap()
        .entity::<Project>()
        .entity::<Release>()
        .entity::<Asset>()
        .run()
        .await
        .unwrap();
    assert_eq!(Release::query().count(&s).await.unwrap(), 2);
    assert_eq!(Asset::query().count(&s).await.unwrap(), 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM public.assets")
        .fetch_one(f.pool())
        .await
        .unwrap();
    assert_eq!(left, 1, "b's asset only");
}

/// Row-level security as the second wall: the parents have policies, the `via` tables
/// none (nothing to compare). As an application role, every statement on a `via` table
/// still proves its parent under the parent's policy: a tenant reads, writes and audits its
/// own rows two levels down, and never the other tenant's.
#[tokio::test]
async fn via_tables_under_row_level_security_as_an_application_role() {
    let w = world().await;
    let f = &w.f;
    let suffix = Uuid::now_v7().simple().to_string();
    let (owner, role) = (format!("owner_{suffix}"), format!("app_{suffix}"));
    let mut ddl = format!("CREATE ROLE {owner} LOGIN; CREATE ROLE {role} LOGIN;");
    for table in ["projects", "releases", "assets", "tenant_audit_log"] {
        ddl.push_str(&format!(
            "ALTER TABLE {table} OWNER TO {owner}; GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role};"
        ));
    }
    f.test_db.execute_script(&ddl).await.unwrap();
    let admin = TenantDb::new(f.pool().clone())
        .row_level_security("app.tenant_id")
        .unwrap();
    admin.enable_row_level_security::<Project>().await.unwrap();
    admin.enable_audit_log_row_level_security().await.unwrap();
    assert!(matches!(
        admin.enable_row_level_security::<Release>().await,
        Err(Error::Configuration(_))
    ));
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(f.test_db.connect_options().clone().username(&role))
        .await
        .unwrap();
    let db = TenantDb::new(pool)
        .row_level_security("app.tenant_id")
        .unwrap();
    let a = db.scope(f.a.tenant_scope());
    let r = Release::insert(&a, release(w.mine.id, "rls", 5))
        .await
        .unwrap();
    let asset = Asset::insert(
        &a,
        NewAsset {
            release_id: r.id,
            name: "rls asset".into(),
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        Release::insert(&a, release(w.theirs.id, "theirs", 1)).await,
        Err(Error::ForeignKey { .. })
    ));
    assert_eq!(Release::query().all(&a).await.unwrap(), vec![r.clone()]);
    assert_eq!(Asset::query().all(&a).await.unwrap(), vec![asset.clone()]);
    assert!(
        Release::find(&a, w.their_release.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        Release::delete(&a, w.their_release.id).await,
        Err(Error::NotFound { .. })
    ));
    let mut tx = db.begin(f.a.tenant_scope()).await.unwrap();
    Asset::delete(&mut tx, asset.id).await.unwrap();
    let history = AuditRecord::for_entity::<Asset>(&mut tx, asset.id)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        history.iter().map(|r| r.action).collect::<Vec<_>>(),
        [AuditAction::Insert, AuditAction::Delete]
    );
    assert_eq!(
        Release::get(&f.b, w.their_release.id).await.unwrap(),
        w.their_release
    );
}
