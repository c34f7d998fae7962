//! The one place statements are sent: every call ends in one of these functions, each in
//! one `tracing` span ([`trace`](crate::trace)).

use sqlx::postgres::PgRow;
use sqlx::{FromRow, Postgres, SqlSafeStr};
use tracing::Instrument;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::handle::{Conn, Scoped};
use crate::key::Key;
use crate::placement;
use crate::scope::AnyScope;
use crate::sql;
use crate::trace::{self, Operation, Summary};
use crate::transaction::OpenTransaction;
use crate::value::Args;

/// Where a statement goes: a scoped call, or the library's own unscoped reads (catalog
/// checks), which still follow the statement mode of the database. It also says what the
/// statement does, for its span.
pub(crate) struct Route<'c> {
    backend: &'c Backend,
    scope: Option<&'c AnyScope>,
    conn: Conn<'c>,
    summary: Summary,
}

impl<'c> Route<'c> {
    /// The scoped handle's connection, for a statement that does `summary`.
    pub(crate) fn new<T: Key>(scoped: Scoped<'c, T>, summary: Summary) -> Self {
        Route {
            backend: scoped.backend,
            scope: Some(scoped.scope as &AnyScope),
            conn: scoped.conn,
            summary,
        }
    }

    /// The pool, outside any scope.
    pub(crate) fn unscoped(backend: &'c Backend, summary: Summary) -> Self {
        Route {
            backend,
            scope: None,
            conn: Conn::Pool,
            summary,
        }
    }
}

/// Opens a transaction for `scope` (or none: the library's own reads) with its prologue in
/// the first round trip: the one place transactions of scoped work begin. With placements,
/// it resolves the tenant's home, refuses a write to a read-only tenant, and begins on the
/// home's pool with its `search_path` and fence check ([`sql::rls::begin`]).
pub(crate) async fn open(
    backend: &Backend,
    scope: Option<&AnyScope>,
    writing: bool,
) -> Result<OpenTransaction> {
    let settings = &backend.settings;
    // The prologue writes the tenant's text into the statement: made, and checked, once,
    // and only when the prologue needs it (RLS mode or placements).
    let tenant = match scope {
        Some(scope) if settings.rls_setting.is_some() || settings.placements.is_some() => {
            Some(placement::tenant_key(scope)?)
        }
        _ => None,
    };
    let rls = settings.rls_setting.as_deref();
    let (Some(placements), Some(tenant)) = (&settings.placements, tenant.as_deref()) else {
        let begin = sql::rls::begin(rls, tenant.as_deref(), None);
        return OpenTransaction::begin(&backend.pool, begin).await;
    };
    let home = placements.home(&backend.pool, tenant, writing).await?;
    let placed = sql::rls::Placed {
        placement: &home.placement,
        writing,
    };
    let begin = sql::rls::begin(rls, Some(tenant), Some(&placed));
    match OpenTransaction::begin(&home.pool, begin).await {
        Ok(tx) => Ok(tx),
        Err(error) => Err(placements.refused(tenant, &home, error)),
    }
}

/// Sends `$query` (made from the statement text `sql`) on the route's connection, inside
/// the statement's span. Through the pool in RLS mode or behind a transaction pooler, the
/// statement runs in its own transaction, opened (with the tenant setting in RLS mode) in
/// one round trip and committed after; the span covers all of it.
macro_rules! run {
    ($route:expr, $sql:expr, |$text:ident| $query:expr, $method:ident) => {{
        let route = $route;
        let $text = $sql.into_sql_str();
        let span = trace::statement(route.summary, $text.as_str(), route.scope, route.backend);
        let sent = async {
            let settings = &route.backend.settings;
            let query = $query.persistent(!settings.transaction_pooler);
            let scoped = route.scope.is_some();
            let own_transaction = settings.transaction_pooler
                || (scoped && (settings.rls_setting.is_some() || settings.placements.is_some()));
            Ok::<_, Error>(match route.conn {
                Conn::Tx(tx) => query.$method(tx.connection()?).await?,
                Conn::Pool if !own_transaction => query.$method(&route.backend.pool).await?,
                Conn::Pool => {
                    let writing = route.summary.operation != Operation::Select;
                    let mut tx = open(route.backend, route.scope, writing).await?;
                    let output = query.$method(tx.connection()?).await?;
                    tx.commit().await?;
                    output
                }
            })
        }
        .instrument(span.clone())
        .await;
        if let Err(error) = &sent {
            trace::failed(&span, error);
        }
        sent?
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
            sql,
            |sql| sqlx::query_as_with::<Postgres, R, _>(sql, args.into_inner()),
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
            sql,
            |sql| sqlx::query_as_with::<Postgres, R, _>(sql, args.into_inner()),
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
            sql,
            |sql| sqlx::query_scalar_with::<Postgres, T, _>(sql, args.into_inner()),
            fetch_one
        ))
    }

    /// Runs `sql` and returns the number of rows it affected.
    pub(crate) async fn execute(self, sql: impl SqlSafeStr, args: Args) -> Result<u64> {
        Ok(run!(
            self,
            sql,
            |sql| sqlx::query_with::<Postgres, _>(sql, args.into_inner()),
            execute
        )
        .rows_affected())
    }
}
