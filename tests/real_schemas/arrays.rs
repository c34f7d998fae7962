//! Array columns (`text[]`, `uuid[]`, `int8[]`): written one row at a time and in
//! batches, filtered with `contains`, `overlaps` and `any_eq`, and diffed as JSON arrays.
//! Another tenant's rows and soft-deleted rows match every filter too, and must not show.

use chrono::{DateTime, Utc};
use serde_json::json;
use tenant_query::AuditAction;
use tenant_query::prelude::*;
use uuid::Uuid;

use crate::common::*;

#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "posts", audit)]
pub struct Post {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub title: String,
    pub tags: Vec<String>,
    pub owners: Vec<Uuid>,
    pub scores: Option<Vec<i64>>,
    pub raw: Vec<u8>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

const POSTS: &str = "
CREATE TABLE posts (
    id uuid NOT NULL, org_id uuid NOT NULL, title text NOT NULL,
    tags text[] NOT NULL, owners uuid[] NOT NULL, scores int8[], raw bytea NOT NULL,
    deleted_at timestamptz,
    PRIMARY KEY (org_id, id)
);
";

fn post(title: &str, tags: &[&str], scores: Option<Vec<i64>>) -> NewPost {
    NewPost {
        title: title.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        owners: vec![Uuid::nil()],
        scores,
        raw: vec![0, 1, 2],
    }
}

fn titles(posts: &[Post]) -> Vec<&str> {
    let mut titles: Vec<&str> = posts.iter().map(|p| p.title.as_str()).collect();
    titles.sort_unstable();
    titles
}

#[tokio::test]
async fn array_columns_round_trip_one_row_and_in_batches() {
    let f = Fixture::new().await;
    f.test_db.execute_script(POSTS).await.unwrap();
    let one = Post::insert(&f.a, post("one", &["a", "b"], Some(vec![1, 2])))
        .await
        .unwrap();
    assert_eq!(
        (one.tags.clone(), one.scores.clone()),
        (vec!["a".to_owned(), "b".to_owned()], Some(vec![1, 2]))
    );
    // Empty, NULL, long and quoted arrays side by side, in one statement.
    let batch = vec![
        post("empty", &[], Some(vec![])),
        post("null", &["x"], None),
        post(
            "quoted",
            &["a,b", "\"q\"", "{}", "NULL"],
            Some(vec![i64::MAX, -1, 0]),
        ),
        post("last", &["z"], Some(vec![7])),
    ];
    let inserted = Post::insert_many(&f.a, batch.clone()).await.unwrap();
    for (row, new) in inserted.iter().zip(&batch) {
        assert_eq!(
            (&row.title, &row.tags, &row.scores, &row.raw),
            (&new.title, &new.tags, &new.scores, &new.raw)
        );
    }
    let read = Post::find_many(&f.a, &inserted.iter().map(|p| p.id).collect::<Vec<_>>())
        .await
        .unwrap();
    for row in &inserted {
        assert_eq!(&read[&row.id], row);
    }
    let empty: Vec<Post> = Post::insert_many(&f.a, Vec::new()).await.unwrap();
    assert!(empty.is_empty());
    let refused = Post::insert_many(
        &f.a,
        vec![post("ok", &["a"], None), post("nul", &["a\0"], None)],
    )
    .await;
    assert!(
        matches!(refused, Err(Error::InvalidInput { .. })),
        "{refused:?}"
    );

    // The audit record's diff holds JSON arrays.
    let created = AuditRecord::for_entity::<Post>(&f.a, inserted[2].id)
        .await
        .unwrap();
    assert_eq!(
        created[0].changes["tags"]["to"],
        json!(["a,b", "\"q\"", "{}", "NULL"])
    );
    assert_eq!(created[0].changes["scores"]["to"], json!([i64::MAX, -1, 0]));
    let null = AuditRecord::for_entity::<Post>(&f.a, inserted[1].id)
        .await
        .unwrap();
    assert_eq!(null[0].changes["scores"]["to"], json!(null));
    let updated = Post::update(
        &f.a,
        one.id,
        PostPatch {
            tags: Some(vec!["b".into(), "c".into()]),
            scores: Some(None),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (updated.tags, updated.scores),
        (vec!["b".to_owned(), "c".to_owned()], None)
    );
    let history = AuditRecord::for_entity::<Post>(&f.a, one.id).await.unwrap();
    assert_eq!(history[1].action, AuditAction::Update);
    assert_eq!(
        history[1].changes,
        json!({
            "tags": {"from": ["a", "b"], "to": ["b", "c"]},
            "scores": {"from": [1, 2], "to": null}
        })
    );
}

#[tokio::test]
async fn array_filters_see_only_live_rows_of_the_scope() {
    let f = Fixture::new().await;
    f.test_db.execute_script(POSTS).await.unwrap();
    let owner = Uuid::now_v7();
    let mut rust = post("rust", &["rust", "sql"], Some(vec![5]));
    rust.owners = vec![owner];
    Post::insert_many(&f.a, vec![rust.clone(), post("go", &["go"], None)])
        .await
        .unwrap();
    // The same rows in tenant b, and a deleted copy in tenant a: each matches every filter.
    Post::insert(&f.b, rust.clone()).await.unwrap();
    let gone = Post::insert(
        &f.a,
        NewPost {
            title: "gone".into(),
            ..rust.clone()
        },
    )
    .await
    .unwrap();
    Post::delete(&f.a, gone.id).await.unwrap();

    let mut tx = f.test_db.db().begin(f.a.tenant_scope()).await.unwrap();
    let all = |filter| Post::query().filter(filter);
    assert_eq!(
        titles(
            &all(Post::TAGS.contains(["rust", "sql"]))
                .all(&mut tx)
                .await
                .unwrap()
        ),
        ["rust"]
    );
    assert!(
        all(Post::TAGS.contains(["rust", "go"]))
            .all(&mut tx)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        titles(
            &all(Post::TAGS.overlaps(["go", "sql"]))
                .all(&mut tx)
                .await
                .unwrap()
        ),
        ["go", "rust"]
    );
    assert_eq!(
        titles(&all(Post::TAGS.any_eq("sql")).all(&mut tx).await.unwrap()),
        ["rust"]
    );
    assert_eq!(
        titles(&all(Post::OWNERS.any_eq(owner)).all(&mut tx).await.unwrap()),
        ["rust"]
    );
    assert_eq!(
        titles(
            &all(Post::SCORES.contains([5_i64]))
                .all(&mut tx)
                .await
                .unwrap()
        ),
        ["rust"]
    );
    assert_eq!(
        titles(&all(Post::SCORES.is_null()).all(&mut tx).await.unwrap()),
        ["go"]
    );
    assert_eq!(
        titles(
            &all(Post::TAGS.any_eq("rust"))
                .with_deleted()
                .all(&mut tx)
                .await
                .unwrap()
        ),
        ["gone", "rust"]
    );

    // A set-based write through an array filter changes the scope's live row only.
    let changed = all(Post::TAGS.any_eq("rust"))
        .update(
            &mut tx,
            PostPatch {
                tags: Some(vec!["rust".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(titles(&changed), ["rust"]);
    let history = AuditRecord::for_entity::<Post>(&mut tx, changed[0].id)
        .await
        .unwrap();
    assert_eq!(
        history.last().unwrap().changes,
        json!({"tags": {"from": ["rust", "sql"], "to": ["rust"]}})
    );
    tx.commit().await.unwrap();
    let theirs = Post::query()
        .filter(Post::TAGS.contains(["sql"]))
        .count(&f.b)
        .await
        .unwrap();
    assert_eq!(theirs, 1, "tenant b's row kept its tags");
    let gone_tags: Vec<String> = sqlx::query_scalar("SELECT tags FROM posts WHERE id = $1")
        .bind(gone.id)
        .fetch_one(f.pool())
        .await
        .unwrap();
    assert_eq!(gone_tags, ["rust", "sql"], "the deleted row kept its tags");
}
