//! The query builder on a real PostgreSQL: typed filters, grouping, order, windows and
//! keyset pages, always inside the scope's tenant.

mod common;

use common::*;
use tenant_query::Error;
use tenant_query::prelude::*;

/// Ten projects in tenant A (`p0`..`p9`, odd ones "archived", every third with a
/// description), and one decoy in tenant B that matches every filter.
async fn seeded() -> (Fixture, Vec<Project>) {
    let f = Fixture::new().await;
    let rows = (0..10)
        .map(|i| NewProject {
            name: format!("p{i}"),
            status: if i % 2 == 1 { "archived" } else { "active" }.into(),
            description: (i % 3 == 0).then(|| format!("d{i}")),
        })
        .collect();
    let projects = Project::insert_many(&f.a, rows).await.unwrap();
    Project::insert(
        &f.b,
        NewProject {
            description: Some("d0".into()),
            ..new_project("p0")
        },
    )
    .await
    .unwrap();
    (f, projects)
}

fn names(rows: &[Project]) -> Vec<&str> {
    rows.iter().map(|p| p.name.as_str()).collect()
}

#[tokio::test]
async fn comparisons_filter_by_typed_values() {
    let (f, projects) = seeded().await;
    let q = || Project::query().order_by(Project::NAME.asc());
    let archived = q()
        .filter(Project::STATUS.eq("archived"))
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(names(&archived), ["p1", "p3", "p5", "p7", "p9"]);
    let not_archived = q()
        .filter(Project::STATUS.ne("archived"))
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(names(&not_archived), ["p0", "p2", "p4", "p6", "p8"]);
    assert_eq!(
        names(&q().filter(Project::NAME.lt("p2")).all(&f.a).await.unwrap()),
        ["p0", "p1"]
    );
    assert_eq!(
        names(&q().filter(Project::NAME.le("p1")).all(&f.a).await.unwrap()),
        ["p0", "p1"]
    );
    assert_eq!(
        names(&q().filter(Project::NAME.gt("p8")).all(&f.a).await.unwrap()),
        ["p9"]
    );
    assert_eq!(
        names(&q().filter(Project::NAME.ge("p8")).all(&f.a).await.unwrap()),
        ["p8", "p9"]
    );
    let created_after_first = q()
        .filter(Project::CREATED_AT.ge(projects[0].created_at))
        .count(&f.a)
        .await
        .unwrap();
    assert_eq!(created_after_first, 10);
    let by_id = q()
        .filter(Project::ID.eq(projects[4].id))
        .one(&f.a)
        .await
        .unwrap();
    assert_eq!(by_id, projects[4]);
}

#[tokio::test]
async fn is_in_like_and_null_checks() {
    let (f, projects) = seeded().await;
    let q = || Project::query().order_by(Project::NAME.asc());
    let picked = q()
        .filter(Project::ID.is_in([projects[2].id, projects[7].id, projects[2].id]))
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(names(&picked), ["p2", "p7"]);
    let none: Vec<uuid::Uuid> = Vec::new();
    assert!(
        q().filter(Project::ID.is_in(none))
            .all(&f.a)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        names(
            &q().filter(Project::NAME.like("p_"))
                .limit(2)
                .all(&f.a)
                .await
                .unwrap()
        ),
        ["p0", "p1"]
    );
    let described = q()
        .filter(Project::DESCRIPTION.is_not_null())
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(names(&described), ["p0", "p3", "p6", "p9"]);
    assert_eq!(
        q().filter(Project::DESCRIPTION.is_null())
            .count(&f.a)
            .await
            .unwrap(),
        6
    );
    let d6 = q()
        .filter(Project::DESCRIPTION.eq("d6"))
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(names(&d6), ["p6"]);
}

#[tokio::test]
async fn and_or_not_group_as_written() {
    let (f, _) = seeded().await;
    let filter = Project::STATUS
        .eq("archived")
        .and(Project::DESCRIPTION.is_not_null())
        .or(Project::NAME.eq("p0"));
    let rows = Project::query()
        .filter(filter)
        .order_by(Project::NAME.asc())
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(names(&rows), ["p0", "p3", "p9"]);

    let rows = Project::query()
        .filter(Project::STATUS.eq("archived").not())
        .filter(Project::NAME.ge("p6"))
        .order_by(Project::NAME.desc())
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(names(&rows), ["p8", "p6"]);

    assert_eq!(
        Project::query()
            .filter(Filter::all([]))
            .count(&f.a)
            .await
            .unwrap(),
        10
    );
    assert_eq!(
        Project::query()
            .filter(Filter::any([]))
            .count(&f.a)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn order_limit_offset_and_terminals() {
    let (f, _) = seeded().await;
    let page = Project::query()
        .order_by(Project::STATUS.asc())
        .order_by(Project::NAME.desc())
        .limit(3)
        .offset(1)
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(names(&page), ["p6", "p4", "p2"]);

    let first = Project::query()
        .order_by(Project::NAME.desc())
        .first(&f.a)
        .await
        .unwrap();
    assert_eq!(first.map(|p| p.name), Some("p9".into()));
    // `optional` and `one` expect at most one row: several is an error, not the first.
    let several = Project::query().optional(&f.a).await;
    assert!(
        matches!(several, Err(Error::NotUnique { entity: "projects" })),
        "{several:?}"
    );
    let several = Project::query().one(&f.a).await;
    assert!(
        matches!(several, Err(Error::NotUnique { .. })),
        "{several:?}"
    );
    let only = Project::query()
        .filter(Project::NAME.eq("p3"))
        .one(&f.a)
        .await
        .unwrap();
    assert_eq!(only.name, "p3");
    let missing = Project::query()
        .filter(Project::NAME.eq("nope"))
        .optional(&f.a)
        .await
        .unwrap();
    assert_eq!(missing, None);
    let missing = Project::query()
        .filter(Project::NAME.eq("nope"))
        .one(&f.a)
        .await;
    assert!(
        matches!(missing, Err(Error::NotFound { entity: "projects" })),
        "{missing:?}"
    );
    assert!(
        Project::query()
            .filter(Project::NAME.eq("p3"))
            .exists(&f.a)
            .await
            .unwrap()
    );
    // `count` and `exists` agree with what `all` returns, window included.
    assert_eq!(Project::query().count(&f.a).await.unwrap(), 10);
    assert_eq!(Project::query().limit(2).count(&f.a).await.unwrap(), 2);
    assert_eq!(Project::query().offset(8).count(&f.a).await.unwrap(), 2);
    assert!(Project::query().offset(9).exists(&f.a).await.unwrap());
    assert!(!Project::query().offset(10).exists(&f.a).await.unwrap());
}

#[tokio::test]
async fn keyset_pages_cover_every_row_once() {
    let (f, projects) = seeded().await;

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let query = match after {
            None => Project::query().order_by(Project::ID.asc()),
            Some(id) => Project::query().after_id(id),
        };
        let page = query.limit(3).all(&f.a).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page);
    }
    assert_eq!(seen, projects, "id order is insertion order for UUIDv7 ids");

    // On a column, descending: status desc, then id desc to break ties.
    let first = Project::query()
        .order_by(Project::STATUS.desc())
        .order_by(Project::ID.desc())
        .limit(4)
        .all(&f.a)
        .await
        .unwrap();
    let last = first.last().unwrap();
    let next = Project::query()
        .after(Project::STATUS.desc(), last.status.clone(), last.id)
        .limit(4)
        .all(&f.a)
        .await
        .unwrap();
    let all = Project::query()
        .order_by(Project::STATUS.desc())
        .order_by(Project::ID.desc())
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!([first, next].concat(), all[..8].to_vec());
}

#[tokio::test]
async fn nul_bytes_in_filter_values_are_rejected_before_the_database() {
    let (f, _) = seeded().await;
    let result = Project::query()
        .filter(Project::NAME.eq("p\0"))
        .all(&f.a)
        .await;
    assert!(
        matches!(&result, Err(Error::InvalidInput { column, .. }) if column == "name"),
        "{result:?}"
    );
}
