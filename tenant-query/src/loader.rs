//! A per-scope DataLoader: concurrent single-row lookups become one `= ANY` query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;
use uuid::Uuid;

use crate::entity::TenantEntity;
use crate::error::{Error, Result};
use crate::handle::ScopedDb;
use crate::repo;

/// Loads rows of `E` by id for code that asks for one row at a time (GraphQL resolvers,
/// per-item service calls), in one scope.
///
/// Calls to [`load`](Self::load) made in the same tick are coalesced into one
/// `id = ANY($2)` query: the first caller of a batch yields to its task's scheduler until
/// no new id joins (the other futures of a `join_all`, or other ready tasks, queue theirs
/// meanwhile), then sends the batch. There is no timer, so a lone call pays only a
/// yield. Results are cached for the life of the loader, and every caller gets its own
/// answer, duplicates included. A loader holds one scope and can never serve another
/// tenant: create one per request. Soft-deleted rows are absent, as with `find`.
///
/// The query runs on a task of its own (`tokio::spawn`), so a caller that stops waiting,
/// the first one included, does not stall the others.
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
/// # let _ = (first?, second?); Ok(()) }
/// ```
pub struct Loader<E> {
    shared: Arc<Shared<E>>,
}

impl<E> Clone for Loader<E> {
    fn clone(&self) -> Self {
        Loader {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<E> std::fmt::Debug for Loader<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("scope", self.shared.db.tenant_scope())
            .finish_non_exhaustive()
    }
}

struct Shared<E> {
    db: ScopedDb,
    state: Mutex<State<E>>,
}

type Reply<E> = oneshot::Sender<Result<Option<E>>>;

struct State<E> {
    cache: HashMap<Uuid, Option<E>>,
    /// Callers waiting for each queued id, in the order they asked.
    waiting: HashMap<Uuid, Vec<Reply<E>>>,
    /// Ids of the next batch, each once.
    queued: Vec<Uuid>,
    /// Whether a caller is gathering `queued` or a batch task is about to take it.
    gathering: bool,
}

impl<E: TenantEntity + Clone> Loader<E> {
    /// A loader of `E` rows in `db`'s scope, with an empty cache.
    pub fn new(db: &ScopedDb) -> Self {
        let state = State {
            cache: HashMap::new(),
            waiting: HashMap::new(),
            queued: Vec::new(),
            gathering: false,
        };
        Loader {
            shared: Arc::new(Shared {
                db: db.clone(),
                state: Mutex::new(state),
            }),
        }
    }

    /// The live row `id`, if the scope's tenant has it; batched with concurrent calls.
    pub async fn load(&self, id: Uuid) -> Result<Option<E>> {
        let (reply, leads) = {
            let mut guard = self.shared.lock();
            let state = &mut *guard;
            if let Some(row) = state.cache.get(&id) {
                return Ok(row.clone());
            }
            let (reply, answer) = oneshot::channel();
            let waiters = state.waiting.entry(id).or_default();
            if waiters.is_empty() {
                state.queued.push(id);
            }
            waiters.push(reply);
            let leads = !std::mem::replace(&mut state.gathering, true);
            (answer, leads)
        };
        if leads {
            let batch = Batch(Some(Arc::clone(&self.shared)));
            self.shared.gather().await;
            drop(batch); // sends it
        }
        // The batch task answers every waiter; it only drops one if the runtime stops.
        reply
            .await
            .unwrap_or(Err(Error::Database(sqlx::Error::WorkerCrashed)))
    }

    /// The rows of `ids`, in the order asked (duplicates included), in one batch.
    pub async fn load_many(&self, ids: &[Uuid]) -> Result<Vec<Option<E>>> {
        futures_util::future::try_join_all(ids.iter().map(|id| self.load(*id))).await
    }

    /// Forgets every cached row (after writes that the loader should see).
    pub fn clear(&self) {
        self.shared.lock().cache.clear();
    }
}

impl<E: TenantEntity + Clone> Shared<E> {
    fn lock(&self) -> MutexGuard<'_, State<E>> {
        // The state stays consistent at every unlock, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Yields until a yield brings no new id: every future of the caller's task, and
    /// every other ready task, has queued its ids by then.
    async fn gather(&self) {
        let mut seen = self.lock().queued.len();
        loop {
            tokio::task::yield_now().await;
            let queued = self.lock().queued.len();
            if queued == seen {
                return;
            }
            seen = queued;
        }
    }

    /// Loads the queued ids and answers every caller waiting for them.
    async fn run_batch(self: Arc<Self>) {
        let ids = {
            let mut state = self.lock();
            state.gathering = false;
            std::mem::take(&mut state.queued)
        };
        let result = repo::find_many::<E>(&self.db, &ids).await;
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
                let error = Arc::new(error);
                for id in ids {
                    for reply in state.waiting.remove(&id).unwrap_or_default() {
                        let _ = reply.send(Err(Error::Shared(Arc::clone(&error))));
                    }
                }
            }
        }
    }
}

/// The batch a leading caller is gathering; dropping it sends the batch, so the batch
/// goes out even if that caller is cancelled while gathering.
struct Batch<E: TenantEntity + Clone>(Option<Arc<Shared<E>>>);

impl<E: TenantEntity + Clone> Drop for Batch<E> {
    fn drop(&mut self) {
        let Some(shared) = self.0.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(shared.run_batch())),
            // No runtime is left to run the query, nor to wait for it: answer the waiters.
            Err(_) => {
                let mut state = shared.lock();
                state.gathering = false;
                state.queued.clear();
                state.waiting.clear();
            }
        }
    }
}
