//! A per-scope DataLoader: concurrent single-row lookups become one `= ANY` query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, oneshot};

use crate::entity::TenantEntity;
use crate::error::{Error, Result};
use crate::handle::{Scoped, ScopedDb, ScopedTransaction, TenantExecutor};
use crate::key::Key;
use crate::repo;

/// The most ids one batch sends; more queued ids go in the next batch.
pub const MAX_BATCH: usize = 1024;
/// The most times the first caller of a batch yields while waiting for other ids.
pub const MAX_GATHER_YIELDS: usize = 16;

/// Loads rows of `E` by id for code that asks for one row at a time (GraphQL resolvers,
/// per-item service calls), in one scope.
///
/// Calls to [`load`](Self::load) made in the same tick are coalesced into one
/// `id = ANY($2)` query: the first caller of a batch yields to its task's scheduler until
/// no new id joins (the other futures of a `join_all`, or other ready tasks, queue theirs
/// meanwhile), at most [`MAX_GATHER_YIELDS`] times and for at most [`MAX_BATCH`] ids, so a
/// steady stream of new calls cannot hold a batch back. There is no timer, so a lone call
/// pays only a yield. Every caller gets its own answer, duplicates included. If the caller
/// running a batch stops waiting, another waiting caller takes the batch over.
///
/// **The cache.** A loader remembers every row it loaded (and every id it found absent)
/// for its whole life, as DataLoader does: it answers later calls from memory and does not
/// see writes made after that, its own scope's included. Create one per request, and call
/// [`clear`](Self::clear) or [`forget`](Self::forget) after a write the loader should see,
/// or [`prime`](Self::prime) it with the written row. A loader holds one scope and never
/// serves another tenant.
///
/// Made from `&ScopedDb`, a loader owns a handle of its own (`Loader<'static, E>`) and can
/// be stored, for example in a request's extensions. Made from `&mut ScopedTransaction`,
/// it borrows the transaction and reads inside it.
///
/// ```no_run
/// # use tenant_query::prelude::*;
/// # use tenant_query::Loader;
/// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "projects")]
/// # pub struct Project { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid }
/// # async fn run(s: &ScopedDb, a: uuid::Uuid, b: uuid::Uuid) -> tenant_query::Result<()> {
/// let projects = Loader::<Project>::new(s);
/// // One query for both.
/// let (first, second) = tokio::join!(projects.load(a), projects.load(b));
/// # let _ = (first?, second?);
/// let mut tx = s.begin().await?;
/// let in_tx = Loader::<Project>::new(&mut tx);
/// let _ = in_tx.load(a).await?;
/// drop(in_tx);
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub struct Loader<'h, E: TenantEntity> {
    shared: Arc<Shared<'h, E>>,
}

impl<E: TenantEntity> Clone for Loader<'_, E> {
    fn clone(&self) -> Self {
        Loader {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<E: TenantEntity> std::fmt::Debug for Loader<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader").finish_non_exhaustive()
    }
}

/// Where a loader reads: a scoped database of its own, or a borrowed transaction.
#[doc(hidden)]
pub enum LoaderSource<'h, T: Key> {
    Db(ScopedDb<T>),
    /// The transaction, and its scope's tenant (read before the handle is locked away).
    Tx(T, tokio::sync::Mutex<Scoped<'h, T>>),
}

mod sealed {
    use crate::key::Key;
    pub trait Sealed {}
    impl<T: Key> Sealed for &super::ScopedDb<T> {}
    impl<T: Key> Sealed for &mut super::ScopedTransaction<T> {}
}

/// A handle a [`Loader`] can be made from: `&ScopedDb` (the loader keeps a handle of its
/// own) or `&mut ScopedTransaction` (the loader borrows the transaction).
pub trait LoaderHandle<'h, T: Key = uuid::Uuid>: sealed::Sealed {
    #[doc(hidden)]
    fn into_source(self) -> LoaderSource<'h, T>;
}

impl<T: Key> LoaderHandle<'static, T> for &ScopedDb<T> {
    fn into_source(self) -> LoaderSource<'static, T> {
        LoaderSource::Db(self.clone())
    }
}

impl<'h, T: Key> LoaderHandle<'h, T> for &'h mut ScopedTransaction<T> {
    fn into_source(self) -> LoaderSource<'h, T> {
        let scoped = self.into_scoped();
        let tenant = scoped.tenant_scope().tenant_id();
        LoaderSource::Tx(tenant, tokio::sync::Mutex::new(scoped))
    }
}

impl<T: Key> LoaderSource<'_, T> {
    fn tenant(&self) -> &T {
        match self {
            LoaderSource::Db(db) => db.tenant_scope().tenant(),
            LoaderSource::Tx(tenant, _) => tenant,
        }
    }
}

struct Shared<'h, E: TenantEntity> {
    source: LoaderSource<'h, E::Tenant>,
    state: Mutex<State<E>>,
    /// Woken when a batch is handed back by a caller that stopped waiting.
    handover: Notify,
}

type Reply<E> = oneshot::Sender<Result<Option<E>>>;

struct State<E: TenantEntity> {
    cache: HashMap<E::Id, Option<E>>,
    /// Callers waiting for each queued id, in the order they asked.
    waiting: HashMap<E::Id, Vec<Reply<E>>>,
    /// Ids of the next batch, each once.
    queued: Vec<E::Id>,
    /// Whether a caller is gathering `queued`.
    gathering: bool,
}

impl<'h, E: TenantEntity + Clone> Loader<'h, E> {
    /// A loader of `E` rows in the handle's scope, with an empty cache.
    pub fn new(db: impl LoaderHandle<'h, E::Tenant>) -> Self {
        let state = State {
            cache: HashMap::new(),
            waiting: HashMap::new(),
            queued: Vec::new(),
            gathering: false,
        };
        Loader {
            shared: Arc::new(Shared {
                source: db.into_source(),
                state: Mutex::new(state),
                handover: Notify::new(),
            }),
        }
    }

    /// The live row `id`, if the scope's tenant has it; batched with concurrent calls.
    pub async fn load(&self, id: E::Id) -> Result<Option<E>> {
        let (mut answer, mut leads) = {
            let mut guard = self.shared.lock();
            let state = &mut *guard;
            if let Some(row) = state.cache.get(&id) {
                return Ok(row.clone());
            }
            let (reply, answer) = oneshot::channel();
            let waiters = state.waiting.entry(id.clone()).or_default();
            if waiters.is_empty() {
                state.queued.push(id);
            }
            waiters.push(reply);
            (answer, !std::mem::replace(&mut state.gathering, true))
        };
        loop {
            if leads {
                self.shared.lead().await;
            }
            let handover = self.shared.handover.notified();
            tokio::pin!(handover);
            handover.as_mut().enable();
            // A batch may have been handed back before `enable`: take it over now.
            leads = self.shared.take_lead();
            if leads {
                continue;
            }
            tokio::select! {
                reply = &mut answer => {
                    return reply.unwrap_or_else(|_| {
                        Err(Error::Configuration("the loader's batch was abandoned".into()))
                    });
                }
                () = &mut handover => leads = self.shared.take_lead(),
            }
        }
    }

    /// The rows of `ids`, in the order asked (duplicates included), in one batch.
    pub async fn load_many(&self, ids: &[E::Id]) -> Result<Vec<Option<E>>> {
        futures_util::future::try_join_all(ids.iter().map(|id| self.load(id.clone()))).await
    }

    /// Forgets every cached row.
    pub fn clear(&self) {
        self.shared.lock().cache.clear();
    }

    /// Forgets the cached row `id`, so the next `load` reads it again.
    pub fn forget(&self, id: E::Id) {
        self.shared.lock().cache.remove(&id);
    }

    /// Caches `row` (for example the row a write returned), replacing what was cached;
    /// a row of another tenant, or a soft-deleted one, is refused with
    /// [`Error::InvalidInput`].
    pub fn prime(&self, row: E) -> Result<()> {
        // The scope's tenant is the only one whose rows the cache may hold; a `via` row
        // does not say its tenant, so it cannot be proven without a query.
        if E::META.via.is_some() {
            return Err(Error::invalid_input(
                "tenant_id",
                "the row reaches its tenant through a parent, which a loader cannot check \
                 without a query: load it instead",
            ));
        }
        // A soft-deleted row is hidden on every path: `load` never returns one.
        if row.is_deleted() {
            return Err(Error::invalid_input(
                E::META.soft_delete.map_or("deleted_at", |c| c.name),
                "the row is soft-deleted, and a loader serves live rows only",
            ));
        }
        if row.tenant_of().as_ref() != Some(self.shared.source.tenant()) {
            return Err(Error::invalid_input(
                "tenant_id",
                "the row belongs to another tenant than the loader's scope",
            ));
        }
        self.shared.lock().cache.insert(row.id(), Some(row));
        Ok(())
    }
}

impl<E: TenantEntity + Clone> Shared<'_, E> {
    fn lock(&self) -> MutexGuard<'_, State<E>> {
        // The state stays consistent at every unlock, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Becomes the caller that gathers the queued ids, if none is.
    fn take_lead(&self) -> bool {
        let mut state = self.lock();
        if state.gathering || state.queued.is_empty() {
            return false;
        }
        state.gathering = true;
        true
    }

    /// Gathers, sends and answers one batch. If the caller stops waiting on the way, the
    /// unanswered ids go back to the queue and the other waiters are woken to take over.
    async fn lead(&self) {
        let mut pending = Pending {
            shared: self,
            gathering: true,
            ids: None,
        };
        self.gather().await;
        {
            let mut state = self.lock();
            state.gathering = false;
            pending.gathering = false;
            let take = state.queued.len().min(MAX_BATCH);
            pending.ids = Some(state.queued.drain(..take).collect());
            if !state.queued.is_empty() {
                // Ids past the batch size: someone else gathers them.
                self.handover.notify_waiters();
            }
        }
        let ids = pending.ids.as_deref().unwrap_or_default();
        let result = self.fetch(ids).await;
        let ids = pending.ids.take().unwrap_or_default();
        self.answer(ids, result);
    }

    /// Yields until a yield brings no new id, or the bounds are reached.
    async fn gather(&self) {
        let mut seen = self.lock().queued.len();
        for _ in 0..MAX_GATHER_YIELDS {
            if seen >= MAX_BATCH {
                return;
            }
            tokio::task::yield_now().await;
            let queued = self.lock().queued.len();
            if queued == seen {
                return;
            }
            seen = queued;
        }
    }

    async fn fetch(&self, ids: &[E::Id]) -> Result<HashMap<E::Id, E>> {
        match &self.source {
            LoaderSource::Db(db) => repo::find_many::<E>(db, ids).await,
            LoaderSource::Tx(_, tx) => {
                let mut tx = tx.lock().await;
                repo::find_many::<E>(tx.reborrow(), ids).await
            }
        }
    }

    fn answer(&self, ids: Vec<E::Id>, result: Result<HashMap<E::Id, E>>) {
        let mut state = self.lock();
        match result {
            Ok(mut rows) => {
                for id in ids {
                    let row = rows.remove(&id);
                    for reply in state.waiting.remove(&id).unwrap_or_default() {
                        let _ = reply.send(Ok(row.clone()));
                    }
                    state.cache.insert(id, row);
                }
            }
            Err(error) => {
                for id in ids {
                    for reply in state.waiting.remove(&id).unwrap_or_default() {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
        }
    }
}

/// A batch being gathered or sent; dropped before it is answered (its caller stopped
/// waiting), it hands the batch back and wakes the other waiters to take it over.
struct Pending<'a, 'h, E: TenantEntity + Clone> {
    shared: &'a Shared<'h, E>,
    /// Still gathering: the queue is this caller's to send.
    gathering: bool,
    /// Taken from the queue and not yet answered.
    ids: Option<Vec<E::Id>>,
}

impl<E: TenantEntity + Clone> Drop for Pending<'_, '_, E> {
    fn drop(&mut self) {
        let ids = self.ids.take();
        if !self.gathering && ids.is_none() {
            return;
        }
        let mut state = self.shared.lock();
        if self.gathering {
            state.gathering = false;
        }
        if let Some(mut ids) = ids {
            ids.append(&mut state.queued);
            state.queued = ids;
        }
        drop(state);
        self.shared.handover.notify_waiters();
    }
}
