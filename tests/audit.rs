//! The audit trail on a real PostgreSQL: one record per affected row, in the same
//! statement as the change, never one without the other.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use serde_json::json;
use tenant_query::prelude::*;
use tenant_query::{AuditAction, Error};
use uuid::Uuid;

async fn history(s: &ScopedDb, id: Uuid) -> Vec<AuditRecord> {
    AuditRecord::for_entity::<Project>(s, id).await.unwrap()
}

#[tokio::test]
async fn every_write_leaves_one_record_with_action_actor_and_diff() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("Apollo")).await.unwrap();
    let patch = ProjectPatch {
        name: Some("Apollo 11".into()),
        description: Some(Some("moon".into())),
        ..Default::default()
    };
    let updated = Project::update(&f.a, p.id, patch).await.unwrap();
    Project::delete(&f.a, p.id).await.unwrap();
    let deleted_at = f.raw_project(p.id).await.unwrap().deleted_at.unwrap();
    Project::restore(&f.a, p.id).await.unwrap();
    Project::purge(&f.a, p.id).await.unwrap();

    let records = history(&f.a, p.id).await;
    let actions: Vec<AuditAction> = records.iter().map(|r| r.action).collect();
    use AuditAction::*;
    assert_eq!(actions, [Insert, Update, Delete, Restore, Purge]);
    for record in &records {
        assert_eq!(record.actor, Some(f.actor));
        assert_eq!(record.tenant_id, f.a.tenant_scope().tenant_id());
        assert_eq!(
            (record.entity.as_str(), record.entity_id),
            ("projects", p.id)
        );
    }

    let insert = &records[0].changes;
    assert_eq!(insert["name"], json!({"from": null, "to": "Apollo"}));
    assert_eq!(insert["id"], json!({"from": null, "to": p.id}));
    assert_eq!(
        insert.as_object().unwrap().len(),
        8,
        "an insert records every column"
    );

    assert_eq!(
        records[1].changes,
        json!({
            "name": {"from": "Apollo", "to": "Apollo 11"},
            "description": {"from": null, "to": "moon"},
        }),
        "an update records exactly the changed columns"
    );
    let timestamp = |value: &serde_json::Value| {
        serde_json::from_value::<chrono::DateTime<chrono::Utc>>(value.clone()).unwrap()
    };
    assert_eq!(records[2].changes.as_object().unwrap().len(), 1);
    assert_eq!(records[2].changes["deleted_at"]["from"], json!(null));
    assert_eq!(
        timestamp(&records[2].changes["deleted_at"]["to"]),
        deleted_at
    );
    assert_eq!(records[3].changes.as_object().unwrap().len(), 1);
    assert_eq!(
        timestamp(&records[3].changes["deleted_at"]["from"]),
        deleted_at
    );
    assert_eq!(records[3].changes["deleted_at"]["to"], json!(null));
    let purge = records[4].changes.as_object().unwrap();
    assert_eq!(purge["name"], json!({"from": "Apollo 11", "to": null}));
    assert_eq!(timestamp(&purge["updated_at"]["from"]), updated.updated_at);
    assert_eq!(purge.len(), 8, "a purge records the whole row");
}

#[tokio::test]
async fn insert_many_records_each_row_and_hard_delete_records_the_row() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("p")).await.unwrap();
    let t = Task::insert(&f.a, new_task(p.id, "t")).await.unwrap();
    let bodies = ["one", "two", "three"];
    let comments = Comment::insert_many(
        &f.a,
        bodies
            .iter()
            .map(|b| NewComment {
                task_id: t.id,
                body: (*b).into(),
            })
            .collect(),
    )
    .await
    .unwrap();
    for (comment, body) in comments.iter().zip(bodies) {
        let records = AuditRecord::for_entity::<Comment>(&f.a, comment.id)
            .await
            .unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].action, AuditAction::Insert);
        assert_eq!(records[0].changes["body"]["to"], json!(body));
    }

    Comment::delete(&f.a, comments[0].id).await.unwrap();
    let records = AuditRecord::for_entity::<Comment>(&f.a, comments[0].id)
        .await
        .unwrap();
    assert_eq!(records[1].action, AuditAction::Delete);
    assert_eq!(
        records[1].changes["body"],
        json!({"from": "one", "to": null})
    );
    assert_eq!(
        records[1].changes["task_id"],
        json!({"from": t.id, "to": null})
    );
}

#[tokio::test]
async fn an_update_that_changes_nothing_writes_no_record() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("Apollo")).await.unwrap();
    let same = rename("Apollo");
    assert_eq!(Project::update(&f.a, p.id, same).await.unwrap(), p);
    assert_eq!(
        Project::update(&f.a, p.id, ProjectPatch::default())
            .await
            .unwrap(),
        p
    );
    assert_eq!(history(&f.a, p.id).await.len(), 1, "only the insert");
}

#[tokio::test]
async fn rejected_writes_leave_no_record() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("Apollo")).await.unwrap();
    let other = Project::insert(&f.a, new_project("Gemini")).await.unwrap();
    let before = f.raw_count("tenant_audit_log").await;

    let missing = Uuid::now_v7();
    assert!(matches!(
        Project::update(&f.a, missing, rename("x")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        Project::delete(&f.b, p.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        Project::restore(&f.a, p.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        Project::purge(&f.b, p.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        Project::update(&f.a, other.id, rename("Apollo")).await,
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        Project::insert(&f.a, new_project("Apollo")).await,
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        Project::update(&f.a, p.id, rename("nul\0")).await,
        Err(Error::InvalidInput { .. })
    ));
    Project::delete(&f.a, p.id).await.unwrap();
    assert!(matches!(
        Project::delete(&f.a, p.id).await,
        Err(Error::NotFound { .. })
    ));

    assert_eq!(
        f.raw_count("tenant_audit_log").await,
        before + 1,
        "only the successful delete"
    );
}

#[tokio::test]
async fn a_tenant_never_reads_another_tenants_records() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("Apollo")).await.unwrap();
    Project::insert(&f.b, new_project("Zeus")).await.unwrap();
    assert!(
        AuditRecord::for_entity::<Project>(&f.b, p.id)
            .await
            .unwrap()
            .is_empty()
    );
    let theirs = AuditRecord::query().all(&f.b).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert!(
        theirs
            .iter()
            .all(|r| r.tenant_id == f.b.tenant_scope().tenant_id())
    );
}

#[tokio::test]
async fn the_log_filters_by_entity_actor_action_and_time_and_pages_by_keyset() {
    let f = Fixture::new().await;
    let start = chrono::Utc::now() - chrono::Duration::seconds(5);
    let bob = Uuid::now_v7();
    let as_bob = f.test_db.db().scope(&f.a.tenant_scope().with_actor(bob));
    let p = Project::insert(&f.a, new_project("Apollo")).await.unwrap();
    for i in 0..5 {
        let patch = ProjectPatch {
            status: Some(format!("s{i}")),
            ..Default::default()
        };
        Project::update(&as_bob, p.id, patch).await.unwrap();
    }
    let t = Task::insert(&as_bob, new_task(p.id, "t")).await.unwrap();

    let by_bob = AuditRecord::query().actor(bob).all(&f.a).await.unwrap();
    assert_eq!(by_bob.len(), 6);
    let updates = AuditRecord::query()
        .entity::<Project>()
        .action(AuditAction::Update)
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(updates.len(), 5);
    let tasks = AuditRecord::query()
        .entity::<Task>()
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(
        tasks.iter().map(|r| r.entity_id).collect::<Vec<_>>(),
        [t.id]
    );
    let in_window = AuditRecord::query()
        .since(start)
        .until(chrono::Utc::now() + chrono::Duration::seconds(5));
    assert_eq!(in_window.all(&f.a).await.unwrap().len(), 7);
    assert!(
        AuditRecord::query()
            .until(start)
            .all(&f.a)
            .await
            .unwrap()
            .is_empty()
    );

    let mut pages = Vec::new();
    let mut query = AuditRecord::query().entity::<Project>().limit(2);
    loop {
        let page = query.clone().all(&f.a).await.unwrap();
        let Some(last) = page.last() else { break };
        query = AuditRecord::query()
            .entity::<Project>()
            .after(last)
            .limit(2);
        pages.push(page);
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2]);
    assert_eq!(pages.concat(), history(&f.a, p.id).await);
}

#[tokio::test]
async fn entities_without_audit_write_no_records() {
    let f = Fixture::new().await;
    let tag = Tag::insert(
        &f.a,
        NewTag {
            label: "x".into(),
            weight: 1,
        },
    )
    .await
    .unwrap();
    Tag::update(
        &f.a,
        tag.id,
        TagPatch {
            weight: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    Tag::delete(&f.a, tag.id).await.unwrap();
    assert_eq!(f.raw_count("tenant_audit_log").await, 0);
}

#[tokio::test]
async fn a_failing_audit_insert_cancels_the_change() {
    let f = Fixture::new().await;
    let p = Project::insert(&f.a, new_project("Apollo")).await.unwrap();
    f.test_db
        .execute_script("ALTER TABLE tenant_audit_log ADD CONSTRAINT refuse_forbidden CHECK (changes::text NOT LIKE '%forbidden%')")
        .await
        .unwrap();
    let patch = rename("forbidden");
    assert!(Project::update(&f.a, p.id, patch).await.is_err());
    assert!(
        Project::insert(&f.a, new_project("forbidden"))
            .await
            .is_err()
    );
    assert_eq!(f.raw_project(p.id).await, Some(p));
    assert_eq!(f.raw_count("projects").await, 1);
}

/// 16 tasks update one row 100 times each (counter += 1, read under a row lock): the final
/// value equals the number of update records, and each record starts where the previous
/// one ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_leave_an_unbroken_chain() {
    let f = Fixture::new().await;
    let counter = Counter::insert(&f.a, NewCounter { value: 0 })
        .await
        .unwrap();
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let s = f.a.clone();
            tokio::spawn(async move {
                for _ in 0..100 {
                    let mut tx = s.begin().await.unwrap();
                    let current = Counter::query()
                        .filter(Counter::ID.eq(counter.id))
                        .for_update()
                        .one(&mut tx)
                        .await
                        .unwrap();
                    let patch = CounterPatch {
                        value: Some(current.value + 1),
                    };
                    Counter::update(&mut tx, counter.id, patch).await.unwrap();
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }

    let value = Counter::get(&f.a, counter.id).await.unwrap().value;
    let records = AuditRecord::for_entity::<Counter>(&f.a, counter.id)
        .await
        .unwrap();
    let updates: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.action == AuditAction::Update)
        .collect();
    assert_eq!(value, 1600);
    assert_eq!(value, updates.len() as i64);
    let mut previous = json!(0);
    for record in updates {
        assert_eq!(
            record.changes["value"]["from"], previous,
            "broken chain at {record:?}"
        );
        previous = record.changes["value"]["to"].clone();
    }
    assert_eq!(previous, json!(value));
}

/// Blind concurrent updates (no transaction, no read first): each record's `from` is the
/// value the row really had when that update took its lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blind_concurrent_updates_record_the_true_old_value() {
    let f = Fixture::new().await;
    let counter = Counter::insert(&f.a, NewCounter { value: 0 })
        .await
        .unwrap();
    let workers: Vec<_> = (0..16_i64)
        .map(|worker| {
            let s = f.a.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    let patch = CounterPatch {
                        value: Some(worker * 1000 + i + 1),
                    };
                    Counter::update(&s, counter.id, patch).await.unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let records = AuditRecord::for_entity::<Counter>(&f.a, counter.id)
        .await
        .unwrap();
    let mut previous = json!(0);
    for record in records.iter().filter(|r| r.action == AuditAction::Update) {
        assert_eq!(
            record.changes["value"]["from"], previous,
            "broken chain at {record:?}"
        );
        previous = record.changes["value"]["to"].clone();
    }
    assert_eq!(
        previous,
        json!(Counter::get(&f.a, counter.id).await.unwrap().value)
    );
}

/// A connection killed in the middle of a stream of audited writes leaves no change
/// without its record and no record without its change, in or out of a transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_connection_splits_no_change_from_its_record() {
    let f = Fixture::new().await;
    let victim_options = f
        .test_db
        .connect_options()
        .clone()
        .application_name("audit_victim");
    let victim_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(victim_options)
        .await
        .unwrap();
    let victim = TenantDb::new(victim_pool).scope(f.a.tenant_scope());
    let counter = Counter::insert(&victim, NewCounter { value: 0 })
        .await
        .unwrap();

    let writer = {
        let victim = victim.clone();
        tokio::spawn(async move {
            for value in 1..=100_000 {
                let step = async {
                    if value % 3 == 0 {
                        // A transaction of several audited writes: all or nothing.
                        let mut tx = victim.begin().await?;
                        Counter::update(&mut tx, counter.id, CounterPatch { value: Some(value) })
                            .await?;
                        Counter::insert(&mut tx, NewCounter { value: -value }).await?;
                        tx.commit().await
                    } else {
                        Counter::update(&victim, counter.id, CounterPatch { value: Some(value) })
                            .await
                            .map(drop)
                    }
                };
                if step.await.is_err() {
                    return Some(value);
                }
            }
            None
        })
    };
    // A kill that lands between statements is healed by the pool; keep killing until one
    // lands inside a statement and the writer sees it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    while !writer.is_finished() {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'audit_victim'")
            .execute(f.pool())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(7)).await;
    }
    let failed_at = writer.await.unwrap().expect("a kill interrupted a write");
    assert!(failed_at > 3, "the writer made progress before the kill");

    let final_value = Counter::get(&f.a, counter.id).await.unwrap().value;
    let records = AuditRecord::for_entity::<Counter>(&f.a, counter.id)
        .await
        .unwrap();
    let updates = records
        .iter()
        .filter(|r| r.action == AuditAction::Update)
        .count() as i64;
    assert_eq!(
        final_value, updates,
        "every applied update has its record, and no more"
    );

    let rows: HashSet<Uuid> = Counter::query()
        .all(&f.a)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    let inserted: HashSet<Uuid> = AuditRecord::query()
        .entity::<Counter>()
        .action(AuditAction::Insert)
        .all(&f.a)
        .await
        .unwrap()
        .iter()
        .map(|r| r.entity_id)
        .collect();
    assert_eq!(
        rows, inserted,
        "every row has its insert record, and every record its row"
    );
}
