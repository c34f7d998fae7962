//! Scoped handles for HTTP and gRPC services (feature `axum`): a tower layer that resolves
//! each request's tenant, and axum extractors for the scope, a ready [`ScopedDb`] and the
//! request's [`Loaders`].
//!
//! [`TenantLayer`] asks a resolver you write (a JWT claim, an API key, a header, a
//! subdomain: anything in the request's head) for the request's [`TenantScope`], and puts
//! what it found in the request's extensions:
//!
//! - always a marker that the layer ran, so a missing layer is told from a missing tenant;
//! - when a tenant was resolved, the [`TenantScope`], a [`ScopedDb`] for it and a fresh
//!   [`Loaders`] (one [`Loader`](crate::Loader) per entity, for this request only).
//!
//! Handlers take them as extractors. When no tenant was resolved they reject the request
//! with `401 Unauthorized`; when the layer is missing, with `500 Internal Server Error`
//! and a message naming the layer (a bug in the application's wiring, not the client's).
//! The scope is always passed explicitly: nothing is kept in a task-local.
//!
//! The layer is a plain tower [`Layer`](tower::Layer), so it wraps a tonic server the same
//! way; there, read the extensions (`request.extensions().get::<ScopedDb>()`).
//!
//! ```no_run
//! use axum::{Router, extract::Path, http::StatusCode, routing::get};
//! use tenant_query::http::{Loaders, TenantLayer};
//! use tenant_query::prelude::*;
//! use uuid::Uuid;
//!
//! #[derive(Debug, Clone, TenantEntity)]
//! #[tenant(table = "projects")]
//! pub struct Project {
//!     #[tenant(id)] pub id: Uuid,
//!     #[tenant(tenant_id)] pub org_id: Uuid,
//!     pub name: String,
//! }
//!
//! async fn project_name(s: ScopedDb, Path(id): Path<Uuid>) -> Result<String, StatusCode> {
//!     match Project::find(&s, id).await {
//!         Ok(Some(project)) => Ok(project.name),
//!         Ok(None) => Err(StatusCode::NOT_FOUND), // absent, deleted, or another tenant's
//!         Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR),
//!     }
//! }
//!
//! async fn names(loaders: Loaders, ids: Vec<Uuid>) -> tenant_query::Result<Vec<String>> {
//!     let projects = loaders.get::<Project>();   // the same loader for the whole request
//!     let rows = projects.load_many(&ids).await?; // one query
//!     Ok(rows.into_iter().flatten().map(|p| p.name).collect())
//! }
//!
//! # fn app(db: TenantDb) -> Router {
//! // The tenant from a header; a real service verifies a token here.
//! let resolve = |parts: &axum::http::request::Parts| {
//!     let tenant = parts
//!         .headers
//!         .get("x-tenant")
//!         .and_then(|value| value.to_str().ok())
//!         .and_then(|value| Uuid::parse_str(value).ok());
//!     async move { tenant.map(TenantScope::new) }
//! };
//! Router::new()
//!     .route("/projects/{id}/name", get(project_name))
//!     .layer(TenantLayer::new(db, resolve))
//! # }
//! ```

mod extract;
mod layer;
mod loaders;

pub use extract::TenantRejection;
pub use layer::{ResolveTenant, TenantLayer, TenantService};
pub use loaders::Loaders;

#[cfg(doc)]
use crate::{ScopedDb, TenantScope};
