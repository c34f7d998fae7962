//! Probes of keys of any type, `via` tables, and text tenants: caller-given text ids with
//! odd contents, the same natural key in two tenants, text tenants that try to break out
//! of the row-level-security setting's literal, and bigint tenants at the edges. Each test
//! has a second tenant's rows (with the same keys where keys are the caller's) and
//! soft-deleted rows, and checks the audit log.

use chrono::{DateTime, Utc};
use tenant_query::prelude::*;
use tenant_query::testing::TestDb;
use tenant_query::{AuditAction, AuditRecord, Error};
use uuid::Uuid;

/// A natural key within its tenant: `PRIMARY KEY (org_id, key)`.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "flags", audit)]
pub struct Flag {
    #[tenant(id)]
    pub key: String,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub enabled: bool,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A caller-given text id in text tenants, unique within the tenant.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "apps", audit)]
pub struct App {
    #[tenant(id)]
    pub id: String,
    #[tenant(tenant_id)]
    pub team: String,
    pub title: String,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A bigint identity in bigint tenants.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "accounts", audit)]
pub struct Account {
    #[tenant(id, default)]
    pub id: i64,
    #[tenant(tenant_id)]
    pub workspace_id: i64,
    pub name: String,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

const SCHEMA: &str = "
CREATE TABLE flags (
    org_id uuid NOT NULL, key text NOT NULL, enabled boolean NOT NULL, deleted_at timestamptz,
    PRIMARY KEY (org_id, key)
);
CREATE TABLE apps (
    team text NOT NULL, id text NOT NULL, title text NOT NULL, deleted_at timestamptz,
    PRIMARY KEY (team, id)
);
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id bigint NOT NULL, name text NOT NULL, deleted_at timestamptz,
    UNIQUE (workspace_id, id)
);
";

pub(crate) async fn database<T: tenant_query::Key>() -> TestDb {
    let test_db = TestDb::new().await.unwrap();
    test_db.db().migrate_for_tenant::<T>().await.unwrap();
    test_db.execute_script(SCHEMA).await.unwrap();
    test_db
}

async fn raw_count(test_db: &TestDb, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(test_db.pool())
        .await
        .unwrap()
}

fn flag(key: &str) -> NewFlag {
    NewFlag {
        key: key.into(),
        enabled: false,
    }
}

fn app(id: &str, title: &str) -> NewApp {
    NewApp {
        id: id.into(),
        title: title.into(),
    }
}

fn actions<I, T>(records: &[AuditRecord<I, T>]) -> Vec<AuditAction> {
    records.iter().map(|r| r.action).collect()
}

/// Tenants that are text, in RLS mode: the prologue writes the tenant into the SQL as a
/// literal. Quotes, backslashes, an attempt to set the setting a second time, wildcards,
/// unicode and a long tenant each see exactly their own row, and the victim's row stays
/// unseen and unchanged.
#[tokio::test]
async fn text_tenants_cannot_break_out_of_the_rls_setting() {
    let test_db = database::<String>().await;
    let suffix = Uuid::now_v7().simple().to_string();
    let (owner, role) = (format!("owner_{suffix}"), format!("app_{suffix}"));
    let mut ddl = format!("CREATE ROLE {owner} LOGIN; CREATE ROLE {role} LOGIN;");
    for table in ["apps", "tenant_audit_log"] {
        ddl.push_str(&format!(
            "ALTER TABLE {table} OWNER TO {owner}; GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role};"
        ));
    }
    test_db.execute_script(&ddl).await.unwrap();
    let admin = TenantDb::new(test_db.pool().clone())
        .row_level_security("app.tenant_id")
        .unwrap();
    admin.enable_row_level_security::<App>().await.unwrap();
    admin.enable_audit_log_row_level_security().await.unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(test_db.connect_options().clone().username(&role))
        .await
        .unwrap();
    let db = TenantDb::new(pool)
        .row_level_security("app.tenant_id")
        .unwrap();

    let victim = db.scope(&TenantScope::new("victim".to_owned()));
    App::insert(&victim, app("secret", "victim's"))
        .await
        .unwrap();
    let gone = App::insert(&victim, app("gone", "victim's deleted"))
        .await
        .unwrap();
    App::delete(&victim, gone.id).await.unwrap();
    let tenants = [
        "o'brien".to_owned(),
        "back\\slash'".to_owned(),
        "victim', true), set_config('app.tenant_id', 'victim".to_owned(),
        "x' || 'victim".to_owned(),
        "%".to_owned(),
        "ünïcødé 😀".to_owned(),
        "$$victim$$".to_owned(),
        "t".repeat(5000),
    ];
    for tenant in &tenants {
        let s = db.scope(&TenantScope::new(tenant.clone()));
        let mine = App::insert(&s, app("secret", tenant)).await.unwrap();
        assert_eq!(&mine.team, tenant);
        let seen = App::query().with_deleted().all(&s).await.unwrap();
        assert_eq!(seen, vec![mine.clone()], "tenant {tenant:?}");
        let renamed = App::update(
            &s,
            "secret".into(),
            AppPatch {
                title: Some("changed".into()),
            },
        )
        .await
        .unwrap();
        assert_eq!(&renamed.team, tenant);
        let history = AuditRecord::for_entity::<App>(&s, "secret".into())
            .await
            .unwrap();
        assert_eq!(
            actions(&history),
            [AuditAction::Insert, AuditAction::Update],
            "tenant {tenant:?}"
        );
        assert!(history.iter().all(|r| &r.tenant_id == tenant));
    }
    let seen = App::query().with_deleted().all(&victim).await.unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        App::get(&victim, "secret".into()).await.unwrap().title,
        "victim's"
    );
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT team, title FROM apps ORDER BY 1")
        .fetch_all(test_db.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), tenants.len() + 2);
    assert!(
        rows.iter()
            .filter(|(t, _)| t == "victim")
            .all(|(_, title)| title.starts_with("victim's"))
    );
}

/// A NUL byte in a text tenant is bad input, typed, on every path and in both modes, and
/// writes nothing.
#[tokio::test]
async fn a_nul_in_a_text_tenant_is_invalid_input() {
    let test_db = database::<String>().await;
    let plain = test_db.db().clone();
    let rls = TenantDb::new(test_db.pool().clone())
        .row_level_security("app.tenant_id")
        .unwrap();
    let good = plain.scope(&TenantScope::new("good".to_owned()));
    App::insert(&good, app("x", "good")).await.unwrap();
    let log = raw_count(&test_db, "tenant_audit_log").await;
    for db in [&plain, &rls] {
        let s = db.scope(&TenantScope::new("go\0od".to_owned()));
        let r1 = App::insert(&s, app("y", "bad")).await.map(|_| ());
        let r2 = App::query().all(&s).await.map(|_| ());
        let r3 = App::find(&s, "x".into()).await.map(|_| ());
        let r4 = App::delete(&s, "x".into()).await.map(|_| ());
        let r5 = AuditRecord::for_entity::<App>(&s, "x".into())
            .await
            .map(|_| ());
        // A transaction of that tenant refuses to begin (RLS mode: its prologue names the
        // tenant) or refuses each statement in it.
        let r6 = match db.begin(&TenantScope::new("go\0od".to_owned())).await {
            Ok(mut tx) => App::query().all(&mut tx).await.map(|_| ()),
            Err(e) => Err(e),
        };
        for (i, r) in [r1, r2, r3, r4, r5, r6].into_iter().enumerate() {
            assert!(
                matches!(r, Err(Error::InvalidInput { .. })),
                "probe {i}: {r:?}"
            );
        }
    }
    assert_eq!(raw_count(&test_db, "apps").await, 1);
    assert_eq!(raw_count(&test_db, "tenant_audit_log").await, log);
    assert_eq!(App::get(&good, "x".into()).await.unwrap().title, "good");
}

/// Caller-given text ids: empty, quoted, backslashed, unicode and 10 KB ids work and stay
/// in their tenant, though the other tenant has the same ids; a NUL is invalid input on
/// every path and writes nothing.
#[tokio::test]
async fn caller_given_text_ids_with_odd_contents() {
    let test_db = database::<String>().await;
    let db = test_db.db();
    let a = db.scope(&TenantScope::new("a".to_owned()));
    let b = db.scope(&TenantScope::new("b".to_owned()));
    let ids = [
        String::new(),
        "it's".to_owned(),
        "\\".to_owned(),
        "%_".to_owned(),
        "ü😀".to_owned(),
        "k".repeat(10 * 1024),
    ];
    for id in &ids {
        App::insert(&b, app(id, "theirs")).await.unwrap();
        let mine = App::insert(&a, app(id, "mine")).await.unwrap();
        assert_eq!(&mine.id, id);
        let patch = AppPatch {
            title: Some("changed".into()),
        };
        App::update(&a, id.clone(), patch).await.unwrap();
        App::delete(&a, id.clone()).await.unwrap();
        App::restore(&a, id.clone()).await.unwrap();
        let history = AuditRecord::for_entity::<App>(&a, id.clone())
            .await
            .unwrap();
        assert_eq!(
            actions(&history),
            [
                AuditAction::Insert,
                AuditAction::Update,
                AuditAction::Delete,
                AuditAction::Restore
            ],
            "{:?}",
            &id[..id.len().min(20)]
        );
        assert_eq!(App::get(&b, id.clone()).await.unwrap().title, "theirs");
    }
    let found = App::find_many(&a, &ids).await.unwrap();
    assert_eq!(found.len(), ids.len());
    assert!(
        found
            .values()
            .all(|r| r.team == "a" && r.title == "changed")
    );

    let log = raw_count(&test_db, "tenant_audit_log").await;
    let bad = "it\0s".to_owned();
    let r1 = App::insert(&a, app(&bad, "bad")).await.map(|_| ());
    let r2 = App::update(&a, bad.clone(), AppPatch::default())
        .await
        .map(|_| ());
    let r3 = App::delete(&a, bad.clone()).await.map(|_| ());
    let r4 = App::find(&a, bad.clone()).await.map(|_| ());
    let r5 = App::find_many(&a, &[bad.clone(), "it's".into()])
        .await
        .map(|_| ());
    let r6 = AuditRecord::for_entity::<App>(&a, bad.clone())
        .await
        .map(|_| ());
    let r7 = App::insert_many(&a, vec![app("fine", "x"), app(&bad, "y")])
        .await
        .map(|_| ());
    let r8 = App::purge(&a, bad.clone()).await.map(|_| ());
    let r9 = App::restore(&a, bad.clone()).await.map(|_| ());
    for (i, r) in [r1, r2, r3, r4, r5, r6, r7, r8, r9].into_iter().enumerate() {
        assert!(
            matches!(r, Err(Error::InvalidInput { .. })),
            "probe {i}: {r:?}"
        );
    }
    assert_eq!(raw_count(&test_db, "tenant_audit_log").await, log);
    assert_eq!(raw_count(&test_db, "apps").await, 2 * ids.len() as i64);
}

/// A batch with the same caller-given id twice (or an id the tenant already has) is one
/// statement: it fails as a conflict and writes nothing, no row and no record; the other
/// tenant holding the same ids changes nothing.
#[tokio::test]
async fn insert_many_with_duplicate_caller_ids_is_all_or_nothing() {
    let test_db = database::<String>().await;
    let db = test_db.db();
    let a = db.scope(&TenantScope::new("a".to_owned()));
    let b = db.scope(&TenantScope::new("b".to_owned()));
    App::insert_many(&b, vec![app("one", "theirs"), app("two", "theirs")])
        .await
        .unwrap();
    let gone = App::insert(&a, app("gone", "mine")).await.unwrap();
    App::delete(&a, gone.id).await.unwrap();
    let (rows, log) = (
        raw_count(&test_db, "apps").await,
        raw_count(&test_db, "tenant_audit_log").await,
    );
    for batch in [
        vec![app("one", "x"), app("two", "y"), app("one", "z")],
        vec![app("three", "x"), app("gone", "y")],
    ] {
        let r = App::insert_many(&a, batch).await;
        assert!(matches!(r, Err(Error::Conflict { .. })), "{r:?}");
        assert_eq!(raw_count(&test_db, "apps").await, rows);
        assert_eq!(raw_count(&test_db, "tenant_audit_log").await, log);
    }
    let ok = App::insert_many(&a, vec![app("one", "x"), app("two", "y")])
        .await
        .unwrap();
    assert!(ok.iter().all(|r| r.team == "a"));
    assert_eq!(App::get(&b, "one".into()).await.unwrap().title, "theirs");
}

/// Bigint tenants at the edges (0, negative, the extremes) are tenants like any other, in
/// the tables and in the audit log.
#[tokio::test]
async fn bigint_tenants_at_the_edges() {
    let test_db = database::<i64>().await;
    let db = test_db.db();
    let tenants = [0_i64, -1, i64::MIN, i64::MAX, 1];
    let mut rows = Vec::new();
    for t in tenants {
        let s = db.scope(&TenantScope::new(t));
        let row = Account::insert(
            &s,
            NewAccount {
                name: format!("{t}"),
            },
        )
        .await
        .unwrap();
        let gone = Account::insert(
            &s,
            NewAccount {
                name: "gone".into(),
            },
        )
        .await
        .unwrap();
        Account::delete(&s, gone.id).await.unwrap();
        rows.push(row);
    }
    for (t, row) in tenants.iter().zip(&rows) {
        let s = db.scope(&TenantScope::new(*t));
        assert_eq!(Account::query().all(&s).await.unwrap(), vec![row.clone()]);
        let others: Vec<i64> = rows.iter().map(|r| r.id).collect();
        assert_eq!(Account::find_many(&s, &others).await.unwrap().len(), 1);
        let history = AuditRecord::for_entity::<Account>(&s, row.id)
            .await
            .unwrap();
        assert_eq!(actions(&history), [AuditAction::Insert]);
        assert_eq!(history[0].tenant_id, *t);
    }
}

/// The same natural key in two tenants, live in one and in the trash of the other, and
/// the other way round: every write by key from tenant a (update, delete, restore, purge,
/// set-based writes filtered by the key) touches only a's row, and a's audit trail of the
/// key holds only a's records.
#[tokio::test]
async fn the_same_natural_key_in_two_tenants_is_written_only_in_the_scope() {
    let test_db = database::<Uuid>().await;
    let db = test_db.db();
    let a = db.scope(&TenantScope::new(Uuid::now_v7()));
    let b = db.scope(&TenantScope::new(Uuid::now_v7()));
    for key in ["live_here", "trashed_here"] {
        Flag::insert(&a, flag(key)).await.unwrap();
        Flag::insert(&b, flag(key)).await.unwrap();
    }
    Flag::delete(&a, "trashed_here".into()).await.unwrap();
    Flag::delete(&b, "live_here".into()).await.unwrap();
    let theirs_before: Vec<Flag> = Flag::query()
        .with_deleted()
        .order_by(Flag::KEY.asc())
        .all(&b)
        .await
        .unwrap();

    // b's deleted "live_here" cannot be restored from a.
    assert!(matches!(
        Flag::restore(&a, "live_here".into()).await,
        Err(Error::NotFound { .. })
    ));
    // a's deleted "trashed_here" cannot be updated; b's live one is not touched instead.
    assert!(matches!(
        Flag::update(
            &a,
            "trashed_here".into(),
            FlagPatch {
                enabled: Some(true)
            }
        )
        .await,
        Err(Error::NotFound { .. })
    ));
    let changed = Flag::query()
        .filter(Flag::KEY.eq("live_here"))
        .update(
            &a,
            FlagPatch {
                enabled: Some(true),
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].org_id, a.tenant_scope().tenant_id());
    assert_eq!(
        Flag::query()
            .only_deleted()
            .filter(Flag::KEY.eq("trashed_here"))
            .restore(&a)
            .await
            .unwrap()
            .len(),
        1
    );
    Flag::purge(&a, "live_here".into()).await.unwrap();
    let found = Flag::find_many(&a, &["live_here".into(), "trashed_here".into()])
        .await
        .unwrap();
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        [&"trashed_here".to_owned()]
    );

    let theirs_after: Vec<Flag> = Flag::query()
        .with_deleted()
        .order_by(Flag::KEY.asc())
        .all(&b)
        .await
        .unwrap();
    assert_eq!(theirs_after, theirs_before);
    let mine = AuditRecord::for_entity::<Flag>(&a, "live_here".into())
        .await
        .unwrap();
    assert_eq!(
        actions(&mine),
        [AuditAction::Insert, AuditAction::Update, AuditAction::Purge]
    );
    let theirs = AuditRecord::for_entity::<Flag>(&b, "live_here".into())
        .await
        .unwrap();
    assert_eq!(actions(&theirs), [AuditAction::Insert, AuditAction::Delete]);
}

/// A loader serves live rows of its scope only: priming it with a soft-deleted row (from a
/// `with_deleted` list, say) is refused, and the row is not served; the other tenant's
/// row with the same bigint id is refused too.
#[tokio::test]
async fn a_loader_is_never_primed_with_a_soft_deleted_row() {
    let test_db = database::<i64>().await;
    let db = test_db.db();
    let (a, b) = (
        db.scope(&TenantScope::new(1_i64)),
        db.scope(&TenantScope::new(2_i64)),
    );
    let live = Account::insert(
        &a,
        NewAccount {
            name: "live".into(),
        },
    )
    .await
    .unwrap();
    let gone = Account::insert(
        &a,
        NewAccount {
            name: "gone".into(),
        },
    )
    .await
    .unwrap();
    Account::delete(&a, gone.id).await.unwrap();
    let theirs = Account::insert(
        &b,
        NewAccount {
            name: "theirs".into(),
        },
    )
    .await
    .unwrap();
    let rows = Account::query().with_deleted().all(&a).await.unwrap();
    let loader = tenant_query::Loader::<Account>::new(&a);
    let primed: Vec<bool> = rows.into_iter().map(|r| loader.prime(r).is_ok()).collect();
    assert_eq!(
        primed,
        [true, false],
        "the live row primes, the deleted one is refused"
    );
    assert!(matches!(
        loader.prime(theirs.clone()),
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(loader.load(gone.id).await.unwrap(), None);
    assert_eq!(loader.load(theirs.id).await.unwrap(), None);
    assert_eq!(loader.load(live.id).await.unwrap(), Some(live));
}
