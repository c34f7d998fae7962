//! The queries real applications write, through the typed API: set-based writes, upserts,
//! aggregates, relation filters, queue reads and optimistic locking. Every test has a
//! second tenant's rows and soft-deleted rows beside the ones it works on, and checks
//! the audit records.

mod common;

use common::*;
use tenant_query::AuditAction;
use tenant_query::prelude::*;
use uuid::Uuid;

async fn fixture() -> Fixture {
    let f = counting_fixture().await;
    f.test_db.execute_script(LABELS).await.unwrap();
    f
}

/// Actions recorded for row `id`, oldest first.
async fn actions(s: &ScopedDb, id: Uuid) -> Vec<AuditAction> {
    AuditRecord::query()
        .entity_id(id)
        .all(s)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect()
}

/// Tenant A's projects p0..p4 (p4 soft-deleted), tenant B's b0 with status "active".
async fn projects(f: &Fixture) -> Vec<Project> {
    let mut rows = Vec::new();
    for (i, status) in ["active", "active", "done", "done", "active"]
        .iter()
        .enumerate()
    {
        let p = Project::insert(
            &f.a,
            NewProject {
                name: format!("p{i}"),
                status: (*status).into(),
                description: None,
            },
        )
        .await
        .unwrap();
        rows.push(p);
    }
    Project::delete(&f.a, rows[4].id).await.unwrap();
    Project::insert(&f.b, new_project("b0")).await.unwrap();
    rows
}

#[tokio::test]
async fn set_based_writes_touch_only_the_selected_rows_and_record_each() {
    let f = fixture().await;
    let p = projects(&f).await;
    let theirs = Project::query().all(&f.b).await.unwrap();
    let before = executed(&f, "UPDATE \"projects\"").await;

    // Update by filter, in one statement, one record per row.
    let patch = ProjectPatch {
        status: Some("archived".into()),
        ..Default::default()
    };
    let changed = Project::query()
        .filter(Project::STATUS.eq("active"))
        .update(&f.a, patch)
        .await
        .unwrap();
    let mut ids: Vec<Uuid> = vec![p[0].id, p[1].id];
    ids.sort();
    assert_eq!(changed.iter().map(|r| r.id).collect::<Vec<_>>(), ids);
    assert!(changed.iter().all(|r| r.status == "archived"));
    assert_eq!(executed(&f, "UPDATE \"projects\"").await - before, 1);
    for row in &changed {
        assert_eq!(
            actions(&f.a, row.id).await,
            [AuditAction::Insert, AuditAction::Update]
        );
    }
    // The deleted project and tenant B's are untouched.
    assert_eq!(f.raw_project(p[4].id).await.unwrap().status, "active");
    assert_eq!(Project::query().all(&f.b).await.unwrap(), theirs);

    // `order_by` and `limit` choose the rows; none matching is no error.
    let first = Project::query()
        .filter(Project::STATUS.eq("done"))
        .order_by(Project::NAME.desc())
        .limit(1)
        .delete(&f.a)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].name, "p3");
    assert!(first[0].deleted_at.is_some());
    let none = Project::query()
        .filter(Project::NAME.eq("nothing"))
        .update(&f.a, rename("x"))
        .await
        .unwrap();
    assert!(none.is_empty());

    // Restore and purge by filter, inside a transaction.
    let mut tx = f.a.begin().await.unwrap();
    let restored = Project::query()
        .filter(Project::NAME.is_in(["p3", "p4"]))
        .restore(&mut tx)
        .await
        .unwrap();
    assert_eq!(restored.len(), 2);
    let purged = Project::query()
        .filter(Project::NAME.eq("p4"))
        .purge(&mut tx)
        .await
        .unwrap();
    assert_eq!(purged.len(), 1);
    tx.commit().await.unwrap();
    assert_eq!(
        actions(&f.a, p[4].id).await,
        [
            AuditAction::Insert,
            AuditAction::Delete,
            AuditAction::Restore,
            AuditAction::Purge
        ]
    );
    assert!(f.raw_project(p[4].id).await.is_none());
    assert_eq!(Project::query().count(&f.b).await.unwrap(), 1);
}

#[tokio::test]
async fn a_failing_audit_record_cancels_the_whole_set_based_write() {
    let f = fixture().await;
    let p = projects(&f).await;
    f.test_db
        .execute_script(
            "ALTER TABLE tenant_audit_log ADD CONSTRAINT refuse_forbidden \
             CHECK (changes::text NOT LIKE '%forbidden%')",
        )
        .await
        .unwrap();
    let log = f.raw_count("tenant_audit_log").await;
    let result = Project::query()
        .filter(Project::STATUS.eq("active"))
        .update(
            &f.a,
            ProjectPatch {
                description: Some(Some("forbidden".into())),
                ..Default::default()
            },
        )
        .await;
    assert!(result.is_err());
    assert_eq!(f.raw_project(p[0].id).await.unwrap().description, None);
    assert_eq!(f.raw_count("tenant_audit_log").await, log);
}

#[tokio::test]
async fn a_set_based_update_cannot_move_rows_to_another_tenants_parent() {
    let f = fixture().await;
    let p = projects(&f).await;
    let theirs = Project::query().one(&f.b).await.unwrap();
    Task::insert_many(&f.a, vec![new_task(p[0].id, "a"), new_task(p[0].id, "b")])
        .await
        .unwrap();
    let moved = Task::query()
        .update(
            &f.a,
            TaskPatch {
                project_id: Some(theirs.id),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(moved, Err(Error::ForeignKey { .. })), "{moved:?}");
    let children = Task::load_by_project_id(&f.a, &[p[0].id]).await.unwrap();
    assert_eq!(children[&p[0].id].len(), 2);
}

#[tokio::test]
async fn upserts_insert_or_update_one_live_row_per_tenant_and_key() {
    let f = fixture().await;
    let p = projects(&f).await;
    let theirs = Project::query().one(&f.b).await.unwrap();
    let before = executed(&f, "ON CONFLICT").await;

    let first = Label::insert_or_update(&f.a, Label::KEY_NAME, label(p[0].id, "bug", 1))
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    let second = Label::insert_or_update(&f.a, Label::KEY_NAME, label(p[1].id, "bug", 2))
        .await
        .unwrap();
    assert_eq!(second.id, first.id, "the same row, updated");
    assert_eq!(
        (second.project_id, second.weight, second.version),
        (p[1].id, 2, 2)
    );
    assert_eq!(executed(&f, "ON CONFLICT").await - before, 2);
    // Another tenant's label of the same name is its own row.
    let other = Label::insert_or_update(&f.b, Label::KEY_NAME, label(theirs.id, "bug", 9))
        .await
        .unwrap();
    assert_ne!(other.id, first.id);

    let history = AuditRecord::for_entity::<Label>(&f.a, first.id)
        .await
        .unwrap();
    let actions: Vec<AuditAction> = history.iter().map(|r| r.action).collect();
    assert_eq!(actions, [AuditAction::Insert, AuditAction::Update]);
    assert_eq!(history[0].changes["name"]["to"], "bug");
    let diff = history[1].changes.as_object().unwrap();
    let mut keys: Vec<&str> = diff.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["project_id", "version", "weight"]);
    assert_eq!(diff["weight"]["from"], 1);
    assert_eq!(diff["weight"]["to"], 2);

    // An upsert that changes nothing records nothing and keeps the version.
    let same = Label::insert_or_update(&f.a, Label::KEY_NAME, label(p[1].id, "bug", 2))
        .await
        .unwrap();
    assert_eq!(same.version, 2);
    assert_eq!(
        AuditRecord::for_entity::<Label>(&f.a, first.id)
            .await
            .unwrap()
            .len(),
        2
    );

    // insert_or_ignore leaves the live row alone; a deleted row frees its name.
    let ignored = Label::insert_or_ignore(&f.a, Label::KEY_NAME, label(p[0].id, "bug", 5))
        .await
        .unwrap();
    assert_eq!(ignored, None);
    Label::delete(&f.a, first.id).await.unwrap();
    let fresh = Label::insert_or_ignore(&f.a, Label::KEY_NAME, label(p[0].id, "bug", 5))
        .await
        .unwrap()
        .expect("inserted beside the deleted row");
    assert_ne!(fresh.id, first.id);

    // A parent of another tenant is refused, inserting nothing.
    let foreign = Label::insert_or_update(&f.a, Label::KEY_NAME, label(theirs.id, "new", 1)).await;
    assert!(
        matches!(foreign, Err(Error::ForeignKey { .. })),
        "{foreign:?}"
    );
    assert_eq!(Label::query().count(&f.a).await.unwrap(), 1);
}

#[tokio::test]
async fn a_stale_version_is_a_conflict_that_writes_nothing() {
    let f = fixture().await;
    let p = projects(&f).await;
    let l = Label::insert(&f.a, label(p[0].id, "ui", 1)).await.unwrap();
    let read = l.version;
    let fresh = Label::update(
        &f.a,
        l.id,
        LabelPatch {
            weight: Some(2),
            version: Some(read),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(fresh.version, read + 1);
    // A writer that read the old version loses, with nothing written or recorded.
    let log = f.raw_count("tenant_audit_log").await;
    let stale = Label::update(
        &f.a,
        l.id,
        LabelPatch {
            weight: Some(3),
            version: Some(read),
            ..Default::default()
        },
    )
    .await;
    match stale {
        Err(Error::Conflict {
            entity, constraint, ..
        }) => {
            assert_eq!(entity.as_deref(), Some("labels"));
            assert_eq!(constraint, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(Label::get(&f.a, l.id).await.unwrap().weight, 2);
    assert_eq!(f.raw_count("tenant_audit_log").await, log);
    // Another tenant gets NotFound, not Conflict.
    let theirs = Label::update(
        &f.b,
        l.id,
        LabelPatch {
            version: Some(2),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(theirs, Err(Error::NotFound { .. })), "{theirs:?}");
    // Set-based updates move every changed row's version.
    let bumped = Label::query()
        .update(
            &f.a,
            LabelPatch {
                color: Some("blue".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(bumped[0].version, read + 2);
}

#[tokio::test]
async fn aggregates_cover_the_scope_live_rows_only() {
    let f = fixture().await;
    let p = projects(&f).await;
    let before = executed(&f, "GROUP BY").await;
    let per_status = Project::query()
        .count_by(Project::STATUS, &f.a)
        .await
        .unwrap();
    assert_eq!(
        per_status,
        [("active".to_owned(), 2), ("done".to_owned(), 2)]
    );
    assert_eq!(executed(&f, "GROUP BY").await - before, 1);
    let with_deleted = Project::query()
        .with_deleted()
        .count_by(Project::STATUS, &f.a)
        .await
        .unwrap();
    assert_eq!(
        with_deleted,
        [("active".to_owned(), 3), ("done".to_owned(), 2)]
    );
    // Nullable group keys come back as Option.
    let by_description: Vec<(Option<String>, i64)> = Project::query()
        .count_by(Project::DESCRIPTION, &f.a)
        .await
        .unwrap();
    assert_eq!(by_description, [(None, 4)]);

    for (i, project) in p.iter().take(3).enumerate() {
        Label::insert(
            &f.a,
            label(project.id, &format!("l{i}"), (i as i32 + 1) * 10),
        )
        .await
        .unwrap();
    }
    let theirs = Project::query().one(&f.b).await.unwrap();
    Label::insert(&f.b, label(theirs.id, "big", 1000))
        .await
        .unwrap();
    let trashed = Label::insert(&f.a, label(p[0].id, "gone", 500))
        .await
        .unwrap();
    Label::delete(&f.a, trashed.id).await.unwrap();

    assert_eq!(
        Label::query().sum(Label::WEIGHT, &f.a).await.unwrap(),
        Some(60)
    );
    assert_eq!(
        Label::query().min(Label::WEIGHT, &f.a).await.unwrap(),
        Some(10)
    );
    assert_eq!(
        Label::query().max(Label::WEIGHT, &f.a).await.unwrap(),
        Some(30)
    );
    assert_eq!(
        Label::query().avg(Label::WEIGHT, &f.a).await.unwrap(),
        Some(20.0)
    );
    let none = Label::query()
        .filter(Label::WEIGHT.gt(10_000))
        .sum(Label::WEIGHT, &f.a)
        .await
        .unwrap();
    assert_eq!(none, None);
    let per_project = Label::query()
        .group_by(Label::PROJECT_ID)
        .sum(Label::WEIGHT, &f.a)
        .await
        .unwrap();
    assert_eq!(per_project.len(), 3);
    assert!(per_project.iter().all(|(project, _)| *project != theirs.id));
    // The window bounds aggregates as it bounds `all`.
    let top_two = Label::query()
        .order_by(Label::WEIGHT.desc())
        .limit(2)
        .sum(Label::WEIGHT, &f.a)
        .await
        .unwrap();
    assert_eq!(top_two, Some(50));

    // The newest label of each project.
    Label::insert(&f.a, label(p[0].id, "later", 11))
        .await
        .unwrap();
    let latest = Label::query()
        .latest_by(Label::PROJECT_ID, Label::WEIGHT.desc(), &f.a)
        .await
        .unwrap();
    assert_eq!(latest.len(), 3);
    let of_first = latest.iter().find(|l| l.project_id == p[0].id).unwrap();
    assert_eq!(of_first.weight, 11);
}

#[tokio::test]
async fn relation_filters_see_only_live_related_rows_of_the_scope() {
    let f = fixture().await;
    let p = projects(&f).await;
    let theirs = Project::query().one(&f.b).await.unwrap();
    Task::insert(&f.a, new_task(p[0].id, "open")).await.unwrap();
    let done = Task::insert(&f.a, new_task(p[2].id, "done")).await.unwrap();
    Task::update(
        &f.a,
        done.id,
        TaskPatch {
            done: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let trashed = Task::insert(&f.a, new_task(p[1].id, "trashed"))
        .await
        .unwrap();
    Task::delete(&f.a, trashed.id).await.unwrap();
    Task::insert(&f.b, new_task(theirs.id, "theirs"))
        .await
        .unwrap();

    // Tasks of active projects.
    let of_active = Task::query()
        .filter(Task::BY_PROJECT.has(Project::STATUS.eq("active")))
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(
        of_active
            .iter()
            .map(|t| t.title.as_str())
            .collect::<Vec<_>>(),
        ["open"]
    );
    // Projects with an open task; a deleted task does not count.
    let busy = Project::query()
        .filter(Task::BY_PROJECT.any(Task::DONE.eq(false)))
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(
        busy.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["p0"]
    );
    let idle = Project::query()
        .filter(Task::BY_PROJECT.none(Filter::all([])))
        .order_by(Project::NAME.asc())
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(
        idle.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["p1", "p3"]
    );
    // Nested: comments on tasks of active projects.
    let nested = Project::query()
        .filter(
            Task::BY_PROJECT.any(
                Task::TITLE
                    .eq("open")
                    .and(Task::BY_PROJECT.has(Project::NAME.eq("p0"))),
            ),
        )
        .count(&f.a)
        .await
        .unwrap();
    assert_eq!(nested, 1);
    // Set-based writes take relation filters too.
    let closed = Task::query()
        .filter(Task::BY_PROJECT.has(Project::NAME.eq("p0")))
        .update(
            &f.a,
            TaskPatch {
                done: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(
        Task::query()
            .filter(Task::DONE.eq(false))
            .count(&f.b)
            .await
            .unwrap(),
        1
    );
}
