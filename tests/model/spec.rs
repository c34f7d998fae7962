//! What the model knows of an entity: its columns in declaration order with their roles,
//! and one typed bridge per entity (`modeled!`) from model values to the generated API.

use crate::val::Kind;

/// What a field is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Id,
    Tenant,
    Data,
    CreatedAt,
    UpdatedAt,
    SoftDelete,
}

#[derive(Debug)]
pub struct ColSpec {
    /// The SQL column name (what the audit log reports).
    pub name: &'static str,
    pub role: Role,
    pub kind: Kind,
    pub nullable: bool,
    /// Part of a `UNIQUE (tenant, column)` constraint in the test schema.
    pub unique: bool,
    /// The table a `belongs_to` column refers to (a composite foreign key with the
    /// tenant in the test schema).
    pub fk: Option<&'static str>,
}

/// Who makes a row's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdSource {
    /// The library (a UUIDv7).
    Library,
    /// The caller, in `New…` (a natural key, unique only within its tenant).
    Caller,
    /// The database (`#[tenant(id, default)]`: an identity in the test schema).
    Database,
}

#[derive(Debug)]
pub struct Spec {
    pub table: &'static str,
    pub audit: bool,
    pub soft_delete: bool,
    /// Every field, in declaration order (the order of `Modeled::view`).
    pub cols: Vec<ColSpec>,
    /// Positions in `cols` of the data fields, in declaration order (the order of the
    /// `New` and `Patch` structs).
    pub data: Vec<usize>,
    pub id_source: IdSource,
    /// Positions in `cols` of the values an insert gives: the id first when the caller
    /// gives it, then the data fields (the order of `Modeled::new_from`).
    pub new: Vec<usize>,
}

impl Spec {
    pub fn build(
        table: &'static str,
        audit: bool,
        soft_delete: bool,
        caller_key: bool,
        cols: Vec<(&'static str, &'static str, Kind, bool, Option<&'static str>)>,
    ) -> Spec {
        let cols: Vec<ColSpec> = cols
            .into_iter()
            .map(|(name, role, kind, nullable, fk)| {
                let (role, unique) = match role {
                    "Id" => (Role::Id, false),
                    "Tenant" => (Role::Tenant, false),
                    "Data" | "Fk" => (Role::Data, false),
                    "Unique" => (Role::Data, true),
                    "CreatedAt" => (Role::CreatedAt, false),
                    "UpdatedAt" => (Role::UpdatedAt, false),
                    "SoftDelete" => (Role::SoftDelete, false),
                    other => panic!("unknown role {other}"),
                };
                ColSpec {
                    name,
                    role,
                    kind,
                    nullable,
                    unique,
                    fk,
                }
            })
            .collect();
        let data: Vec<usize> = (0..cols.len())
            .filter(|&i| cols[i].role == Role::Data)
            .collect();
        let id = cols.iter().position(|c| c.role == Role::Id).expect("an id");
        let id_source = match (caller_key, cols[id].kind) {
            (true, _) => IdSource::Caller,
            (false, Kind::Uuid) => IdSource::Library,
            (false, _) => IdSource::Database,
        };
        let mut cols = cols;
        // A caller's key is unique within its tenant like a unique column (the primary
        // key, live or soft-deleted rows alike).
        cols[id].unique = id_source == IdSource::Caller;
        let new = (id_source == IdSource::Caller)
            .then_some(id)
            .into_iter()
            .chain(data.iter().copied())
            .collect();
        let spec = Spec {
            table,
            audit,
            soft_delete,
            cols,
            data,
            id_source,
            new,
        };
        assert_eq!(soft_delete, spec.role(Role::SoftDelete).is_some());
        spec
    }

    pub fn role(&self, role: Role) -> Option<usize> {
        self.cols.iter().position(|c| c.role == role)
    }

    pub fn id(&self) -> usize {
        self.role(Role::Id).expect("an id")
    }

    pub fn tenant(&self) -> usize {
        self.role(Role::Tenant).expect("a tenant")
    }

    pub fn col_by_name(&self, name: &str) -> Option<&ColSpec> {
        self.cols.iter().find(|c| c.name == name)
    }

    /// Columns the DSL may filter and order on: all but the soft-delete column, whose
    /// value the model may not have seen.
    pub fn queryable(&self) -> Vec<usize> {
        (0..self.cols.len())
            .filter(|&i| self.cols[i].role != Role::SoftDelete)
            .collect()
    }
}

/// The typed bridge from the model to one entity's generated API. Column positions are
/// positions in `Spec::cols`.
#[allow(async_fn_in_trait)]
pub trait Modeled:
    TenantEntity<Id: crate::val::ModelKey, Tenant = uuid::Uuid>
    + Clone
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    fn spec() -> &'static Spec;
    /// Every field value, in declaration order.
    fn view(&self) -> Vec<crate::val::Val>;
    /// A `New` struct from the values of an insert (in `Spec::new` order).
    fn new_from(data: &[crate::val::Val]) -> Self::New;
    /// A `Patch` from one optional value per data column.
    fn patch_from(patch: &[Option<crate::val::Val>]) -> Self::Patch;

    fn cmp(col: usize, op: crate::val::CmpOp, value: &crate::val::Val) -> Filter<Self>;
    fn any_of(col: usize, values: &[crate::val::Val]) -> Filter<Self>;
    fn like(col: usize, pattern: &str) -> Filter<Self>;
    fn null(col: usize, negated: bool) -> Filter<Self>;
    fn order(query: Query<Self>, col: usize, descending: bool) -> Query<Self>;
    fn after(
        query: Query<Self>,
        col: usize,
        descending: bool,
        value: &crate::val::Val,
        id: &RowKey,
    ) -> Query<Self>;
    fn after_id(query: Query<Self>, id: &RowKey) -> Query<Self> {
        query.after_id(Self::Id::from_key(id))
    }
    /// Only called when `Spec::soft_delete`.
    fn with_deleted(query: Query<Self>) -> Query<Self>;
    fn only_deleted(query: Query<Self>) -> Query<Self>;

    async fn m_insert<'c>(db: impl TenantExecutor<'c>, new: Self::New) -> Result<Self>;
    async fn m_insert_many<'c>(
        db: impl TenantExecutor<'c>,
        new: Vec<Self::New>,
    ) -> Result<Vec<Self>>;
    async fn m_update<'c>(
        db: impl TenantExecutor<'c>,
        id: Self::Id,
        patch: Self::Patch,
    ) -> Result<Self>;
    async fn m_delete<'c>(db: impl TenantExecutor<'c>, id: Self::Id) -> Result<()>;
    async fn m_restore<'c>(db: impl TenantExecutor<'c>, id: Self::Id) -> Result<Self>;
    async fn m_purge<'c>(db: impl TenantExecutor<'c>, id: Self::Id) -> Result<()>;
    async fn m_find<'c>(db: impl TenantExecutor<'c>, id: Self::Id) -> Result<Option<Self>>;
    async fn m_get<'c>(db: impl TenantExecutor<'c>, id: Self::Id) -> Result<Self>;
    async fn m_find_many<'c>(
        db: impl TenantExecutor<'c>,
        ids: &[Self::Id],
    ) -> Result<std::collections::HashMap<Self::Id, Self>>;
}

use tenant_query::Result;
use tenant_query::prelude::*;

use crate::val::{ModelKey, RowKey};

/// Implements [`Modeled`] for an entity from its field list: `field: Type = CONST Role`,
/// in declaration order (`Role` is `Id`, `Tenant`, `Data`, `Unique`, `Fk("table")`,
/// `CreatedAt`, `UpdatedAt`, `SoftDelete`), then the id when the caller gives it
/// (`key { field: Type }`), then its data fields in order.
#[macro_export]
macro_rules! modeled {
    (
        $ty:ident, $new:ident, $patch:ident,
        table = $table:literal, audit = $audit:literal, soft_delete = $sd:ident;
        fields { $( $f:ident : $ft:ty = $c:ident $role:ident $(($fk:literal))? ),* $(,)? }
        $( key { $k:ident : $kt:ty } )?
        data { $( $d:ident : $dt:ty ),* $(,)? }
    ) => {
        impl $crate::spec::Modeled for $ty {
            fn spec() -> &'static $crate::spec::Spec {
                static SPEC: std::sync::LazyLock<$crate::spec::Spec> = std::sync::LazyLock::new(|| {
                    $crate::spec::Spec::build($table, $audit, $crate::modeled!(@is $sd), false $(|| { let _ = stringify!($k); true })?, vec![$((
                        $ty::$c.name(),
                        stringify!($role),
                        <$ft as $crate::val::ModelValue>::KIND,
                        <$ft as $crate::val::ModelValue>::NULLABLE,
                        None $(.or(Some($fk)))?,
                    )),*])
                });
                &SPEC
            }
            fn view(&self) -> Vec<$crate::val::Val> {
                vec![$($crate::val::ModelValue::to_val(&self.$f)),*]
            }
            fn new_from(data: &[$crate::val::Val]) -> $new {
                let mut values = data.iter();
                $new {
                    $($k: <$kt as $crate::val::ModelValue>::from_val(values.next().expect("the key")),)?
                    $($d: <$dt as $crate::val::ModelValue>::from_val(values.next().expect("a value"))),*
                }
            }
            fn patch_from(patch: &[Option<$crate::val::Val>]) -> $patch {
                let mut values = patch.iter();
                $patch { $($d: values.next().expect("a slot").as_ref().map(<$dt as $crate::val::ModelValue>::from_val)),* }
            }
            fn cmp(col: usize, op: $crate::val::CmpOp, value: &$crate::val::Val) -> Filter<Self> {
                let mut i = 0;
                $( if i == col { return $crate::val::ColOps::cmp($ty::$c, op, value); } i += 1; )*
                unreachable!("column {col} of {i}")
            }
            fn any_of(col: usize, values: &[$crate::val::Val]) -> Filter<Self> {
                let mut i = 0;
                $( if i == col { return $crate::val::ColOps::any_of($ty::$c, values); } i += 1; )*
                unreachable!("column {col} of {i}")
            }
            fn like(col: usize, pattern: &str) -> Filter<Self> {
                let mut i = 0;
                $( if i == col { return $crate::val::ColOps::like($ty::$c, pattern); } i += 1; )*
                unreachable!("column {col} of {i}")
            }
            fn null(col: usize, negated: bool) -> Filter<Self> {
                let mut i = 0;
                $( if i == col { return $crate::val::ColOps::null($ty::$c, negated); } i += 1; )*
                unreachable!("column {col} of {i}")
            }
            fn order(query: Query<Self>, col: usize, descending: bool) -> Query<Self> {
                let mut i = 0;
                $( if i == col { return $crate::val::ColOps::order($ty::$c, query, descending); } i += 1; )*
                unreachable!("column {col} of {i}")
            }
            fn after(query: Query<Self>, col: usize, descending: bool, value: &$crate::val::Val, id: &$crate::val::RowKey) -> Query<Self> {
                let mut i = 0;
                $( if i == col { return $crate::val::ColOps::after($ty::$c, query, descending, value, id); } i += 1; )*
                unreachable!("column {col} of {i}")
            }
            $crate::modeled!(@soft_delete $sd);

            async fn m_insert<'c>(db: impl TenantExecutor<'c>, new: $new) -> tenant_query::Result<Self> {
                $ty::insert(db, new).await
            }
            async fn m_insert_many<'c>(db: impl TenantExecutor<'c>, new: Vec<$new>) -> tenant_query::Result<Vec<Self>> {
                $ty::insert_many(db, new).await
            }
            async fn m_update<'c>(db: impl TenantExecutor<'c>, id: <Self as TenantEntity>::Id, patch: $patch) -> tenant_query::Result<Self> {
                $ty::update(db, id, patch).await
            }
            async fn m_delete<'c>(db: impl TenantExecutor<'c>, id: <Self as TenantEntity>::Id) -> tenant_query::Result<()> {
                $ty::delete(db, id).await
            }
            async fn m_find<'c>(db: impl TenantExecutor<'c>, id: <Self as TenantEntity>::Id) -> tenant_query::Result<Option<Self>> {
                $ty::find(db, id).await
            }
            async fn m_get<'c>(db: impl TenantExecutor<'c>, id: <Self as TenantEntity>::Id) -> tenant_query::Result<Self> {
                $ty::get(db, id).await
            }
            async fn m_find_many<'c>(db: impl TenantExecutor<'c>, ids: &[<Self as TenantEntity>::Id]) -> tenant_query::Result<std::collections::HashMap<<Self as TenantEntity>::Id, Self>> {
                $ty::find_many(db, ids).await
            }
        }
    };
    (@is yes) => { true };
    (@is no) => { false };
    (@soft_delete yes) => {
        fn with_deleted(query: Query<Self>) -> Query<Self> { query.with_deleted() }
        fn only_deleted(query: Query<Self>) -> Query<Self> { query.only_deleted() }
        async fn m_restore<'c>(db: impl TenantExecutor<'c>, id: <Self as TenantEntity>::Id) -> tenant_query::Result<Self> {
            Self::restore(db, id).await
        }
        async fn m_purge<'c>(db: impl TenantExecutor<'c>, id: <Self as TenantEntity>::Id) -> tenant_query::Result<()> {
            Self::purge(db, id).await
        }
    };
    (@soft_delete no) => {
        fn with_deleted(_: Query<Self>) -> Query<Self> { unreachable!("no soft delete") }
        fn only_deleted(_: Query<Self>) -> Query<Self> { unreachable!("no soft delete") }
        async fn m_restore<'c>(_: impl TenantExecutor<'c>, _: <Self as TenantEntity>::Id) -> tenant_query::Result<Self> {
            unreachable!("no soft delete")
        }
        async fn m_purge<'c>(_: impl TenantExecutor<'c>, _: <Self as TenantEntity>::Id) -> tenant_query::Result<()> {
            unreachable!("no soft delete")
        }
    };
}
