//! Probes of placements with keys that are not uuids: bigint and text tenants in a schema
//! of their own (the fence check and the search path written into the prologue), a text
//! tenant with quotes, and a NUL. Each test has a second tenant in the shared tables.

use std::sync::Arc;

use tenant_query::cells::Cells;
use tenant_query::placement::{MemoryPlacements, Placement, SchemaName, TenantPlacement};
use tenant_query::prelude::*;
use tenant_query::testing::TestDb;
use tenant_query::{AuditAction, AuditRecord};

use crate::keys::{Account, App, NewAccount, NewApp};

const ACCOUNTS: &str = "CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id bigint NOT NULL, name text NOT NULL, deleted_at timestamptz,
    UNIQUE (workspace_id, id)
);";

const APPS: &str = "CREATE TABLE apps (
    team text NOT NULL, id text NOT NULL, title text NOT NULL, deleted_at timestamptz,
    PRIMARY KEY (team, id)
);";

/// `table` in `schema`, and the library's tables there (`migrate_home` for tenants of
/// type `T`).
async fn home<T: tenant_query::Key>(test_db: &TestDb, db: &TenantDb, schema: &str, table: &str) {
    let home = TenantPlacement::Schema(SchemaName::new(schema).unwrap());
    db.migrate_home_for_tenant::<T>(&home).await.unwrap();
    test_db
        .execute_script(&format!(
            "BEGIN; SET LOCAL search_path = \"{schema}\"; {table}; COMMIT"
        ))
        .await
        .unwrap();
}

/// Bigint tenants: one in a schema of its own, one in the shared tables. Audited writes
/// in the schema need an audit log whose tenant column is bigint there too.
#[tokio::test]
async fn bigint_tenants_in_a_schema_of_their_own_write_and_audit() {
    let test_db = TestDb::new().await.unwrap();
    test_db.db().migrate_for_tenant::<i64>().await.unwrap();
    test_db.execute_script(ACCOUNTS).await.unwrap();
    let directory = MemoryPlacements::new(Placement::new(TenantPlacement::Shared)).with(
        "7",
        Placement::new(TenantPlacement::Schema(
            SchemaName::new("ws_seven").unwrap(),
        )),
    );
    let db = test_db
        .db()
        .clone()
        .with_placements(Arc::new(directory), Cells::new());
    home::<i64>(&test_db, &db, "ws_seven", ACCOUNTS).await;
    let (seven, eight) = (
        db.scope(&TenantScope::new(7_i64)),
        db.scope(&TenantScope::new(8_i64)),
    );
    let theirs = Account::insert(
        &eight,
        NewAccount {
            name: "theirs".into(),
        },
    )
    .await
    .unwrap();
    let mine = Account::insert(
        &seven,
        NewAccount {
            name: "mine".into(),
        },
    )
    .await
    .unwrap();
    Account::delete(&seven, mine.id).await.unwrap();
    Account::restore(&seven, mine.id).await.unwrap();
    let history = AuditRecord::for_entity::<Account>(&seven, mine.id)
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|r| r.action).collect::<Vec<_>>(),
        [
            AuditAction::Insert,
            AuditAction::Delete,
            AuditAction::Restore
        ]
    );
    assert!(history.iter().all(|r| r.tenant_id == 7));
    // Each home has its own identity: the same id may name a row in each, and each
    // tenant finds its own.
    let found = Account::find(&seven, theirs.id).await.unwrap();
    assert!(
        found
            .iter()
            .all(|r| r.workspace_id == 7 && r.name == "mine")
    );
    assert_eq!(Account::query().count(&eight).await.unwrap(), 1);
    let in_schema: i64 = sqlx::query_scalar("SELECT count(*) FROM ws_seven.accounts")
        .fetch_one(test_db.pool())
        .await
        .unwrap();
    assert_eq!(in_schema, 1);
}

/// Text tenants with quotes in a schema of their own: the fence check names the tenant
/// as a literal in the prologue; a NUL in a placed tenant is invalid input.
#[tokio::test]
async fn quoted_text_tenants_in_a_schema_and_a_nul() {
    let test_db = TestDb::new().await.unwrap();
    test_db.db().migrate_for_tenant::<String>().await.unwrap();
    test_db.execute_script(APPS).await.unwrap();
    let tricky = "o'brien', 0, false); SELECT ('".to_owned();
    let directory = MemoryPlacements::new(Placement::new(TenantPlacement::Shared)).with(
        &tricky,
        Placement::new(TenantPlacement::Schema(SchemaName::new("team_q").unwrap())),
    );
    let db = test_db
        .db()
        .clone()
        .with_placements(Arc::new(directory), Cells::new());
    home::<String>(&test_db, &db, "team_q", APPS).await;
    let other = db.scope(&TenantScope::new("o'brien".to_owned()));
    App::insert(
        &other,
        NewApp {
            id: "x".into(),
            title: "shared".into(),
        },
    )
    .await
    .unwrap();
    let s = db.scope(&TenantScope::new(tricky.clone()));
    let mine = App::insert(
        &s,
        NewApp {
            id: "x".into(),
            title: "placed".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(mine.team, tricky);
    let mut tx = db.begin(&TenantScope::new(tricky.clone())).await.unwrap();
    App::delete(&mut tx, "x".into()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(App::query().only_deleted().count(&s).await.unwrap(), 1);
    assert_eq!(App::get(&other, "x".into()).await.unwrap().title, "shared");
    // Moved back to the shared tables: the move writes the tenant into its statements as
    // a literal too. Only its rows move; the other tenant's stay.
    let tricky_scope = TenantScope::new(tricky.clone());
    db.move_tenant(
        "test: quoted tenant",
        &tricky_scope,
        TenantPlacement::Shared,
    )
    .unwrap()
    .entity::<App>()
    .run()
    .await
    .unwrap();
    assert_eq!(App::query().only_deleted().count(&s).await.unwrap(), 1);
    assert_eq!(App::get(&other, "x".into()).await.unwrap().title, "shared");
    let shared: Vec<(String, bool)> =
        sqlx::query_as("SELECT team, deleted_at IS NULL FROM public.apps ORDER BY team")
            .fetch_all(test_db.pool())
            .await
            .unwrap();
    assert_eq!(
        shared,
        [("o'brien".to_owned(), true), (tricky.clone(), false)]
    );
    let in_schema: i64 = sqlx::query_scalar("SELECT count(*) FROM team_q.apps")
        .fetch_one(test_db.pool())
        .await
        .unwrap();
    assert_eq!(in_schema, 0);
    let history = AuditRecord::for_entity::<App>(&s, "x".into())
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|r| r.action).collect::<Vec<_>>(),
        [AuditAction::Insert, AuditAction::Delete]
    );

    let bad = TenantScope::new("o'brien\0".to_owned());
    let to = TenantPlacement::Schema(SchemaName::new("team_q").unwrap());
    let moved = match db.move_tenant("test: NUL", &bad, to) {
        Ok(m) => m.entity::<App>().run().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(
        matches!(moved, Err(Error::InvalidInput { .. })),
        "{moved:?}"
    );
    let r = App::query().all(&db.scope(&bad)).await;
    assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    let r = db.begin(&bad).await.map(|_| ());
    assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
}

/// `public` is where the shared tables are: a tenant "moved" from the shared tables to a
/// schema named `public` would be copied onto its own rows and then deleted with the old
/// home's. The name is refused, and no move to it can start.
#[tokio::test]
async fn the_shared_tables_schema_is_not_a_tenant_schema() {
    let test_db = TestDb::new().await.unwrap();
    test_db.db().migrate_for_tenant::<String>().await.unwrap();
    test_db.execute_script(APPS).await.unwrap();
    let db = test_db.db().clone().with_placements(
        Arc::new(MemoryPlacements::new(Placement::new(
            TenantPlacement::Shared,
        ))),
        Cells::new(),
    );
    db.migrate_home_for_tenant::<String>(&TenantPlacement::Shared)
        .await
        .unwrap();
    let scope = TenantScope::new("acme".to_owned());
    let s = db.scope(&scope);
    let new = NewApp {
        id: "kept".into(),
        title: "kept".into(),
    };
    App::insert(&s, new).await.unwrap();
    let public = SchemaName::new("public");
    if let Ok(public) = public.clone() {
        let moved = db
            .move_tenant("test: to public", &scope, TenantPlacement::Schema(public))
            .unwrap()
            .entity::<App>()
            .run()
            .await;
        let left = App::query().with_deleted().count(&s).await;
        assert_eq!(
            left.as_ref().ok(),
            Some(&1),
            "moved: {moved:?}; the tenant's apps afterwards: {left:?}"
        );
    }
    assert!(
        matches!(public, Err(Error::InvalidInput { .. })),
        "{public:?}"
    );
    assert_eq!(App::query().count(&s).await.unwrap(), 1);
}

/// An entity whose bigint id is `GENERATED ALWAYS AS IDENTITY` (the database insists on
/// writing it): the copy cannot insert the rows as read. The move must refuse before it
/// marks the tenant read-only, not fail halfway and leave it unable to write, on every
/// retry.
#[tokio::test]
async fn a_move_that_cannot_copy_a_table_refuses_before_freezing_the_tenant() {
    let test_db = TestDb::new().await.unwrap();
    test_db.db().migrate_for_tenant::<i64>().await.unwrap();
    test_db.execute_script(ACCOUNTS).await.unwrap();
    let db = test_db.db().clone().with_placements(
        Arc::new(MemoryPlacements::new(Placement::new(
            TenantPlacement::Shared,
        ))),
        Cells::new(),
    );
    db.migrate_home_for_tenant::<i64>(&TenantPlacement::Shared)
        .await
        .unwrap();
    home::<i64>(&test_db, &db, "ws_big", ACCOUNTS).await;
    let scope = TenantScope::new(9_i64);
    let s = db.scope(&scope);
    let other = db.scope(&TenantScope::new(10_i64));
    Account::insert(
        &s,
        NewAccount {
            name: "mine".into(),
        },
    )
    .await
    .unwrap();
    Account::insert(
        &other,
        NewAccount {
            name: "theirs".into(),
        },
    )
    .await
    .unwrap();
    for _ in 0..2 {
        let moved = db
            .move_tenant(
                "test: identity always",
                &scope,
                TenantPlacement::Schema(SchemaName::new("ws_big").unwrap()),
            )
            .unwrap()
            .entity::<Account>()
            .run()
            .await;
        assert!(matches!(moved, Err(Error::Configuration(_))), "{moved:?}");
    }
    // The tenant still writes, where it was.
    Account::insert(
        &s,
        NewAccount {
            name: "after".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(Account::query().count(&s).await.unwrap(), 2);
    assert_eq!(Account::query().count(&other).await.unwrap(), 1);
}

/// A bigint id the database makes `BY DEFAULT`, keyed `(tenant, id)`: the move copies the
/// ids, and the new home's sequence must then not hand them out again, or the tenant's
/// next inserts there collide with its own moved rows.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "ledgers", audit)]
pub struct Ledger {
    #[tenant(id, default)]
    pub id: i64,
    #[tenant(tenant_id)]
    pub workspace_id: i64,
    pub name: String,
}

const LEDGERS: &str = "CREATE TABLE ledgers (
    workspace_id bigint NOT NULL, id bigint GENERATED BY DEFAULT AS IDENTITY,
    name text NOT NULL, PRIMARY KEY (workspace_id, id)
);";

#[tokio::test]
async fn after_a_move_the_new_home_does_not_reissue_moved_ids() {
    let test_db = TestDb::new().await.unwrap();
    test_db.db().migrate_for_tenant::<i64>().await.unwrap();
    test_db.execute_script(LEDGERS).await.unwrap();
    let db = test_db.db().clone().with_placements(
        Arc::new(MemoryPlacements::new(Placement::new(
            TenantPlacement::Shared,
        ))),
        Cells::new(),
    );
    db.migrate_home_for_tenant::<i64>(&TenantPlacement::Shared)
        .await
        .unwrap();
    home::<i64>(&test_db, &db, "ws_big", LEDGERS).await;
    let scope = TenantScope::new(9_i64);
    let s = db.scope(&scope);
    let ledger = |name: &str| NewLedger { name: name.into() };
    let mine = Ledger::insert_many(&s, vec![ledger("one"), ledger("two"), ledger("three")])
        .await
        .unwrap();
    let other = db.scope(&TenantScope::new(10_i64));
    Ledger::insert(&other, ledger("theirs")).await.unwrap();
    db.move_tenant(
        "test: identity by default",
        &scope,
        TenantPlacement::Schema(SchemaName::new("ws_big").unwrap()),
    )
    .unwrap()
    .entity::<Ledger>()
    .run()
    .await
    .unwrap();
    let mut moved = Ledger::query().all(&s).await.unwrap();
    moved.sort_by_key(|l| l.id);
    assert_eq!(moved, mine);
    for name in ["four", "five"] {
        let next = Ledger::insert(&s, ledger(name)).await;
        assert!(
            matches!(&next, Ok(l) if l.id > mine[2].id),
            "an insert after the move: {next:?}"
        );
    }
    assert_eq!(Ledger::query().count(&other).await.unwrap(), 1);
}
