//! The one place statements are sent: every call ends in one of these functions.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, Postgres, SqlSafeStr};

use crate::error::Result;
use crate::handle::{Conn, Target};
use crate::value::Args;

macro_rules! run {
    ($target:expr, $query:expr, $method:ident) => {{
        let query = $query.persistent($target.settings.prepared_statements);
        match $target.conn {
            Conn::Pool(pool) => query.$method(pool).await?,
            Conn::Tx(conn) => query.$method(conn).await?,
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
