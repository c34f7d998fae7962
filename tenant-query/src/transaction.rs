//! Transactions the library opens itself, safe to cancel at any await point.
//!
//! sqlx's own `begin()` can hand a connection back to the pool still inside a transaction
//! when its future is dropped mid-`BEGIN`. Here the connection stays owned by an
//! [`OpenTransaction`] from before `BEGIN` is sent until `COMMIT` or `ROLLBACK` has
//! succeeded; dropped any earlier, it rolls back on a task of its own before the
//! connection returns to the pool, or closes the connection when that is not possible.

use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres};

use crate::error::{Error, Result};

/// SQLSTATE `in_failed_sql_transaction`: the transaction has failed and ignores commands.
const IN_FAILED_TRANSACTION: &str = "25P02";

/// A pooled connection inside a transaction opened by the library.
pub(crate) struct OpenTransaction {
    /// The connection, until the transaction has ended and it went back to the pool.
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
            .execute(tx.connection()?)
            .await?;
        Ok(tx)
    }

    /// The transaction's connection; an error once the transaction has ended.
    pub(crate) fn connection(&mut self) -> Result<&mut PgConnection> {
        match &mut self.conn {
            Some(conn) if self.open => Ok(conn),
            _ => Err(Error::Configuration(
                "the transaction has already ended".into(),
            )),
        }
    }

    /// Commits. A transaction in which a statement failed is rolled back instead and
    /// reported as [`Error::RolledBack`]: PostgreSQL answers `COMMIT` of a failed
    /// transaction with `ROLLBACK`, which is not an error on the wire, so the commit is
    /// preceded, in the same round trip, by a statement that fails in that state.
    pub(crate) async fn commit(mut self) -> Result<()> {
        let committed = sqlx::raw_sql("SELECT 1; COMMIT")
            .execute(self.connection()?)
            .await;
        match committed {
            Ok(_) => {
                self.open = false;
                Ok(())
            }
            Err(error) => {
                let failed = matches!(&error, sqlx::Error::Database(db)
                    if db.code().as_deref() == Some(IN_FAILED_TRANSACTION));
                if failed {
                    // Still inside the failed transaction: end it here.
                    self.end("ROLLBACK").await?;
                    return Err(Error::RolledBack);
                }
                // COMMIT itself failed (a deferred constraint, say): PostgreSQL has ended
                // the transaction; the drop handler makes sure of it.
                Err(error.into())
            }
        }
    }

    /// Rolls back.
    pub(crate) async fn rollback(mut self) -> Result<()> {
        self.end("ROLLBACK").await
    }

    async fn end(&mut self, statement: &'static str) -> Result<()> {
        sqlx::raw_sql(statement).execute(self.connection()?).await?;
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
            // sqlx hands a dropped pool connection to a task, so give it a runtime to
            // spawn on; the task never runs, and dropping it closes the socket.
            Err(_) => {
                conn.close_on_drop();
                match tokio::runtime::Builder::new_current_thread().build() {
                    Ok(runtime) => {
                        let _entered = runtime.enter();
                        drop(conn);
                    }
                    // No runtime can be had at all: leak the connection rather than panic;
                    // the server ends the transaction when the process exits.
                    Err(_) => std::mem::forget(conn),
                }
            }
        }
    }
}
