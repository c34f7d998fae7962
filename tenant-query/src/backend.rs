//! What every handle of one [`TenantDb`](crate::TenantDb) shares: the pool, how statements
//! are sent, and what the library has learned about the schema. A leaf module.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::PgPool;

/// How statements are sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    /// Whether a transaction pooler sits in front: statements unnamed, each pool
    /// statement in its own transaction.
    pub(crate) transaction_pooler: bool,
    /// In RLS mode, the setting that carries the tenant id.
    pub(crate) rls_setting: Option<String>,
    /// Where tenants live, when they do not all live in the shared tables.
    pub(crate) placements: Option<crate::placement::Placements>,
}

/// The pool and settings behind a `TenantDb` and every handle made from it.
#[derive(Debug)]
pub(crate) struct Backend {
    pub(crate) pool: PgPool,
    pub(crate) settings: Settings,
    /// Per table, the foreign keys that delete or change its children with it (`ON DELETE
    /// CASCADE`, `SET NULL`, `SET DEFAULT`), read from the catalog once.
    pub(crate) cascades: Mutex<HashMap<&'static str, Arc<[String]>>>,
}

impl Backend {
    pub(crate) fn new(pool: PgPool, settings: Settings) -> Arc<Self> {
        Arc::new(Backend {
            pool,
            settings,
            cascades: Mutex::default(),
        })
    }

    /// The cascades of `table`, if already known.
    pub(crate) fn known_cascades(&self, table: &str) -> Option<Arc<[String]>> {
        self.cascades
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(table)
            .cloned()
    }

    /// Remembers the cascades of `table`.
    pub(crate) fn remember_cascades(&self, table: &'static str, constraints: Arc<[String]>) {
        self.cascades
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(table, constraints);
    }
}
