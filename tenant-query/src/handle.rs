//! The scoped handles, and the sealed trait through which generated functions accept them.

use sqlx::{PgConnection, PgPool};

use crate::db::{Settings, TenantDb};
use crate::error::Result;
use crate::scope::TenantScope;
use crate::sql;
use crate::transaction::OpenTransaction;

/// A [`TenantDb`] bound to one [`TenantScope`]: pass `&handle` to any generated function.
///
/// Cheap to create and to clone (two reference counts).
///
/// ```no_run
/// # use tenant_query::{TenantDb, TenantScope};
/// # fn run(db: TenantDb, org: uuid::Uuid) {
/// let s = db.scope(&TenantScope::new(org));
/// assert_eq!(s.tenant_scope().tenant_id(), org);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ScopedDb {
    db: TenantDb,
    scope: TenantScope,
}

impl ScopedDb {
    pub(crate) fn new(db: TenantDb, scope: TenantScope) -> Self {
        ScopedDb { db, scope }
    }

    /// The scope every call through this handle runs in.
    pub fn tenant_scope(&self) -> &TenantScope {
        &self.scope
    }

    /// Starts a transaction in this handle's scope.
    pub async fn begin(&self) -> Result<ScopedTransaction> {
        ScopedTransaction::begin(&self.db, self.scope).await
    }
}

/// A transaction that carries its [`TenantScope`]: pass `&mut tx` to generated functions.
///
/// Dropped without [`commit`](Self::commit), it rolls back, before its connection goes
/// back to the pool; this holds even when a future is dropped halfway through `begin`,
/// `commit` or any statement.
///
/// ```no_run
/// # use tenant_query::{TenantDb, TenantScope};
/// # async fn run(db: TenantDb, org: uuid::Uuid) -> tenant_query::Result<()> {
/// let mut tx = db.begin(&TenantScope::new(org)).await?;
/// // ... generated functions with `&mut tx` ...
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub struct ScopedTransaction {
    tx: OpenTransaction,
    db: TenantDb,
    scope: TenantScope,
}

impl std::fmt::Debug for ScopedTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedTransaction")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ScopedTransaction {
    /// Opens the transaction; in RLS mode its first round trip also sets the tenant.
    pub(crate) async fn begin(db: &TenantDb, scope: TenantScope) -> Result<Self> {
        let begin = sql::rls::begin(db.settings().rls_setting.as_deref(), scope.tenant_id());
        let tx = OpenTransaction::begin(db.pool(), begin).await?;
        Ok(ScopedTransaction {
            tx,
            db: db.clone(),
            scope,
        })
    }

    /// The scope every call in this transaction runs in.
    pub fn tenant_scope(&self) -> &TenantScope {
        &self.scope
    }

    /// The transaction's connection, for hand-written SQL inside the same transaction.
    ///
    /// Such SQL is not checked by the library: add the tenant predicate yourself.
    pub fn connection(&mut self) -> &mut PgConnection {
        self.tx.connection()
    }

    /// Commits the transaction.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await
    }

    /// Rolls the transaction back.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for &super::ScopedDb {}
    impl Sealed for &mut super::ScopedTransaction {}
}

/// A tenant-scoped handle: `&ScopedDb` or `&mut ScopedTransaction`, and nothing else.
///
/// Every generated function takes one. The trait is sealed, so a pool, a connection or a
/// plain sqlx transaction can never stand in for a scope.
///
/// ```compile_fail
/// # use tenant_query::prelude::*;
/// # #[derive(Debug, Clone, TenantEntity)]
/// # #[tenant(table = "notes")]
/// # pub struct Note { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid }
/// # async fn run(pool: sqlx::PgPool, id: uuid::Uuid) {
/// // error: `&Pool<Postgres>` is not a tenant-scoped handle
/// let _ = Note::find(&pool, id).await;
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tenant-scoped handle",
    label = "this call needs a TenantScope",
    note = "scope the call: `let s = db.scope(&TenantScope::new(tenant_id));` then pass `&s`",
    note = "inside a transaction, pass `&mut tx` from `db.begin(&scope)`"
)]
pub trait TenantExecutor<'c>: sealed::Sealed + Send {
    #[doc(hidden)]
    fn into_target(self) -> Target<'c>;
}

impl<'c> TenantExecutor<'c> for &'c ScopedDb {
    fn into_target(self) -> Target<'c> {
        Target {
            scope: &self.scope,
            settings: self.db.settings(),
            conn: Conn::Pool(self.db.pool()),
        }
    }
}

impl<'c> TenantExecutor<'c> for &'c mut ScopedTransaction {
    fn into_target(self) -> Target<'c> {
        Target {
            scope: &self.scope,
            settings: self.db.settings(),
            conn: Conn::Tx(self.tx.connection()),
        }
    }
}

/// Where one call runs: the scope, the settings and a connection source.
#[doc(hidden)]
pub struct Target<'c> {
    pub(crate) scope: &'c TenantScope,
    pub(crate) settings: &'c Settings,
    pub(crate) conn: Conn<'c>,
}

pub(crate) enum Conn<'c> {
    Pool(&'c PgPool),
    Tx(&'c mut PgConnection),
}
