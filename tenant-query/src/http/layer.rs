//! The tower layer that resolves each request's tenant.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use http::Request;
use http::request::Parts;
use tower::{Layer, Service};

use super::loaders::Loaders;
use crate::db::TenantDb;
use crate::handle::ScopedDb;
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
pub trait ResolveTenant: Send + Sync + 'static {
    /// The request's tenant (and actor), or `None` when it has none.
    fn resolve(&self, parts: &Parts) -> impl Future<Output = Option<TenantScope>> + Send;
}

impl<F, Fut> ResolveTenant for F
where
    F: Fn(&Parts) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<TenantScope>> + Send,
{
    fn resolve(&self, parts: &Parts) -> impl Future<Output = Option<TenantScope>> + Send {
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
pub struct TenantLayer<R> {
    db: TenantDb,
    resolver: Arc<R>,
}

impl<R> Clone for TenantLayer<R> {
    fn clone(&self) -> Self {
        TenantLayer {
            db: self.db.clone(),
            resolver: Arc::clone(&self.resolver),
        }
    }
}

impl<R> std::fmt::Debug for TenantLayer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantLayer").finish_non_exhaustive()
    }
}

impl<R: ResolveTenant> TenantLayer<R> {
    /// A layer that resolves tenants with `resolver` and scopes handles of `db`.
    pub fn new(db: TenantDb, resolver: R) -> Self {
        TenantLayer {
            db,
            resolver: Arc::new(resolver),
        }
    }
}

impl<S, R> Layer<S> for TenantLayer<R> {
    type Service = TenantService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantService {
            inner,
            db: self.db.clone(),
            resolver: Arc::clone(&self.resolver),
        }
    }
}

/// The service made by [`TenantLayer`]: resolves the tenant, then calls the inner service.
pub struct TenantService<S, R> {
    inner: S,
    db: TenantDb,
    resolver: Arc<R>,
}

impl<S: Clone, R> Clone for TenantService<S, R> {
    fn clone(&self) -> Self {
        TenantService {
            inner: self.inner.clone(),
            db: self.db.clone(),
            resolver: Arc::clone(&self.resolver),
        }
    }
}

impl<S, R> std::fmt::Debug for TenantService<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantService").finish_non_exhaustive()
    }
}

/// Inserted into every request the layer sees, resolved or not, so the extractors can tell
/// "no tenant" (the client's problem) from "no layer" (the application's).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LayerRan;

impl<S, R, B> Service<Request<B>> for TenantService<S, R>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: ResolveTenant,
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
                    parts.extensions.remove::<TenantScope>();
                    parts.extensions.remove::<Loaders>();
                    parts.extensions.remove::<ScopedDb>();
                }
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}
