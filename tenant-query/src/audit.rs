//! Reading the audit trail: every write to an `audit` entity leaves one record, in the
//! same statement as the change.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, FromRow, Row};
use uuid::Uuid;

use crate::action::AuditAction;
use crate::entity::TenantEntity;
use crate::error::Result;
use crate::exec::Route;
use crate::handle::TenantExecutor;
use crate::sql::{AUDIT_LOG_TABLE, AuditFilter, render_audit_select};
use crate::trace::Summary;

/// One change to one row, as the library recorded it.
///
/// `changes` maps each changed column to `{"from": old, "to": new}` (JSON values, `null`
/// for SQL `NULL`); keys are SQL column names, which stay stable when Rust fields are
/// renamed. A `jsonb` column holding the JSON value `null` records `null` too, so the
/// two look the same in a diff: keep "no value" as SQL `NULL` in such columns (an
/// `Option<Json<T>>` field) if the history must tell them apart.
///
/// ```no_run
/// # use tenant_query::prelude::*;
/// # #[derive(Debug, Clone, TenantEntity)]
/// # #[tenant(table = "projects", audit)]
/// # pub struct Project { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid, pub name: String }
/// # async fn run(s: &ScopedDb, id: uuid::Uuid) -> tenant_query::Result<()> {
/// for record in AuditRecord::for_entity::<Project>(s, id).await? {
///     println!("{} by {:?}: {}", record.action, record.actor, record.changes);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// The record's id (UUIDv7).
    pub id: Uuid,
    /// The tenant of the changed row.
    pub tenant_id: Uuid,
    /// The table of the changed row.
    pub entity: String,
    /// The id of the changed row.
    pub entity_id: Uuid,
    /// What the write did.
    pub action: AuditAction,
    /// `{"column": {"from": old, "to": new}}` for each changed column.
    pub changes: serde_json::Value,
    /// The scope's actor, if it had one.
    pub actor: Option<Uuid>,
    /// The PostgreSQL transaction that made the change (`pg_current_xact_id()`).
    pub transaction_id: i64,
    /// When the change was made (the row lock's order: records of one row never tie).
    pub recorded_at: DateTime<Utc>,
}

impl<'r> FromRow<'r, PgRow> for AuditRecord {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        let action: String = row.try_get("action")?;
        Ok(AuditRecord {
            id: row.try_get("id")?,
            tenant_id: row.try_get("tenant_id")?,
            entity: row.try_get("entity")?,
            entity_id: row.try_get("entity_id")?,
            action: AuditAction::parse(&action).ok_or_else(|| sqlx::Error::ColumnDecode {
                index: "action".into(),
                source: format!("unknown audit action `{action}`").into(),
            })?,
            changes: row.try_get("changes")?,
            actor: row.try_get("actor")?,
            transaction_id: row.try_get("transaction_id")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

impl AuditRecord {
    /// The history of one row of `E`, oldest first, in the scope's tenant.
    pub async fn for_entity<'c, E: TenantEntity>(
        db: impl TenantExecutor<'c>,
        id: Uuid,
    ) -> Result<Vec<AuditRecord>> {
        AuditQuery::new().entity::<E>().entity_id(id).all(db).await
    }

    /// A query over the scope's tenant's audit log.
    pub fn query() -> AuditQuery {
        AuditQuery::new()
    }
}

/// A filtered, keyset-paginated read of a tenant's audit log, oldest first.
///
/// ```no_run
/// # use tenant_query::prelude::*;
/// # use tenant_query::AuditAction;
/// # async fn run(s: &ScopedDb, alice: uuid::Uuid) -> tenant_query::Result<()> {
/// let mut page = AuditRecord::query().actor(alice).action(AuditAction::Update).limit(100).all(s).await?;
/// while let Some(last) = page.last() {
///     page = AuditRecord::query().actor(alice).after(last).limit(100).all(s).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "an audit query does nothing until `all` runs it"]
pub struct AuditQuery {
    filter: AuditFilter,
}

impl AuditQuery {
    fn new() -> Self {
        Self::default()
    }

    /// Only records of `E`'s table.
    pub fn entity<E: TenantEntity>(mut self) -> Self {
        self.filter.entity = Some(E::META.table);
        self
    }

    /// Only records of the row `id`.
    pub fn entity_id(mut self, id: Uuid) -> Self {
        self.filter.entity_id = Some(id);
        self
    }

    /// Only records made by `actor`.
    pub fn actor(mut self, actor: Uuid) -> Self {
        self.filter.actor = Some(actor);
        self
    }

    /// Only records of `action`.
    pub fn action(mut self, action: AuditAction) -> Self {
        self.filter.action = Some(action);
        self
    }

    /// Only records made at or after `from`.
    pub fn since(mut self, from: DateTime<Utc>) -> Self {
        self.filter.since = Some(from);
        self
    }

    /// Only records made before `until`.
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.filter.until = Some(until);
        self
    }

    /// Only records after `record` (keyset pagination).
    pub fn after(mut self, record: &AuditRecord) -> Self {
        self.filter.after = Some((record.recorded_at, record.id));
        self
    }

    /// At most `limit` records.
    pub fn limit(mut self, limit: u32) -> Self {
        self.filter.limit = Some(i64::from(limit));
        self
    }

    /// The matching records, oldest first.
    pub async fn all<'c>(self, db: impl TenantExecutor<'c>) -> Result<Vec<AuditRecord>> {
        let db = db.into_scoped();
        let (statement, args) = render_audit_select(self.filter).bind(Some(db.scope))?;
        // Built from fixed fragments; every value is a parameter.
        Route::new(db, Summary::select(AUDIT_LOG_TABLE))
            .fetch_all(AssertSqlSafe(statement.into_sql()), args)
            .await
    }
}
