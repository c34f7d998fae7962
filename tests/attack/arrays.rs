//! Probes of array columns and `#[tenant(default)]`: NULL elements, empty arrays, NUL in
//! text elements on every path, nested `Option`, and batches that mix `None` and `Some`
//! for defaulted columns. A second tenant's rows and soft-deleted rows match every filter.

use chrono::{DateTime, Utc};
use serde_json::json;
use tenant_query::AuditRecord;
use tenant_query::prelude::*;
use uuid::Uuid;

use crate::common::*;

#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "sheets", audit, unique = "title")]
pub struct Sheet {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub title: String,
    pub cells: Vec<Option<String>>,
    pub marks: Option<Vec<Option<i64>>>,
    #[tenant(default)]
    pub state: String,
    #[tenant(default)]
    pub tags: Vec<String>,
    #[tenant(default)]
    pub note: Option<String>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

const SCHEMA: &str = "
CREATE TABLE sheets (
    id uuid NOT NULL, org_id uuid NOT NULL, title text NOT NULL,
    cells text[] NOT NULL, marks int8[],
    state text NOT NULL DEFAULT 'draft',
    tags text[] NOT NULL DEFAULT '{fresh}',
    note text DEFAULT 'dflt',
    deleted_at timestamptz,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX sheets_title_key ON sheets (org_id, title) WHERE deleted_at IS NULL;
";

fn sheet(title: &str, cells: Vec<Option<&str>>, marks: Option<Vec<Option<i64>>>) -> NewSheet {
    NewSheet {
        title: title.into(),
        cells: cells.into_iter().map(|c| c.map(str::to_owned)).collect(),
        marks,
        state: None,
        tags: None,
        note: None,
    }
}

async fn fixture() -> Fixture {
    let f = Fixture::new().await;
    f.test_db.execute_script(SCHEMA).await.unwrap();
    // The other tenant's rows and a deleted one of a's match the filters below.
    for s in [&f.b, &f.a] {
        let row = Sheet::insert(
            s,
            sheet("noise", vec![None, Some("x")], Some(vec![None, Some(1)])),
        )
        .await
        .unwrap();
        if std::ptr::eq(s, &f.a) {
            Sheet::delete(s, row.id).await.unwrap();
        }
    }
    f
}

/// NULL elements, empty arrays and a NULL array round-trip one row at a time and in a
/// batch, and the audit record holds them as JSON.
#[tokio::test]
async fn null_elements_and_empty_arrays_round_trip_and_are_audited() {
    let f = fixture().await;
    let batch = vec![
        sheet(
            "holes",
            vec![None, Some("b"), None],
            Some(vec![None, Some(2), None]),
        ),
        sheet("empty", vec![], Some(vec![])),
        sheet("null", vec![None], None),
        sheet("all null", vec![None, None], Some(vec![None])),
    ];
    let rows = Sheet::insert_many(&f.a, batch.clone()).await.unwrap();
    for (row, new) in rows.iter().zip(&batch) {
        assert_eq!(
            (&row.cells, &row.marks),
            (&new.cells, &new.marks),
            "{}",
            new.title
        );
    }
    let one = Sheet::insert(
        &f.a,
        NewSheet {
            title: "holes again".into(),
            ..batch[0].clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(one.cells, batch[0].cells);
    let history = AuditRecord::for_entity::<Sheet>(&f.a, rows[0].id)
        .await
        .unwrap();
    assert_eq!(history[0].changes["cells"]["to"], json!([null, "b", null]));
    assert_eq!(history[0].changes["marks"]["to"], json!([null, 2, null]));
    // Filters on arrays with NULL elements see only the scope's live rows.
    let hit = Sheet::query()
        .filter(Sheet::CELLS.any_eq(Some("b".to_owned())))
        .all(&f.a)
        .await
        .unwrap();
    assert_eq!(hit.len(), 2);
    let hit = Sheet::query()
        .filter(Sheet::CELLS.contains([Some("x".to_owned())]))
        .count(&f.a)
        .await
        .unwrap();
    assert_eq!(hit, 0, "x is only in b's row and a's deleted row");
    // An update from holes to none records the change as arrays.
    let changed = Sheet::update(
        &f.a,
        rows[0].id,
        SheetPatch {
            cells: Some(vec![]),
            marks: Some(None),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((changed.cells.len(), changed.marks.clone()), (0, None));
    let history = AuditRecord::for_entity::<Sheet>(&f.a, rows[0].id)
        .await
        .unwrap();
    assert_eq!(
        history[1].changes,
        json!({
            "cells": {"from": [null, "b", null], "to": []},
            "marks": {"from": [null, 2, null], "to": null}
        })
    );
}

/// A NUL inside one element of a text array is invalid input in a one-row insert, a
/// batch, a patch, a set-based update and a filter, and writes nothing.
#[tokio::test]
async fn a_nul_in_an_array_element_is_invalid_input_everywhere() {
    let f = fixture().await;
    let ok = Sheet::insert(&f.a, sheet("ok", vec![Some("a")], None))
        .await
        .unwrap();
    let (rows, log) = (
        f.raw_count("sheets").await,
        f.raw_count("tenant_audit_log").await,
    );
    let bad = || vec![Some("fine"), None, Some("b\0d")];
    let mut with_tags = sheet("tags", vec![], None);
    with_tags.tags = Some(vec!["a".into(), "\0".into()]);
    let results = [
        Sheet::insert(&f.a, sheet("x", bad(), None))
            .await
            .map(|_| ()),
        Sheet::insert_many(
            &f.a,
            vec![sheet("y", vec![], None), sheet("x", bad(), None)],
        )
        .await
        .map(|_| ()),
        Sheet::insert_many(&f.a, vec![sheet("y", vec![], None), with_tags])
            .await
            .map(|_| ()),
        Sheet::update(
            &f.a,
            ok.id,
            SheetPatch {
                cells: Some(bad().into_iter().map(|c| c.map(str::to_owned)).collect()),
                ..Default::default()
            },
        )
        .await
        .map(|_| ()),
        Sheet::query()
            .update(
                &f.a,
                SheetPatch {
                    tags: Some(vec!["\0".into()]),
                    ..Default::default()
                },
            )
            .await
            .map(|_| ()),
        Sheet::query()
            .filter(Sheet::CELLS.any_eq(Some("a\0".to_owned())))
            .count(&f.a)
            .await
            .map(|_| ()),
        Sheet::query()
            .filter(Sheet::TAGS.overlaps(["ok".to_owned(), "\0".to_owned()]))
            .delete(&f.a)
            .await
            .map(|_| ()),
    ];
    for (i, r) in results.into_iter().enumerate() {
        assert!(
            matches!(r, Err(Error::InvalidInput { .. })),
            "probe {i}: {r:?}"
        );
    }
    assert_eq!(f.raw_count("sheets").await, rows);
    assert_eq!(f.raw_count("tenant_audit_log").await, log);
    assert_eq!(Sheet::get(&f.a, ok.id).await.unwrap(), ok);
}

/// A batch mixing `None` (the column's default) and `Some` (an empty array among them)
/// gives each row its own value, and the audit record of each row holds the value the row
/// got.
#[tokio::test]
async fn defaults_mixed_in_one_batch_are_per_row_and_audited_as_stored() {
    let f = fixture().await;
    let mut given = sheet("given", vec![], None);
    given.state = Some("final".into());
    given.tags = Some(vec![]);
    given.note = Some("given".into());
    let defaulted = sheet("defaulted", vec![], None);
    let mut half = sheet("half", vec![], None);
    half.tags = Some(vec!["mine".into()]);
    let rows = Sheet::insert_many(&f.a, vec![given, defaulted.clone(), half])
        .await
        .unwrap();
    let got: Vec<(&str, &[String], Option<&str>)> = rows
        .iter()
        .map(|r| (r.state.as_str(), r.tags.as_slice(), r.note.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("final", &[][..], Some("given")),
            ("draft", &["fresh".to_owned()][..], Some("dflt")),
            ("draft", &["mine".to_owned()][..], Some("dflt")),
        ]
    );
    let one = Sheet::insert(
        &f.a,
        NewSheet {
            title: "defaulted again".into(),
            ..defaulted
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (one.state.as_str(), one.note.as_deref()),
        ("draft", Some("dflt"))
    );
    for row in rows.iter().chain([&one]) {
        let history = AuditRecord::for_entity::<Sheet>(&f.a, row.id)
            .await
            .unwrap();
        let to = &history[0].changes;
        assert_eq!(to["state"]["to"], json!(row.state), "{}", row.title);
        assert_eq!(to["tags"]["to"], json!(row.tags), "{}", row.title);
        assert_eq!(to["note"]["to"], json!(row.note), "{}", row.title);
    }
}

/// An upsert that finds the row: a defaulted column left `None` keeps the row's value, as
/// a patch's `None` does; the default is for new rows. Otherwise a careless upsert of
/// other columns would reset the stored state to the default (and a sequence default
/// would renumber the row). The audit record diffs only what changed.
#[tokio::test]
async fn an_upsert_that_updates_keeps_defaulted_columns_left_none() {
    let f = fixture().await;
    let mut first = sheet("ledger", vec![Some("a")], None);
    first.state = Some("final".into());
    first.tags = Some(vec!["kept".into()]);
    first.note = Some("kept".into());
    let row = Sheet::insert(&f.a, first).await.unwrap();
    let theirs = Sheet::insert(&f.b, sheet("ledger", vec![], None))
        .await
        .unwrap();

    let again = Sheet::insert_or_update(
        &f.a,
        Sheet::KEY_TITLE,
        sheet("ledger", vec![Some("b")], None),
    )
    .await
    .unwrap();
    assert_eq!(again.id, row.id);
    assert_eq!(again.cells, [Some("b".to_owned())]);
    assert_eq!(
        (
            again.state.as_str(),
            again.tags.as_slice(),
            again.note.as_deref()
        ),
        ("final", &["kept".to_owned()][..], Some("kept")),
        "None left the stored values alone"
    );
    let mut given = sheet("ledger", vec![Some("b")], None);
    given.state = Some("reopened".into());
    let reopened = Sheet::insert_or_update(&f.a, Sheet::KEY_TITLE, given)
        .await
        .unwrap();
    assert_eq!(reopened.state, "reopened", "Some still sets the value");
    assert_eq!(reopened.tags, ["kept"]);
    let history = AuditRecord::for_entity::<Sheet>(&f.a, row.id)
        .await
        .unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(
        history[1].changes,
        json!({"cells": {"from": ["a"], "to": ["b"]}})
    );
    assert_eq!(
        history[2].changes,
        json!({"state": {"from": "final", "to": "reopened"}})
    );
    assert_eq!(Sheet::get(&f.b, theirs.id).await.unwrap(), theirs);
}
