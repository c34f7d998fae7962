//! The tenant scope: the token every query needs.

use uuid::Uuid;

/// Who a query runs for: a tenant, and optionally the actor acting in it.
///
/// A `TenantScope` is the only way into the data. It has one explicit constructor,
/// [`TenantScope::new`], and deliberately no `Default` and no conversions from `Uuid` or
/// `Option<Uuid>`, so a scope never appears by accident.
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
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TenantScope {
    tenant_id: Uuid,
    actor: Option<Uuid>,
}

impl TenantScope {
    /// A scope for `tenant_id`, with no actor.
    pub const fn new(tenant_id: Uuid) -> Self {
        TenantScope {
            tenant_id,
            actor: None,
        }
    }

    /// The same scope, acting as `actor` (recorded in the audit log).
    pub const fn with_actor(self, actor: Uuid) -> Self {
        TenantScope {
            actor: Some(actor),
            ..self
        }
    }

    /// The tenant every query of this scope is restricted to.
    pub const fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    /// The actor recorded for writes, if any.
    pub const fn actor(&self) -> Option<Uuid> {
        self.actor
    }
}
