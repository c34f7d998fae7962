//! Correct by construction: every entity shape keeps every value in its column, and each
//! way to lose, corrupt or leak data found so far has a test named after what it protects.

mod common;
#[path = "correctness/routable/mod.rs"]
mod routable;
#[path = "correctness/shapes.rs"]
mod shapes;

use std::time::Duration;

use common::*;
use tenant_query::prelude::*;
use tenant_query::{AuditAction, Keyed, Repository};
use uuid::Uuid;

#[tokio::test]
async fn every_shape_keeps_every_value_in_its_column() {
    let db = shapes::database().await;
    shapes::round_trip::<shapes::IdLast>(&db).await;
    shapes::round_trip::<shapes::TenantFirst>(&db).await;
    shapes::round_trip::<shapes::NullableUuids>(&db).await;
    shapes::round_trip::<shapes::Keywords>(&db).await;
    shapes::round_trip::<shapes::Invoice>(&db).await;
    shapes::round_trip::<shapes::Wide>(&db).await;
}

#[tokio::test]
async fn commit_after_a_failed_statement_is_an_error_and_keeps_nothing() {
    let f = Fixture::new().await;
    Project::insert(&f.a, new_project("taken")).await.unwrap();
    let before = f.raw_count("tenant_audit_log").await;

    let mut tx = f.a.begin().await.unwrap();
    let kept = Project::insert(&mut tx, new_project("written first"))
        .await
        .unwrap();
    let clash = Project::insert(&mut tx, new_project("taken")).await;
    assert!(matches!(clash, Err(Error::Conflict { .. })), "{clash:?}");
    let commit = tx.commit().await;
    assert!(matches!(commit, Err(Error::RolledBack)), "{commit:?}");

    assert_eq!(f.raw_project(kept.id).await, None);
    assert_eq!(f.raw_count("tenant_audit_log").await, before);
    // The connection went back to the pool outside any transaction.
    let mut tx = f.a.begin().await.unwrap();
    Project::insert(&mut tx, new_project("after"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        Project::query().count(&f.a).await.unwrap(),
        2,
        "`taken` and `after`"
    );
}

#[tokio::test]
async fn a_belongs_to_value_cannot_point_into_another_tenant() {
    let f = Fixture::new().await;
    let mine = Project::insert(&f.a, new_project("mine")).await.unwrap();
    let theirs = Project::insert(&f.b, new_project("theirs")).await.unwrap();
    let trashed = Project::insert(&f.a, new_project("trashed")).await.unwrap();
    Project::delete(&f.a, trashed.id).await.unwrap();
    let tasks_before = f.raw_count("tasks").await;
    let log_before = f.raw_count("tenant_audit_log").await;

    // Another tenant's parent, no parent at all and a deleted parent give the same error:
    // nothing tells A whether B's id exists.
    for parent in [theirs.id, Uuid::now_v7(), trashed.id] {
        let one = Task::insert(&f.a, new_task(parent, "x")).await;
        assert!(
            matches!(one, Err(Error::ForeignKey { constraint: None })),
            "{one:?}"
        );
        let many =
            Task::insert_many(&f.a, vec![new_task(mine.id, "fine"), new_task(parent, "x")]).await;
        assert!(
            matches!(many, Err(Error::ForeignKey { constraint: None })),
            "{many:?}"
        );
    }
    assert_eq!(f.raw_count("tasks").await, tasks_before, "all or nothing");

    // Moving a task under another tenant's project is refused too, in a transaction or not.
    let task = Task::insert(&f.a, new_task(mine.id, "t")).await.unwrap();
    let log_mid = f.raw_count("tenant_audit_log").await;
    assert_eq!(log_mid, log_before + 1);
    let patch = || TaskPatch {
        project_id: Some(theirs.id),
        ..Default::default()
    };
    let moved = Task::update(&f.a, task.id, patch()).await;
    assert!(
        matches!(moved, Err(Error::ForeignKey { constraint: None })),
        "{moved:?}"
    );
    let mut tx = f.a.begin().await.unwrap();
    let moved = Task::update(&mut tx, task.id, patch()).await;
    assert!(matches!(moved, Err(Error::ForeignKey { .. })), "{moved:?}");
    tx.rollback().await.unwrap();
    // The patch itself is refused, whatever row it names; a valid patch of a missing row
    // is NotFound.
    let missing = Task::update(&f.a, Uuid::now_v7(), patch()).await;
    assert!(
        matches!(missing, Err(Error::ForeignKey { .. })),
        "{missing:?}"
    );
    let valid = TaskPatch {
        project_id: Some(mine.id),
        ..Default::default()
    };
    let missing = Task::update(&f.a, Uuid::now_v7(), valid).await;
    assert!(
        matches!(missing, Err(Error::NotFound { .. })),
        "{missing:?}"
    );
    assert_eq!(Task::get(&f.a, task.id).await.unwrap().project_id, mine.id);
    assert_eq!(f.raw_count("tenant_audit_log").await, log_mid);

    // B's project gained no child it could see or cascade into.
    let children = Task::load_by_project_id(&f.b, &[theirs.id]).await.unwrap();
    assert!(children[&theirs.id].is_empty());
}

#[tokio::test]
async fn a_hard_delete_that_would_cascade_into_other_rows_is_refused() {
    let f = Fixture::new().await;
    f.test_db
        .execute_script(
            "ALTER TABLE tasks DROP CONSTRAINT tasks_org_id_project_id_fkey;
             ALTER TABLE tasks ADD CONSTRAINT tasks_project_cascade
                 FOREIGN KEY (org_id, project_id) REFERENCES projects (org_id, id) ON DELETE CASCADE;",
        )
        .await
        .unwrap();
    let p = Project::insert(&f.a, new_project("parent")).await.unwrap();
    let t = Task::insert(&f.a, new_task(p.id, "child")).await.unwrap();
    let log_before = f.raw_count("tenant_audit_log").await;

    let purge = Project::purge(&f.a, p.id).await;
    match purge {
        Err(Error::CascadeRefused {
            entity,
            constraints,
        }) => {
            assert_eq!(entity, "projects");
            assert_eq!(constraints, ["tasks.tasks_project_cascade"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(f.raw_project(p.id).await.is_some());
    assert_eq!(Task::get(&f.a, t.id).await.unwrap(), t);
    assert_eq!(f.raw_count("tenant_audit_log").await, log_before);

    // Soft deletes cascade nothing and stay allowed.
    Project::delete(&f.a, p.id).await.unwrap();
}

#[tokio::test]
async fn attach_gives_every_listed_parent_its_children() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("p")).await.unwrap();
    let q = Project::insert(&f.a, new_project("q")).await.unwrap();
    let t = Task::insert(&f.a, new_task(p.id, "t")).await.unwrap();
    let c = Comment::insert(
        &f.a,
        NewComment {
            task_id: t.id,
            body: "c".into(),
        },
    )
    .await
    .unwrap();

    let parents = vec![p.clone(), q.clone(), p.clone()];
    let tree = Task::BY_PROJECT
        .then(Comment::BY_TASK)
        .attach(&f.a, parents)
        .await
        .unwrap();
    let counts: Vec<(Uuid, usize)> = tree.iter().map(|n| (n.key(), n.children.len())).collect();
    assert_eq!(counts, [(p.id, 1), (q.id, 0), (p.id, 1)]);
    assert_eq!(tree[0], tree[2]);
    assert_eq!(tree[2].children[0].children, [c]);

    // A child listed twice under `then` keeps its own children too.
    let tasks = vec![t.clone(), t.clone()];
    let with_comments = Comment::BY_TASK.attach(&f.a, tasks).await.unwrap();
    assert!(with_comments.iter().all(|n| n.children.len() == 1));
}

#[tokio::test]
async fn nested_loading_and_loaders_read_inside_a_transaction() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("p")).await.unwrap();
    let mut tx = f.a.begin().await.unwrap();
    // Written in the transaction, so only readable through it.
    let t = Task::insert(&mut tx, new_task(p.id, "uncommitted"))
        .await
        .unwrap();
    let tree = Task::BY_PROJECT
        .attach(&mut tx, vec![p.clone()])
        .await
        .unwrap();
    assert_eq!(tree[0].children, std::slice::from_ref(&t));
    {
        let loader = tenant_query::Loader::<Task>::new(&mut tx);
        let (a, b) = tokio::join!(loader.load(t.id), loader.load(Uuid::now_v7()));
        assert_eq!(a.unwrap(), Some(t.clone()));
        assert_eq!(b.unwrap(), None);
    }
    tx.rollback().await.unwrap();
    assert!(Task::find(&f.a, t.id).await.unwrap().is_none());
}

/// Two calls through one handle, whichever kind it is.
async fn rename_twice<'c>(db: impl TenantExecutor<'c>, id: Uuid) -> tenant_query::Result<Project> {
    let mut db = db.into_scoped();
    Project::update(db.reborrow(), id, rename("once")).await?;
    <Project as Repository>::update(db.reborrow(), id, rename("twice")).await
}

#[tokio::test]
async fn a_helper_can_make_several_calls_through_the_handle_it_is_given() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("p")).await.unwrap();
    assert_eq!(rename_twice(&f.a, p.id).await.unwrap().name, "twice");
    let mut tx = f.a.begin().await.unwrap();
    assert_eq!(rename_twice(&mut tx, p.id).await.unwrap().name, "twice");
    tx.commit().await.unwrap();
    let actions: Vec<AuditAction> = AuditRecord::for_entity::<Project>(&f.a, p.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    use AuditAction::*;
    assert_eq!(actions, [Insert, Update, Update, Update, Update]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_loader_answers_while_new_loads_keep_arriving() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("p")).await.unwrap();
    let loader = tenant_query::Loader::<Project>::new(&f.a);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A task that queues a new id on every tick, forever.
    let feeder = {
        let (loader, stop) = (loader.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let one = loader.clone();
                drop(tokio::spawn(async move {
                    one.load(Uuid::now_v7()).await.map(|_| ())
                }));
                tokio::task::yield_now().await;
            }
        })
    };
    let answered = tokio::time::timeout(Duration::from_secs(2), loader.load(p.id)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    feeder.await.unwrap();
    assert_eq!(answered.expect("answered within 2 s").unwrap(), Some(p));
}

#[tokio::test]
async fn a_loader_cache_is_explicit_about_writes() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("p")).await.unwrap();
    let loader = tenant_query::Loader::<Project>::new(&f.a);
    assert_eq!(loader.load(p.id).await.unwrap(), Some(p.clone()));
    Project::delete(&f.a, p.id).await.unwrap();
    // Documented: the cache keeps what it loaded until told otherwise.
    assert_eq!(loader.load(p.id).await.unwrap(), Some(p.clone()));
    loader.forget(p.id);
    assert_eq!(loader.load(p.id).await.unwrap(), None);
    let restored = Project::restore(&f.a, p.id).await.unwrap();
    loader.prime(restored.clone()).unwrap();
    let theirs = Project::insert(&f.b, new_project("theirs")).await.unwrap();
    assert!(matches!(
        loader.prime(theirs.clone()),
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(loader.load(theirs.id).await.unwrap(), None);
    assert_eq!(loader.load(p.id).await.unwrap(), Some(restored));
    loader.clear();
    assert!(loader.load(p.id).await.unwrap().is_some());
}

#[test]
fn dropping_a_transaction_outside_a_runtime_does_not_panic() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (f, tx) = runtime.block_on(async {
        let f = Fixture::new().await;
        let mut tx = f.a.begin().await.unwrap();
        Project::insert(&mut tx, new_project("never committed"))
            .await
            .unwrap();
        (f, tx)
    });
    // Dropped on a thread with no runtime: the connection is closed, which rolls back.
    std::thread::spawn(move || drop(tx)).join().unwrap();
    runtime.block_on(async {
        let mut waited = 0;
        while f.raw_count("projects").await != 0 && waited < 50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        assert_eq!(f.raw_count("projects").await, 0);
    });
}

#[tokio::test]
async fn a_cross_tenant_reason_is_required() {
    let f = Fixture::new().await;
    assert!(matches!(
        f.test_db.db().cross_tenant(""),
        Err(Error::Configuration(_))
    ));
    assert!(matches!(
        f.test_db.db().cross_tenant("   "),
        Err(Error::Configuration(_))
    ));
    let admin = f
        .test_db
        .db()
        .cross_tenant("test: count every tenant")
        .unwrap();
    assert_eq!(admin.reason(), "test: count every tenant");
}

#[tokio::test]
async fn locking_reads_run_in_transactions() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("job")).await.unwrap();
    Project::insert(&f.b, new_project("their job"))
        .await
        .unwrap();
    let mut first = f.a.begin().await.unwrap();
    let taken = Project::query()
        .for_update()
        .skip_locked()
        .first(&mut first)
        .await
        .unwrap();
    assert_eq!(taken.map(|p| p.id), Some(p.id));
    // A second worker skips the locked row, or fails at once with NOWAIT.
    let mut second = f.a.begin().await.unwrap();
    let none = Project::query()
        .for_update()
        .skip_locked()
        .all(&mut second)
        .await
        .unwrap();
    assert!(none.is_empty());
    second.rollback().await.unwrap();
    let mut third = f.a.begin().await.unwrap();
    let busy = Project::query().for_update().nowait().all(&mut third).await;
    assert_eq!(
        busy.as_ref().err().and_then(Error::sqlstate).as_deref(),
        Some("55P03"),
        "{busy:?}"
    );
    first.commit().await.unwrap();
}
