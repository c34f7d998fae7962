//! The one place statements are sent: every call ends in one of these functions.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, Postgres, SqlSafeStr};

use crate::backend::Backend;
use crate::error::Result;
use crate::handle::{Conn, Scoped};
use crate::scope::TenantScope;
use crate::sql;
use crate::transaction::OpenTransaction;
use crate::value::Args;

/// Where a statement goes: a scoped call, or the library's own unscoped reads (catalog
/// checks), which still follow the statement mode of the database.
pub(crate) struct Route<'c> {
    backend: &'c Backend,
    scope: Option<&'c TenantScope>,
    conn: Conn<'c>,
}

impl<'c> From<Scoped<'c>> for Route<'c> {
    fn from(scoped: Scoped<'c>) -> Self {
        Route {
            backend: scoped.backend,
            scope: Some(scoped.scope),
            conn: scoped.conn,
        }
    }
}

impl<'c> Route<'c> {
    /// The pool, outside any scope.
    pub(crate) fn unscoped(backend: &'c Backend) -> Self {
        Route {
            backend,
            scope: None,
            conn: Conn::Pool,
        }
    }
}

/// Sends `$query` on the route's connection. Through the pool in RLS mode or behind a
/// transaction pooler, the statement runs in its own transaction, opened (with the tenant
/// setting in RLS mode) in one round trip and committed after.
macro_rules! run {
    ($route:expr, $query:expr, $method:ident) => {{
        let route = $route;
        let settings = &route.backend.settings;
        let query = $query.persistent(!settings.transaction_pooler);
        let rls = settings
            .rls_setting
            .as_deref()
            .filter(|_| route.scope.is_some());
        let own_transaction = settings.transaction_pooler || rls.is_some();
        match route.conn {
            Conn::Tx(tx) => query.$method(tx.connection()?).await?,
            Conn::Pool if !own_transaction => query.$method(&route.backend.pool).await?,
            Conn::Pool => {
                let begin = sql::rls::begin(rls, route.scope);
                let mut tx = OpenTransaction::begin(&route.backend.pool, begin).await?;
                let output = query.$method(tx.connection()?).await?;
                tx.commit().await?;
                output
            }
        }
    }};
}

impl Route<'_> {
    /// Every row of `sql`.
    pub(crate) async fn fetch_all<R>(self, sql: impl SqlSafeStr, args: Args) -> Result<Vec<R>>
    where
        R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        Ok(run!(
            self,
            sqlx::query_as_with::<Postgres, R, _>(sql, args.into_inner()),
            fetch_all
        ))
    }

    /// The first row of `sql`, if any.
    pub(crate) async fn fetch_optional<R>(
        self,
        sql: impl SqlSafeStr,
        args: Args,
    ) -> Result<Option<R>>
    where
        R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        Ok(run!(
            self,
            sqlx::query_as_with::<Postgres, R, _>(sql, args.into_inner()),
            fetch_optional
        ))
    }

    /// The single value of the first row of `sql`.
    pub(crate) async fn fetch_scalar<T>(self, sql: impl SqlSafeStr, args: Args) -> Result<T>
    where
        T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> + Send + Unpin,
    {
        Ok(run!(
            self,
            sqlx::query_scalar_with::<Postgres, T, _>(sql, args.into_inner()),
            fetch_one
        ))
    }

    /// Runs `sql` and returns the number of rows it affected.
    pub(crate) async fn execute(self, sql: impl SqlSafeStr, args: Args) -> Result<u64> {
        Ok(run!(
            self,
            sqlx::query_with::<Postgres, _>(sql, args.into_inner()),
            execute
        )
        .rows_affected())
    }
}
