//! The scoped handles, and the sealed trait through which generated functions accept them.

use std::sync::Arc;

use sqlx::PgConnection;

use uuid::Uuid;

use crate::backend::Backend;
use crate::error::Result;
use crate::key::Key;
use crate::scope::{AnyScope, TenantScope};
use crate::transaction::OpenTransaction;

/// A database bound to one [`TenantScope`]: pass `&handle` to any generated function.
///
/// Made by [`TenantDb::scope`](crate::TenantDb::scope); cheap to create and to clone (a
/// reference count and the scope).
///
/// ```no_run
/// # use tenant_query::{TenantDb, TenantScope};
/// # fn run(db: TenantDb, org: uuid::Uuid) {
/// let s = db.scope(&TenantScope::new(org));
/// assert_eq!(s.tenant_scope().tenant_id(), org);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ScopedDb<T: Key = Uuid> {
    backend: Arc<Backend>,
    scope: TenantScope<T>,
}

impl<T: Key> ScopedDb<T> {
    pub(crate) fn new(backend: Arc<Backend>, scope: TenantScope<T>) -> Self {
        ScopedDb { backend, scope }
    }

    /// The scope every call through this handle runs in.
    pub fn tenant_scope(&self) -> &TenantScope<T> {
        &self.scope
    }

    /// Starts a transaction in this handle's scope.
    pub async fn begin(&self) -> Result<ScopedTransaction<T>> {
        ScopedTransaction::begin(Arc::clone(&self.backend), self.scope.clone()).await
    }
}

/// A transaction that carries its [`TenantScope`]: pass `&mut tx` to generated functions.
///
/// Dropped without [`commit`](Self::commit), it rolls back, before its connection goes
/// back to the pool; this holds even when a future is dropped halfway through `begin`,
/// `commit` or any statement, and when it is dropped outside any async runtime (the
/// connection is then closed, which ends the transaction).
///
/// If a statement in the transaction failed, PostgreSQL has already rolled it back:
/// `commit` then returns [`Error::RolledBack`](crate::Error::RolledBack), never `Ok`.
///
/// ```no_run
/// # use tenant_query::{TenantDb, TenantScope};
/// # async fn run(db: TenantDb, org: uuid::Uuid) -> tenant_query::Result<()> {
/// let mut tx = db.begin(&TenantScope::new(org)).await?;
/// // ... generated functions with `&mut tx` ...
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub struct ScopedTransaction<T: Key = Uuid> {
    tx: OpenTransaction,
    backend: Arc<Backend>,
    scope: TenantScope<T>,
}

impl<T: Key> std::fmt::Debug for ScopedTransaction<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedTransaction")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl<T: Key> ScopedTransaction<T> {
    /// Opens the transaction; its first round trip also sets what the scope needs (the
    /// tenant setting in RLS mode).
    pub(crate) async fn begin(backend: Arc<Backend>, scope: TenantScope<T>) -> Result<Self> {
        // A transaction may write: with placements, it checks the home's write fence.
        let tx = crate::exec::open(&backend, Some(&scope as &AnyScope), true).await?;
        Ok(ScopedTransaction { tx, backend, scope })
    }

    /// The scope every call in this transaction runs in.
    pub fn tenant_scope(&self) -> &TenantScope<T> {
        &self.scope
    }

    /// The transaction's connection, for hand-written SQL inside the same transaction.
    ///
    /// Such SQL is not checked by the library: add the tenant predicate yourself.
    pub fn connection(&mut self) -> Result<&mut PgConnection> {
        self.tx.connection()
    }

    /// Commits the transaction; [`Error::RolledBack`](crate::Error::RolledBack) if a
    /// statement in it had failed, in which case nothing in it was kept.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await
    }

    /// Rolls the transaction back.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await
    }
}

/// One call's way to the database: the scope, the shared settings, and either the pool or
/// a transaction's connection. Every scoped handle turns into one; it can be reborrowed,
/// so generic code can make several calls through the handle it was given.
///
/// ```no_run
/// # use tenant_query::prelude::*;
/// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "projects")]
/// # pub struct Project { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid }
/// // Works with `&s` and with `&mut tx` alike.
/// async fn both<'c>(db: impl TenantExecutor<'c>, a: uuid::Uuid, b: uuid::Uuid)
///     -> tenant_query::Result<(Project, Project)>
/// {
///     let mut db = db.into_scoped();
///     let first = Project::get(db.reborrow(), a).await?;
///     let second = Project::get(db.reborrow(), b).await?;
///     Ok((first, second))
/// }
/// ```
pub struct Scoped<'c, T: Key = Uuid> {
    pub(crate) scope: &'c TenantScope<T>,
    pub(crate) backend: &'c Backend,
    pub(crate) conn: Conn<'c>,
}

impl<T: Key> std::fmt::Debug for Scoped<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scoped")
            .field("scope", self.scope)
            .field("in_transaction", &matches!(self.conn, Conn::Tx(_)))
            .finish()
    }
}

pub(crate) enum Conn<'c> {
    Pool,
    Tx(&'c mut OpenTransaction),
}

impl<T: Key> Scoped<'_, T> {
    /// A handle for one more call, borrowing this one.
    pub fn reborrow(&mut self) -> Scoped<'_, T> {
        Scoped {
            scope: self.scope,
            backend: self.backend,
            conn: match &mut self.conn {
                Conn::Pool => Conn::Pool,
                Conn::Tx(tx) => Conn::Tx(tx),
            },
        }
    }

    /// The scope of the calls made through this handle.
    pub fn tenant_scope(&self) -> &TenantScope<T> {
        self.scope
    }

    /// Whether calls run inside a [`ScopedTransaction`].
    pub fn in_transaction(&self) -> bool {
        matches!(self.conn, Conn::Tx(_))
    }
}

impl<'c, T: Key> Scoped<'c, T> {
    /// The scope, its tenant type erased, for the statement binder.
    pub(crate) fn any_scope(&self) -> &'c AnyScope {
        self.scope
    }
}

mod sealed {
    pub trait Sealed {}
    use crate::key::Key;
    impl<T: Key> Sealed for &super::ScopedDb<T> {}
    impl<T: Key> Sealed for &mut super::ScopedTransaction<T> {}
    impl<T: Key> Sealed for super::Scoped<'_, T> {}
}

/// A tenant-scoped handle: `&ScopedDb`, `&mut ScopedTransaction` or a [`Scoped`] made from
/// one, and nothing else.
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
///
/// The trait's parameter is the tenant type: a handle scoped to `i64` tenants is not a
/// handle for an entity whose tenant column is a `Uuid`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tenant-scoped handle for tenants of type `{T}`",
    label = "this call needs a TenantScope<{T}>",
    note = "scope the call: `let s = db.scope(&TenantScope::new(tenant_id));` then pass `&s`, with `tenant_id` of the entity's tenant type (`{T}`)",
    note = "inside a transaction, pass `&mut tx` from `db.begin(&scope)`"
)]
pub trait TenantExecutor<'c, T: Key = Uuid>: sealed::Sealed + Send {
    /// The handle as a [`Scoped`], which can be reborrowed for several calls.
    fn into_scoped(self) -> Scoped<'c, T>;
}

impl<'c, T: Key> TenantExecutor<'c, T> for &'c ScopedDb<T> {
    fn into_scoped(self) -> Scoped<'c, T> {
        Scoped {
            scope: &self.scope,
            backend: &self.backend,
            conn: Conn::Pool,
        }
    }
}

impl<'c, T: Key> TenantExecutor<'c, T> for &'c mut ScopedTransaction<T> {
    fn into_scoped(self) -> Scoped<'c, T> {
        Scoped {
            scope: &self.scope,
            backend: &self.backend,
            conn: Conn::Tx(&mut self.tx),
        }
    }
}

impl<'c, T: Key> TenantExecutor<'c, T> for Scoped<'c, T> {
    fn into_scoped(self) -> Scoped<'c, T> {
        self
    }
}
