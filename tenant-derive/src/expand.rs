//! Code generation from the validated model. Generated code names the runtime crate by
//! absolute path (its versioned private module) and relies on nothing the user imported.
//! It emits data and metadata only: the SQL is built by the runtime from `META`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, LitStr};

use crate::ast::{Entity, Field, IdSource, option_inner};
use crate::attr::Role;

/// The runtime's private module for generated code.
fn private() -> TokenStream {
    quote!(::tenant_query::__private_v0_1)
}

/// The full expansion of a valid entity.
pub fn entity(entity: &Entity<'_>) -> TokenStream {
    expand(entity, false)
}

/// What an invalid entity expands to besides its errors: the same names and signatures
/// with bodies that never run, so that code using the entity reports nothing more and one
/// mistake is one message.
pub fn stub(entity: &Entity<'_>) -> TokenStream {
    expand(entity, true)
}

fn expand(entity: &Entity<'_>, stub: bool) -> TokenStream {
    let new_struct = new_struct(entity);
    let patch_struct = patch_struct(entity);
    let from_row = from_row(entity, stub);
    let generated = generated(entity, stub);
    let trait_impl = trait_impl(entity, stub);
    let inherent = inherent(entity, stub);
    let via_parent = via_parent(entity, stub);
    quote! {
        #new_struct
        #patch_struct
        const _: () = {
            #from_row
            #generated
            #trait_impl
            #inherent
            #via_parent
        };
    }
}

/// Whether a `via` child may prove its tenant through this entity (its ids are unique
/// across tenants: made by the library or the database, not given by the caller), and for
/// a `via` entity, the check that its parent is such an entity, at the parent's name. A
/// stub claims it, so a mistake in a parent adds no message to its children.
fn via_parent(entity: &Entity<'_>, stub: bool) -> TokenStream {
    let p = private();
    let ident = entity.ident;
    let marker = (stub || entity.id_source() != IdSource::Caller)
        .then(|| quote!(impl #p::ViaParent for #ident {}));
    let check = entity
        .attrs
        .via
        .as_ref()
        .and_then(|via| entity.fields.iter().find(|f| f.ident == via))
        .and_then(|f| f.attrs.belongs_to.as_ref())
        .filter(|_| !stub)
        .map(|parent| {
            quote_spanned! {parent.span()=>
                const _: () = #p::via_parent::<#parent>();
            }
        });
    quote! {
        #marker
        #check
    }
}

/// The type of the field playing `role` (`Uuid` when it is missing or unusable, in a stub).
fn key_type(entity: &Entity<'_>, role: Role) -> TokenStream {
    // A `via` entity's tenants are its parent's.
    let via_parent = entity
        .attrs
        .via
        .as_ref()
        .and_then(|via| entity.fields.iter().find(|f| f.ident == via))
        .and_then(|f| f.attrs.belongs_to.as_ref())
        // Through its own table (refused by validation): no type to borrow.
        .filter(|parent| {
            let last = parent.segments.last().map(|s| &s.ident);
            last != Some(entity.ident) && !parent.is_ident("Self")
        });
    if let (Role::TenantId, Some(parent)) = (role, via_parent) {
        return quote!(<#parent as ::tenant_query::TenantEntity>::Tenant);
    }
    match entity.field(role) {
        Some(field) if option_inner(field.ty).is_none() => {
            let ty = field.ty;
            quote!(#ty)
        }
        _ => {
            let p = private();
            quote!(#p::Uuid)
        }
    }
}

/// `Clone::clone(&expr)`: a copy of a key, whatever its type (no lint on `Copy` keys).
fn cloned(expr: TokenStream) -> TokenStream {
    quote!(::core::clone::Clone::clone(&#expr))
}

fn new_ident(entity: &Entity<'_>) -> Ident {
    format_ident!("New{}", entity.ident)
}

fn patch_ident(entity: &Entity<'_>) -> Ident {
    format_ident!("{}Patch", entity.ident)
}

fn new_struct(entity: &Entity<'_>) -> TokenStream {
    let (vis, ident, new) = (entity.vis, entity.ident, new_ident(entity));
    let caller_id = entity
        .field(Role::Id)
        .filter(|_| entity.id_source() == IdSource::Caller);
    let doc = if caller_id.is_some() {
        format!(
            "A new [`{ident}`]: its id and its data columns. The tenant, the timestamps and \
             the soft-delete column are set by the library."
        )
    } else {
        format!(
            "A new [`{ident}`]: its data columns only. The id, the tenant, the timestamps and \
             the soft-delete column are set by the library."
        )
    };
    let fields = caller_id.into_iter().chain(entity.data_fields()).map(|f| {
        let (vis, name, ty) = (f.vis, f.ident, f.ty);
        let column = f.column();
        let (doc, ty) = match (f.attrs.default, f.option_inner()) {
            (None, _) => (format!("The `{column}` column."), quote!(#ty)),
            // An optional column stays `Option<T>`: `None` is the default, not `NULL`.
            (Some(_), Some(_)) => (
                format!("The `{column}` column; `None` lets the database's default apply."),
                quote!(#ty),
            ),
            (Some(_), None) => (
                format!("The `{column}` column; `None` lets the database's default apply."),
                quote!(::core::option::Option<#ty>),
            ),
        };
        quote!(#[doc = #doc] #vis #name: #ty)
    });
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone)]
        #vis struct #new { #(#fields,)* }
    }
}

fn patch_struct(entity: &Entity<'_>) -> TokenStream {
    let (vis, ident, patch) = (entity.vis, entity.ident, patch_ident(entity));
    let doc = format!(
        "Changes to a [`{ident}`]: `None` leaves a column as it is. Optional columns take \
         `Some(None)` to be set to `NULL`."
    );
    let fields = entity.data_fields().map(|f| {
        let (vis, name, ty) = (f.vis, f.ident, f.ty);
        let doc = format!(
            "The new value of the `{}` column, if it changes.",
            f.column()
        );
        quote!(#[doc = #doc] #vis #name: ::core::option::Option<#ty>)
    });
    let version = entity.field(Role::Version).map(|f| {
        let (vis, name, ty) = (f.vis, f.ident, f.ty);
        let doc = format!(
            "The `{}` the row had when read: the update applies only if it still has it \
             (`Error::Conflict` otherwise). `None` skips the check; the version moves \
             either way when a value changes.",
            f.column()
        );
        quote!(#[doc = #doc] #vis #name: ::core::option::Option<#ty>,)
    });
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, Default)]
        #vis struct #patch { #(#fields,)* #version }
    }
}

/// The body of a generated function of an invalid entity.
fn never() -> TokenStream {
    quote!(::core::unreachable!(
        "an entity that failed to derive is never used"
    ))
}

fn from_row(entity: &Entity<'_>, stub: bool) -> TokenStream {
    let ident = entity.ident;
    let p = private();
    let body = if stub {
        never()
    } else {
        let fields = entity.fields.iter().map(|f| {
            let (name, column) = (f.ident, LitStr::new(&f.column(), f.ident.span()));
            // Spanned at the field's type: a type sqlx cannot decode is reported there.
            quote_spanned!(f.ty.span()=> #name: #p::sqlx::Row::try_get(row, #column)?)
        });
        quote!(::core::result::Result::Ok(#ident { #(#fields,)* }))
    };
    quote! {
        impl<'r> #p::sqlx::FromRow<'r, #p::sqlx::postgres::PgRow> for #ident {
            #[allow(unused_variables)]
            fn from_row(
                row: &'r #p::sqlx::postgres::PgRow,
            ) -> ::core::result::Result<Self, #p::sqlx::Error> {
                #body
            }
        }
    }
}

fn role_tokens(role: Option<Role>) -> TokenStream {
    let variant = match role {
        None => quote!(Data),
        Some(Role::Id) => quote!(Id),
        Some(Role::TenantId) => quote!(TenantId),
        Some(Role::CreatedAt) => quote!(CreatedAt),
        Some(Role::UpdatedAt) => quote!(UpdatedAt),
        Some(Role::SoftDelete) => quote!(SoftDelete),
        Some(Role::Version) => quote!(Version),
    };
    let p = private();
    quote!(#p::ColumnRole::#variant)
}

/// The position of `field` among the entity's columns: the key of its values.
fn index_of(entity: &Entity<'_>, field: &Field<'_>) -> usize {
    entity
        .fields
        .iter()
        .position(|f| std::ptr::eq(f, field))
        .unwrap_or_default()
}

/// `META`: the columns in declaration order, the roles as references into them.
fn meta(entity: &Entity<'_>) -> TokenStream {
    let p = private();
    let table = entity.table();
    let audit = entity.attrs.audit.is_some();
    let columns = entity.fields.iter().enumerate().map(|(index, f)| {
        let column = f.column();
        let role = role_tokens(f.role());
        let nullable = f.option_inner().is_some();
        let naive = f.role().is_some() && f.is_naive_time();
        // The database writes it: a generated column, or an id it makes.
        let generated = f.attrs.generated.is_some()
            || (f.role() == Some(Role::Id) && entity.id_source() == IdSource::Database);
        let array = f.is_array();
        // A data column whose database default applies when `New…` leaves it `None`.
        let default = f.attrs.default.is_some() && f.role().is_none();
        let ty = f.ty;
        quote! {
            #p::ColumnMeta {
                name: #column, index: #index, role: #role, nullable: #nullable,
                naive: #naive, generated: #generated, array: #array, default: #default,
                sql_type: <#ty as #p::sqlx::Type<#p::sqlx::Postgres>>::type_info,
                accepts: <#ty as #p::sqlx::Type<#p::sqlx::Postgres>>::compatible,
            }
        }
    });
    let role = |role: Role| {
        entity
            .field(role)
            .map(|f| index_of(entity, f))
            .map(|i| quote!(::core::option::Option::Some(&COLUMNS[#i])))
            .unwrap_or_else(|| quote!(::core::option::Option::None))
    };
    let required = |role: Role| {
        let i = entity.field(role).map_or(0, |f| index_of(entity, f));
        quote!(&COLUMNS[#i])
    };
    // A `via` entity's tenant stands for the foreign key to its parent (see `EntityMeta`).
    let via_field = entity
        .attrs
        .via
        .as_ref()
        .and_then(|via| entity.fields.iter().find(|f| f.ident == via));
    let tenant = match via_field {
        Some(f) => {
            let i = index_of(entity, f);
            quote!(&COLUMNS[#i])
        }
        None => required(Role::TenantId),
    };
    let via = match via_field.and_then(|via| {
        entity
            .fields
            .iter()
            .filter(|f| f.attrs.belongs_to.is_some())
            .position(|f| std::ptr::eq(f, via))
    }) {
        Some(k) => quote!(::core::option::Option::Some(&RELATIONS[#k])),
        None => quote!(::core::option::Option::None),
    };
    let id = required(Role::Id);
    let (created_at, updated_at, soft_delete, version) = (
        role(Role::CreatedAt),
        role(Role::UpdatedAt),
        role(Role::SoftDelete),
        role(Role::Version),
    );
    let unique_keys = entity
        .unique_keys()
        .into_iter()
        .map(|key| quote!(&[#(&COLUMNS[#key]),*]));
    let relations = entity
        .fields
        .iter()
        .filter_map(|f| f.attrs.belongs_to.as_ref().map(|parent| (f, parent)))
        .map(|(f, parent)| {
            let i = index_of(entity, f);
            quote! {
                #p::RelationMeta {
                    column: &COLUMNS[#i],
                    parent: || &<#parent as #p::Generated>::META,
                }
            }
        });
    quote! {
        {
            const COLUMNS: &[#p::ColumnMeta] = &[#(#columns),*];
            const RELATIONS: &[#p::RelationMeta] = &[#(#relations),*];
            #p::EntityMeta {
                table: #table,
                columns: COLUMNS,
                id: #id,
                tenant: #tenant,
                via: #via,
                created_at: #created_at,
                updated_at: #updated_at,
                soft_delete: #soft_delete,
                version: #version,
                relations: RELATIONS,
                unique_keys: &[#(#unique_keys),*],
                audit: #audit,
            }
        }
    }
}

/// `values.set(index, value)` for a data field, spanned at its type so that a type the
/// library cannot bind is reported at the field.
fn set(entity: &Entity<'_>, field: &Field<'_>, method: &str, value: TokenStream) -> TokenStream {
    let index = index_of(entity, field);
    let method = Ident::new(method, field.ty.span());
    quote_spanned!(field.ty.span()=> values.#method(#index, #value);)
}

fn generated(entity: &Entity<'_>, stub: bool) -> TokenStream {
    let ident = entity.ident;
    let p = private();
    let (new, patch) = (new_ident(entity), patch_ident(entity));
    let columns = entity.fields.len();
    let (meta, statements, new_values, new_many_values, patch_values) = if stub {
        let never = never();
        (
            quote!(#p::EntityMeta::STUB),
            never.clone(),
            never.clone(),
            never.clone(),
            never,
        )
    } else {
        let new_values = entity.data_fields().map(|f| {
            let name = f.ident;
            // A parent is noted so that a refused write can say why.
            let note = f.attrs.belongs_to.as_ref().map(|_| {
                let index = index_of(entity, f);
                let parent = cloned(quote!(new.#name));
                if f.option_inner().is_some() {
                    quote!(values.note_parent(#index, #parent);)
                } else {
                    quote!(values.note_parent(#index, ::core::option::Option::Some(#parent));)
                }
            });
            let set = set(entity, f, "set", quote!(new.#name));
            quote!(#note #set)
        });
        let batch: Vec<Ident> = entity
            .data_fields()
            .map(|f| format_ident!("__{}", f.ident.unraw_name()))
            .collect();
        let batch_names = entity.data_fields().map(|f| f.ident);
        let batch_new = entity.data_fields().zip(&batch).map(|(f, column)| {
            if f.is_array() {
                quote!(let mut #column = #p::ArrayBatch::with_capacity(rows.len());)
            } else {
                quote!(let mut #column = ::std::vec::Vec::with_capacity(rows.len());)
            }
        });
        let batch_set = entity.data_fields().zip(&batch).map(|(f, column)| {
            let method = if f.is_array() {
                "set_array_batch"
            } else {
                "set"
            };
            set(entity, f, method, quote!(#column))
        });
        let patch_values = entity.data_fields().map(|f| {
            let name = f.ident;
            let method = if f.option_inner().is_some() {
                "set_patch"
            } else {
                "set_required_patch"
            };
            // A new parent is noted so that a refused write can say why.
            let note = f.attrs.belongs_to.as_ref().map(|_| {
                let index = index_of(entity, f);
                let parent = cloned(quote!(patch.#name));
                if f.option_inner().is_some() {
                    quote!(values.note_parent(#index, #parent.flatten());)
                } else {
                    quote!(values.note_parent(#index, #parent);)
                }
            });
            let set = set(entity, f, method, quote!(patch.#name));
            quote!(#note #set)
        });
        let patch_version = entity.field(Role::Version).map(|f| {
            let name = f.ident;
            set(entity, f, "set_required_patch", quote!(patch.#name))
        });
        (
            meta(entity),
            quote! {
                static STATEMENTS: #p::LazyLock<#p::Statements> = #p::LazyLock::new(|| {
                    #p::Statements::new(&<#ident as #p::Generated>::META)
                });
                &STATEMENTS
            },
            quote! {
                let mut values = #p::Values::with_columns(#columns);
                #(#new_values)*
                values
            },
            quote! {
                #(#batch_new)*
                for row in rows {
                    #(#batch.push(row.#batch_names);)*
                }
                let mut values = #p::Values::with_columns(#columns);
                #(#batch_set)*
                values
            },
            quote! {
                let mut values = #p::Values::with_columns(#columns);
                #(#patch_values)*
                #patch_version
                values
            },
        )
    };
    let tenant_of = match (stub, entity.field(Role::TenantId)) {
        (false, Some(tenant)) => {
            let tenant = tenant.ident;
            let tenant = cloned(quote!(self.#tenant));
            quote!(::core::option::Option::Some(#tenant))
        }
        // A `via` row does not carry its tenant.
        (false, None) => quote!(::core::option::Option::None),
        _ => never(),
    };
    let is_deleted = match (stub, entity.field(Role::SoftDelete)) {
        (false, Some(field)) => {
            let field = field.ident;
            quote! {
                fn is_deleted(&self) -> bool {
                    ::core::option::Option::is_some(&self.#field)
                }
            }
        }
        _ => TokenStream::new(),
    };
    let tenant_ty = key_type(entity, Role::TenantId);
    let id_ty = key_type(entity, Role::Id);
    let key_of_new = match (stub, entity.id_source(), entity.field(Role::Id)) {
        (true, _, _) | (_, _, None) => never(),
        (false, IdSource::Library, Some(_)) => {
            quote!(::core::option::Option::Some(#p::Uuid::now_v7()))
        }
        (false, IdSource::Caller, Some(id)) => {
            let id = id.ident;
            let id = cloned(quote!(new.#id));
            quote!(::core::option::Option::Some(#id))
        }
        (false, IdSource::Database, Some(_)) => quote!(::core::option::Option::None),
    };
    quote! {
        impl #p::Generated for #ident {
            const META: #p::EntityMeta = #meta;

            fn meta() -> &'static #p::EntityMeta {
                &<Self as #p::Generated>::META
            }

            fn statements() -> &'static #p::Statements {
                #statements
            }

            fn tenant_of(&self) -> ::core::option::Option<#tenant_ty> {
                #tenant_of
            }

            #is_deleted

            #[allow(unused_variables)]
            fn key_of_new(new: &#new) -> ::core::option::Option<#id_ty> {
                #key_of_new
            }

            #[allow(unused_variables, unused_mut)]
            fn new_values(new: #new) -> #p::Values {
                #new_values
            }

            #[allow(unused_variables, unused_mut)]
            fn new_many_values(rows: ::std::vec::Vec<#new>) -> #p::Values {
                #new_many_values
            }

            #[allow(unused_variables, unused_mut)]
            fn patch_values(patch: #patch) -> #p::Values {
                #patch_values
            }
        }
    }
}

fn trait_impl(entity: &Entity<'_>, stub: bool) -> TokenStream {
    let ident = entity.ident;
    let (new, patch) = (new_ident(entity), patch_ident(entity));
    let id = match (stub, entity.field(Role::Id)) {
        (false, Some(id)) => {
            let id = id.ident;
            cloned(quote!(self.#id))
        }
        _ => never(),
    };
    let (id_ty, tenant_ty) = (key_type(entity, Role::Id), key_type(entity, Role::TenantId));
    let soft_delete = entity
        .field(Role::SoftDelete)
        .map(|_| quote!(impl ::tenant_query::SoftDelete for #ident {}));
    quote! {
        impl ::tenant_query::TenantEntity for #ident {
            type New = #new;
            type Patch = #patch;
            type Id = #id_ty;
            type Tenant = #tenant_ty;

            fn id(&self) -> #id_ty {
                #id
            }
        }

        #soft_delete
    }
}

/// The SCREAMING_CASE constant name of a field.
fn constant_name(field: &Field<'_>) -> Ident {
    format_ident!(
        "{}",
        field.ident.unraw_name().to_uppercase(),
        span = field.ident.span()
    )
}

/// Generated inherent functions: one line each, into the runtime's generic repository.
fn inherent(entity: &Entity<'_>, stub: bool) -> TokenStream {
    let ident = entity.ident;
    let p = private();
    let (new, patch) = (new_ident(entity), patch_ident(entity));
    let table = entity.table();
    let constants = entity.fields.iter().map(|f| {
        let constant = constant_name(f);
        let column = f.column();
        let doc = format!("The `{column}` column, for filters and ordering.");
        let ty = match f.option_inner() {
            Some(inner) => quote!(::tenant_query::Column<#ident, #inner, ::tenant_query::Nullable>),
            None => {
                let ty = f.ty;
                quote!(::tenant_query::Column<#ident, #ty>)
            }
        };
        quote!(#[doc = #doc] pub const #constant: #ty = #p::column(#column);)
    });
    let tenant_ty = key_type(entity, Role::TenantId);
    let executor = quote!(impl ::tenant_query::TenantExecutor<'c, #tenant_ty>);
    let uuid = key_type(entity, Role::Id);
    let result = quote!(::tenant_query::Result);
    let call = |tokens: TokenStream| if stub { never() } else { tokens };
    let repo = quote!(#p::repo);

    let soft_delete = entity.field(Role::SoftDelete).map(|_| {
        let restore = call(quote!(#repo::restore::<Self>(db, id).await));
        let purge = call(quote!(#repo::purge::<Self>(db, id).await));
        quote! {
            /// Brings back the soft-deleted row `id`; `Error::NotFound` unless the scope's
            /// tenant has such a deleted row.
            pub async fn restore<'c>(db: #executor, id: #uuid) -> #result<Self> {
                #restore
            }

            /// Removes the row `id` for good, whether soft-deleted or not.
            /// `Error::CascadeRefused` for an audited entity whose table other rows
            /// reference with a cascading foreign key.
            pub async fn purge<'c>(db: #executor, id: #uuid) -> #result<()> {
                #purge
            }
        }
    });
    let delete_doc = if entity.field(Role::SoftDelete).is_some() {
        "Soft-deletes the live row `id`; `Error::NotFound` if the scope's tenant has none."
    } else {
        "Deletes the row `id`; `Error::NotFound` if the scope's tenant has none."
    };
    let with_deleted = entity.field(Role::SoftDelete).is_some();
    let relations = entity
        .fields
        .iter()
        .filter(|f| f.attrs.belongs_to.is_some())
        .enumerate()
        .map(|(index, f)| relation(entity, f, index, with_deleted, stub));
    let keys = entity.unique_keys();
    let key_constants = entity.attrs.unique.iter().zip(&keys).enumerate().map(|(index, (lit, key))| {
        let names: Vec<String> = key.iter().map(|i| entity.fields[*i].column()).collect();
        let constant = format_ident!("KEY_{}", names.join("_").to_uppercase(), span = lit.span());
        let doc = format!(
            "The unique key `({})` within the tenant, for `insert_or_update` and `insert_or_ignore`.",
            names.join(", ")
        );
        quote!(#[doc = #doc] pub const #constant: ::tenant_query::UniqueKey<Self> = #p::unique_key(#index);)
    });
    let upserts = (!keys.is_empty()).then(|| {
        let upsert = call(quote!(#repo::insert_or_update::<Self>(db, key, new).await));
        let ignore = call(quote!(#repo::insert_or_ignore::<Self>(db, key, new).await));
        quote! {
            /// Inserts `new`, or, when a live row of the scope's tenant already has its
            /// values for `key`, updates that row to them; one statement, whose audit record
            /// says which it did.
            pub async fn insert_or_update<'c>(
                db: #executor,
                key: ::tenant_query::UniqueKey<Self>,
                new: #new,
            ) -> #result<Self> {
                #upsert
            }

            /// Inserts `new` unless a row of the scope's tenant already has its values for
            /// `key`; `None` when it was left alone.
            pub async fn insert_or_ignore<'c>(
                db: #executor,
                key: ::tenant_query::UniqueKey<Self>,
                new: #new,
            ) -> #result<::core::option::Option<Self>> {
                #ignore
            }
        }
    });
    let find = call(quote!(#repo::find::<Self>(db, id).await));
    let get = call(quote!(#repo::get::<Self>(db, id).await));
    let find_many = call(quote!(#repo::find_many::<Self>(db, ids).await));
    let insert = call(quote!(#repo::insert::<Self>(db, new).await));
    let insert_many = call(quote!(#repo::insert_many::<Self>(db, new).await));
    let update = call(quote!(#repo::update::<Self>(db, id, patch).await));
    let delete = call(quote!(#repo::delete::<Self>(db, id).await));

    quote! {
        #[allow(clippy::needless_lifetimes, unused_variables)]
        impl #ident {
            #(#constants)*

            #(#key_constants)*

            #upserts

            #[doc = concat!("A query over the live `", #table, "` rows of the scope's tenant.")]
            pub fn query() -> ::tenant_query::Query<Self> {
                ::tenant_query::Query::new()
            }

            /// The live row `id` of the scope's tenant, if any.
            pub async fn find<'c>(db: #executor, id: #uuid) -> #result<::core::option::Option<Self>> {
                #find
            }

            /// The live row `id` of the scope's tenant; `Error::NotFound` if there is none.
            pub async fn get<'c>(db: #executor, id: #uuid) -> #result<Self> {
                #get
            }

            /// The live rows among `ids`, by id, in one query (none for no ids).
            pub async fn find_many<'c>(
                db: #executor,
                ids: &[#uuid],
            ) -> #result<::std::collections::HashMap<#uuid, Self>> {
                #find_many
            }

            /// Inserts a row in the scope's tenant (its id a new UUIDv7, the one given in
            /// `New…`, or the database's); `Error::ForeignKey` if a `belongs_to` value names
            /// no live row of the scope's tenant.
            pub async fn insert<'c>(db: #executor, new: #new) -> #result<Self> {
                #insert
            }

            /// Inserts every row in one statement and returns them in input order: all of
            /// them, or none.
            pub async fn insert_many<'c>(
                db: #executor,
                new: ::std::vec::Vec<#new>,
            ) -> #result<::std::vec::Vec<Self>> {
                #insert_many
            }

            /// Applies `patch` to the live row `id`; `Error::NotFound` if there is none.
            pub async fn update<'c>(db: #executor, id: #uuid, patch: #patch) -> #result<Self> {
                #update
            }

            #[doc = #delete_doc]
            pub async fn delete<'c>(db: #executor, id: #uuid) -> #result<()> {
                #delete
            }

            #soft_delete

            #(#relations)*
        }
    }
}

/// The batch loaders of one `belongs_to` relation.
fn relation(
    entity: &Entity<'_>,
    field: &Field<'_>,
    index: usize,
    soft_delete: bool,
    stub: bool,
) -> TokenStream {
    let Some(parent) = field.attrs.belongs_to.as_ref() else {
        return TokenStream::new();
    };
    let p = private();
    let fk = field.ident;
    let name = fk.unraw_name();
    let relation = name
        .strip_suffix("_id")
        .map_or_else(|| format!("{name}_parent"), str::to_owned);
    let load_by = format_ident!("load_by_{}", name);
    let load_by_with_deleted = format_ident!("load_by_{}_with_deleted", name);
    let load_parent = format_ident!("load_{}", relation);
    let by_relation = format_ident!("BY_{}", relation.to_uppercase());
    let ident = entity.ident;
    let tenant_ty = key_type(entity, Role::TenantId);
    let executor = quote!(impl ::tenant_query::TenantExecutor<'c, #tenant_ty>);
    let uuid = quote!(<#parent as ::tenant_query::TenantEntity>::Id);
    let map = quote!(::std::collections::HashMap);
    let result = quote!(::tenant_query::Result);
    let repo = quote!(#p::repo);
    let call = |tokens: TokenStream| if stub { never() } else { tokens };
    // The parent id of a row: `Some` always for a required relation, maybe `None` for an
    // optional one.
    // Spanned at the field's type: a key of another type than the parent's id is reported
    // there.
    let key = quote_spanned!(field.ty.span()=> ::core::clone::Clone::clone(&row.#fk));
    let read_parent = if field.option_inner().is_some() {
        quote_spanned!(field.ty.span()=> |row: &#ident| -> ::core::option::Option<#uuid> { #key })
    } else {
        quote_spanned!(field.ty.span()=> |row: &#ident| -> ::core::option::Option<#uuid> {
            ::core::option::Option::Some(#key)
        })
    };
    let load = call(quote! {
        #repo::load_children::<Self, _>(db, #index, parent_ids, false, #read_parent).await
    });
    let load_with_deleted = call(quote! {
        #repo::load_children::<Self, _>(db, #index, parent_ids, true, #read_parent).await
    });
    let load_parents = call(quote! {
        let ids: ::std::vec::Vec<#uuid> = rows.iter().filter_map(#read_parent).collect();
        #repo::find_many::<#parent>(db, &ids).await
    });
    let fk_column = field.column();
    let parent_of = if stub {
        let never = never();
        quote!(|row: &#ident| -> ::core::option::Option<#uuid> { #never })
    } else {
        read_parent
    };
    let with_deleted = soft_delete.then(|| {
        quote! {
            #[doc = concat!("Like [`", stringify!(#load_by), "`](Self::", stringify!(#load_by), "), soft-deleted rows included.")]
            pub async fn #load_by_with_deleted<'c>(
                db: #executor,
                parent_ids: &[#uuid],
            ) -> #result<#map<#uuid, ::std::vec::Vec<Self>>> {
                #load_with_deleted
            }
        }
    });
    quote! {
        #[doc = concat!(
            "The relation to [`", stringify!(#parent), "`] through `", stringify!(#fk),
            "`, for nested loading (`Relation::then`, `Children::attach`)."
        )]
        pub const #by_relation: ::tenant_query::Relation<#parent, Self> =
            #p::relation::<#parent, Self>(#index, #fk_column, #parent_of);

        #[doc = concat!(
            "The live rows of each parent in `parent_ids` (by `", stringify!(#fk), "`), in one query: ",
            "every requested id is a key, with an empty `Vec` when it has no rows; rows are in id order."
        )]
        pub async fn #load_by<'c>(
            db: #executor,
            parent_ids: &[#uuid],
        ) -> #result<#map<#uuid, ::std::vec::Vec<Self>>> {
            #load
        }

        #with_deleted

        #[doc = concat!("The live parents of `rows` (through `", stringify!(#fk), "`), by id, in one query.")]
        pub async fn #load_parent<'c>(
            db: impl ::tenant_query::TenantExecutor<'c, <#parent as ::tenant_query::TenantEntity>::Tenant>,
            rows: &[Self],
        ) -> #result<#map<#uuid, #parent>> {
            #load_parents
        }
    }
}

/// An identifier's name without the `r#` of a raw identifier.
trait UnrawName {
    fn unraw_name(&self) -> String;
}

impl UnrawName for Ident {
    fn unraw_name(&self) -> String {
        syn::ext::IdentExt::unraw(self).to_string()
    }
}
