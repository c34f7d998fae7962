//! The entities the model drives, one per corner of the shape space, and the schema of
//! their tables, written from the same field lists.

use chrono::{DateTime, Utc};
use tenant_query::prelude::*;
use uuid::Uuid;

use crate::modeled;
use crate::spec::{IdSource, Role, Spec};
use crate::val::Kind;

/// Every kind of column, a unique name, and a child relation: the entity of the
/// relation machine and of the query differential.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "projects", audit)]
pub struct Project {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub name: String,
    pub status: String,
    pub description: Option<String>,
    pub rank: i64,
    pub size: Option<i64>,
    pub priority: i32,
    pub flagged: bool,
    pub owner: Option<Uuid>,
    #[tenant(created_at)]
    pub created_at: DateTime<Utc>,
    #[tenant(updated_at)]
    pub updated_at: DateTime<Utc>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

modeled!(Project, NewProject, ProjectPatch, table = "projects", audit = true, soft_delete = yes;
    fields {
        id: Uuid = ID Id,
        org_id: Uuid = ORG_ID Tenant,
        name: String = NAME Unique,
        status: String = STATUS Data,
        description: Option<String> = DESCRIPTION Data,
        rank: i64 = RANK Data,
        size: Option<i64> = SIZE Data,
        priority: i32 = PRIORITY Data,
        flagged: bool = FLAGGED Data,
        owner: Option<Uuid> = OWNER Data,
        created_at: DateTime<Utc> = CREATED_AT CreatedAt,
        updated_at: DateTime<Utc> = UPDATED_AT UpdatedAt,
        deleted_at: Option<DateTime<Utc>> = DELETED_AT SoftDelete,
    }
    data {
        name: String, status: String, description: Option<String>, rank: i64,
        size: Option<i64>, priority: i32, flagged: bool, owner: Option<Uuid>,
    }
);

#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "tasks", audit)]
pub struct Task {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(belongs_to = Project)]
    pub project_id: Uuid,
    pub title: String,
    pub done: bool,
    pub estimate: Option<i32>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

modeled!(Task, NewTask, TaskPatch, table = "tasks", audit = true, soft_delete = yes;
    fields {
        id: Uuid = ID Id,
        org_id: Uuid = ORG_ID Tenant,
        project_id: Uuid = PROJECT_ID Fk("projects"),
        title: String = TITLE Data,
        done: bool = DONE Data,
        estimate: Option<i32> = ESTIMATE Data,
        deleted_at: Option<DateTime<Utc>> = DELETED_AT SoftDelete,
    }
    data { project_id: Uuid, title: String, done: bool, estimate: Option<i32> }
);

/// Data fields before the id, a nullable uuid right after it, the tenant last.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "shape_id_after_data", audit)]
pub struct IdAfterData {
    pub label: String,
    pub note: Option<String>,
    #[tenant(id)]
    pub id: Uuid,
    pub link: Option<Uuid>,
    pub score: i64,
    #[tenant(created_at)]
    pub created_at: DateTime<Utc>,
    #[tenant(updated_at)]
    pub updated_at: DateTime<Utc>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
}

modeled!(IdAfterData, NewIdAfterData, IdAfterDataPatch, table = "shape_id_after_data", audit = true, soft_delete = yes;
    fields {
        label: String = LABEL Unique,
        note: Option<String> = NOTE Data,
        id: Uuid = ID Id,
        link: Option<Uuid> = LINK Data,
        score: i64 = SCORE Data,
        created_at: DateTime<Utc> = CREATED_AT CreatedAt,
        updated_at: DateTime<Utc> = UPDATED_AT UpdatedAt,
        deleted_at: Option<DateTime<Utc>> = DELETED_AT SoftDelete,
        org_id: Uuid = ORG_ID Tenant,
    }
    data { label: String, note: Option<String>, link: Option<Uuid>, score: i64 }
);

/// A uuid data field right before the id (same type: a mix-up of the two would not
/// be caught by PostgreSQL), audited, nothing else.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "shape_uuid_before_id", audit)]
pub struct UuidBeforeId {
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub owner: Uuid,
    #[tenant(id)]
    pub id: Uuid,
    pub label: Option<String>,
}

modeled!(UuidBeforeId, NewUuidBeforeId, UuidBeforeIdPatch, table = "shape_uuid_before_id", audit = true, soft_delete = no;
    fields {
        org_id: Uuid = ORG_ID Tenant,
        owner: Uuid = OWNER Data,
        id: Uuid = ID Id,
        label: Option<String> = LABEL Data,
    }
    data { owner: Uuid, label: Option<String> }
);

/// The tenant first, a nullable uuid beside the id; soft delete without audit or
/// timestamps.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "shape_tenant_first")]
pub struct TenantFirst {
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(id)]
    pub id: Uuid,
    pub other_id: Option<Uuid>,
    pub label: String,
    pub amount: i32,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

modeled!(TenantFirst, NewTenantFirst, TenantFirstPatch, table = "shape_tenant_first", audit = false, soft_delete = yes;
    fields {
        org_id: Uuid = ORG_ID Tenant,
        id: Uuid = ID Id,
        other_id: Option<Uuid> = OTHER_ID Data,
        label: String = LABEL Unique,
        amount: i32 = AMOUNT Data,
        deleted_at: Option<DateTime<Utc>> = DELETED_AT SoftDelete,
    }
    data { other_id: Option<Uuid>, label: String, amount: i32 }
);

/// SQL keywords everywhere: the table, renamed columns, raw identifiers; audited,
/// timestamps renamed, no soft delete (deletes are hard).
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "group", audit)]
pub struct Keywords {
    #[tenant(id, rename = "key")]
    pub id: Uuid,
    #[tenant(rename = "select")]
    pub title: String,
    pub r#order: i64,
    pub r#user: Option<Uuid>,
    #[tenant(tenant_id, rename = "tenant")]
    pub org_id: Uuid,
    #[tenant(rename = "desc")]
    pub description: Option<String>,
    #[tenant(created_at, rename = "created")]
    pub created_at: DateTime<Utc>,
    #[tenant(updated_at, rename = "modified")]
    pub updated_at: DateTime<Utc>,
}

modeled!(Keywords, NewKeywords, KeywordsPatch, table = "group", audit = true, soft_delete = no;
    fields {
        id: Uuid = ID Id,
        title: String = TITLE Unique,
        r#order: i64 = ORDER Data,
        r#user: Option<Uuid> = USER Data,
        org_id: Uuid = ORG_ID Tenant,
        description: Option<String> = DESCRIPTION Data,
        created_at: DateTime<Utc> = CREATED_AT CreatedAt,
        updated_at: DateTime<Utc> = UPDATED_AT UpdatedAt,
    }
    data { title: String, r#order: i64, r#user: Option<Uuid>, description: Option<String> }
);

/// No soft delete, no timestamps, no audit.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "shape_plain")]
pub struct Plain {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub label: String,
    pub weight: i32,
    pub done: bool,
}

modeled!(Plain, NewPlain, PlainPatch, table = "shape_plain", audit = false, soft_delete = no;
    fields {
        id: Uuid = ID Id,
        org_id: Uuid = ORG_ID Tenant,
        label: String = LABEL Data,
        weight: i32 = WEIGHT Data,
        done: bool = DONE Data,
    }
    data { label: String, weight: i32, done: bool }
);

/// Forty data columns of every kind, audited and soft-deleting (45 columns in all).
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "shape_wide", audit)]
pub struct Wide {
    #[tenant(id)]
    pub id: Uuid,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub c00: String,
    pub c01: Option<String>,
    pub c02: i64,
    pub c03: Option<i64>,
    pub c04: bool,
    pub c05: Option<Uuid>,
    pub c06: i32,
    pub c07: Option<bool>,
    pub c08: String,
    pub c09: Option<String>,
    pub c10: i64,
    pub c11: Option<i64>,
    pub c12: bool,
    pub c13: Option<Uuid>,
    pub c14: i32,
    pub c15: Option<bool>,
    pub c16: String,
    pub c17: Option<String>,
    pub c18: i64,
    pub c19: Option<i64>,
    pub c20: bool,
    pub c21: Option<Uuid>,
    pub c22: i32,
    pub c23: Option<bool>,
    pub c24: String,
    pub c25: Option<String>,
    pub c26: i64,
    pub c27: Option<i64>,
    pub c28: bool,
    pub c29: Option<Uuid>,
    pub c30: i32,
    pub c31: Option<bool>,
    pub c32: String,
    pub c33: Option<String>,
    pub c34: i64,
    pub c35: Option<i64>,
    pub c36: bool,
    pub c37: Option<Uuid>,
    pub c38: i32,
    pub c39: Option<bool>,
    #[tenant(created_at)]
    pub created_at: DateTime<Utc>,
    #[tenant(updated_at)]
    pub updated_at: DateTime<Utc>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

modeled!(Wide, NewWide, WidePatch, table = "shape_wide", audit = true, soft_delete = yes;
    fields {
        id: Uuid = ID Id,
        org_id: Uuid = ORG_ID Tenant,
        c00: String = C00 Unique,
        c01: Option<String> = C01 Data,
        c02: i64 = C02 Data,
        c03: Option<i64> = C03 Data,
        c04: bool = C04 Data,
        c05: Option<Uuid> = C05 Data,
        c06: i32 = C06 Data,
        c07: Option<bool> = C07 Data,
        c08: String = C08 Data,
        c09: Option<String> = C09 Data,
        c10: i64 = C10 Data,
        c11: Option<i64> = C11 Data,
        c12: bool = C12 Data,
        c13: Option<Uuid> = C13 Data,
        c14: i32 = C14 Data,
        c15: Option<bool> = C15 Data,
        c16: String = C16 Data,
        c17: Option<String> = C17 Data,
        c18: i64 = C18 Data,
        c19: Option<i64> = C19 Data,
        c20: bool = C20 Data,
        c21: Option<Uuid> = C21 Data,
        c22: i32 = C22 Data,
        c23: Option<bool> = C23 Data,
        c24: String = C24 Data,
        c25: Option<String> = C25 Data,
        c26: i64 = C26 Data,
        c27: Option<i64> = C27 Data,
        c28: bool = C28 Data,
        c29: Option<Uuid> = C29 Data,
        c30: i32 = C30 Data,
        c31: Option<bool> = C31 Data,
        c32: String = C32 Data,
        c33: Option<String> = C33 Data,
        c34: i64 = C34 Data,
        c35: Option<i64> = C35 Data,
        c36: bool = C36 Data,
        c37: Option<Uuid> = C37 Data,
        c38: i32 = C38 Data,
        c39: Option<bool> = C39 Data,
        created_at: DateTime<Utc> = CREATED_AT CreatedAt,
        updated_at: DateTime<Utc> = UPDATED_AT UpdatedAt,
        deleted_at: Option<DateTime<Utc>> = DELETED_AT SoftDelete,
    }
    data { c00: String, c01: Option<String>, c02: i64, c03: Option<i64>, c04: bool, c05: Option<Uuid>, c06: i32, c07: Option<bool>, c08: String, c09: Option<String>, c10: i64, c11: Option<i64>, c12: bool, c13: Option<Uuid>, c14: i32, c15: Option<bool>, c16: String, c17: Option<String>, c18: i64, c19: Option<i64>, c20: bool, c21: Option<Uuid>, c22: i32, c23: Option<bool>, c24: String, c25: Option<String>, c26: i64, c27: Option<i64>, c28: bool, c29: Option<Uuid>, c30: i32, c31: Option<bool>, c32: String, c33: Option<String>, c34: i64, c35: Option<i64>, c36: bool, c37: Option<Uuid>, c38: i32, c39: Option<bool> }
);

/// A caller-given text natural key: `PRIMARY KEY (org_id, key)`, so the same key names a
/// row in each tenant, and a soft-deleted row still holds its key. The id is not the first
/// field; audited, soft-deleting, with timestamps and a unique data column.
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "shape_natural_key", audit)]
pub struct NaturalKey {
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    #[tenant(id)]
    pub key: String,
    pub label: String,
    pub enabled: bool,
    pub note: Option<String>,
    pub rank: i64,
    #[tenant(created_at)]
    pub created_at: DateTime<Utc>,
    #[tenant(updated_at)]
    pub updated_at: DateTime<Utc>,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

modeled!(NaturalKey, NewNaturalKey, NaturalKeyPatch, table = "shape_natural_key", audit = true, soft_delete = yes;
    fields {
        org_id: Uuid = ORG_ID Tenant,
        key: String = KEY Id,
        label: String = LABEL Unique,
        enabled: bool = ENABLED Data,
        note: Option<String> = NOTE Data,
        rank: i64 = RANK Data,
        created_at: DateTime<Utc> = CREATED_AT CreatedAt,
        updated_at: DateTime<Utc> = UPDATED_AT UpdatedAt,
        deleted_at: Option<DateTime<Utc>> = DELETED_AT SoftDelete,
    }
    key { key: String }
    data { label: String, enabled: bool, note: Option<String>, rank: i64 }
);

/// A bigint identity the database makes (`#[tenant(id, default)]`), audited and
/// soft-deleting, with a uuid data column (no table of its world has uuid ids).
#[derive(Debug, Clone, PartialEq, TenantEntity)]
#[tenant(table = "shape_identity", audit)]
pub struct Identity {
    #[tenant(id, default)]
    pub id: i64,
    #[tenant(tenant_id)]
    pub org_id: Uuid,
    pub name: String,
    pub owner: Option<Uuid>,
    pub amount: i32,
    #[tenant(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

modeled!(Identity, NewIdentity, IdentityPatch, table = "shape_identity", audit = true, soft_delete = yes;
    fields {
        id: i64 = ID Id,
        org_id: Uuid = ORG_ID Tenant,
        name: String = NAME Unique,
        owner: Option<Uuid> = OWNER Data,
        amount: i32 = AMOUNT Data,
        deleted_at: Option<DateTime<Utc>> = DELETED_AT SoftDelete,
    }
    data { name: String, owner: Option<Uuid>, amount: i32 }
);

fn sql_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Bool => "boolean",
        Kind::I32 => "integer",
        Kind::I64 => "bigint",
        // Byte order, as the model compares text.
        Kind::Text => "text COLLATE \"C\"",
        Kind::Uuid => "uuid",
        Kind::Ts => "timestamptz",
    }
}

/// The table of `spec`: primary key and unique constraints led by the tenant, composite
/// foreign keys (tenant, parent id) that refuse to delete a parent still referred to.
pub fn ddl(spec: &Spec, world: &[&Spec]) -> String {
    let q = |name: &str| format!("\"{name}\"");
    let tenant = q(spec.cols[spec.tenant()].name);
    let mut lines: Vec<String> = spec
        .cols
        .iter()
        .map(|c| {
            let null = if c.nullable { "" } else { " NOT NULL" };
            let identity = if c.role == Role::Id && spec.id_source == IdSource::Database {
                " GENERATED ALWAYS AS IDENTITY"
            } else {
                ""
            };
            format!("{} {}{null}{identity}", q(c.name), sql_type(c.kind))
        })
        .collect();
    lines.push(format!(
        "PRIMARY KEY ({tenant}, {})",
        q(spec.cols[spec.id()].name)
    ));
    for c in &spec.cols {
        if c.unique && c.role != Role::Id {
            lines.push(format!("UNIQUE ({tenant}, {})", q(c.name)));
        }
        if let Some(target) = c.fk {
            let parent = world
                .iter()
                .find(|s| s.table == target)
                .expect("a parent table");
            lines.push(format!(
                "FOREIGN KEY ({tenant}, {}) REFERENCES {} ({}, {})",
                q(c.name),
                q(target),
                q(parent.cols[parent.tenant()].name),
                q(parent.cols[parent.id()].name),
            ));
        }
    }
    format!(
        "CREATE TABLE {} (\n    {}\n);\n",
        q(spec.table),
        lines.join(",\n    ")
    )
}
