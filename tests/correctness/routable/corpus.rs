//! The corpus: every entity of the suite's tests (`tests/common` and the shapes of
//! `tests/correctness`), and every kind of call the library makes on them.

use super::check::{Finding, Tables, check_fixed};
use crate::common::*;
use crate::shapes::{self, IdLast, Invoice, Keywords, NullableUuids, TenantFirst, Wide};
use tenant_query::__private_v0_1::Generated;
use tenant_query::prelude::*;
use tenant_query::{AuditAction, Repository};
use uuid::Uuid;

/// Not audited, with what no other test entity combines: a unique key, a version, an
/// optional and a self-referencing `belongs_to`, a generated column and `timestamp without
/// time zone` roles. Only its fixed statements are checked, so it has no table.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "badges", unique = "code")]
pub struct Badge {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(belongs_to = Project)]
    pub project_id: Option<Uuid>,
    #[tenant(belongs_to = Badge)]
    pub parent_id: Option<Uuid>,
    pub code: String,
    #[tenant(generated)]
    pub code_length: i32,
    #[tenant(version)]
    pub version: i64,
    #[tenant(created_at)]
    pub created_at: chrono::NaiveDateTime,
    #[tenant(updated_at)]
    pub updated_at: chrono::NaiveDateTime,
    #[tenant(soft_delete)]
    pub deleted_at: Option<chrono::NaiveDateTime>,
}

/// [`Badge`]'s shape, audited.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "stamps", audit, unique = "code")]
pub struct Stamp {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(belongs_to = Project)]
    pub project_id: Option<Uuid>,
    #[tenant(belongs_to = Stamp)]
    pub parent_id: Option<Uuid>,
    pub code: String,
    #[tenant(generated)]
    pub code_length: i32,
    #[tenant(version)]
    pub version: i64,
    #[tenant(created_at)]
    pub created_at: chrono::NaiveDateTime,
    #[tenant(updated_at)]
    pub updated_at: chrono::NaiveDateTime,
    #[tenant(soft_delete)]
    pub deleted_at: Option<chrono::NaiveDateTime>,
}

/// The distributed tables of every entity of the suite.
pub fn tables() -> Tables {
    Tables::of(&[
        Project::meta(),
        Task::meta(),
        Tag::meta(),
        Comment::meta(),
        Counter::meta(),
        Label::meta(),
        IdLast::meta(),
        TenantFirst::meta(),
        NullableUuids::meta(),
        Keywords::meta(),
        Invoice::meta(),
        Wide::meta(),
        Badge::meta(),
        Stamp::meta(),
    ])
}

/// The fixed statements of every entity, checked: (how many, findings).
pub fn fixed(tables: &Tables) -> (usize, Vec<(String, Finding)>) {
    let all = [
        check_fixed::<Project>(tables),
        check_fixed::<Task>(tables),
        check_fixed::<Tag>(tables),
        check_fixed::<Comment>(tables),
        check_fixed::<Counter>(tables),
        check_fixed::<Label>(tables),
        check_fixed::<IdLast>(tables),
        check_fixed::<TenantFirst>(tables),
        check_fixed::<NullableUuids>(tables),
        check_fixed::<Keywords>(tables),
        check_fixed::<Invoice>(tables),
        check_fixed::<Wide>(tables),
        check_fixed::<Badge>(tables),
        check_fixed::<Stamp>(tables),
    ];
    all.into_iter()
        .fold((0, Vec::new()), |(n, mut found), (count, findings)| {
            found.extend(findings);
            (n + count, found)
        })
}

/// Every kind of call the library makes, on every entity, with a second tenant's rows
/// and soft-deleted rows present, on the pool and in a transaction.
pub async fn run(f: &Fixture) {
    let (a, b) = (&f.a, &f.b);
    // The second tenant's rows, and soft-deleted ones.
    let theirs = Project::insert(b, new_project("theirs")).await.unwrap();
    Task::insert(b, new_task(theirs.id, "theirs"))
        .await
        .unwrap();
    let gone = Project::insert(a, new_project("gone")).await.unwrap();
    Project::delete(a, gone.id).await.unwrap();

    // Fixed statements: every generated function.
    let p = Project::insert(a, new_project("apollo")).await.unwrap();
    let many = Project::insert_many(a, vec![new_project("gemini"), new_project("mercury")])
        .await
        .unwrap();
    Project::find(a, p.id).await.unwrap();
    Project::get(a, p.id).await.unwrap();
    Project::find_many(a, &[p.id, many[0].id, theirs.id])
        .await
        .unwrap();
    Project::update(a, p.id, rename("apollo 2")).await.unwrap();
    let t1 = Task::insert(a, new_task(p.id, "one")).await.unwrap();
    let t2 = Task::insert(a, new_task(many[0].id, "two")).await.unwrap();
    Task::insert_many(a, vec![new_task(p.id, "three"), new_task(p.id, "four")])
        .await
        .unwrap();
    let c = Comment::insert(
        a,
        NewComment {
            task_id: t1.id,
            body: "hi".into(),
        },
    )
    .await
    .unwrap();
    Comment::update(
        a,
        c.id,
        CommentPatch {
            body: Some("hello".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let tag = Tag::insert(
        a,
        NewTag {
            label: "red".into(),
            weight: 1,
        },
    )
    .await
    .unwrap();
    Tag::insert_many(
        a,
        vec![NewTag {
            label: "blue".into(),
            weight: 2,
        }],
    )
    .await
    .unwrap();
    Tag::update(
        a,
        tag.id,
        TagPatch {
            weight: Some(3),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let counter = Counter::insert(a, NewCounter { value: 1 }).await.unwrap();
    // Refused writes run the follow-up reads that tell why.
    let refused = Task::update(
        a,
        t1.id,
        TaskPatch {
            project_id: Some(theirs.id),
            ..Default::default()
        },
    )
    .await;
    assert!(
        matches!(refused, Err(Error::ForeignKey { .. })),
        "{refused:?}"
    );
    assert!(Task::insert(a, new_task(theirs.id, "x")).await.is_err());

    // Upserts, versioned updates and restores.
    let l = Label::insert_or_update(a, Label::KEY_NAME, label(p.id, "bug", 1))
        .await
        .unwrap();
    Label::insert_or_update(a, Label::KEY_NAME, label(p.id, "bug", 2))
        .await
        .unwrap();
    Label::insert_or_ignore(a, Label::KEY_NAME, label(p.id, "bug", 3))
        .await
        .unwrap();
    Label::insert_or_ignore(a, Label::KEY_NAME, label(p.id, "feature", 3))
        .await
        .unwrap();
    Label::update(
        a,
        l.id,
        LabelPatch {
            weight: Some(9),
            version: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(
        Label::update(
            a,
            l.id,
            LabelPatch {
                weight: Some(1),
                version: Some(1),
                ..Default::default()
            }
        )
        .await
        .is_err()
    );
    Label::delete(a, l.id).await.unwrap();
    Label::restore(a, l.id).await.unwrap();

    // Loaders and nested loads.
    Task::load_by_project_id(a, &[p.id, many[0].id, theirs.id])
        .await
        .unwrap();
    Task::load_by_project_id_with_deleted(a, &[p.id])
        .await
        .unwrap();
    Task::BY_PROJECT
        .then(Comment::BY_TASK)
        .attach(a, vec![p.clone(), many[0].clone()])
        .await
        .unwrap();
    Task::BY_PROJECT
        .with_deleted()
        .load(a, &[p.id])
        .await
        .unwrap();
    let loader = Loader::<Project>::new(a);
    loader.load_many(&[p.id, theirs.id, gone.id]).await.unwrap();

    // The query builder: filters, order, keysets, windows, projections.
    let q = Project::query;
    q().filter(Project::STATUS.eq("active"))
        .filter(Project::NAME.ne("x"))
        .filter(Project::CREATED_AT.lt(chrono::Utc::now()))
        .filter(Project::ID.is_in([p.id, many[1].id]))
        .filter(Project::NAME.like("a%").or(Project::NAME.ilike("%B")))
        .filter(Project::DESCRIPTION.is_null().not())
        .filter(Filter::any([
            Project::NAME.contains("o"),
            Project::NAME.starts_with("g"),
        ]))
        .filter(Filter::all([
            Project::NAME.icontains("O"),
            Project::NAME.ends_with("o"),
        ]))
        .filter(Filter::<Project>::any([]))
        .order_by(Project::NAME.desc())
        .order_by(Project::CREATED_AT.asc())
        .limit(10)
        .offset(1)
        .all(a)
        .await
        .unwrap();
    q().after_id(p.id).limit(2).all(a).await.unwrap();
    q().after(Project::NAME.desc(), "m", p.id)
        .first(a)
        .await
        .unwrap();
    q().filter(Project::NAME.eq("gemini")).one(a).await.unwrap();
    q().filter(Project::NAME.eq("nope"))
        .optional(a)
        .await
        .unwrap();
    q().count(a).await.unwrap();
    q().limit(1).offset(1).count(a).await.unwrap();
    q().exists(a).await.unwrap();
    q().limit(0).exists(a).await.unwrap();
    q().with_deleted().all(a).await.unwrap();
    q().only_deleted().count(a).await.unwrap();
    Tag::query()
        .filter(Tag::LABEL.eq("red"))
        .order_by(Tag::WEIGHT.desc())
        .all(a)
        .await
        .unwrap();

    // Relation filters, both ways, nested and negated.
    Task::query()
        .filter(Task::BY_PROJECT.has(Project::STATUS.eq("active")))
        .all(a)
        .await
        .unwrap();
    q().filter(Task::BY_PROJECT.any(Task::DONE.eq(false)))
        .all(a)
        .await
        .unwrap();
    q().filter(Task::BY_PROJECT.none(Task::TITLE.eq("x")))
        .count(a)
        .await
        .unwrap();
    q().filter(Task::BY_PROJECT.with_deleted().any(Task::DONE.eq(true)))
        .exists(a)
        .await
        .unwrap();
    q().filter(Task::BY_PROJECT.any(Comment::BY_TASK.any(Comment::BODY.like("h%"))))
        .all(a)
        .await
        .unwrap();
    Comment::query()
        .filter(Comment::BY_TASK.has(Task::BY_PROJECT.has(Project::NAME.ne("x"))))
        .all(a)
        .await
        .unwrap();

    // Aggregates, grouped and not, windowed and keyed.
    q().count_by(Project::STATUS, a).await.unwrap();
    q().group_by(Project::DESCRIPTION).count(a).await.unwrap();
    Tag::query().sum(Tag::WEIGHT, a).await.unwrap();
    Tag::query().min(Tag::WEIGHT, a).await.unwrap();
    Tag::query().max(Tag::LABEL, a).await.unwrap();
    Tag::query().avg(Tag::WEIGHT, a).await.unwrap();
    Tag::query()
        .limit(5)
        .offset(1)
        .order_by(Tag::WEIGHT.asc())
        .sum(Tag::WEIGHT, a)
        .await
        .unwrap();
    Tag::query()
        .after_id(tag.id)
        .max(Tag::WEIGHT, a)
        .await
        .unwrap();
    Tag::query()
        .group_by(Tag::LABEL)
        .sum(Tag::WEIGHT, a)
        .await
        .unwrap();
    Tag::query()
        .group_by(Tag::LABEL)
        .min(Tag::WEIGHT, a)
        .await
        .unwrap();
    Tag::query()
        .group_by(Tag::LABEL)
        .max(Tag::WEIGHT, a)
        .await
        .unwrap();
    Tag::query()
        .limit(3)
        .group_by(Tag::LABEL)
        .avg(Tag::WEIGHT, a)
        .await
        .unwrap();
    Task::query()
        .filter(Task::BY_PROJECT.has(Project::NAME.ne("x")))
        .latest_by(Task::PROJECT_ID, Task::TITLE.desc(), a)
        .await
        .unwrap();

    // Locking reads and set-based writes, in a transaction.
    let mut tx = a.begin().await.unwrap();
    Counter::query()
        .filter(Counter::ID.eq(counter.id))
        .for_update()
        .one(&mut tx)
        .await
        .unwrap();
    Counter::query()
        .for_update()
        .skip_locked()
        .all(&mut tx)
        .await
        .unwrap();
    Counter::query()
        .for_update()
        .nowait()
        .first(&mut tx)
        .await
        .unwrap();
    Counter::update(&mut tx, counter.id, CounterPatch { value: Some(2) })
        .await
        .unwrap();
    Task::query()
        .filter(Task::BY_PROJECT.has(Project::ID.eq(p.id)))
        .order_by(Task::TITLE.asc())
        .limit(1)
        .update(
            &mut tx,
            TaskPatch {
                done: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    Task::query()
        .filter(Task::TITLE.eq("four"))
        .delete(&mut tx)
        .await
        .unwrap();
    Task::query().only_deleted().restore(&mut tx).await.unwrap();
    Task::query()
        .filter(Task::TITLE.eq("four"))
        .purge(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    Tag::query()
        .filter(Tag::WEIGHT.gt(100))
        .update(
            a,
            TagPatch {
                weight: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    Tag::query()
        .filter(Tag::WEIGHT.eq(2))
        .delete(a)
        .await
        .unwrap();
    Label::query()
        .after_id(Uuid::nil())
        .update(
            a,
            LabelPatch {
                color: Some("blue".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    Comment::query()
        .filter(Comment::BODY.eq("none"))
        .delete(a)
        .await
        .unwrap();
    Task::delete(a, t2.id).await.unwrap();
    Task::restore(a, t2.id).await.unwrap();
    Comment::delete(a, c.id).await.unwrap();
    Task::purge(a, t2.id).await.unwrap();
    Tag::delete(a, tag.id).await.unwrap();

    // Audit reads, every filter.
    AuditRecord::for_entity::<Project>(a, p.id).await.unwrap();
    let page = AuditRecord::query()
        .entity::<Project>()
        .entity_id(p.id)
        .actor(f.actor)
        .action(AuditAction::Update)
        .since(chrono::Utc::now() - chrono::Duration::hours(1))
        .until(chrono::Utc::now() + chrono::Duration::hours(1))
        .limit(10)
        .all(a)
        .await
        .unwrap();
    AuditRecord::query()
        .after(&page[0])
        .limit(1)
        .all(a)
        .await
        .unwrap();

    // Through the repository trait too (the same statements).
    <Project as Repository>::find(a, p.id).await.unwrap();
}

/// Every shape of `tests/correctness/shapes.rs`, through every generated function; the
/// database is returned so that it outlives the capture.
pub async fn run_shapes() -> tenant_query::testing::TestDb {
    let db = shapes::database().await;
    shapes::round_trip::<IdLast>(&db).await;
    shapes::round_trip::<TenantFirst>(&db).await;
    shapes::round_trip::<NullableUuids>(&db).await;
    shapes::round_trip::<Keywords>(&db).await;
    shapes::round_trip::<Invoice>(&db).await;
    shapes::round_trip::<Wide>(&db).await;
    db
}
