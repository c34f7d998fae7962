//! Transactions the library opens itself, safe to cancel at any await point.
//!
//! sqlx's own `begin()` can hand a connection back to the pool still inside a transaction
//! when its future is dropped mid-`BEGIN`. Here the connection stays owned by an
//! [`OpenTransaction`] from before `BEGIN` is sent until `COMMIT` or `ROLLBACK` has
//! succeeded; dropped any earlier, it rolls back on a task of its own before the
//! connection returns to the pool, or closes the connection when that is not possible.

use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres};

use crate::error::Result;

/// A pooled connection inside a transaction opened by the library.
pub(crate) struct OpenTransaction {
    /// `Some` until the transaction has ended (or the drop handler took it).
    conn: Option<PoolConnection<Postgres>>,
    /// Whether the server may still be inside the transaction.
    open: bool,
}

impl OpenTransaction {
    /// Acquires a connection and sends `begin` (`BEGIN`, possibly followed by more
    /// statements in the same round trip).
    pub(crate) async fn begin(pool: &PgPool, begin: String) -> Result<Self> {
        let conn = pool.acquire().await?;
        // From here on, a drop rolls back: BEGIN may have reached the server.
        let mut tx = OpenTransaction {
            conn: Some(conn),
            open: true,
        };
        sqlx::raw_sql(AssertSqlSafe(begin))
            .execute(tx.connection())
            .await?;
        Ok(tx)
    }

    /// The transaction's connection.
    pub(crate) fn connection(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .expect("the connection is held until the transaction ends")
    }

    /// Commits; on error the transaction is rolled back as on drop.
    pub(crate) async fn commit(self) -> Result<()> {
        self.end("COMMIT").await
    }

    /// Rolls back.
    pub(crate) async fn rollback(self) -> Result<()> {
        self.end("ROLLBACK").await
    }

    async fn end(mut self, statement: &'static str) -> Result<()> {
        sqlx::raw_sql(statement).execute(self.connection()).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if !self.open {
            return; // back to the pool, outside any transaction
        }
        match tokio::runtime::Handle::try_current() {
            // The connection stays checked out until ROLLBACK is through (sqlx first
            // drains any response a cancelled statement left behind).
            Ok(runtime) => drop(runtime.spawn(async move {
                if sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.is_err() {
                    conn.close_on_drop();
                }
            })),
            // No runtime to roll back on: closing the connection ends the transaction.
            Err(_) => conn.close_on_drop(),
        }
    }
}
