//! The axum extractors: the request's scope, a scoped handle and its loaders.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use super::layer::LayerRan;
use super::loaders::Loaders;
use crate::handle::ScopedDb;
use crate::key::Key;
use crate::scope::TenantScope;

/// Why a tenant extractor refused a request; as a response, `401` or `500`.
///
/// ```
/// use axum::response::IntoResponse;
/// use tenant_query::http::TenantRejection;
///
/// assert_eq!(TenantRejection::Unresolved.into_response().status(), 401);
/// assert_eq!(TenantRejection::MissingLayer.into_response().status(), 500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantRejection {
    /// The layer ran and its resolver found no tenant for the request: `401 Unauthorized`.
    #[error("no tenant could be resolved for this request")]
    Unresolved,
    /// The request did not pass through a [`TenantLayer`](super::TenantLayer): the
    /// application's wiring is wrong. `500 Internal Server Error`.
    #[error(
        "tenant-query: the request did not pass through a TenantLayer; add \
         `.layer(TenantLayer::new(db, resolver))` to the router that serves this route"
    )]
    MissingLayer,
}

impl IntoResponse for TenantRejection {
    fn into_response(self) -> Response {
        let status = match self {
            TenantRejection::Unresolved => StatusCode::UNAUTHORIZED,
            TenantRejection::MissingLayer => {
                // A bug to fix, not a client error: say so where operators look.
                tracing::error!(target: "tenant_query::http", "{self}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, self.to_string()).into_response()
    }
}

/// The value the layer put in `parts` or, when there is none, why.
fn take<T: Clone + Send + Sync + 'static>(parts: &Parts) -> Result<T, TenantRejection> {
    match parts.extensions.get::<T>() {
        Some(value) => Ok(value.clone()),
        None if parts.extensions.get::<LayerRan>().is_some() => Err(TenantRejection::Unresolved),
        None => Err(TenantRejection::MissingLayer),
    }
}

/// The request's scope; `401` without a tenant, `500` without a
/// [`TenantLayer`](crate::http::TenantLayer). As `Option<TenantScope>`, `None` without a
/// tenant (for routes that also serve anonymous requests).
///
/// ```no_run
/// # use tenant_query::TenantScope;
/// async fn whoami(scope: TenantScope) -> String {
///     scope.tenant_id().to_string()
/// }
/// async fn greeting(scope: Option<TenantScope>) -> &'static str {
///     if scope.is_some() { "welcome back" } else { "hello" }
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(whoami).post(greeting);
/// ```
impl<S: Send + Sync, T: Key> FromRequestParts<S> for TenantScope<T> {
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        take(parts)
    }
}

impl<S: Send + Sync, T: Key> OptionalFromRequestParts<S> for TenantScope<T> {
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        match take(parts) {
            Ok(scope) => Ok(Some(scope)),
            Err(TenantRejection::Unresolved) => Ok(None),
            Err(missing) => Err(missing),
        }
    }
}

/// A handle scoped to the request's tenant, ready for generated functions; rejected as
/// [`TenantScope`] is.
///
/// ```no_run
/// # use tenant_query::ScopedDb;
/// async fn begin_work(s: ScopedDb) -> Result<(), axum::http::StatusCode> {
///     let tx = s.begin().await.map_err(|_| axum::http::StatusCode::SERVICE_UNAVAILABLE)?;
///     tx.commit().await.map_err(|_| axum::http::StatusCode::INTERNAL_SERVER_ERROR)
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::post(begin_work);
/// ```
impl<S: Send + Sync, T: Key> FromRequestParts<S> for ScopedDb<T> {
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        take(parts)
    }
}

/// The request's own [`Loaders`]; rejected as [`TenantScope`] is.
impl<S: Send + Sync, T: Key> FromRequestParts<S> for Loaders<T> {
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        take(parts)
    }
}
