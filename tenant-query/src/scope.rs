//! The tenant scope: the token every query needs.

use uuid::Uuid;

use crate::key::{ErasedKey, Key};

/// Who a query runs for: a tenant, and optionally the actor acting in it.
///
/// A `TenantScope` is the only way into the data. It has one explicit constructor,
/// [`TenantScope::new`], and deliberately no `Default` and no conversions from `Uuid` or
/// `Option<Uuid>`, so a scope never appears by accident.
///
/// The tenant has the type of the entities' tenant column: `Uuid` (the default), `i64`,
/// `String` or any other [`Key`]. A scope of one tenant type passed for an entity of
/// another does not compile.
///
/// The actor is a [`Uuid`]: it is stored in the audit log next to the tenant id, and
/// a fixed-size, typed id can be indexed and joined like every other id the library
/// generates. Services that act without a user give themselves a service-account id.
///
/// ```
/// use tenant_query::TenantScope;
/// use uuid::Uuid;
///
/// let org = Uuid::now_v7();
/// let user = Uuid::now_v7();
/// let scope = TenantScope::new(org).with_actor(user);
/// assert_eq!(scope.tenant_id(), org);
/// assert_eq!(scope.actor(), Some(user));
///
/// // Tenants keyed by a bigint or by text:
/// let numbered = TenantScope::new(42_i64);
/// let named = TenantScope::new(String::from("acme"));
/// assert_eq!(numbered.tenant_id(), 42);
/// assert_eq!(named.tenant_id(), "acme");
/// ```
// The tenant is the last field so that `&TenantScope<K>` coerces to the erased
// `&TenantScope<dyn ErasedKey>` the statement binder takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TenantScope<T: ?Sized = Uuid> {
    actor: Option<Uuid>,
    tenant_id: T,
}

/// A scope whose tenant type is erased, as the statement binder sees it.
pub(crate) type AnyScope = TenantScope<dyn ErasedKey>;

impl<T: Key> TenantScope<T> {
    /// A scope for `tenant_id`, with no actor.
    pub const fn new(tenant_id: T) -> Self {
        TenantScope {
            actor: None,
            tenant_id,
        }
    }

    /// The same scope, acting as `actor` (recorded in the audit log).
    pub fn with_actor(self, actor: Uuid) -> Self {
        TenantScope {
            actor: Some(actor),
            ..self
        }
    }

    /// The tenant every query of this scope is restricted to.
    pub fn tenant_id(&self) -> T {
        self.tenant_id.clone()
    }

    /// The tenant, borrowed.
    pub fn tenant(&self) -> &T {
        &self.tenant_id
    }
}

impl<T: ?Sized> TenantScope<T> {
    /// The actor recorded for writes, if any.
    pub const fn actor(&self) -> Option<Uuid> {
        self.actor
    }
}

impl AnyScope {
    /// The erased tenant, for the binder and the transaction prologue.
    pub(crate) fn erased_tenant(&self) -> &dyn ErasedKey {
        &self.tenant_id
    }
}
