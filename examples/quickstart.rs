//! The five-minute tour: two tenants, scoped reads and writes, filters, soft delete,
//! restore and the audit trail, on a real PostgreSQL.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! With `DATABASE_URL` set, it works in a fresh database on that server; without it, it
//! starts a throwaway PostgreSQL from the server binaries on the machine.

use chrono::{DateTime, Utc};
use tenant_query::prelude::*;
use tenant_query::testing::TestDb;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "projects", audit)]
pub struct Project {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub name: String,
    pub status: String,
    #[tenant(created_at)]
    pub created_at: DateTime<Utc>,
    #[tenant(updated_at)]
    pub updated_at: DateTime<Utc>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

const SCHEMA: &str = "
CREATE TABLE projects (
    id         uuid        NOT NULL,
    org_id     uuid        NOT NULL,
    name       text        NOT NULL,
    status     text        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz,
    PRIMARY KEY (org_id, id)
);";

fn project(name: &str, status: &str) -> NewProject {
    NewProject {
        name: name.into(),
        status: status.into(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let test_db = TestDb::new().await?;
    test_db.execute_script(SCHEMA).await?;
    let db = test_db.db();
    db.migrate().await?; // the library's audit log
    println!("database ready, schema created\n");

    let (acme_id, globex_id, alice) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let acme = db.scope(&TenantScope::new(acme_id).with_actor(alice));
    let globex = db.scope(&TenantScope::new(globex_id));

    println!("1. Each tenant writes through its own scope");
    let apollo = Project::insert(&acme, project("Apollo", "active")).await?;
    Project::insert_many(
        &acme,
        vec![project("Gemini", "active"), project("Mercury", "archived")],
    )
    .await?;
    Project::insert(&globex, project("Skunkworks", "active")).await?;
    println!(
        "   acme   sees {} projects",
        Project::query().count(&acme).await?
    );
    println!(
        "   globex sees {} project",
        Project::query().count(&globex).await?
    );

    println!("\n2. Another tenant's id finds nothing");
    let peek = Project::find(&globex, apollo.id).await?;
    println!("   globex looking up Apollo's id: {peek:?}");
    let stolen = Project::delete(&globex, apollo.id).await;
    println!("   globex deleting it: {}", stolen.unwrap_err());

    println!("\n3. Typed filters and ordering");
    let active = Project::query()
        .filter(Project::STATUS.eq("active"))
        .order_by(Project::NAME.asc())
        .all(&acme)
        .await?;
    for p in &active {
        println!("   active: {}", p.name);
    }

    println!("\n4. Soft delete hides a row everywhere; restore brings it back");
    Project::delete(&acme, apollo.id).await?;
    println!(
        "   after delete, find: {:?}",
        Project::find(&acme, apollo.id).await?.map(|p| p.name)
    );
    println!("   live count: {}", Project::query().count(&acme).await?);
    let trash = Project::query().only_deleted().all(&acme).await?;
    println!(
        "   in the trash: {:?}",
        trash.iter().map(|p| &p.name).collect::<Vec<_>>()
    );
    let back = Project::restore(&acme, apollo.id).await?;
    println!(
        "   restored: {} (deleted_at = {:?})",
        back.name, back.deleted_at
    );

    println!("\n5. Updates change only what the patch sets, and every write is audited");
    let renamed = Project::update(
        &acme,
        apollo.id,
        ProjectPatch {
            name: Some("Apollo 11".into()),
            ..Default::default()
        },
    )
    .await?;
    println!(
        "   renamed to {} (status still {})",
        renamed.name, renamed.status
    );
    for record in AuditRecord::for_entity::<Project>(&acme, apollo.id).await? {
        let actor = if record.actor == Some(alice) {
            "alice"
        } else {
            "?"
        };
        let changes = match record.action {
            // An insert records every column; show their names only.
            tenant_query::AuditAction::Insert => {
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
        println!(
            "   audit: {:<7} by {actor}: {changes}",
            record.action.as_str()
        );
    }
    Ok(())
}
