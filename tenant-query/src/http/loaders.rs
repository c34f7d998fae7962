//! One request's loaders: a [`Loader`] per entity, made on first use.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::entity::TenantEntity;
use crate::handle::ScopedDb;
use crate::key::Key;
use crate::loader::Loader;
use crate::scope::TenantScope;

/// The loaders of one request, in its scope: [`get`](Self::get) returns the same
/// [`Loader`] for an entity every time it is called on this set (or a clone of it), so
/// lookups from anywhere in the request batch together and share one cache.
///
/// [`TenantLayer`](super::TenantLayer) makes a fresh set for every request and never hands
/// one to another request: a loader's cache lives as long as its set, and a cache shared
/// across requests would serve rows written since, or outlive a user's access. Take it as
/// an axum extractor, or make one per request (a GraphQL request's context, a gRPC call)
/// with [`Loaders::new`].
///
/// ```no_run
/// # use tenant_query::prelude::*;
/// # use tenant_query::http::Loaders;
/// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "projects")]
/// # pub struct Project { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid }
/// # async fn run(s: &ScopedDb, a: uuid::Uuid, b: uuid::Uuid) -> tenant_query::Result<()> {
/// let loaders = Loaders::new(s);
/// // Two parts of the request, each asking for the loader on its own.
/// let (here, there) = (loaders.get::<Project>(), loaders.clone().get::<Project>());
/// let (first, second) = tokio::join!(here.load(a), there.load(b)); // one query for both
/// # let _ = (first?, second?); Ok(()) }
/// ```
#[derive(Clone)]
pub struct Loaders<T: Key = uuid::Uuid> {
    db: ScopedDb<T>,
    loaders: Arc<Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>>,
}

impl<T: Key> std::fmt::Debug for Loaders<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaders")
            .field("scope", self.db.tenant_scope())
            .finish_non_exhaustive()
    }
}

impl<T: Key> Loaders<T> {
    /// An empty set of loaders reading through `db`.
    pub fn new(db: &ScopedDb<T>) -> Self {
        Loaders {
            db: db.clone(),
            loaders: Arc::default(),
        }
    }

    /// The loader of `E` rows for this set, made on first use.
    pub fn get<E>(&self) -> Loader<'static, E>
    where
        E: TenantEntity<Tenant = T> + Clone + Send + Sync + 'static,
    {
        // A panic elsewhere cannot leave the map half-updated, so a poisoned lock is fine.
        let mut loaders = self
            .loaders
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let slot = loaders
            .entry(TypeId::of::<E>())
            .or_insert_with(|| Box::new(Loader::<E>::new(&self.db)));
        match slot.downcast_ref::<Loader<'static, E>>() {
            Some(loader) => loader.clone(),
            // Unreachable: the key is `E`'s type id. Replace the entry rather than panic.
            None => {
                let loader = Loader::<E>::new(&self.db);
                *slot = Box::new(loader.clone());
                loader
            }
        }
    }

    /// The scope the loaders read in.
    pub fn tenant_scope(&self) -> &TenantScope<T> {
        self.db.tenant_scope()
    }
}
