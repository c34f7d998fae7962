//! The trait every derived entity implements.

use sqlx::FromRow;
use sqlx::postgres::PgRow;

use crate::key::Key;
use crate::meta::EntityMeta;
use crate::sql::Statements;
use crate::value::Values;

/// An entity with a tenant-scoped repository; implemented by `#[derive(TenantEntity)]`.
///
/// The derive also generates inherent functions (`find`, `insert`, `query`, ...) that are
/// the intended way in; this trait is what they have in common, for generic code.
///
/// ```
/// use tenant_query::prelude::*;
/// use uuid::Uuid;
///
/// #[derive(Debug, Clone, PartialEq, TenantEntity)]
/// #[tenant(table = "notes")]
/// pub struct Note {
///     #[tenant(id)] pub id: Uuid,
///     #[tenant(tenant_id)] pub org_id: Uuid,
///     pub body: String,
/// }
///
/// fn table_of<E: TenantEntity>() -> &'static str {
///     E::table()
/// }
/// assert_eq!(table_of::<Note>(), "notes");
/// ```
pub trait TenantEntity:
    Generated + for<'r> FromRow<'r, PgRow> + Send + Sync + Unpin + 'static
{
    /// The insertable part: every data column, nothing the library sets itself.
    type New: Send + Clone;
    /// The updatable part: an `Option` per data column, `None` meaning "leave as is".
    type Patch: Default + Send;
    /// The type of the `#[tenant(id)]` field: `Uuid`, `i64`, `String`, ...
    type Id: Key;
    /// The type of the `#[tenant(tenant_id)]` field: what [`TenantScope`](crate::TenantScope)s
    /// for this entity hold.
    type Tenant: Key;

    /// The row's id.
    fn id(&self) -> Self::Id;

    /// The entity's table.
    fn table() -> &'static str {
        Self::META.table
    }
}

/// An entity whose ids are unique across tenants (a UUIDv7 the library makes, or a value
/// the database makes), so a row of another table that names one of its ids names one
/// tenant's row. A `via` child proves its tenant through its parent's id alone: a parent
/// whose ids the caller gives (a natural key, unique only within its tenant) could be
/// another tenant's row of the same key. The derive implements it; not a stable API.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot prove a `via` child's tenant: the caller gives its ids, so another tenant can hold the same id",
    label = "a parent whose id is a natural key",
    note = "give the child table a tenant column (`#[tenant(tenant_id)]`, with a composite foreign key `(tenant, parent_id)`) and remove `via`",
    note = "or let the parent's id be made by the library (a `Uuid` `#[tenant(id)]`) or by the database (`#[tenant(id, default)]`)"
)]
pub trait ViaParent {}

/// Compiles only for a parent a `via` child can reach its tenant through.
#[doc(hidden)]
pub const fn via_parent<P: ViaParent>() {}

/// What the derive generates for the runtime: the entity's description and its values by
/// column. Reachable only through the derive's private path; not a stable API.
#[doc(hidden)]
pub trait Generated {
    /// The static description the SQL is built from.
    const META: EntityMeta;

    /// [`Generated::META`], as a reference that lives for the whole program.
    fn meta() -> &'static EntityMeta;

    /// The entity's fixed statements, built once per process.
    fn statements() -> &'static Statements;

    /// The row's tenant; `None` for an entity that reaches its tenant through a parent.
    fn tenant_of(&self) -> Option<<Self as TenantEntity>::Tenant>
    where
        Self: TenantEntity;

    /// Whether the row is soft-deleted (its soft-delete column is set); `false` for an
    /// entity without one.
    fn is_deleted(&self) -> bool {
        false
    }

    /// The id of a new row when it is known before the insert: a fresh UUIDv7 for a `Uuid`
    /// id, the caller's value for an id given in `New…`; `None` when the database makes it.
    fn key_of_new(new: &<Self as TenantEntity>::New) -> Option<<Self as TenantEntity>::Id>
    where
        Self: TenantEntity;

    /// The values of a new row, by column.
    fn new_values(new: <Self as TenantEntity>::New) -> Values
    where
        Self: TenantEntity;

    /// The values of new rows, one array per column.
    fn new_many_values(new: Vec<<Self as TenantEntity>::New>) -> Values
    where
        Self: TenantEntity;

    /// The values of a patch, by column.
    fn patch_values(patch: <Self as TenantEntity>::Patch) -> Values
    where
        Self: TenantEntity;
}

/// Marks entities with a `#[tenant(soft_delete)]` column; unlocks `restore`, `purge`,
/// `with_deleted` and `only_deleted`.
///
/// ```compile_fail
/// use tenant_query::prelude::*;
/// use uuid::Uuid;
///
/// #[derive(Debug, Clone, TenantEntity)]
/// #[tenant(table = "events")]
/// pub struct Event {
///     #[tenant(id)] pub id: Uuid,
///     #[tenant(tenant_id)] pub org_id: Uuid,
/// }
///
/// // No soft-delete column: there is nothing deleted to include.
/// let _ = Event::query().with_deleted();
/// ```
pub trait SoftDelete: TenantEntity {}

/// A unique key of entity `E`, declared with `#[tenant(unique = "column, ...")]` and
/// generated as a constant (`Project::KEY_NAME`); the tenant is always part of it.
pub struct UniqueKey<E> {
    pub(crate) index: usize,
    entity: std::marker::PhantomData<fn() -> E>,
}

impl<E> Clone for UniqueKey<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for UniqueKey<E> {}

impl<E> std::fmt::Debug for UniqueKey<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("UniqueKey").field(&self.index).finish()
    }
}

/// Builds unique-key constants for the derive.
#[doc(hidden)]
pub const fn unique_key<E>(index: usize) -> UniqueKey<E> {
    UniqueKey {
        index,
        entity: std::marker::PhantomData,
    }
}
