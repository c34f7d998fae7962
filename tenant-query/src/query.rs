//! The query builder: filters, order, keyset and window over one entity, always inside
//! the scope's tenant and, unless asked otherwise, over live rows only.

use std::marker::PhantomData;

use sqlx::AssertSqlSafe;
use uuid::Uuid;

use crate::entity::{SoftDelete, TenantEntity};
use crate::error::{Error, Result};
use crate::filter::{Filter, Keyset, NotNull, Order, OrderTerm};
use crate::handle::{Target, TenantExecutor};
use crate::sql::{DeletedRows, Projection, SelectParts, render_select};
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
#[must_use = "a query does nothing until `all`, `one`, `optional`, `count` or `exists` runs it"]
pub struct Query<E> {
    parts: SelectParts,
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
            parts: SelectParts {
                deleted: DeletedRows::Hidden,
                filters: Vec::new(),
                keyset: None,
                order: Vec::new(),
                limit: None,
                offset: None,
                lock: false,
            },
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
    /// read-modify-write inside a [`ScopedTransaction`](crate::ScopedTransaction).
    /// Ignored by `count` and `exists`.
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
    pub fn for_update(mut self) -> Self {
        self.parts.lock = true;
        self
    }

    /// Keyset pagination on the id: rows after `id`, in id order (ids are UUIDv7, so this
    /// is creation order). Orders by id before any other `order_by`.
    pub fn after_id(mut self, id: Uuid) -> Self {
        self.parts.keyset = Some(Keyset {
            column: None,
            id,
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
        id: Uuid,
    ) -> Self {
        self.parts.keyset = Some(Keyset {
            column: Some((order.column.name(), Box::new(value.into_value()))),
            id,
            descending: order.descending,
        });
        self
    }

    /// The statement for `projection`, with its parameters, ready to send on `db`.
    fn prepare<'c>(
        self,
        db: impl TenantExecutor<'c>,
        projection: Projection,
    ) -> Result<(Target<'c>, AssertSqlSafe<String>, Args)> {
        let target = db.into_target();
        let mut args = Args::default();
        args.push("tenant_id", target.scope.tenant_id())?;
        let sql = render_select(&E::META, projection, self.parts, &mut args)?;
        // The text is made of derive-provided, quoted identifiers; values are parameters.
        Ok((target, AssertSqlSafe(sql), args))
    }

    /// Every matching row.
    pub async fn all<'c>(self, db: impl TenantExecutor<'c>) -> Result<Vec<E>> {
        let (target, sql, args) = self.prepare(db, Projection::Rows)?;
        target.fetch_all(sql, args).await
    }

    /// The first matching row, if any.
    pub async fn optional<'c>(self, db: impl TenantExecutor<'c>) -> Result<Option<E>> {
        let (target, sql, args) = self.limit(1).prepare(db, Projection::Rows)?;
        target.fetch_optional(sql, args).await
    }

    /// The first matching row; [`Error::NotFound`] if there is none.
    pub async fn one<'c>(self, db: impl TenantExecutor<'c>) -> Result<E> {
        self.optional(db).await?.ok_or(Error::NotFound {
            entity: E::META.table,
        })
    }

    /// The number of matching rows (ignores order, limit and offset).
    pub async fn count<'c>(self, db: impl TenantExecutor<'c>) -> Result<i64> {
        let (target, sql, args) = self.prepare(db, Projection::Count)?;
        target.fetch_scalar(sql, args).await
    }

    /// Whether any row matches.
    pub async fn exists<'c>(self, db: impl TenantExecutor<'c>) -> Result<bool> {
        let (target, sql, args) = self.prepare(db, Projection::Exists)?;
        target.fetch_scalar(sql, args).await
    }
}

impl<E: SoftDelete> Query<E> {
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
