//! Code generation from the validated model. Generated code names the runtime crate by
//! absolute path and relies on nothing the user imported.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Ident, LitStr};

use crate::ast::{Entity, Field};
use crate::attr::Role;

pub fn entity(entity: &Entity<'_>) -> TokenStream {
    let new_struct = new_struct(entity);
    let patch_struct = patch_struct(entity);
    let from_row = from_row(entity);
    let trait_impl = trait_impl(entity);
    let inherent = inherent(entity);
    quote! {
        #new_struct
        #patch_struct
        const _: () = {
            #from_row
            #trait_impl
            #inherent
        };
    }
}

fn new_ident(entity: &Entity<'_>) -> Ident {
    format_ident!("New{}", entity.ident)
}

fn patch_ident(entity: &Entity<'_>) -> Ident {
    format_ident!("{}Patch", entity.ident)
}

fn new_struct(entity: &Entity<'_>) -> TokenStream {
    let (vis, ident, new) = (entity.vis, entity.ident, new_ident(entity));
    let doc = format!(
        "A new [`{ident}`]: its data columns only. The id, the tenant, the timestamps and the \
         soft-delete column are set by the library."
    );
    let fields = entity.data_fields().map(|f| {
        let (vis, name, ty) = (f.vis, f.ident, f.ty);
        let doc = format!("The `{}` column.", f.column());
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
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, Default)]
        #vis struct #patch { #(#fields,)* }
    }
}

fn from_row(entity: &Entity<'_>) -> TokenStream {
    let ident = entity.ident;
    let fields = entity.fields.iter().map(|f| {
        let (name, column) = (f.ident, LitStr::new(&f.column(), f.ident.span()));
        quote!(#name: ::tenant_query::__private::sqlx::Row::try_get(row, #column)?)
    });
    quote! {
        impl<'r> ::tenant_query::__private::sqlx::FromRow<'r, ::tenant_query::__private::sqlx::postgres::PgRow>
            for #ident
        {
            fn from_row(
                row: &'r ::tenant_query::__private::sqlx::postgres::PgRow,
            ) -> ::core::result::Result<Self, ::tenant_query::__private::sqlx::Error> {
                ::core::result::Result::Ok(#ident { #(#fields,)* })
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
    };
    quote!(::tenant_query::__private::ColumnRole::#variant)
}

/// `args.push("column", value)?` for a data field.
fn push(field: &Field<'_>, value: TokenStream) -> TokenStream {
    let column = field.column();
    quote!(args.push(#column, #value)?;)
}

fn trait_impl(entity: &Entity<'_>) -> TokenStream {
    let ident = entity.ident;
    let (new, patch) = (new_ident(entity), patch_ident(entity));
    let table = entity.table();
    let audit = entity.attrs.audit.is_some();
    let id = entity.field(Role::Id).expect("validated").ident;
    let columns = entity.fields.iter().map(|f| {
        let (column, field) = (f.column(), f.ident.to_string());
        let role = role_tokens(f.role());
        let nullable = f.option_inner().is_some();
        quote! {
            ::tenant_query::__private::ColumnMeta {
                name: #column, field: #field, role: #role, nullable: #nullable,
            }
        }
    });
    let relations = entity
        .fields
        .iter()
        .filter(|f| f.attrs.belongs_to.is_some())
        .map(Field::column);

    let bind_new = entity.data_fields().map(|f| {
        let name = f.ident;
        push(f, quote!(new.#name))
    });
    let batch: Vec<Ident> = entity
        .data_fields()
        .map(|f| format_ident!("__{}", f.ident))
        .collect();
    let batch_names = entity.data_fields().map(|f| f.ident);
    let batch_push = entity
        .data_fields()
        .zip(&batch)
        .map(|(f, column)| push(f, quote!(#column)));
    let bind_patch = entity.data_fields().map(|f| {
        let name = f.ident;
        if f.option_inner().is_some() {
            let flag = push(f, quote!(patch.#name.is_some()));
            let value = push(f, quote!(patch.#name.flatten()));
            quote!(#flag #value)
        } else {
            push(f, quote!(patch.#name))
        }
    });
    let soft_delete = entity
        .field(Role::SoftDelete)
        .map(|_| quote!(impl ::tenant_query::SoftDelete for #ident {}));

    quote! {
        impl ::tenant_query::TenantEntity for #ident {
            type New = #new;
            type Patch = #patch;

            const META: ::tenant_query::__private::EntityMeta = ::tenant_query::__private::EntityMeta {
                table: #table,
                columns: &[#(#columns),*],
                relations: &[#(#relations),*],
                audit: #audit,
            };

            fn statements() -> &'static ::tenant_query::__private::Statements {
                static STATEMENTS: ::tenant_query::__private::LazyLock<::tenant_query::__private::Statements> =
                    ::tenant_query::__private::LazyLock::new(|| {
                        ::tenant_query::__private::Statements::new(
                            &<#ident as ::tenant_query::TenantEntity>::META,
                        )
                    });
                &STATEMENTS
            }

            fn id(&self) -> ::tenant_query::__private::Uuid {
                self.#id
            }

            #[allow(unused_variables)]
            fn bind_new(
                new: #new,
                args: &mut ::tenant_query::__private::Args,
            ) -> ::tenant_query::Result<()> {
                #(#bind_new)*
                ::core::result::Result::Ok(())
            }

            #[allow(unused_variables, unused_mut)]
            fn bind_new_many(
                rows: ::std::vec::Vec<#new>,
                args: &mut ::tenant_query::__private::Args,
            ) -> ::tenant_query::Result<()> {
                #(let mut #batch = ::std::vec::Vec::with_capacity(rows.len());)*
                for row in rows {
                    #(#batch.push(row.#batch_names);)*
                }
                #(#batch_push)*
                ::core::result::Result::Ok(())
            }

            #[allow(unused_variables)]
            fn bind_patch(
                patch: #patch,
                args: &mut ::tenant_query::__private::Args,
            ) -> ::tenant_query::Result<()> {
                #(#bind_patch)*
                ::core::result::Result::Ok(())
            }
        }

        #soft_delete
    }
}

/// The SCREAMING_CASE constant name of a field.
fn constant_name(field: &Field<'_>) -> Ident {
    let name = field.ident.to_string();
    format_ident!(
        "{}",
        name.trim_start_matches("r#").to_uppercase(),
        span = field.ident.span()
    )
}

fn inherent(entity: &Entity<'_>) -> TokenStream {
    let ident = entity.ident;
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
        quote!(#[doc = #doc] pub const #constant: #ty = ::tenant_query::Column::new(#column);)
    });
    let executor = quote!(impl ::tenant_query::TenantExecutor<'c>);
    let uuid = quote!(::tenant_query::__private::Uuid);
    let result = quote!(::tenant_query::Result);
    let repo = quote!(::tenant_query::__private::repo);

    let soft_delete = entity.field(Role::SoftDelete).map(|_| {
        quote! {
            /// Brings back the soft-deleted row `id`; `Error::NotFound` unless the scope's
            /// tenant has such a deleted row.
            pub async fn restore<'c>(db: #executor, id: #uuid) -> #result<Self> {
                #repo::restore::<Self>(db, id).await
            }

            /// Removes the row `id` for good, whether soft-deleted or not.
            pub async fn purge<'c>(db: #executor, id: #uuid) -> #result<()> {
                #repo::purge::<Self>(db, id).await
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
        .map(|(index, f)| relation(entity, f, index, with_deleted));

    quote! {
        #[allow(clippy::needless_lifetimes)]
        impl #ident {
            #(#constants)*

            #[doc = concat!("A query over the live `", #table, "` rows of the scope's tenant.")]
            pub fn query() -> ::tenant_query::Query<Self> {
                ::tenant_query::Query::new()
            }

            /// The live row `id` of the scope's tenant, if any.
            pub async fn find<'c>(db: #executor, id: #uuid) -> #result<::core::option::Option<Self>> {
                #repo::find::<Self>(db, id).await
            }

            /// The live row `id` of the scope's tenant; `Error::NotFound` if there is none.
            pub async fn get<'c>(db: #executor, id: #uuid) -> #result<Self> {
                #repo::get::<Self>(db, id).await
            }

            /// The live rows among `ids`, by id, in one query (none for no ids).
            pub async fn find_many<'c>(
                db: #executor,
                ids: &[#uuid],
            ) -> #result<::std::collections::HashMap<#uuid, Self>> {
                #repo::find_many::<Self>(db, ids).await
            }

            /// Inserts a row with a new UUIDv7 id in the scope's tenant.
            pub async fn insert<'c>(db: #executor, new: #new) -> #result<Self> {
                #repo::insert::<Self>(db, new).await
            }

            /// Inserts every row in one statement and returns them in input order.
            pub async fn insert_many<'c>(
                db: #executor,
                new: ::std::vec::Vec<#new>,
            ) -> #result<::std::vec::Vec<Self>> {
                #repo::insert_many::<Self>(db, new).await
            }

            /// Applies `patch` to the live row `id`; `Error::NotFound` if there is none.
            pub async fn update<'c>(db: #executor, id: #uuid, patch: #patch) -> #result<Self> {
                #repo::update::<Self>(db, id, patch).await
            }

            #[doc = #delete_doc]
            pub async fn delete<'c>(db: #executor, id: #uuid) -> #result<()> {
                #repo::delete::<Self>(db, id).await
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
) -> TokenStream {
    let parent = field
        .attrs
        .belongs_to
        .as_ref()
        .expect("filtered on belongs_to");
    let fk = field.ident;
    let name = fk.to_string();
    let name = name.trim_start_matches("r#");
    let relation = name
        .strip_suffix("_id")
        .map_or_else(|| format!("{name}_parent"), str::to_owned);
    let load_by = format_ident!("load_by_{}", name);
    let load_by_with_deleted = format_ident!("load_by_{}_with_deleted", name);
    let load_parent = format_ident!("load_{}", relation);
    let by_relation = format_ident!("BY_{}", relation.to_uppercase());
    let ident = entity.ident;
    let executor = quote!(impl ::tenant_query::TenantExecutor<'c>);
    let uuid = quote!(::tenant_query::__private::Uuid);
    let map = quote!(::std::collections::HashMap);
    let result = quote!(::tenant_query::Result);
    let repo = quote!(::tenant_query::__private::repo);
    let with_deleted = soft_delete.then(|| {
        quote! {
            #[doc = concat!("Like [`", stringify!(#load_by), "`](Self::", stringify!(#load_by), "), soft-deleted rows included.")]
            pub async fn #load_by_with_deleted<'c>(
                db: #executor,
                parent_ids: &[#uuid],
            ) -> #result<#map<#uuid, ::std::vec::Vec<Self>>> {
                #repo::load_children::<Self>(db, #index, parent_ids, true, |row: &#ident| row.#fk).await
            }
        }
    });
    quote! {
        #[doc = concat!(
            "The relation to [`", stringify!(#parent), "`] through `", stringify!(#fk),
            "`, for nested loading (`Relation::then`, `Children::attach`)."
        )]
        pub const #by_relation: ::tenant_query::Relation<Self> =
            ::tenant_query::Relation::new(#index, |row: &#ident| row.#fk);

        #[doc = concat!(
            "The live rows of each parent in `parent_ids` (by `", stringify!(#fk), "`), in one query: ",
            "every requested id is a key, with an empty `Vec` when it has no rows; rows are in id order."
        )]
        pub async fn #load_by<'c>(
            db: #executor,
            parent_ids: &[#uuid],
        ) -> #result<#map<#uuid, ::std::vec::Vec<Self>>> {
            #repo::load_children::<Self>(db, #index, parent_ids, false, |row: &#ident| row.#fk).await
        }

        #with_deleted

        #[doc = concat!("The live parents of `rows` (through `", stringify!(#fk), "`), by id, in one query.")]
        pub async fn #load_parent<'c>(
            db: #executor,
            rows: &[Self],
        ) -> #result<#map<#uuid, #parent>> {
            let ids: ::std::vec::Vec<#uuid> = rows.iter().map(|row| row.#fk).collect();
            #repo::find_many::<#parent>(db, &ids).await
        }
    }
}
