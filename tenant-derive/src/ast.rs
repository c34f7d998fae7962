//! The derive input as a small model: the struct, its fields and their attributes.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Type, Visibility};

use crate::attr::{self, EntityAttrs, Errors, FieldAttrs, Role};

pub struct Entity<'a> {
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    pub generics: &'a syn::Generics,
    pub attrs: EntityAttrs,
    pub fields: Vec<Field<'a>>,
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    pub ty: &'a Type,
    pub attrs: FieldAttrs,
}

impl<'a> Entity<'a> {
    pub fn from_syn(input: &'a DeriveInput) -> syn::Result<Self> {
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named,
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "TenantEntity needs a struct with named fields",
                    ));
                }
            },
            _ => {
                return Err(syn::Error::new(
                    input.ident.span(),
                    "TenantEntity can only be derived for a struct with named fields",
                ));
            }
        };
        let mut errors = Errors::default();
        let attrs = attr::entity(&input.attrs).unwrap_or_else(|e| {
            errors.push(e);
            EntityAttrs::default()
        });
        let mut fields = Vec::new();
        for field in &named.named {
            let field_attrs = attr::field(&field.attrs).unwrap_or_else(|e| {
                errors.push(e);
                FieldAttrs::default()
            });
            fields.push(Field {
                ident: field.ident.as_ref().expect("named field"),
                vis: &field.vis,
                ty: &field.ty,
                attrs: field_attrs,
            });
        }
        errors.finish(Entity {
            ident: &input.ident,
            vis: &input.vis,
            generics: &input.generics,
            attrs,
            fields,
        })
    }

    /// The field that plays `role`, if any (validation makes it unique).
    pub fn field(&self, role: Role) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.role() == Some(role))
    }

    /// The fields written through `New…` and `…Patch`: no role, not generated.
    pub fn data_fields(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields
            .iter()
            .filter(|f| f.role().is_none() && f.attrs.generated.is_none())
    }

    /// The unique keys: per `unique = "..."`, the positions of its fields (validation
    /// makes every name resolve).
    pub fn unique_keys(&self) -> Vec<Vec<usize>> {
        self.attrs
            .unique
            .iter()
            .map(|key| {
                key.value()
                    .split(',')
                    .filter_map(|name| self.fields.iter().position(|f| f.column() == name.trim()))
                    .collect()
            })
            .collect()
    }

    /// Who makes the id of a new row.
    pub fn id_source(&self) -> IdSource {
        match self.field(Role::Id) {
            Some(id) if id.attrs.default.is_some() => IdSource::Database,
            Some(id) if is_uuid(id.ty) => IdSource::Library,
            _ => IdSource::Caller,
        }
    }

    /// The SQL table name.
    pub fn table(&self) -> String {
        self.attrs
            .table
            .as_ref()
            .map(|t| t.value())
            .unwrap_or_default()
    }
}

impl Field<'_> {
    pub fn role(&self) -> Option<Role> {
        self.attrs.role.map(|(role, _)| role)
    }

    /// The SQL column name: `rename`, or the field name.
    pub fn column(&self) -> String {
        match &self.attrs.rename {
            Some(rename) => rename.value(),
            None => syn::ext::IdentExt::unraw(self.ident).to_string(),
        }
    }

    /// Where errors about the column name point.
    pub fn column_span(&self) -> Span {
        self.attrs
            .rename
            .as_ref()
            .map_or(self.ident.span(), |r| r.span())
    }

    /// Whether the field is a `NaiveDateTime` (or an `Option` of one).
    pub fn is_naive_time(&self) -> bool {
        let ty = self.option_inner().unwrap_or(self.ty);
        last_segment(ty).is_some_and(|s| s.ident == "NaiveDateTime")
    }

    /// Whether the field is an array column: `Vec<T>` or `Option<Vec<T>>`, except
    /// `Vec<u8>` (`bytea`).
    pub fn is_array(&self) -> bool {
        let ty = self.option_inner().unwrap_or(self.ty);
        let Some(segment) = last_segment(ty).filter(|s| s.ident == "Vec") else {
            return false;
        };
        match &segment.arguments {
            syn::PathArguments::AngleBracketed(args) if args.args.len() == 1 => {
                !matches!(&args.args[0], syn::GenericArgument::Type(t)
                    if last_segment(t).is_some_and(|s| s.ident == "u8"))
            }
            _ => false,
        }
    }

    /// `T` when the field is `Option<T>`.
    pub fn option_inner(&self) -> Option<&Type> {
        option_inner(self.ty)
    }
}

/// Who makes the id of a new row.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum IdSource {
    /// A `Uuid` id: the library makes a UUIDv7.
    Library,
    /// Any other id type: a field of `New…`.
    Caller,
    /// `#[tenant(id, default)]`: the database (an identity or a column default).
    Database,
}

/// Whether `ty` is `Uuid` (by its last path segment).
pub fn is_uuid(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "Uuid" && s.arguments.is_none())
}

/// `T` when `ty` is `Option<T>` (by its last path segment).
pub fn option_inner(ty: &Type) -> Option<&Type> {
    let segment = last_segment(ty)?;
    if segment.ident != "Option" {
        return None;
    }
    match &segment.arguments {
        syn::PathArguments::AngleBracketed(args) if args.args.len() == 1 => match &args.args[0] {
            syn::GenericArgument::Type(inner) => Some(inner),
            _ => None,
        },
        _ => None,
    }
}

/// The last segment of a path type (`Uuid` in `uuid::Uuid`).
pub fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        Type::Group(group) => last_segment(&group.elem),
        _ => None,
    }
}
