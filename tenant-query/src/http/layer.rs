//! The tower layer that resolves each request's tenant.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use http::Request;
use http::request::Parts;
use tower::{Layer, Service};

use super::loaders::Loaders;
use crate::db::TenantDb;
use crate::handle::ScopedDb;
use crate::key::Key;
use crate::scope::TenantScope;

/// How a service finds the tenant of a request, from the request's head (headers, URI,
/// extensions set by an authentication layer before this one).
///
/// Return `None` when the request names no tenant you accept (no token, a bad token, an
/// unknown subdomain): the extractors then answer `401 Unauthorized`.
///
/// A closure `Fn(&Parts) -> impl Future<Output = Option<TenantScope>>` is a resolver; its
/// future cannot borrow the parts, so read what it needs first:
///
/// ```
/// use axum::http::request::Parts;
/// use tenant_query::TenantScope;
///
/// let from_header = |parts: &Parts| {
///     let tenant = parts.headers.get("x-tenant").and_then(|v| v.to_str().ok()?.parse().ok());
///     async move { tenant.map(TenantScope::new) }
/// };
/// # fn is_resolver(_: impl tenant_query::http::ResolveTenant) {}
/// # is_resolver(from_header);
/// ```
///
/// A type implements it to keep state, such as a key store; its future may borrow both:
///
/// ```
/// use std::collections::HashMap;
/// use axum::http::request::Parts;
/// use tenant_query::{TenantScope, http::ResolveTenant};
///
/// struct ApiKeys(HashMap<String, TenantScope>);
///
/// impl ResolveTenant for ApiKeys {
///     fn resolve(&self, parts: &Parts) -> impl Future<Output = Option<TenantScope>> + Send {
///         let key = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok());
///         let scope = key.and_then(|key| self.0.get(key)).copied();
///         async move { scope }
///     }
/// }
/// ```
///
/// The parameter is the tenant type (`Uuid` unless the resolver says otherwise): a
/// resolver of `TenantScope<i64>` serves entities with `i64` tenants, and the extractors
/// then take `TenantScope<i64>`, `ScopedDb<i64>` and `Loaders<i64>`.
pub trait ResolveTenant<T: Key = uuid::Uuid>: Send + Sync + 'static {
    /// The request's tenant (and actor), or `None` when it has none.
    fn resolve(&self, parts: &Parts) -> impl Future<Output = Option<TenantScope<T>>> + Send;
}

impl<F, Fut, T> ResolveTenant<T> for F
where
    F: Fn(&Parts) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<TenantScope<T>>> + Send,
    T: Key,
{
    fn resolve(&self, parts: &Parts) -> impl Future<Output = Option<TenantScope<T>>> + Send {
        self(parts)
    }
}

/// A tower [`Layer`] that resolves each request's tenant with a [`ResolveTenant`] and puts
/// the scope, a [`ScopedDb`](crate::ScopedDb) and fresh [`Loaders`] in its extensions (see
/// the [module documentation](crate::http)).
///
/// ```no_run
/// # use tenant_query::{TenantDb, TenantScope, http::TenantLayer};
/// # fn run(db: TenantDb) {
/// let layer = TenantLayer::new(db, |_: &axum::http::request::Parts| async { None::<TenantScope> });
/// let app: axum::Router = axum::Router::new().layer(layer);
/// # }
/// ```
pub struct TenantLayer<R, T = uuid::Uuid> {
    db: TenantDb,
    resolver: Arc<R>,
    tenant: PhantomData<fn() -> T>,
}

impl<R, T> Clone for TenantLayer<R, T> {
    fn clone(&self) -> Self {
        TenantLayer {
            db: self.db.clone(),
            resolver: Arc::clone(&self.resolver),
            tenant: PhantomData,
        }
    }
}

impl<R, T> std::fmt::Debug for TenantLayer<R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantLayer").finish_non_exhaustive()
    }
}

impl<R: ResolveTenant> TenantLayer<R> {
    /// A layer that resolves `Uuid` tenants with `resolver` and scopes handles of `db`.
    pub fn new(db: TenantDb, resolver: R) -> Self {
        Self::for_tenants(db, resolver)
    }
}

impl<R: ResolveTenant<T>, T: Key> TenantLayer<R, T> {
    /// A layer for tenants of another type than `Uuid` (the type the resolver's scopes
    /// hold): handlers then take `TenantScope<T>`, `ScopedDb<T>` and `Loaders<T>`.
    ///
    /// ```no_run
    /// # use tenant_query::{TenantDb, TenantScope, ScopedDb, http::TenantLayer};
    /// # fn run(db: TenantDb) {
    /// let account = |parts: &axum::http::request::Parts| {
    ///     let id: Option<i64> = parts.headers.get("x-account").and_then(|v| v.to_str().ok()?.parse().ok());
    ///     async move { id.map(TenantScope::new) }
    /// };
    /// async fn handler(s: ScopedDb<i64>) -> String {
    ///     s.tenant_scope().tenant_id().to_string()
    /// }
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/", axum::routing::get(handler))
    ///     .layer(TenantLayer::for_tenants(db, account));
    /// # }
    /// ```
    pub fn for_tenants(db: TenantDb, resolver: R) -> Self {
        TenantLayer {
            db,
            resolver: Arc::new(resolver),
            tenant: PhantomData,
        }
    }
}

impl<S, R, T> Layer<S> for TenantLayer<R, T> {
    type Service = TenantService<S, R, T>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantService {
            inner,
            db: self.db.clone(),
            resolver: Arc::clone(&self.resolver),
            tenant: PhantomData,
        }
    }
}

/// The service made by [`TenantLayer`]: resolves the tenant, then calls the inner service.
pub struct TenantService<S, R, T = uuid::Uuid> {
    inner: S,
    db: TenantDb,
    resolver: Arc<R>,
    tenant: PhantomData<fn() -> T>,
}

impl<S: Clone, R, T> Clone for TenantService<S, R, T> {
    fn clone(&self) -> Self {
        TenantService {
            inner: self.inner.clone(),
            db: self.db.clone(),
            resolver: Arc::clone(&self.resolver),
            tenant: PhantomData,
        }
    }
}

impl<S, R, T> std::fmt::Debug for TenantService<S, R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantService").finish_non_exhaustive()
    }
}

/// Inserted into every request the layer sees, resolved or not, so the extractors can tell
/// "no tenant" (the client's problem) from "no layer" (the application's).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LayerRan;

impl<S, R, T, B> Service<Request<B>> for TenantService<S, R, T>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: ResolveTenant<T>,
    T: Key,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request; the fresh clone stays for
        // the next one (tower's rule for services that call their inner service later).
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let (db, resolver) = (self.db.clone(), Arc::clone(&self.resolver));
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let resolved = resolver.resolve(&parts).await;
            parts.extensions.insert(LayerRan);
            match resolved {
                Some(scope) => {
                    let scoped = db.scope(&scope);
                    parts.extensions.insert(scope);
                    parts.extensions.insert(Loaders::new(&scoped));
                    parts.extensions.insert(scoped);
                }
                None => {
                    // Only this layer's answer counts: nothing set before it may stand in.
                    parts.extensions.remove::<TenantScope<T>>();
                    parts.extensions.remove::<Loaders<T>>();
                    parts.extensions.remove::<ScopedDb<T>>();
                }
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}
