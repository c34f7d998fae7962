//! Generated repository functions on a real PostgreSQL: what each does within a tenant,
//! and that nothing crosses into another tenant or sees soft-deleted rows by default.

mod common;

use common::*;
use tenant_query::Error;
use uuid::Uuid;

fn assert_not_found<T: std::fmt::Debug>(result: tenant_query::Result<T>) {
    assert!(
        matches!(result, Err(Error::NotFound { .. })),
        "expected NotFound, got {result:?}"
    );
}

#[tokio::test]
async fn insert_sets_id_tenant_and_timestamps_from_the_library() {
    let f = Fixture::new().await;
    let before = chrono::Utc::now();
    let p = Project::insert(&f.a, new_project("Apollo")).await.unwrap();
    assert_eq!(p.id.get_version_num(), 7, "ids are UUIDv7");
    assert_eq!(p.org_id, f.a.tenant_scope().tenant_id());
    assert_eq!(p.name, "Apollo");
    assert!(p.created_at >= before - chrono::Duration::seconds(5));
    assert_eq!(p.created_at, p.updated_at);
    assert_eq!(p.deleted_at, None);
    assert_eq!(f.raw_project(p.id).await, Some(p));
}

#[tokio::test]
async fn find_get_and_find_many_see_only_the_scopes_live_rows() {
    let f = Fixture::new().await;
    let a1 = Project::insert(&f.a, new_project("a1")).await.unwrap();
    let a2 = Project::insert(&f.a, new_project("a2")).await.unwrap();
    let b1 = Project::insert(&f.b, new_project("b1")).await.unwrap();

    assert_eq!(Project::find(&f.a, a1.id).await.unwrap(), Some(a1.clone()));
    assert_eq!(Project::get(&f.a, a1.id).await.unwrap(), a1);
    assert_eq!(Project::find(&f.b, a1.id).await.unwrap(), None);
    assert_not_found(Project::get(&f.b, a1.id).await);

    let ids = [a1.id, a2.id, b1.id, a1.id, Uuid::now_v7()];
    let found = Project::find_many(&f.a, &ids).await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[&a1.id], a1);
    assert_eq!(found[&a2.id], a2);

    Project::delete(&f.a, a2.id).await.unwrap();
    assert_eq!(Project::find(&f.a, a2.id).await.unwrap(), None);
    assert_not_found(Project::get(&f.a, a2.id).await);
    let found = Project::find_many(&f.a, &ids).await.unwrap();
    assert_eq!(found.keys().copied().collect::<Vec<_>>(), vec![a1.id]);
}

#[tokio::test]
async fn update_changes_only_patched_fields_and_bumps_updated_at() {
    let f = Fixture::new().await;
    let p = Project::insert(
        &f.a,
        NewProject {
            description: Some("first".into()),
            ..new_project("Apollo")
        },
    )
    .await
    .unwrap();

    let renamed = Project::update(&f.a, p.id, rename("Apollo 2"))
        .await
        .unwrap();
    assert_eq!(renamed.name, "Apollo 2");
    assert_eq!(renamed.status, p.status);
    assert_eq!(renamed.description, p.description);
    assert_eq!(renamed.created_at, p.created_at);
    assert!(renamed.updated_at > p.updated_at);

    let cleared = Project::update(
        &f.a,
        p.id,
        ProjectPatch {
            description: Some(None),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(cleared.description, None);
    assert_eq!(cleared.name, "Apollo 2");

    // A patch that changes nothing leaves the row, `updated_at` included, as it was.
    let same = Project::update(&f.a, p.id, rename("Apollo 2"))
        .await
        .unwrap();
    assert_eq!(same, cleared);
    assert_eq!(f.raw_project(p.id).await, Some(cleared));
}

#[tokio::test]
async fn soft_delete_hides_the_row_on_every_default_path_until_restored() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("Apollo")).await.unwrap();
    let t = Task::insert(&f.a, new_task(p.id, "t")).await.unwrap();
    Project::delete(&f.a, p.id).await.unwrap();
    Task::delete(&f.a, t.id).await.unwrap();

    let stored = f
        .raw_project(p.id)
        .await
        .expect("a soft delete keeps the row");
    assert!(stored.deleted_at.is_some());

    assert_eq!(Project::find(&f.a, p.id).await.unwrap(), None);
    assert_not_found(Project::get(&f.a, p.id).await);
    assert!(Project::find_many(&f.a, &[p.id]).await.unwrap().is_empty());
    assert!(Project::query().all(&f.a).await.unwrap().is_empty());
    assert_eq!(Project::query().count(&f.a).await.unwrap(), 0);
    assert!(!Project::query().exists(&f.a).await.unwrap());
    assert!(Task::load_by_project_id(&f.a, &[p.id]).await.unwrap()[&p.id].is_empty());
    assert_not_found(Project::update(&f.a, p.id, rename("x")).await);
    assert_not_found(Project::delete(&f.a, p.id).await);

    assert_eq!(
        Project::query().only_deleted().all(&f.a).await.unwrap(),
        vec![stored.clone()]
    );
    assert_eq!(
        Project::query().with_deleted().count(&f.a).await.unwrap(),
        1
    );
    assert_eq!(
        Task::load_by_project_id_with_deleted(&f.a, &[p.id])
            .await
            .unwrap()[&p.id]
            .len(),
        1
    );

    let restored = Project::restore(&f.a, p.id).await.unwrap();
    assert_eq!(restored.deleted_at, None);
    assert_eq!(Project::get(&f.a, p.id).await.unwrap(), restored);
    assert_not_found(Project::restore(&f.a, p.id).await);
}

#[tokio::test]
async fn purge_removes_rows_whether_deleted_or_not() {
    let f = Fixture::new().await;
    let live = Project::insert(&f.a, new_project("live")).await.unwrap();
    let deleted = Project::insert(&f.a, new_project("deleted")).await.unwrap();
    Project::delete(&f.a, deleted.id).await.unwrap();

    Project::purge(&f.a, live.id).await.unwrap();
    Project::purge(&f.a, deleted.id).await.unwrap();
    assert_eq!(f.raw_project(live.id).await, None);
    assert_eq!(f.raw_project(deleted.id).await, None);
    assert_not_found(Project::purge(&f.a, live.id).await);
}

#[tokio::test]
async fn entities_without_soft_delete_are_deleted_for_good() {
    let f = Fixture::new().await;
    let tag = Tag::insert(
        &f.a,
        NewTag {
            label: "urgent".into(),
            weight: 3,
        },
    )
    .await
    .unwrap();
    assert_eq!(tag.org_id, f.a.tenant_scope().tenant_id());
    assert_not_found(Tag::delete(&f.b, tag.id).await);
    Tag::delete(&f.a, tag.id).await.unwrap();
    assert_eq!(f.raw_count("tags").await, 0);
    assert_not_found(Tag::delete(&f.a, tag.id).await);
}

/// Every generated function, called by tenant B on tenant A's row, reports `NotFound` or
/// returns nothing, and the row is unchanged afterwards.
#[tokio::test]
async fn another_tenant_can_neither_read_nor_write_the_row() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("Apollo")).await.unwrap();
    let t = Task::insert(&f.a, new_task(p.id, "secret")).await.unwrap();
    let deleted = Project::insert(&f.a, new_project("Trash")).await.unwrap();
    Project::delete(&f.a, deleted.id).await.unwrap();
    let deleted = f.raw_project(deleted.id).await.unwrap();

    assert_eq!(Project::find(&f.b, p.id).await.unwrap(), None);
    assert_not_found(Project::get(&f.b, p.id).await);
    assert!(
        Project::find_many(&f.b, &[p.id, deleted.id])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        Project::query()
            .with_deleted()
            .all(&f.b)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        Project::query().with_deleted().count(&f.b).await.unwrap(),
        0
    );
    assert!(
        !Project::query()
            .filter(Project::ID.eq(p.id))
            .exists(&f.b)
            .await
            .unwrap()
    );
    assert!(
        Task::load_by_project_id_with_deleted(&f.b, &[p.id])
            .await
            .unwrap()[&p.id]
            .is_empty()
    );
    assert!(
        Task::load_project(&f.b, std::slice::from_ref(&t))
            .await
            .unwrap()
            .is_empty()
    );

    assert_not_found(Project::update(&f.b, p.id, rename("stolen")).await);
    assert_not_found(Project::delete(&f.b, p.id).await);
    assert_not_found(Project::restore(&f.b, deleted.id).await);
    assert_not_found(Project::purge(&f.b, p.id).await);
    assert_not_found(Project::purge(&f.b, deleted.id).await);
    assert_not_found(Task::delete(&f.b, t.id).await);

    assert_eq!(f.raw_project(p.id).await, Some(p));
    assert_eq!(f.raw_project(deleted.id).await, Some(deleted));
    assert_eq!(Task::get(&f.a, t.id).await.unwrap(), t);
}

#[tokio::test]
async fn a_scope_can_only_create_rows_in_its_own_tenant() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.b, new_project("mine")).await.unwrap();
    assert_eq!(p.org_id, f.b.tenant_scope().tenant_id());
    // Tenant A cannot attach a task to tenant B's project: the insert's own check refuses
    // a parent that is not A's, before the composite foreign key would.
    let cross = Task::insert(&f.a, new_task(p.id, "sneaky")).await;
    assert!(
        matches!(cross, Err(Error::ForeignKey { constraint: None })),
        "{cross:?}"
    );
    assert_eq!(f.raw_count("tasks").await, 0);
}

#[tokio::test]
async fn insert_many_is_one_statement_in_input_order() {
    let f = Fixture::new().await;
    let names: Vec<String> = (0..500).map(|i| format!("p{i:03}")).collect();
    let rows = Project::insert_many(&f.a, names.iter().map(|n| new_project(n)).collect())
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        names
    );
    assert!(
        rows.iter()
            .all(|p| p.org_id == f.a.tenant_scope().tenant_id())
    );
    assert_eq!(Project::query().count(&f.a).await.unwrap(), 500);
    assert_eq!(Project::query().count(&f.b).await.unwrap(), 0);
}

#[tokio::test]
async fn insert_many_has_no_bind_limit() {
    let f = Fixture::new().await;
    // 70,000 rows of three data columns: far past PostgreSQL's 65,535 parameters, if each
    // value were a parameter. One array per column keeps it to a handful.
    let rows: Vec<NewTag> = (0..70_000)
        .map(|i| NewTag {
            label: format!("t{i}"),
            weight: i,
        })
        .collect();
    let inserted = Tag::insert_many(&f.a, rows).await.unwrap();
    assert_eq!(inserted.len(), 70_000);
    assert_eq!(inserted[69_999].weight, 69_999);
    assert_eq!(f.raw_count("tags").await, 70_000);
}

#[tokio::test]
async fn empty_batches_make_no_query() {
    let f = Fixture::new().await;
    // With the pool closed, any query would fail: these calls must not make one.
    f.pool().close().await;
    assert!(
        Project::insert_many(&f.a, Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(Project::find_many(&f.a, &[]).await.unwrap().is_empty());
    assert!(
        Task::load_by_project_id(&f.a, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        Project::find(&f.a, Uuid::now_v7()).await.is_err(),
        "the closed pool is really closed"
    );
}

#[tokio::test]
async fn a_scoped_transaction_commits_or_rolls_back_as_a_whole() {
    let f = Fixture::new().await;
    let scope = *f.a.tenant_scope();

    let mut tx = f.test_db.db().begin(&scope).await.unwrap();
    let p = Project::insert(&mut tx, new_project("kept")).await.unwrap();
    Task::insert(&mut tx, new_task(p.id, "kept too"))
        .await
        .unwrap();
    assert_eq!(
        Project::find(&f.a, p.id).await.unwrap(),
        None,
        "not visible before commit"
    );
    tx.commit().await.unwrap();
    assert!(Project::find(&f.a, p.id).await.unwrap().is_some());

    let mut tx = f.a.begin().await.unwrap();
    let dropped = Project::insert(&mut tx, new_project("dropped"))
        .await
        .unwrap();
    Project::delete(&mut tx, p.id).await.unwrap();
    drop(tx);
    let mut tx = f.a.begin().await.unwrap();
    let rolled_back = Project::insert(&mut tx, new_project("rolled back"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    assert_eq!(f.raw_project(dropped.id).await, None);
    assert_eq!(f.raw_project(rolled_back.id).await, None);
    assert!(
        Project::find(&f.a, p.id).await.unwrap().is_some(),
        "the delete was rolled back"
    );
}

#[tokio::test]
async fn loaders_group_children_and_find_parents() {
    let f = Fixture::new().await;
    let p1 = Project::insert(&f.a, new_project("p1")).await.unwrap();
    let p2 = Project::insert(&f.a, new_project("p2")).await.unwrap();
    let empty = Project::insert(&f.a, new_project("empty")).await.unwrap();
    let tasks = Task::insert_many(
        &f.a,
        vec![
            new_task(p1.id, "a"),
            new_task(p2.id, "b"),
            new_task(p1.id, "c"),
        ],
    )
    .await
    .unwrap();

    let by_project = Task::load_by_project_id(&f.a, &[p1.id, p2.id, empty.id, p1.id])
        .await
        .unwrap();
    assert_eq!(by_project.len(), 3);
    assert_eq!(by_project[&p1.id], vec![tasks[0].clone(), tasks[2].clone()]);
    assert_eq!(by_project[&p2.id], vec![tasks[1].clone()]);
    assert!(by_project[&empty.id].is_empty());

    let parents = Task::load_project(&f.a, &tasks).await.unwrap();
    assert_eq!(parents.len(), 2);
    assert_eq!(parents[&p1.id], p1);
    assert_eq!(parents[&p2.id], p2);
}
