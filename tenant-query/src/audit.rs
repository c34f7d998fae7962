//! Reading the audit trail: every write to an `audit` entity leaves one record, in the
//! same statement as the change.

use std::fmt::Display;
use std::marker::PhantomData;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, FromRow, Row};
use uuid::Uuid;

use crate::action::AuditAction;
use crate::entity::TenantEntity;
use crate::error::Result;
use crate::exec::Route;
use crate::handle::TenantExecutor;
use crate::key::Key;
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
///
/// The log stores tenants and row ids as text, so that entities of every key type share
/// it; a record reads them back as `I` (the row id) and `T` (the tenant): `Uuid` by
/// default, the entity's own types through [`for_entity`](AuditRecord::for_entity), and
/// `String` for a read across entities of several key types
/// ([`AuditQuery::keys`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord<I = Uuid, T = Uuid> {
    /// The record's id (UUIDv7).
    pub id: Uuid,
    /// The tenant of the changed row.
    pub tenant_id: T,
    /// The table of the changed row.
    pub entity: String,
    /// The id of the changed row.
    pub entity_id: I,
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

/// A key column of the log, read back as `K`.
fn key<K: FromStr<Err: Display>>(row: &PgRow, column: &'static str) -> Result<K, sqlx::Error> {
    let text: String = row.try_get(column)?;
    text.parse()
        .map_err(|error: K::Err| sqlx::Error::ColumnDecode {
            index: column.into(),
            source: format!("`{text}` does not read as the record's key type: {error}").into(),
        })
}

impl<'r, I: FromStr<Err: Display>, T: FromStr<Err: Display>> FromRow<'r, PgRow>
    for AuditRecord<I, T>
{
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        let action: String = row.try_get("action")?;
        Ok(AuditRecord {
            id: row.try_get("id")?,
            tenant_id: key(row, "tenant_id")?,
            entity: row.try_get("entity")?,
            entity_id: key(row, "entity_id")?,
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
        db: impl TenantExecutor<'c, E::Tenant>,
        id: E::Id,
    ) -> Result<Vec<AuditRecord<E::Id, E::Tenant>>> {
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
///
/// `I` is the type row ids are read back as: `Uuid` unless [`entity`](Self::entity) or
/// [`keys`](Self::keys) says otherwise.
#[must_use = "an audit query does nothing until `all` runs it"]
pub struct AuditQuery<I = Uuid> {
    filter: AuditFilter,
    ids: PhantomData<fn() -> I>,
}

impl<I> Clone for AuditQuery<I> {
    fn clone(&self) -> Self {
        AuditQuery {
            filter: self.filter.clone(),
            ids: PhantomData,
        }
    }
}

impl<I> std::fmt::Debug for AuditQuery<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditQuery")
            .field("filter", &self.filter)
            .finish()
    }
}

impl AuditQuery {
    fn new() -> Self {
        AuditQuery {
            filter: AuditFilter::default(),
            ids: PhantomData,
        }
    }
}

impl<I> AuditQuery<I> {
    /// Only records of `E`'s table, their row ids read as `E`'s id type.
    pub fn entity<E: TenantEntity>(self) -> AuditQuery<E::Id> {
        let mut filter = self.filter;
        filter.entity = Some(E::META.table);
        AuditQuery {
            filter,
            ids: PhantomData,
        }
    }

    /// Row ids read as `K`: `String` reads a log that holds entities of several key types.
    ///
    /// ```no_run
    /// # use tenant_query::prelude::*;
    /// # async fn run(s: &ScopedDb) -> tenant_query::Result<()> {
    /// let everything: Vec<AuditRecord<String>> = AuditRecord::query().keys::<String>().all(s).await?;
    /// # Ok(()) }
    /// ```
    pub fn keys<K: FromStr>(self) -> AuditQuery<K> {
        AuditQuery {
            filter: self.filter,
            ids: PhantomData,
        }
    }

    /// Only records of the row `id` (of any key type: `Uuid`, `i64`, `String`, ...).
    pub fn entity_id<K: Key>(mut self, id: K) -> Self {
        self.filter.entity_id = Some(std::sync::Arc::new(id));
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
    pub fn after<T>(mut self, record: &AuditRecord<I, T>) -> Self {
        self.filter.after = Some((record.recorded_at, record.id));
        self
    }

    /// At most `limit` records.
    pub fn limit(mut self, limit: u32) -> Self {
        self.filter.limit = Some(i64::from(limit));
        self
    }

    /// The matching records, oldest first.
    pub async fn all<'c, T: Key>(
        self,
        db: impl TenantExecutor<'c, T>,
    ) -> Result<Vec<AuditRecord<I, T>>>
    where
        I: FromStr<Err: Display> + Send + Unpin,
    {
        let db = db.into_scoped();
        let (statement, args) = render_audit_select(self.filter).bind(Some(db.any_scope()))?;
        // Built from fixed fragments; every value is a parameter.
        Route::new(db, Summary::select(AUDIT_LOG_TABLE))
            .fetch_all(AssertSqlSafe(statement.into_sql()), args)
            .await
    }
}
