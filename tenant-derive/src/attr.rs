//! The `#[tenant(...)]` attributes, parsed with their spans; duplicates and unknown keys
//! are errors at the offending key.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, Ident, LitStr, Path};

/// Attributes on the struct.
#[derive(Default)]
pub struct EntityAttrs {
    /// `table = "..."`.
    pub table: Option<LitStr>,
    /// `audit`.
    pub audit: Option<Span>,
    /// `unique = "column, ..."`, once per unique key (the tenant is always part of it).
    pub unique: Vec<LitStr>,
    /// `migrations = "dir"`: where the migrations the schema check replays are.
    pub migrations: Option<LitStr>,
    /// `via = parent_id`: the table has no tenant column and reaches its tenant through
    /// the parent this `belongs_to` field names.
    pub via: Option<Ident>,
}

/// The part a field plays; at most one per field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Id,
    TenantId,
    CreatedAt,
    UpdatedAt,
    SoftDelete,
    Version,
}

impl Role {
    pub fn keyword(self) -> &'static str {
        match self {
            Role::Id => "id",
            Role::TenantId => "tenant_id",
            Role::CreatedAt => "created_at",
            Role::UpdatedAt => "updated_at",
            Role::SoftDelete => "soft_delete",
            Role::Version => "version",
        }
    }

    const ALL: [Role; 6] = [
        Role::Id,
        Role::TenantId,
        Role::CreatedAt,
        Role::UpdatedAt,
        Role::SoftDelete,
        Role::Version,
    ];
}

/// Attributes on a field.
#[derive(Default)]
pub struct FieldAttrs {
    /// `id`, `tenant_id`, `created_at`, `updated_at` or `soft_delete`, with its span.
    pub role: Option<(Role, Span)>,
    /// `belongs_to = Parent`.
    pub belongs_to: Option<Path>,
    /// `rename = "column"`.
    pub rename: Option<LitStr>,
    /// `generated`: the database computes the column; it is read, never written.
    pub generated: Option<Span>,
    /// `default`: on a data field, optional in `New…` (`None` lets the database's default
    /// apply); on the id, the database makes it.
    pub default: Option<Span>,
}

fn duplicate(span: Span, key: &str) -> syn::Error {
    syn::Error::new(span, format!("duplicate `{key}` attribute"))
}

/// Reads every `#[tenant(...)]` on the struct, collecting all errors.
pub fn entity(attrs: &[Attribute]) -> syn::Result<EntityAttrs> {
    let mut out = EntityAttrs::default();
    let mut errors = Errors::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("tenant")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("table") {
                let value: LitStr = meta.value()?.parse()?;
                if out.table.is_some() {
                    errors.push(duplicate(meta.path.span(), "table"));
                }
                out.table = Some(value);
            } else if meta.path.is_ident("audit") {
                if out.audit.is_some() {
                    errors.push(duplicate(meta.path.span(), "audit"));
                }
                out.audit = Some(meta.path.span());
            } else if meta.path.is_ident("unique") {
                out.unique.push(meta.value()?.parse()?);
            } else if meta.path.is_ident("migrations") {
                let value: LitStr = meta.value()?.parse()?;
                if out.migrations.is_some() {
                    errors.push(duplicate(meta.path.span(), "migrations"));
                }
                out.migrations = Some(value);
            } else if meta.path.is_ident("via") {
                let value: Ident = meta.value()?.parse()?;
                if out.via.is_some() {
                    errors.push(duplicate(meta.path.span(), "via"));
                }
                out.via = Some(value);
            } else {
                return Err(meta.error(
                    "unknown tenant attribute on a struct; expected `table = \"...\"`, `audit`, \
                     `unique = \"column, ...\"`, `migrations = \"dir\"` or `via = parent_id`",
                ));
            }
            Ok(())
        });
        errors.extend(parsed.err());
    }
    errors.finish(out)
}

/// Reads every `#[tenant(...)]` on a field, collecting all errors.
pub fn field(attrs: &[Attribute]) -> syn::Result<FieldAttrs> {
    let mut out = FieldAttrs::default();
    let mut errors = Errors::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("tenant")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if let Some(role) = Role::ALL
                .into_iter()
                .find(|r| meta.path.is_ident(r.keyword()))
            {
                let span = meta.path.span();
                match out.role {
                    Some((existing, _)) if existing == role => {
                        errors.push(duplicate(span, role.keyword()));
                    }
                    Some((existing, _)) => errors.push(syn::Error::new(
                        span,
                        format!(
                            "a field plays one part: it is already `{}`, it cannot also be `{}`",
                            existing.keyword(),
                            role.keyword()
                        ),
                    )),
                    None => out.role = Some((role, span)),
                }
            } else if meta.path.is_ident("belongs_to") {
                let parent: Path = meta.value()?.parse()?;
                if out.belongs_to.is_some() {
                    errors.push(duplicate(meta.path.span(), "belongs_to"));
                }
                out.belongs_to = Some(parent);
            } else if meta.path.is_ident("generated") {
                if out.generated.is_some() {
                    errors.push(duplicate(meta.path.span(), "generated"));
                }
                out.generated = Some(meta.path.span());
            } else if meta.path.is_ident("default") {
                if out.default.is_some() {
                    errors.push(duplicate(meta.path.span(), "default"));
                }
                out.default = Some(meta.path.span());
            } else if meta.path.is_ident("rename") {
                let column: LitStr = meta.value()?.parse()?;
                if out.rename.is_some() {
                    errors.push(duplicate(meta.path.span(), "rename"));
                }
                out.rename = Some(column);
            } else {
                return Err(meta.error(
                    "unknown tenant attribute on a field; expected one of `id`, `tenant_id`, \
                     `created_at`, `updated_at`, `soft_delete`, `version`, \
                     `belongs_to = Parent`, `generated`, `default`, `rename = \"column\"`",
                ));
            }
            Ok(())
        });
        errors.extend(parsed.err());
    }
    errors.finish(out)
}

/// Errors collected while reading, reported together.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub fn extend(&mut self, error: Option<syn::Error>) {
        if let Some(error) = error {
            self.push(error);
        }
    }

    pub fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }
}
