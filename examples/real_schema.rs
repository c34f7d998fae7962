//! The control plane of a small workflow-automation service, on a real PostgreSQL: the
//! schema a real application has, not the one a library would like.
//!
//! - `api_keys`: a text id the caller makes (`key_…`);
//! - `feature_flags`: a natural key, `PRIMARY KEY (workspace_id, key)`;
//! - `workflows`: a bigint identity, a generated column, a unique name for upserts,
//!   `timestamp without time zone` columns;
//! - `workflow_versions`: no tenant column, it reaches its workspace through its workflow;
//! - `runs`: a PostgreSQL enum, `text[]`, `jsonb`, a column default, a generated column,
//!   an optional relation to the key that triggered the run.
//!
//! Workspaces are `bigint`, so every scope is a `TenantScope<i64>` and the audit log's
//! tenant column is `bigint` too.
//!
//! ```sh
//! cargo run --example real_schema
//! ```
//!
//! With `DATABASE_URL` set, it works in a fresh database on that server; without it, it
//! starts a throwaway PostgreSQL from the server binaries on the machine. Every claim it
//! prints is asserted: it fails loudly if a guarantee breaks.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::types::Json;
use tenant_query::prelude::*;
use tenant_query::testing::TestDb;
use tenant_query::{AuditAction, Error, Loader, SchemaProblem};
use uuid::Uuid;

/// A workspace's API key: the caller makes the id, so it can be shown once and stored.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "api_keys", audit)]
pub struct ApiKey {
    #[tenant(id)]
    pub id: String,
    #[tenant(tenant_id)]
    pub workspace_id: i64,
    pub label: String,
    #[tenant(created_at)]
    pub created_at: NaiveDateTime,
    /// Revoking a key is a soft delete: its runs keep pointing at it.
    #[tenant(soft_delete)]
    pub revoked_at: Option<NaiveDateTime>,
}

/// A flag per workspace, keyed by its name: the same key exists in every workspace.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "feature_flags", audit)]
pub struct FeatureFlag {
    #[tenant(id)]
    pub key: String,
    #[tenant(tenant_id)]
    pub workspace_id: i64,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "workflows", audit, unique = "name")]
pub struct Workflow {
    /// Made by the bigint identity; `RETURNING` brings it back.
    #[tenant(id, default)]
    pub id: i64,
    #[tenant(tenant_id)]
    pub workspace_id: i64,
    pub name: String,
    /// `lower(name)` with dashes, computed by the database.
    #[tenant(generated)]
    pub slug: String,
    pub schedule: Option<String>,
    #[tenant(created_at)]
    pub created_at: NaiveDateTime,
    #[tenant(updated_at)]
    pub updated_at: NaiveDateTime,
    #[tenant(soft_delete)]
    pub deleted_at: Option<NaiveDateTime>,
}

/// A published version of a workflow. The table predates tenancy and has no workspace
/// column: the workflow proves the workspace.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "workflow_versions", audit, via = workflow_id)]
pub struct WorkflowVersion {
    #[tenant(id, default)]
    pub id: i64,
    #[tenant(belongs_to = Workflow)]
    pub workflow_id: i64,
    pub number: i32,
    pub steps: Json<Vec<Step>>,
    #[tenant(created_at)]
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub action: String,
    pub target: String,
}

/// A run's state, a PostgreSQL enum type (`CREATE TYPE run_status AS ENUM ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "run_status", rename_all = "lowercase")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl tenant_query::SqlValue for RunStatus {}

#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "runs", audit)]
pub struct Run {
    #[tenant(id, default)]
    pub id: i64,
    #[tenant(tenant_id)]
    pub workspace_id: i64,
    #[tenant(belongs_to = Workflow)]
    pub workflow_id: i64,
    /// The key whose request started the run; `None` when the scheduler did.
    #[tenant(belongs_to = ApiKey)]
    pub api_key_id: Option<String>,
    /// `DEFAULT 'queued'`: a new run is queued unless the caller says otherwise.
    #[tenant(default)]
    pub status: RunStatus,
    /// `DEFAULT 5`.
    #[tenant(default)]
    pub priority: i32,
    pub tags: Vec<String>,
    pub payload: Json<Payload>,
    pub finished_at: Option<NaiveDateTime>,
    /// `finished_at - started_at` in milliseconds, computed by the database.
    #[tenant(generated)]
    pub duration_ms: Option<i64>,
    #[tenant(created_at)]
    pub started_at: NaiveDateTime,
    #[tenant(updated_at)]
    pub updated_at: NaiveDateTime,
    #[tenant(soft_delete)]
    pub deleted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub source: String,
    pub customer: Option<String>,
}

const SCHEMA: &str = "
CREATE TYPE run_status AS ENUM ('queued', 'running', 'succeeded', 'failed');

CREATE TABLE api_keys (
    workspace_id bigint    NOT NULL,
    id           text      NOT NULL,
    label        text      NOT NULL,
    created_at   timestamp NOT NULL,
    revoked_at   timestamp,
    PRIMARY KEY (workspace_id, id)
);

CREATE TABLE feature_flags (
    workspace_id bigint  NOT NULL,
    key          text    NOT NULL,
    enabled      boolean NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

CREATE TABLE workflows (
    id           bigint    GENERATED ALWAYS AS IDENTITY,
    workspace_id bigint    NOT NULL,
    name         text      NOT NULL,
    slug         text      NOT NULL GENERATED ALWAYS AS (lower(replace(name, ' ', '-'))) STORED,
    schedule     text,
    created_at   timestamp NOT NULL,
    updated_at   timestamp NOT NULL,
    deleted_at   timestamp,
    PRIMARY KEY (workspace_id, id)
);
-- The upsert's arbiter: a live workflow's name is unique in its workspace.
CREATE UNIQUE INDEX workflows_name_key ON workflows (workspace_id, name) WHERE deleted_at IS NULL;
-- Versions reference workflows by id alone: they have no workspace to pair it with.
CREATE UNIQUE INDEX workflows_id_key ON workflows (id);

CREATE TABLE workflow_versions (
    id          bigint    GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id bigint    NOT NULL REFERENCES workflows (id),
    number      int       NOT NULL,
    steps       jsonb     NOT NULL,
    created_at  timestamp NOT NULL
);
CREATE INDEX workflow_versions_workflow_idx ON workflow_versions (workflow_id);

CREATE TABLE runs (
    id           bigint     GENERATED ALWAYS AS IDENTITY,
    workspace_id bigint     NOT NULL,
    workflow_id  bigint     NOT NULL,
    api_key_id   text,
    status       run_status NOT NULL DEFAULT 'queued',
    priority     int        NOT NULL DEFAULT 5,
    tags         text[]     NOT NULL,
    payload      jsonb      NOT NULL,
    finished_at  timestamp,
    duration_ms  bigint GENERATED ALWAYS AS
                     ((extract(epoch FROM finished_at - started_at) * 1000)::bigint) STORED,
    started_at   timestamp  NOT NULL,
    updated_at   timestamp  NOT NULL,
    deleted_at   timestamp,
    PRIMARY KEY (workspace_id, id),
    -- The workspace is part of every key: a run cannot point at another workspace's rows.
    FOREIGN KEY (workspace_id, workflow_id) REFERENCES workflows (workspace_id, id),
    FOREIGN KEY (workspace_id, api_key_id) REFERENCES api_keys (workspace_id, id)
);
CREATE INDEX runs_workflow_idx ON runs (workspace_id, workflow_id);
CREATE INDEX runs_api_key_idx ON runs (workspace_id, api_key_id);
";

fn workflow(name: &str, schedule: Option<&str>) -> NewWorkflow {
    NewWorkflow {
        name: name.into(),
        schedule: schedule.map(Into::into),
    }
}

fn run(workflow: &Workflow, key: Option<&ApiKey>, tags: &[&str], customer: &str) -> NewRun {
    NewRun {
        workflow_id: workflow.id,
        api_key_id: key.map(|k| k.id.clone()),
        status: None,
        priority: None,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        payload: Json(Payload {
            source: if key.is_some() { "api" } else { "schedule" }.into(),
            customer: Some(customer.into()),
        }),
        finished_at: None,
    }
}

fn step(action: &str, target: &str) -> Step {
    Step {
        action: action.into(),
        target: target.into(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let test_db = TestDb::new().await?;
    test_db.execute_script(SCHEMA).await?;
    let db = test_db.db();
    db.migrate_for_tenant::<i64>().await?; // the audit log, with a bigint tenant column
    println!("database ready, schema created\n");

    println!("0. The schema check reads pg_catalog: everything fits but one known trade-off");
    let report = db
        .verify_schema()
        .entity::<ApiKey>()
        .entity::<FeatureFlag>()
        .entity::<Workflow>()
        .entity::<WorkflowVersion>()
        .entity::<Run>()
        .warn_only()
        .run()
        .await?;
    // A table without a tenant column can only reference its parent by id, and that
    // needs a unique index on the id alone, which the check flags (a tenant-distributed
    // PostgreSQL could not enforce it). Identity columns, enums, arrays, defaults and
    // generated columns all pass.
    assert_eq!(
        report.problems,
        [SchemaProblem::KeyWithoutTenant {
            table: "workflows",
            index: "workflows_id_key".into(),
        }]
    );
    println!(
        "   5 tables checked; the one problem: {}",
        report.problems[0]
    );

    let (acme_id, globex_id, alice) = (1_i64, 2_i64, Uuid::now_v7());
    let acme = db.scope(&TenantScope::new(acme_id).with_actor(alice));
    let globex = db.scope(&TenantScope::new(globex_id));

    println!("\n1. Keys of every kind: text given by the caller, a natural key, bigint identities");
    let key = ApiKey::insert(
        &acme,
        NewApiKey {
            id: format!("key_{}", Uuid::now_v7().simple()),
            label: "CI deploys".into(),
        },
    )
    .await?;
    println!("   api key {} ({})", key.id, key.label);
    FeatureFlag::insert_many(
        &acme,
        vec![
            NewFeatureFlag {
                key: "parallel_steps".into(),
                enabled: true,
            },
            NewFeatureFlag {
                key: "ai_summaries".into(),
                enabled: false,
            },
        ],
    )
    .await?;
    let nightly = Workflow::insert(&acme, workflow("Nightly Export", Some("0 3 * * *"))).await?;
    let more = Workflow::insert_many(
        &acme,
        vec![
            workflow("Invoice Sync", None),
            workflow("Churn Alert", None),
        ],
    )
    .await?;
    let (sync, churn) = (&more[0], &more[1]);
    assert!(nightly.id < sync.id && sync.id < churn.id, "identity order");
    assert_eq!(nightly.slug, "nightly-export", "generated by the database");
    println!(
        "   workflows {}, {}, {} got ids {}, {}, {} from the identity; slugs {:?}",
        nightly.name,
        sync.name,
        churn.name,
        nightly.id,
        sync.id,
        churn.id,
        [&nightly.slug, &sync.slug, &churn.slug]
    );

    // Globex uses the same flag key and a workflow of the same name: no clash.
    FeatureFlag::insert(
        &globex,
        NewFeatureFlag {
            key: "parallel_steps".into(),
            enabled: false,
        },
    )
    .await?;
    let theirs = Workflow::insert(&globex, workflow("Nightly Export", None)).await?;

    println!("\n2. Lookups by each key type");
    assert_eq!(ApiKey::get(&acme, key.id.clone()).await?, key);
    let parallel = FeatureFlag::get(&acme, "parallel_steps".into()).await?;
    let globex_parallel = FeatureFlag::get(&globex, "parallel_steps".into()).await?;
    assert!(parallel.enabled && !globex_parallel.enabled);
    println!(
        "   flag parallel_steps: acme {}, globex {} (same key, two rows)",
        parallel.enabled, globex_parallel.enabled
    );
    // An API request carries only its key: find the workspace once, then stay scoped.
    let admin = db.cross_tenant("authenticate an API key")?;
    let owner = admin.owner_of::<ApiKey>(key.id.clone()).await?;
    assert_eq!(owner.as_ref().map(|s| s.tenant_id()), Some(acme_id));
    println!(
        "   the request with key {} belongs to workspace {acme_id}",
        key.id
    );
    let found = Workflow::find_many(&acme, &[nightly.id, churn.id, theirs.id]).await?;
    assert_eq!(found.len(), 2, "globex's workflow id finds nothing in acme");
    println!(
        "   find_many of 3 workflow ids in acme: {} found (the third is globex's)",
        found.len()
    );

    println!("\n3. A table without a tenant column, through its workflow");
    let v1 = WorkflowVersion::insert(
        &acme,
        NewWorkflowVersion {
            workflow_id: nightly.id,
            number: 1,
            steps: Json(vec![step("query", "warehouse"), step("upload", "s3")]),
        },
    )
    .await?;
    let v2 = WorkflowVersion::insert(
        &acme,
        NewWorkflowVersion {
            workflow_id: nightly.id,
            number: 2,
            steps: Json(vec![step("query", "warehouse"), step("upload", "gcs")]),
        },
    )
    .await?;
    let refused = WorkflowVersion::insert(
        &acme,
        NewWorkflowVersion {
            workflow_id: theirs.id,
            number: 1,
            steps: Json(vec![]),
        },
    )
    .await;
    assert!(
        matches!(refused, Err(Error::ForeignKey { .. })),
        "{refused:?}"
    );
    println!(
        "   versions 1 and 2 of {}; a version under globex's workflow: refused",
        nightly.name
    );
    let newest = WorkflowVersion::query()
        .latest_by(
            WorkflowVersion::WORKFLOW_ID,
            WorkflowVersion::NUMBER.desc(),
            &acme,
        )
        .await?;
    assert_eq!(newest, vec![v2.clone()]);
    println!(
        "   newest version per workflow: v{} uploads to {}",
        newest[0].number, newest[0].steps.0[1].target
    );
    assert!(
        WorkflowVersion::find(&globex, v1.id).await?.is_none(),
        "globex cannot see acme's versions"
    );
    // The row has no workspace column; its audit record still names the workspace.
    let created = AuditRecord::for_entity::<WorkflowVersion>(&acme, v1.id).await?;
    assert_eq!(created.len(), 1);
    assert_eq!(
        (created[0].action, created[0].tenant_id),
        (AuditAction::Insert, acme_id)
    );

    println!("\n4. Runs: an enum with a default, a default priority, arrays, jsonb");
    let first = Run::insert(
        &acme,
        run(&nightly, None, &["export", "nightly"], "initech"),
    )
    .await?;
    assert_eq!((first.status, first.priority), (RunStatus::Queued, 5));
    // `timestamp without time zone` columns hold UTC, whatever the session's time zone.
    let drift = first.started_at - chrono::Utc::now().naive_utc();
    assert!(drift.num_seconds().abs() < 60, "{drift}");
    println!(
        "   run {} status {:?} priority {} (both the column defaults)",
        first.id, first.status, first.priority
    );
    let batch = Run::insert_many(
        &acme,
        vec![
            NewRun {
                priority: Some(9),
                ..run(sync, Some(&key), &["billing", "urgent"], "initech")
            },
            NewRun {
                status: Some(RunStatus::Running),
                ..run(sync, Some(&key), &["billing"], "hooli")
            },
            run(churn, None, &["crm"], "hooli"),
        ],
    )
    .await?;
    let got: Vec<(RunStatus, i32)> = batch.iter().map(|r| (r.status, r.priority)).collect();
    assert_eq!(
        got,
        [
            (RunStatus::Queued, 9),
            (RunStatus::Running, 5),
            (RunStatus::Queued, 5)
        ],
        "given values and defaults mix row by row in one statement"
    );
    println!("   3 more in one statement: {got:?}");
    Run::insert(
        &globex,
        run(&theirs, None, &["billing", "urgent"], "initech"),
    )
    .await?;

    println!("\n5. A filtered, ordered query: arrays, jsonb, the enum");
    let billing = Run::query()
        .filter(Run::TAGS.any_eq("billing"))
        .filter(Run::PAYLOAD.json_contains(json!({"customer": "initech"})))
        .filter(Run::STATUS.is_in([RunStatus::Queued, RunStatus::Running]))
        .order_by(Run::PRIORITY.desc())
        .all(&acme)
        .await?;
    assert_eq!(billing.len(), 1, "globex's identical run stays invisible");
    assert_eq!(billing[0].id, batch[0].id);
    println!(
        "   billing runs for initech: run {} (priority {}, tags {:?})",
        billing[0].id, billing[0].priority, billing[0].tags
    );
    let urgent_or_crm = Run::query()
        .filter(Run::TAGS.overlaps(["urgent", "crm"]))
        .order_by(Run::ID.asc())
        .all(&acme)
        .await?;
    let every_tag = Run::query()
        .filter(Run::TAGS.contains(["export", "nightly"]))
        .count(&acme)
        .await?;
    assert_eq!(urgent_or_crm.len(), 2);
    assert_eq!(every_tag, 1);
    println!(
        "   tagged urgent or crm: {} runs; tagged export and nightly: {every_tag}",
        urgent_or_crm.len()
    );

    // The runs page of the dashboard: keyset pages on the bigint id, newest first.
    let page_one = Run::query()
        .order_by(Run::STARTED_AT.desc())
        .order_by(Run::ID.desc())
        .limit(2)
        .all(&acme)
        .await?;
    let last = page_one.last().expect("a full page");
    let page_two = Run::query()
        .after(Run::STARTED_AT.desc(), last.started_at, last.id)
        .limit(2)
        .all(&acme)
        .await?;
    let pages: Vec<Vec<i64>> = [&page_one, &page_two]
        .iter()
        .map(|p| p.iter().map(|r| r.id).collect())
        .collect();
    assert_eq!(pages, [[batch[2].id, batch[1].id], [batch[0].id, first.id]]);
    println!("   runs, newest first, two to a page: {pages:?}");

    println!("\n6. Relations: filters both ways, an optional one, loaders");
    let from_api = Run::query()
        .filter(Run::BY_API_KEY.has(ApiKey::LABEL.eq("CI deploys")))
        .count(&acme)
        .await?;
    assert_eq!(from_api, 2, "runs without a key have no parent to match");
    let busy = Workflow::query()
        .filter(Run::BY_WORKFLOW.any(Run::STATUS.eq(RunStatus::Running)))
        .all(&acme)
        .await?;
    assert_eq!(busy, vec![sync.clone()]);
    println!(
        "   runs started with the CI key: {from_api}; workflows with a running run: {:?}",
        busy.iter().map(|w| &w.name).collect::<Vec<_>>()
    );
    let by_workflow =
        Run::load_by_workflow_id(&acme, &[nightly.id, sync.id, churn.id, theirs.id]).await?;
    let counts: Vec<usize> = [nightly.id, sync.id, churn.id, theirs.id]
        .iter()
        .map(|id| by_workflow[id].len())
        .collect();
    assert_eq!(counts, [1, 2, 1, 0]);
    let keys = Run::load_api_key(&acme, &batch).await?;
    assert_eq!(
        keys.len(),
        1,
        "one key behind the batch, the scheduler behind the rest"
    );
    println!("   runs per workflow in one query: {counts:?} (the last is globex's)");
    let versions = WorkflowVersion::BY_WORKFLOW
        .attach(&acme, vec![nightly.clone(), sync.clone()])
        .await?;
    assert_eq!(versions[0].children.len(), 2);
    println!(
        "   versions attached: {} has {}, {} has {}",
        versions[0].row.name,
        versions[0].children.len(),
        versions[1].row.name,
        versions[1].children.len()
    );
    // A request handler asking one workflow at a time: one query for all of them.
    let loader = Loader::<Workflow>::new(&acme);
    let (a, b, c) = tokio::join!(
        loader.load(nightly.id),
        loader.load(churn.id),
        loader.load(theirs.id)
    );
    assert!(a?.is_some() && b?.is_some() && c?.is_none());
    println!("   3 concurrent lookups through one loader: 2 workflows, and None for globex's id");

    println!("\n7. Updates, a generated column that follows, a soft delete");
    let done = Run::update(
        &acme,
        first.id,
        RunPatch {
            status: Some(RunStatus::Succeeded),
            finished_at: Some(Some(
                first.started_at + chrono::Duration::milliseconds(1500),
            )),
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(done.duration_ms, Some(1500), "computed by the database");
    println!(
        "   run {} {:?} after {} ms",
        done.id,
        done.status,
        done.duration_ms.unwrap_or_default()
    );
    let failed = Run::query()
        .filter(Run::WORKFLOW_ID.eq(churn.id))
        .update(
            &acme,
            RunPatch {
                status: Some(RunStatus::Failed),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(failed.len(), 1);
    let deleted = Run::query()
        .filter(Run::STATUS.eq(RunStatus::Failed))
        .delete(&acme)
        .await?;
    assert_eq!(deleted.len(), 1);
    println!(
        "   run {} of {} marked failed, then soft-deleted, each by one set-based statement",
        deleted[0].id, churn.name
    );
    ApiKey::delete(&acme, key.id.clone()).await?; // revoked
    assert!(ApiKey::find(&acme, key.id.clone()).await?.is_none());
    let revoked = ApiKey::query().only_deleted().one(&acme).await?;
    assert!(revoked.revoked_at.is_some());
    assert_eq!(admin.owner_of::<ApiKey>(key.id.clone()).await?, None);
    assert_eq!(
        Run::query()
            .filter(Run::API_KEY_ID.is_not_null())
            .count(&acme)
            .await?,
        2
    );
    println!(
        "   key {} revoked at {}: it authenticates nothing, and its runs still name it",
        revoked.label,
        revoked.revoked_at.unwrap()
    );

    println!("\n8. Counts and aggregates over live rows of the workspace");
    let per_status = Run::query().count_by(Run::STATUS, &acme).await?;
    assert_eq!(
        per_status,
        [
            (RunStatus::Queued, 1),
            (RunStatus::Running, 1),
            (RunStatus::Succeeded, 1)
        ]
    );
    println!("   runs per status: {per_status:?} (the failed run is deleted)");
    let per_workflow = Run::query()
        .group_by(Run::WORKFLOW_ID)
        .max(Run::PRIORITY, &acme)
        .await?;
    assert_eq!(per_workflow, [(nightly.id, Some(5)), (sync.id, Some(9))]);
    let avg = Run::query().avg(Run::DURATION_MS, &acme).await?;
    assert_eq!(avg, Some(1500.0));
    println!("   highest priority per workflow: {per_workflow:?}; average duration {avg:?} ms");
    assert_eq!(Run::query().count(&globex).await?, 1);

    println!("\n9. An upsert on the workflow's unique name");
    let upserted = Workflow::insert_or_update(
        &acme,
        Workflow::KEY_NAME,
        workflow("Nightly Export", Some("0 4 * * *")),
    )
    .await?;
    assert_eq!(upserted.id, nightly.id, "the same row, updated");
    assert_eq!(upserted.schedule.as_deref(), Some("0 4 * * *"));
    println!(
        "   {} (id {}) now runs at {:?}; globex's workflow of the same name is untouched",
        upserted.name,
        upserted.id,
        upserted.schedule.as_deref().unwrap_or_default()
    );
    assert_eq!(Workflow::get(&globex, theirs.id).await?, theirs);

    println!("\n10. The audit history of a run");
    let history = AuditRecord::for_entity::<Run>(&acme, first.id).await?;
    let actions: Vec<AuditAction> = history.iter().map(|r| r.action).collect();
    assert_eq!(actions, [AuditAction::Insert, AuditAction::Update]);
    assert!(
        history
            .iter()
            .all(|r| r.actor == Some(alice) && r.tenant_id == acme_id)
    );
    assert_eq!(history[0].changes["status"]["to"], "queued");
    assert_eq!(
        history[0].changes["tags"]["to"],
        json!(["export", "nightly"])
    );
    for record in &history {
        let changes = match record.action {
            // An insert records every column; show their names only.
            AuditAction::Insert => {
                let columns: Vec<&String> = record
                    .changes
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.keys())
                    .collect();
                format!("{columns:?}")
            }
            _ => record.changes.to_string(),
        };
        println!("   {:<7} by alice: {changes}", record.action.as_str());
    }

    println!("\n11. Globex sees only its own rows");
    let globex_runs = Run::query().with_deleted().all(&globex).await?;
    assert_eq!(globex_runs.len(), 1);
    assert_eq!(globex_runs[0].workspace_id, globex_id);
    assert!(Run::find(&globex, first.id).await?.is_none());
    let stolen = Run::update(
        &globex,
        first.id,
        RunPatch {
            priority: Some(1),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(stolen, Err(Error::NotFound { .. })), "{stolen:?}");
    assert!(
        AuditRecord::for_entity::<Run>(&globex, first.id)
            .await?
            .is_empty()
    );
    println!(
        "   globex: {} run of its own; acme's run {}: not found, not writable, no history",
        globex_runs.len(),
        first.id
    );
    Ok(())
}
