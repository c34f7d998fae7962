//! Batch loading on a real PostgreSQL: one query per relation level, counted by
//! PostgreSQL itself (pg_stat_statements), and a DataLoader that coalesces.

mod common;

use common::*;
use tenant_query::prelude::*;
use tenant_query::{Loader, Nested};
use uuid::Uuid;

const FROM_PROJECTS: &str = "FROM \"projects\"";
const FROM_TASKS: &str = "FROM \"tasks\"";
const FROM_COMMENTS: &str = "FROM \"comments\"";

/// `parents` projects with two tasks each, each task with one comment.
async fn tree(f: &Fixture, parents: usize) -> Vec<Project> {
    let projects = Project::insert_many(
        &f.a,
        (0..parents)
            .map(|i| new_project(&format!("p{i}")))
            .collect(),
    )
    .await
    .unwrap();
    let tasks = Task::insert_many(
        &f.a,
        projects
            .iter()
            .flat_map(|p| [new_task(p.id, "first"), new_task(p.id, "second")])
            .collect(),
    )
    .await
    .unwrap();
    Comment::insert_many(
        &f.a,
        tasks
            .iter()
            .map(|t| NewComment {
                task_id: t.id,
                body: t.title.clone(),
            })
            .collect(),
    )
    .await
    .unwrap();
    projects
}

#[tokio::test]
async fn one_query_per_relation_level_for_1_100_and_1000_parents() {
    let f = counting_fixture().await;
    let projects = tree(&f, 1000).await;
    for parents in [1, 100, 1000] {
        let ids: Vec<Uuid> = projects[..parents].iter().map(|p| p.id).collect();
        let (tasks_before, projects_before) = (
            executed(&f, FROM_TASKS).await,
            executed(&f, FROM_PROJECTS).await,
        );

        let tasks = Task::load_by_project_id(&f.a, &ids).await.unwrap();
        assert_eq!(tasks.len(), parents);
        assert!(tasks.values().all(|t| t.len() == 2));
        let all_tasks: Vec<Task> = tasks.into_values().flatten().collect();
        let parents_of = Task::load_project(&f.a, &all_tasks).await.unwrap();
        assert_eq!(parents_of.len(), parents);

        assert_eq!(
            executed(&f, FROM_TASKS).await - tasks_before,
            1,
            "{parents} parents: one child query"
        );
        assert_eq!(
            executed(&f, FROM_PROJECTS).await - projects_before,
            1,
            "{parents} parents: one parent query"
        );
    }
}

#[tokio::test]
async fn nested_loading_is_three_queries_for_three_levels() {
    let f = counting_fixture().await;
    tree(&f, 50).await;
    let counts = || async {
        (
            executed(&f, FROM_PROJECTS).await,
            executed(&f, FROM_TASKS).await,
            executed(&f, FROM_COMMENTS).await,
        )
    };
    let before = counts().await;

    let projects = Project::query()
        .order_by(Project::NAME.asc())
        .all(&f.a)
        .await
        .unwrap();
    let tree: Vec<Nested<Project, Nested<Task, Comment>>> = Task::BY_PROJECT
        .then(Comment::BY_TASK)
        .attach(&f.a, projects)
        .await
        .unwrap();

    let after = counts().await;
    assert_eq!(
        (after.0 - before.0, after.1 - before.1, after.2 - before.2),
        (1, 1, 1)
    );
    assert_eq!(tree.len(), 50);
    assert_eq!(tree[0].row.name, "p0");
    for project in &tree {
        assert_eq!(project.children.len(), 2);
        assert_eq!(
            project.children[0].row.title, "first",
            "children in id order"
        );
        for task in &project.children {
            assert_eq!(task.row.project_id, project.row.id);
            assert_eq!(task.children.len(), 1);
            assert_eq!(task.children[0].task_id, task.row.id);
            assert_eq!(task.children[0].body, task.row.title);
        }
    }
}

#[tokio::test]
async fn loaders_skip_deleted_rows_and_other_tenants_and_take_any_number_of_keys() {
    let f = Fixture::new().await;
    let projects = tree(&f, 3).await;
    let theirs = Project::insert(&f.b, new_project("theirs")).await.unwrap();
    Task::insert(&f.b, new_task(theirs.id, "theirs"))
        .await
        .unwrap();
    let tasks = Task::load_by_project_id(&f.a, &[projects[0].id])
        .await
        .unwrap();
    Task::delete(&f.a, tasks[&projects[0].id][0].id)
        .await
        .unwrap();
    Project::delete(&f.a, projects[1].id).await.unwrap();

    // 70,000 keys, most unknown, some repeated, one of another tenant: one array parameter.
    let mut keys: Vec<Uuid> = (0..70_000).map(|_| Uuid::now_v7()).collect();
    keys.extend([projects[0].id, projects[0].id, projects[1].id, theirs.id]);
    let by_project = Task::load_by_project_id(&f.a, &keys).await.unwrap();
    assert_eq!(by_project.len(), 70_003, "every distinct key is present");
    assert_eq!(
        by_project[&projects[0].id].len(),
        1,
        "the deleted task is filtered"
    );
    assert_eq!(
        by_project[&projects[1].id].len(),
        2,
        "children of a deleted parent are still its children"
    );
    assert!(
        by_project[&theirs.id].is_empty(),
        "another tenant's key returns nothing"
    );

    let with_deleted = Task::load_by_project_id_with_deleted(&f.a, &[projects[0].id])
        .await
        .unwrap();
    assert_eq!(with_deleted[&projects[0].id].len(), 2);
    let found = Project::find_many(&f.a, &keys).await.unwrap();
    assert_eq!(
        found.keys().copied().collect::<Vec<_>>(),
        [projects[0].id],
        "deleted and foreign parents are absent"
    );

    let nested = Task::BY_PROJECT
        .with_deleted()
        .attach(&f.a, vec![projects[0].clone()])
        .await
        .unwrap();
    assert_eq!(nested[0].children.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_loader_coalesces_concurrent_loads_into_one_query() {
    let f = counting_fixture().await;
    let projects = tree(&f, 120).await;
    let theirs = Project::insert(&f.b, new_project("theirs")).await.unwrap();
    Project::delete(&f.a, projects[5].id).await.unwrap();
    let loader = Loader::<Project>::new(&f.a);

    // 100 concurrent loads: 90 distinct rows, duplicates, a deleted row, another tenant's row.
    let mut asked: Vec<Uuid> = projects[..90].iter().map(|p| p.id).collect();
    asked.extend(projects[..8].iter().map(|p| p.id));
    asked.extend([theirs.id, Uuid::now_v7()]);
    let before = executed(&f, FROM_PROJECTS).await;
    // As a GraphQL executor resolves a list: every field's future polled in one task.
    let answers = futures_util::future::join_all(asked.iter().map(|id| loader.load(*id))).await;
    let answers: Vec<Option<Project>> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        executed(&f, FROM_PROJECTS).await - before,
        1,
        "one query for 100 loads"
    );

    for (id, answer) in asked.iter().zip(&answers) {
        let expected = projects
            .iter()
            .find(|p| p.id == *id && p.id != projects[5].id);
        assert_eq!(answer.as_ref(), expected, "answer for {id}");
    }

    // Cached: asking again makes no query, and load_many keeps the order asked.
    let again = loader
        .load_many(&[projects[1].id, projects[0].id, projects[1].id])
        .await
        .unwrap();
    assert_eq!(
        again,
        [
            Some(projects[1].clone()),
            Some(projects[0].clone()),
            Some(projects[1].clone())
        ]
    );
    assert_eq!(
        executed(&f, FROM_PROJECTS).await - before,
        1,
        "served from the cache"
    );
}

/// Loads from separate tasks coalesce too, once those tasks run in the same tick.
#[tokio::test(flavor = "current_thread")]
async fn loads_from_many_tasks_coalesce() {
    let f = counting_fixture().await;
    let projects = tree(&f, 100).await;
    let loader = Loader::<Project>::new(&f.a);
    let before = executed(&f, FROM_PROJECTS).await;
    let handles: Vec<_> = projects
        .iter()
        .map(|p| {
            let (loader, id) = (loader.clone(), p.id);
            tokio::spawn(async move { loader.load(id).await })
        })
        .collect();
    for (handle, project) in handles.into_iter().zip(&projects) {
        assert_eq!(handle.await.unwrap().unwrap().as_ref(), Some(project));
    }
    assert_eq!(executed(&f, FROM_PROJECTS).await - before, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_lone_load_and_a_failed_batch_answer_every_caller() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("solo")).await.unwrap();
    let loader = Loader::<Project>::new(&f.a);
    assert_eq!(loader.load(p.id).await.unwrap(), Some(p.clone()));

    let fresh = Loader::<Project>::new(&f.a);
    f.pool().close().await;
    let (one, two) = tokio::join!(fresh.load(p.id), fresh.load(p.id));
    assert!(
        matches!(one, Err(tenant_query::Error::Database(_))),
        "{one:?}"
    );
    assert!(
        matches!(two, Err(tenant_query::Error::Database(_))),
        "{two:?}"
    );
    assert_eq!(
        loader.load(p.id).await.unwrap(),
        Some(p),
        "the first loader's cache still answers"
    );
}

/// The first caller of a batch gathers it; if that caller is cancelled, the batch still
/// goes out and the others get their answers.
#[tokio::test(flavor = "current_thread")]
async fn a_cancelled_first_caller_does_not_stall_the_batch() {
    use futures_util::FutureExt;
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("p")).await.unwrap();
    let loader = Loader::<Project>::new(&f.a);

    let mut leader = Box::pin(loader.load(p.id));
    assert!(
        (&mut leader).now_or_never().is_none(),
        "the leader is gathering"
    );
    let follower = loader.load(p.id);
    drop(leader);
    assert_eq!(follower.await.unwrap(), Some(p));
}
