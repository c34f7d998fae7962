//! The query builder: filters, order, keyset and window over one entity, always inside
//! the scope's tenant and, unless asked otherwise, over live rows only.

use std::marker::PhantomData;

use sqlx::AssertSqlSafe;

use crate::action::AuditAction;
use crate::entity::{SoftDelete, TenantEntity};
use crate::error::{Error, Result};
use crate::exec::Route;
use crate::filter::{Filter, Keyset, NotNull, Order, OrderTerm};
use crate::handle::{ScopedTransaction, TenantExecutor};
use crate::repo;
use crate::sql::{BulkWrite, DeletedRows, Lock, Projection, SelectParts, render_select};
use crate::trace::Summary;
use crate::value::{Args, SqlValue};

/// A query over entity `E`, started by the generated `E::query()`.
///
/// The tenant predicate and the soft-delete predicate are added by the library and cannot
/// be removed; [`with_deleted`](Self::with_deleted) and [`only_deleted`](Self::only_deleted)
/// are the named ways to see deleted rows.
///
/// ```no_run
/// # use tenant_query::prelude::*;
/// # #[derive(Debug, Clone, TenantEntity)]
/// # #[tenant(table = "projects")]
/// # pub struct Project {
/// #     #[tenant(id)] pub id: uuid::Uuid,
/// #     #[tenant(tenant_id)] pub org_id: uuid::Uuid,
/// #     pub status: String,
/// #     #[tenant(soft_delete)] pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
/// # }
/// # async fn run(s: &ScopedDb) -> tenant_query::Result<()> {
/// let active = Project::query().filter(Project::STATUS.eq("active")).limit(50).all(s).await?;
/// let trash = Project::query().only_deleted().count(s).await?;
/// # let _ = (active, trash); Ok(()) }
/// ```
#[must_use = "a query does nothing until `all`, `first`, `one`, `optional`, `count` or `exists` runs it"]
pub struct Query<E> {
    pub(crate) parts: SelectParts,
    entity: PhantomData<fn() -> E>,
}

impl<E> std::fmt::Debug for Query<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query").finish_non_exhaustive()
    }
}

impl<E: TenantEntity> Default for Query<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: TenantEntity> Query<E> {
    /// A query over every live row of the scope's tenant.
    pub fn new() -> Self {
        Query {
            parts: SelectParts::default(),
            entity: PhantomData,
        }
    }

    /// Keeps only rows matching `filter`; several calls combine with `AND`.
    pub fn filter(mut self, filter: Filter<E>) -> Self {
        self.parts.filters.push(filter.expr);
        self
    }

    /// Orders by `order`; several calls order by each in turn.
    pub fn order_by<T, N>(mut self, order: Order<E, T, N>) -> Self {
        self.parts.order.push(OrderTerm {
            column: order.column.name(),
            descending: order.descending,
        });
        self
    }

    /// Returns at most `limit` rows.
    pub fn limit(mut self, limit: u32) -> Self {
        self.parts.limit = Some(i64::from(limit));
        self
    }

    /// Skips the first `offset` rows (prefer [`after`](Self::after) for deep pages).
    pub fn offset(mut self, offset: u32) -> Self {
        self.parts.offset = Some(i64::from(offset));
        self
    }

    /// Locks the returned rows until the transaction ends (`SELECT ... FOR UPDATE`), for a
    /// read-modify-write. A lock only means something inside a transaction, so the locking
    /// query runs only on a [`ScopedTransaction`]: on a pool handle it does not compile.
    ///
    /// ```no_run
    /// # use tenant_query::prelude::*;
    /// # #[derive(Debug, Clone, TenantEntity)]
    /// # #[tenant(table = "counters")]
    /// # pub struct Counter { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid, pub value: i64 }
    /// # async fn run(s: &ScopedDb, id: uuid::Uuid) -> tenant_query::Result<()> {
    /// let mut tx = s.begin().await?;
    /// let counter = Counter::query().filter(Counter::ID.eq(id)).for_update().one(&mut tx).await?;
    /// Counter::update(&mut tx, id, CounterPatch { value: Some(counter.value + 1) }).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub fn for_update(mut self) -> Locking<E> {
        self.parts.lock = Some(Lock::Wait);
        Locking { query: self }
    }

    /// Keyset pagination on the id: rows after `id`, in id order (for UUIDv7 ids and
    /// identities, creation order). Orders by id before any other `order_by`.
    pub fn after_id(mut self, id: E::Id) -> Self {
        self.parts.keyset = Some(Keyset {
            column: None,
            id: Box::new(id),
            descending: false,
        });
        self
    }

    /// Keyset pagination on an ordered column: rows after the one whose `order` column was
    /// `value` and whose id was `id`, ordered by that column then the id (both in
    /// `order`'s direction), before any other `order_by`.
    pub fn after<T: SqlValue + 'static>(
        mut self,
        order: Order<E, T, NotNull>,
        value: impl crate::filter::IntoValue<T>,
        id: E::Id,
    ) -> Self {
        self.parts.keyset = Some(Keyset {
            column: Some((order.column.name(), Box::new(value.into_value()))),
            id: Box::new(id),
            descending: order.descending,
        });
        self
    }

    /// The statement for `projection`, bound for `db`'s scope, and where to send it.
    fn prepare<'c>(
        self,
        db: impl TenantExecutor<'c, E::Tenant>,
        projection: Projection,
    ) -> Result<(Route<'c>, AssertSqlSafe<String>, Args)> {
        let db = db.into_scoped();
        let (statement, args) =
            render_select(&E::META, projection, self.parts).bind(Some(db.any_scope()))?;
        // The text is made of derive-provided, quoted identifiers; values are parameters.
        Ok((
            Route::new(db, Summary::select(E::META.table)),
            AssertSqlSafe(statement.into_sql()),
            args,
        ))
    }

    /// Every matching row.
    pub async fn all<'c>(self, db: impl TenantExecutor<'c, E::Tenant>) -> Result<Vec<E>> {
        let (route, sql, args) = self.prepare(db, Projection::Rows)?;
        route.fetch_all(sql, args).await
    }

    /// The first matching row in the query's order, if any (`LIMIT 1`).
    pub async fn first<'c>(self, db: impl TenantExecutor<'c, E::Tenant>) -> Result<Option<E>> {
        let mut query = self;
        query.parts.limit = Some(query.parts.limit.map_or(1, |limit| limit.min(1)));
        let (route, sql, args) = query.prepare(db, Projection::Rows)?;
        route.fetch_optional(sql, args).await
    }

    /// The one matching row, if any; [`Error::NotUnique`] if several match. (For the first
    /// of several, use [`first`](Self::first).)
    pub async fn optional<'c>(self, db: impl TenantExecutor<'c, E::Tenant>) -> Result<Option<E>> {
        at_most_one::<E>(self.at_most_two().all(db).await?)
    }

    /// The one matching row: [`Error::NotFound`] if none matches (as `get`), and
    /// [`Error::NotUnique`] if several do.
    pub async fn one<'c>(self, db: impl TenantExecutor<'c, E::Tenant>) -> Result<E> {
        self.optional(db).await?.ok_or(Error::NotFound {
            entity: E::META.table,
        })
    }

    /// The number of rows [`all`](Self::all) would return (a limit or offset bounds it;
    /// the order does not matter).
    pub async fn count<'c>(self, db: impl TenantExecutor<'c, E::Tenant>) -> Result<i64> {
        let (route, sql, args) = self.prepare(db, Projection::Count)?;
        route.fetch_scalar(sql, args).await
    }

    /// Whether [`all`](Self::all) would return any row (a limit or offset bounds it).
    pub async fn exists<'c>(self, db: impl TenantExecutor<'c, E::Tenant>) -> Result<bool> {
        let (route, sql, args) = self.prepare(db, Projection::Exists)?;
        route.fetch_scalar(sql, args).await
    }

    /// Applies `patch` to every row the query selects (live rows, unless the query says
    /// otherwise; `order_by` and `limit` choose which), in one statement that also writes
    /// one audit record per changed row. Returns the affected rows in id order; none
    /// matching is not an error.
    ///
    /// ```no_run
    /// # use tenant_query::prelude::*;
    /// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "projects", audit)]
    /// # pub struct Project { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid, pub status: String }
    /// # async fn run(s: &ScopedDb) -> tenant_query::Result<()> {
    /// let archived = Project::query()
    ///     .filter(Project::STATUS.eq("done"))
    ///     .update(s, ProjectPatch { status: Some("archived".into()) })
    ///     .await?;
    /// # let _ = archived; Ok(()) }
    /// ```
    pub async fn update<'c>(
        self,
        db: impl TenantExecutor<'c, E::Tenant>,
        patch: E::Patch,
    ) -> Result<Vec<E>> {
        let values = E::patch_values(patch);
        repo::bulk(db, BulkWrite::Update, self.parts, Some(values)).await
    }

    /// Deletes every live row the query selects, in one statement (softly for entities
    /// with a soft-delete column); returns the affected rows as they are after the
    /// delete. A hard delete is refused like `E::delete`'s when it would cascade.
    pub async fn delete<'c>(self, db: impl TenantExecutor<'c, E::Tenant>) -> Result<Vec<E>> {
        let write = if E::META.soft_delete.is_some() {
            BulkWrite::SoftDelete
        } else {
            BulkWrite::Remove(AuditAction::Delete)
        };
        repo::bulk(db, write, self.parts, None).await
    }

    /// Enough rows to tell one from several.
    fn at_most_two(mut self) -> Self {
        self.parts.limit = Some(self.parts.limit.map_or(2, |limit| limit.min(2)));
        self
    }
}

fn at_most_one<E: TenantEntity>(mut rows: Vec<E>) -> Result<Option<E>> {
    if rows.len() > 1 {
        return Err(Error::NotUnique {
            entity: E::META.table,
        });
    }
    Ok(rows.pop())
}

/// A query that locks the rows it returns, made by [`Query::for_update`]; it runs only
/// inside a [`ScopedTransaction`].
///
/// ```compile_fail
/// # use tenant_query::prelude::*;
/// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "jobs")]
/// # pub struct Job { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid }
/// # async fn run(s: &ScopedDb) {
/// // A lock on a pool handle would end with its statement: this does not compile.
/// let _ = Job::query().for_update().skip_locked().all(s).await;
/// # }
/// ```
#[must_use = "a query does nothing until `all`, `first`, `one` or `optional` runs it"]
pub struct Locking<E> {
    query: Query<E>,
}

impl<E> std::fmt::Debug for Locking<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locking").finish_non_exhaustive()
    }
}

impl<E: TenantEntity> Locking<E> {
    /// Leaves out rows another transaction has locked (`FOR UPDATE SKIP LOCKED`): the way
    /// to take jobs from a queue table without workers waiting on each other.
    pub fn skip_locked(mut self) -> Self {
        self.query.parts.lock = Some(Lock::SkipLocked);
        self
    }

    /// Fails at once (SQLSTATE `55P03`) instead of waiting for a row another transaction
    /// has locked (`FOR UPDATE NOWAIT`).
    pub fn nowait(mut self) -> Self {
        self.query.parts.lock = Some(Lock::NoWait);
        self
    }

    /// Every matching row, locked.
    pub async fn all(self, tx: &mut ScopedTransaction<E::Tenant>) -> Result<Vec<E>> {
        self.query.all(tx).await
    }

    /// The first matching row in the query's order, locked.
    pub async fn first(self, tx: &mut ScopedTransaction<E::Tenant>) -> Result<Option<E>> {
        self.query.first(tx).await
    }

    /// The one matching row, locked; [`Error::NotUnique`] if several match.
    pub async fn optional(self, tx: &mut ScopedTransaction<E::Tenant>) -> Result<Option<E>> {
        self.query.optional(tx).await
    }

    /// The one matching row, locked: [`Error::NotFound`] if none, [`Error::NotUnique`] if
    /// several.
    pub async fn one(self, tx: &mut ScopedTransaction<E::Tenant>) -> Result<E> {
        self.query.one(tx).await
    }
}

impl<E: SoftDelete> Query<E> {
    /// Restores every deleted row the query's filters select, in one statement; returns
    /// them.
    pub async fn restore<'c>(self, db: impl TenantExecutor<'c, E::Tenant>) -> Result<Vec<E>> {
        repo::bulk(db, BulkWrite::Restore, self.parts, None).await
    }

    /// Removes for good every row the query selects (live rows, unless `with_deleted` or
    /// `only_deleted` says otherwise), in one statement; returns them as they were.
    pub async fn purge<'c>(self, db: impl TenantExecutor<'c, E::Tenant>) -> Result<Vec<E>> {
        repo::bulk(db, BulkWrite::Remove(AuditAction::Purge), self.parts, None).await
    }

    /// Includes soft-deleted rows.
    pub fn with_deleted(mut self) -> Self {
        self.parts.deleted = DeletedRows::Included;
        self
    }

    /// Only soft-deleted rows (the trash).
    pub fn only_deleted(mut self) -> Self {
        self.parts.deleted = DeletedRows::Only;
        self
    }
}
