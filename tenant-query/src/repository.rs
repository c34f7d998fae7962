//! The generated functions as trait methods, for code that is generic over entities.

use std::collections::HashMap;
use std::future::Future;

use crate::entity::{SoftDelete, TenantEntity};
use crate::error::Result;
use crate::handle::TenantExecutor;
use crate::query::Query;
use crate::repo;

/// The repository of every [`TenantEntity`], for generic code: the same functions the
/// derive generates as inherent functions (`Project::find`, ...), which need no import.
///
/// ```no_run
/// use tenant_query::prelude::*;
/// use tenant_query::Repository;
///
/// /// Any entity's row, or a 404-style error.
/// async fn fetch<'c, E: TenantEntity>(db: impl TenantExecutor<'c, E::Tenant>, id: E::Id) -> tenant_query::Result<E> {
///     <E as Repository>::get(db, id).await
/// }
/// ```
pub trait Repository: TenantEntity {
    /// A query over the live rows of the scope's tenant.
    fn query() -> Query<Self> {
        Query::new()
    }

    /// The live row `id` of the scope's tenant, if any.
    fn find<'c>(
        db: impl TenantExecutor<'c, Self::Tenant>,
        id: Self::Id,
    ) -> impl Future<Output = Result<Option<Self>>> + Send {
        repo::find::<Self>(db, id)
    }

    /// The live row `id`; [`Error::NotFound`](crate::Error::NotFound) if there is none.
    fn get<'c>(
        db: impl TenantExecutor<'c, Self::Tenant>,
        id: Self::Id,
    ) -> impl Future<Output = Result<Self>> + Send {
        repo::get::<Self>(db, id)
    }

    /// The live rows among `ids`, by id, in one query.
    fn find_many<'c>(
        db: impl TenantExecutor<'c, Self::Tenant>,
        ids: &[Self::Id],
    ) -> impl Future<Output = Result<HashMap<Self::Id, Self>>> + Send {
        repo::find_many::<Self>(db, ids)
    }

    /// Inserts a row in the scope's tenant.
    fn insert<'c>(
        db: impl TenantExecutor<'c, Self::Tenant>,
        new: Self::New,
    ) -> impl Future<Output = Result<Self>> + Send {
        repo::insert::<Self>(db, new)
    }

    /// Inserts every row in one statement, in input order: all of them, or none.
    fn insert_many<'c>(
        db: impl TenantExecutor<'c, Self::Tenant>,
        new: Vec<Self::New>,
    ) -> impl Future<Output = Result<Vec<Self>>> + Send {
        repo::insert_many::<Self>(db, new)
    }

    /// Applies `patch` to the live row `id`.
    fn update<'c>(
        db: impl TenantExecutor<'c, Self::Tenant>,
        id: Self::Id,
        patch: Self::Patch,
    ) -> impl Future<Output = Result<Self>> + Send {
        repo::update::<Self>(db, id, patch)
    }

    /// Deletes the live row `id` (softly, for soft-deleting entities).
    fn delete<'c>(
        db: impl TenantExecutor<'c, Self::Tenant>,
        id: Self::Id,
    ) -> impl Future<Output = Result<()>> + Send {
        repo::delete::<Self>(db, id)
    }
}

impl<E: TenantEntity> Repository for E {}

/// The soft-delete part of the repository, for generic code; see [`Repository`].
pub trait TrashRepository: SoftDelete {
    /// Brings back the soft-deleted row `id`.
    fn restore<'c>(
        db: impl TenantExecutor<'c, Self::Tenant>,
        id: Self::Id,
    ) -> impl Future<Output = Result<Self>> + Send {
        repo::restore::<Self>(db, id)
    }

    /// Removes the row `id` for good.
    fn purge<'c>(
        db: impl TenantExecutor<'c, Self::Tenant>,
        id: Self::Id,
    ) -> impl Future<Output = Result<()>> + Send {
        repo::purge::<Self>(db, id)
    }
}

impl<E: SoftDelete> TrashRepository for E {}
