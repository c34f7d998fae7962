//! Aggregates over a query: counts, sums, minima, maxima and averages, overall or per
//! value of a column, and the newest row of each group; one statement each, over the same
//! tenant-scoped, soft-delete-aware rows as the query's other terminals.

use std::marker::PhantomData;

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Decode, FromRow, Postgres, Type};

use crate::entity::TenantEntity;
use crate::error::Result;
use crate::exec::Route;
use crate::filter::{Column, NotNull, Nullable, Order, OrderTerm};
use crate::handle::TenantExecutor;
use crate::key::Key;
use crate::query::Query;
use crate::sql::plan::Dynamic;
use crate::sql::{Aggregate, render_aggregate, render_latest};
use crate::trace::Summary;

/// What a column's values decode to: `T` for a required column, `Option<T>` for an
/// optional one.
pub trait Nullability {
    /// The decoded value of a column of `T`.
    type Value<T>;
}

impl Nullability for NotNull {
    type Value<T> = T;
}

impl Nullability for Nullable {
    type Value<T> = Option<T>;
}

/// A column type PostgreSQL can `sum`, and what the sum decodes to (integer sums as
/// `i64`; a sum past its range is an error from the database, not a wrapped value).
#[diagnostic::on_unimplemented(
    message = "a column of `{Self}` cannot be summed",
    note = "`sum` takes a column of integers or floating-point numbers"
)]
pub trait Summable {
    /// The sum's Rust type.
    type Sum: for<'r> Decode<'r, Postgres> + Type<Postgres> + Send + Unpin;
    #[doc(hidden)]
    const CAST: &'static str;
}

macro_rules! summable {
    ($($ty:ty => $sum:ty, $cast:literal;)*) => {
        $(impl Summable for $ty {
            type Sum = $sum;
            const CAST: &'static str = $cast;
        })*
    };
}

summable! {
    i16 => i64, "bigint";
    i32 => i64, "bigint";
    i64 => i64, "bigint";
    f32 => f32, "real";
    f64 => f64, "double precision";
}

/// A column type PostgreSQL can average; the average decodes as `f64`.
#[diagnostic::on_unimplemented(
    message = "a column of `{Self}` cannot be averaged",
    note = "`avg` takes a column of integers or floating-point numbers"
)]
pub trait Averageable {}

impl Averageable for i16 {}
impl Averageable for i32 {}
impl Averageable for i64 {}
impl Averageable for f32 {}
impl Averageable for f64 {}

/// A value an aggregate or a group key can come back as: anything sqlx decodes from
/// PostgreSQL.
pub trait Decoded: for<'r> Decode<'r, Postgres> + Type<Postgres> + Send + Unpin {}
impl<T: for<'r> Decode<'r, Postgres> + Type<Postgres> + Send + Unpin> Decoded for T {}

async fn scalar<'c, T: Decoded, S: Key>(
    db: impl TenantExecutor<'c, S>,
    table: &'static str,
    sql: Dynamic,
) -> Result<T> {
    let db = db.into_scoped();
    let (statement, args) = sql.bind(Some(db.any_scope()))?;
    Route::new(db, Summary::select(table))
        .fetch_scalar(AssertSqlSafe(statement.into_sql()), args)
        .await
}

async fn pairs<'c, K, V, S: Key>(
    db: impl TenantExecutor<'c, S>,
    table: &'static str,
    sql: Dynamic,
) -> Result<Vec<(K, V)>>
where
    (K, V): for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let db = db.into_scoped();
    let (statement, args) = sql.bind(Some(db.any_scope()))?;
    Route::new(db, Summary::select(table))
        .fetch_all(AssertSqlSafe(statement.into_sql()), args)
        .await
}

impl<E: TenantEntity> Query<E> {
    /// Groups the selected rows by `column`, for a per-group aggregate.
    ///
    /// ```no_run
    /// # use tenant_query::prelude::*;
    /// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "tasks")]
    /// # pub struct Task { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid,
    /// #     pub status: String, pub estimate: Option<i32> }
    /// # async fn run(s: &ScopedDb) -> tenant_query::Result<()> {
    /// let per_status: Vec<(String, i64)> = Task::query().count_by(Task::STATUS, s).await?;
    /// let estimates: Vec<(String, Option<i64>)> =
    ///     Task::query().group_by(Task::STATUS).sum(Task::ESTIMATE, s).await?;
    /// let total: Option<i64> = Task::query().sum(Task::ESTIMATE, s).await?;
    /// # let _ = (per_status, estimates, total); Ok(()) }
    /// ```
    pub fn group_by<K, N>(self, column: Column<E, K, N>) -> Grouped<E, K, N> {
        Grouped {
            query: self,
            key: column.name(),
            types: PhantomData,
        }
    }

    /// The number of selected rows per value of `column`, ordered by that value.
    pub async fn count_by<'c, K, N: Nullability>(
        self,
        column: Column<E, K, N>,
        db: impl TenantExecutor<'c, E::Tenant>,
    ) -> Result<Vec<(N::Value<K>, i64)>>
    where
        N::Value<K>: Decoded,
    {
        self.group_by(column).count(db).await
    }

    /// The sum of `column` over the selected rows; `None` when there are none.
    pub async fn sum<'c, T: Summable, N>(
        self,
        column: Column<E, T, N>,
        db: impl TenantExecutor<'c, E::Tenant>,
    ) -> Result<Option<T::Sum>> {
        self.overall(
            db,
            Aggregate::Sum {
                column: column.name(),
                cast: T::CAST,
            },
        )
        .await
    }

    /// `aggregate` over all the selected rows.
    async fn overall<'c, T: Decoded>(
        self,
        db: impl TenantExecutor<'c, E::Tenant>,
        aggregate: Aggregate,
    ) -> Result<T> {
        let sql = render_aggregate(E::meta(), self.parts, None, aggregate);
        scalar(db, E::META.table, sql).await
    }

    /// The smallest value of `column` among the selected rows; `None` when there are none.
    pub async fn min<'c, T: Decoded, N>(
        self,
        column: Column<E, T, N>,
        db: impl TenantExecutor<'c, E::Tenant>,
    ) -> Result<Option<T>> {
        self.overall(
            db,
            Aggregate::Min {
                column: column.name(),
            },
        )
        .await
    }

    /// The largest value of `column` among the selected rows; `None` when there are none.
    pub async fn max<'c, T: Decoded, N>(
        self,
        column: Column<E, T, N>,
        db: impl TenantExecutor<'c, E::Tenant>,
    ) -> Result<Option<T>> {
        self.overall(
            db,
            Aggregate::Max {
                column: column.name(),
            },
        )
        .await
    }

    /// The average of `column` over the selected rows; `None` when there are none.
    pub async fn avg<'c, T: Averageable, N>(
        self,
        column: Column<E, T, N>,
        db: impl TenantExecutor<'c, E::Tenant>,
    ) -> Result<Option<f64>> {
        self.overall(
            db,
            Aggregate::Avg {
                column: column.name(),
            },
        )
        .await
    }

    /// The first row of each value of `group` in `order` (ties broken by the newest id),
    /// one row per group, ordered by the group's value: "the newest version of each
    /// workflow" (`SELECT DISTINCT ON`). The query's filters apply; its own order, keyset
    /// and window do not.
    ///
    /// ```no_run
    /// # use tenant_query::prelude::*;
    /// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "versions")]
    /// # pub struct Version { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid,
    /// #     pub workflow: String, pub number: i32 }
    /// # async fn run(s: &ScopedDb) -> tenant_query::Result<()> {
    /// let newest = Version::query().latest_by(Version::WORKFLOW, Version::NUMBER.desc(), s).await?;
    /// # let _ = newest; Ok(()) }
    /// ```
    pub async fn latest_by<'c, K, N, T, M>(
        self,
        group: Column<E, K, N>,
        order: Order<E, T, M>,
        db: impl TenantExecutor<'c, E::Tenant>,
    ) -> Result<Vec<E>> {
        let order = OrderTerm {
            column: order.column.name(),
            descending: order.descending,
        };
        let db = db.into_scoped();
        let (statement, args) =
            render_latest(E::meta(), self.parts, group.name(), order).bind(Some(db.any_scope()))?;
        Route::new(db, Summary::select(E::META.table))
            .fetch_all(AssertSqlSafe(statement.into_sql()), args)
            .await
    }
}

/// A query grouped by a column of `K` values; see [`Query::group_by`]. Each aggregate
/// returns one `(key, value)` pair per group, ordered by the key.
#[must_use = "a grouped query does nothing until an aggregate runs it"]
pub struct Grouped<E, K, N> {
    query: Query<E>,
    key: &'static str,
    types: PhantomData<fn() -> (K, N)>,
}

impl<E, K, N> std::fmt::Debug for Grouped<E, K, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grouped")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl<E: TenantEntity, K, N: Nullability> Grouped<E, K, N>
where
    N::Value<K>: Decoded,
{
    /// `aggregate` per group.
    async fn per_group<'c, V>(
        self,
        db: impl TenantExecutor<'c, E::Tenant>,
        aggregate: Aggregate,
    ) -> Result<Vec<(N::Value<K>, V)>>
    where
        (N::Value<K>, V): for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let sql = render_aggregate(E::meta(), self.query.parts, Some(self.key), aggregate);
        pairs(db, E::META.table, sql).await
    }

    /// The number of rows per group.
    pub async fn count<'c>(
        self,
        db: impl TenantExecutor<'c, E::Tenant>,
    ) -> Result<Vec<(N::Value<K>, i64)>> {
        self.per_group(db, Aggregate::Count).await
    }

    /// The sum of `column` per group.
    pub async fn sum<'c, T: Summable, M>(
        self,
        column: Column<E, T, M>,
        db: impl TenantExecutor<'c, E::Tenant>,
    ) -> Result<Vec<(N::Value<K>, Option<T::Sum>)>> {
        let aggregate = Aggregate::Sum {
            column: column.name(),
            cast: T::CAST,
        };
        self.per_group(db, aggregate).await
    }

    /// The smallest value of `column` per group.
    pub async fn min<'c, T: Decoded, M>(
        self,
        column: Column<E, T, M>,
        db: impl TenantExecutor<'c, E::Tenant>,
    ) -> Result<Vec<(N::Value<K>, Option<T>)>> {
        let aggregate = Aggregate::Min {
            column: column.name(),
        };
        self.per_group(db, aggregate).await
    }

    /// The largest value of `column` per group.
    pub async fn max<'c, T: Decoded, M>(
        self,
        column: Column<E, T, M>,
        db: impl TenantExecutor<'c, E::Tenant>,
    ) -> Result<Vec<(N::Value<K>, Option<T>)>> {
        let aggregate = Aggregate::Max {
            column: column.name(),
        };
        self.per_group(db, aggregate).await
    }

    /// The average of `column` per group.
    pub async fn avg<'c, T: Averageable, M>(
        self,
        column: Column<E, T, M>,
        db: impl TenantExecutor<'c, E::Tenant>,
    ) -> Result<Vec<(N::Value<K>, Option<f64>)>> {
        let aggregate = Aggregate::Avg {
            column: column.name(),
        };
        self.per_group(db, aggregate).await
    }
}
