//! The one place statements are sent: every call ends in one of these functions.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, Postgres, SqlSafeStr};

use crate::error::Result;
use crate::handle::{Conn, Target};
use crate::sql;
use crate::transaction::OpenTransaction;
use crate::value::Args;

/// Sends `$query` on the target's connection. Through the pool in RLS mode or behind a
/// transaction pooler, the statement runs in its own transaction, opened (with the tenant
/// setting in RLS mode) in one round trip and committed after.
macro_rules! run {
    ($target:expr, $query:expr, $method:ident) => {{
        let settings = $target.settings;
        let query = $query.persistent(!settings.transaction_pooler);
        let own_transaction = settings.transaction_pooler || settings.rls_setting.is_some();
        match $target.conn {
            Conn::Tx(conn) => query.$method(conn).await?,
            Conn::Pool(pool) if !own_transaction => query.$method(pool).await?,
            Conn::Pool(pool) => {
                let setting = settings.rls_setting.as_deref();
                let begin = sql::rls::begin(setting, $target.scope.tenant_id());
                let mut tx = OpenTransaction::begin(pool, begin).await?;
                let output = query.$method(tx.connection()).await?;
                tx.commit().await?;
                output
            }
        }
    }};
}

impl Target<'_> {
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
