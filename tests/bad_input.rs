//! Bad input is a typed error and writes nothing.

mod common;

use common::*;
use tenant_query::Error;

fn assert_invalid<T: std::fmt::Debug>(result: tenant_query::Result<T>, expected_column: &str) {
    match result {
        Err(Error::InvalidInput { column, .. }) => assert_eq!(column, expected_column),
        other => panic!("expected InvalidInput for `{expected_column}`, got {other:?}"),
    }
}

#[tokio::test]
async fn nul_bytes_are_invalid_input_and_nothing_is_written() {
    let f = Fixture::new().await;
    assert_invalid(
        Project::insert(&f.a, new_project("bad\0name")).await,
        "name",
    );
    let batch = vec![
        new_project("fine"),
        NewProject {
            description: Some("bad\0".into()),
            ..new_project("also fine")
        },
    ];
    assert_invalid(Project::insert_many(&f.a, batch).await, "description");
    assert_eq!(f.raw_count("projects").await, 0);

    let p = Project::insert(&f.a, new_project("good")).await.unwrap();
    let patch = ProjectPatch {
        status: Some("x\0".into()),
        ..Default::default()
    };
    assert_invalid(Project::update(&f.a, p.id, patch).await, "status");
    assert_eq!(f.raw_project(p.id).await, Some(p));
    assert_eq!(
        f.raw_count("tenant_audit_log").await,
        1,
        "only the good insert was audited"
    );
}

#[tokio::test]
async fn unique_violations_are_conflicts_with_the_constraint_name() {
    let f = Fixture::new().await;
    let first = Project::insert(&f.a, new_project("Apollo")).await.unwrap();

    let again = Project::insert(&f.a, new_project("Apollo")).await;
    match again {
        Err(Error::Conflict { constraint, .. }) => {
            assert_eq!(constraint.as_deref(), Some("projects_org_name_key"));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }

    // One conflicting row fails the whole batch: nothing of it is written.
    let batch = vec![
        new_project("Gemini"),
        new_project("Apollo"),
        new_project("Mercury"),
    ];
    assert!(matches!(
        Project::insert_many(&f.a, batch).await,
        Err(Error::Conflict { .. })
    ));

    let other = Project::insert(&f.a, new_project("Gemini")).await.unwrap();
    assert!(matches!(
        Project::update(&f.a, other.id, rename("Apollo")).await,
        Err(Error::Conflict { .. })
    ));

    assert_eq!(f.raw_count("projects").await, 2);
    assert_eq!(f.raw_project(first.id).await, Some(first));
    assert_eq!(f.raw_project(other.id).await, Some(other));

    // The same name in another tenant is no conflict.
    Project::insert(&f.b, new_project("Apollo")).await.unwrap();
}
