//! Semantic checks of the parsed model. Every problem is reported, each at its token.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::Type;
use syn::spanned::Spanned;

use crate::ast::{Entity, Field, last_segment, option_inner};
use crate::attr::{Errors, Role};

/// PostgreSQL keeps 63 bytes of an identifier; names that long leave no room for the
/// suffixes of derived names (indexes, policies), so the derive stops one short.
const MAX_IDENTIFIER_BYTES: usize = 62;

pub fn check(entity: &Entity<'_>) -> syn::Result<()> {
    let mut errors = Errors::default();
    if !entity.generics.params.is_empty() || entity.generics.where_clause.is_some() {
        errors.push(syn::Error::new(
            entity.generics.span(),
            "TenantEntity cannot be derived for a generic struct",
        ));
    }
    match &entity.attrs.table {
        Some(table) => table_name(&table.value(), table.span(), &mut errors),
        None => errors.push(syn::Error::new(
            entity.ident.span(),
            "missing table name: add #[tenant(table = \"...\")] to the struct",
        )),
    }
    roles(entity, &mut errors);
    via(entity, &mut errors);
    unique_keys(entity, &mut errors);
    let mut columns: HashMap<String, Span> = HashMap::new();
    for field in &entity.fields {
        let column = field.column();
        identifier(&column, field.column_span(), "column", &mut errors);
        if columns
            .insert(column.clone(), field.column_span())
            .is_some()
        {
            errors.push(syn::Error::new(
                field.column_span(),
                format!("two fields map to the column `{column}`"),
            ));
        }
        field_type(field, &mut errors);
    }
    errors.finish(())
}

/// Exactly one `id` and one `tenant_id`; at most one field of every other role.
fn roles(entity: &Entity<'_>, errors: &mut Errors) {
    for role in [
        Role::Id,
        Role::TenantId,
        Role::CreatedAt,
        Role::UpdatedAt,
        Role::SoftDelete,
        Role::Version,
    ] {
        let mut fields = entity.fields.iter().filter(|f| f.role() == Some(role));
        match fields.next() {
            None if role == Role::TenantId && entity.attrs.via.is_some() => {}
            None if matches!(role, Role::Id | Role::TenantId) => errors.push(syn::Error::new(
                entity.ident.span(),
                format!(
                    "missing `{0}` field: mark one field (`Uuid`, `i64`, `String`, ...) with #[tenant({0})]",
                    role.keyword()
                ),
            )),
            _ => {}
        }
        for extra in fields {
            errors.push(syn::Error::new(
                extra.attrs.role.expect("filtered on role").1,
                format!("only one field can be `{}`", role.keyword()),
            ));
        }
    }
}

/// `via = parent_id` names a required `belongs_to` field, and replaces the tenant column.
fn via(entity: &Entity<'_>, errors: &mut Errors) {
    let Some(via) = &entity.attrs.via else { return };
    if let Some(tenant) = entity.field(Role::TenantId) {
        errors.push(syn::Error::new(
            via.span(),
            format!(
                "`via` is for a table without a tenant column, but `{}` is `tenant_id`: \
                 keep the tenant column (the better schema) and remove `via`",
                tenant.ident
            ),
        ));
    }
    let field = entity.fields.iter().find(|f| f.ident == via);
    let problem = match field {
        None => Some(format!("`{via}` is not a field of this entity")),
        Some(f) if f.attrs.belongs_to.is_none() => Some(format!(
            "`via` names the relation to the parent that holds the tenant, but `{via}` is not \
             a relation: mark it #[tenant(belongs_to = Parent)]"
        )),
        Some(f)
            if f.attrs
                .belongs_to
                .as_ref()
                .is_some_and(|parent| parent.is_ident("Self") || parent.is_ident(entity.ident)) =>
        {
            Some(format!(
                "a row cannot reach its tenant through a row of its own table: `{via}` must \
                 lead to a parent with a tenant column (or to one that reaches it)"
            ))
        }
        Some(f) if f.option_inner().is_some() => Some(format!(
            "a row reaches its tenant through `{via}`, so every row needs a parent: make it \
             `Uuid`, not `Option<Uuid>`"
        )),
        Some(_) => None,
    };
    if let Some(problem) = problem {
        errors.push(syn::Error::new(via.span(), problem));
    }
}

/// The types the library's SQL relies on.
fn field_type(field: &Field<'_>, errors: &mut Errors) {
    let expected = match field.role() {
        // Any key type; the compiler checks it is a `tenant_query::Key`.
        Some(Role::Id | Role::TenantId) => (
            option_inner(field.ty).is_none(),
            "a key that always has a value, not an `Option`: `Uuid`, `i64`, `String`, ...",
        ),
        Some(Role::CreatedAt | Role::UpdatedAt) => (
            is_datetime_utc(field.ty) || is_named(field.ty, &["NaiveDateTime"]),
            "a field of type `DateTime<Utc>` or `NaiveDateTime`",
        ),
        Some(Role::SoftDelete) => (
            option_inner(field.ty)
                .is_some_and(|t| is_datetime_utc(t) || is_named(t, &["NaiveDateTime"])),
            "a field of type `Option<DateTime<Utc>>` or `Option<NaiveDateTime>`",
        ),
        Some(Role::Version) => (
            is_named(field.ty, &["i32", "i64"]),
            "a field of type `i32` or `i64`",
        ),
        // The parent's id type, or an `Option` of it; the compiler checks which.
        None => (true, ""),
    };
    if let (false, expected) = expected {
        let role = field.role().map_or("belongs_to", Role::keyword);
        errors.push(syn::Error::new(
            field.ty.span(),
            format!("#[tenant({role})] needs {expected}"),
        ));
    }
    if let Some(span) = field.attrs.generated {
        let clash = match (field.attrs.role, &field.attrs.belongs_to) {
            (Some((role, _)), _) => Some(role.keyword()),
            (None, Some(_)) => Some("belongs_to"),
            (None, None) => None,
        };
        if let Some(clash) = clash {
            errors.push(syn::Error::new(
                span,
                format!("a `generated` column is only read; it cannot also be `{clash}`"),
            ));
        }
    }
    if let Some(span) = field.attrs.default {
        let clash = match (
            field.attrs.role,
            &field.attrs.belongs_to,
            field.attrs.generated,
        ) {
            (Some((Role::Id, _)), _, _) => None,
            (Some((role, _)), _, _) => Some(format!(
                "the library sets a `{}` field itself; it cannot also be `default`",
                role.keyword()
            )),
            (None, Some(_), _) => Some(
                "a `belongs_to` value is checked against its parent, so it cannot come from a \
                 database default"
                    .to_owned(),
            ),
            (None, None, Some(_)) => Some(
                "a `generated` column is never written; it cannot also be `default`".to_owned(),
            ),
            (None, None, None) => None,
        };
        if let Some(clash) = clash {
            errors.push(syn::Error::new(span, clash));
        }
    }
    if let (Some(parent), Some((role, _))) = (&field.attrs.belongs_to, field.attrs.role) {
        errors.push(syn::Error::new(
            parent.span(),
            format!("a `{}` field cannot also be `belongs_to`", role.keyword()),
        ));
    }
}

/// The library's own tables: an entity over one could forge or erase audit records.
const LIBRARY_TABLES: &[&str] = &["tenant_audit_log"];

/// A table name, optionally qualified by its schema (`schema.table`).
fn table_name(name: &str, span: Span, errors: &mut Errors) {
    let (schema, table) = match name.split_once('.') {
        Some((schema, table)) => (Some(schema), table),
        None => (None, name),
    };
    if let Some(schema) = schema {
        identifier(schema, span, "schema", errors);
    }
    identifier(table, span, "table", errors);
    if table.contains('.') {
        errors.push(syn::Error::new(
            span,
            "a table name has at most two parts: `schema.table`",
        ));
    }
    if LIBRARY_TABLES.contains(&table) {
        errors.push(syn::Error::new(
            span,
            format!("`{table}` is the library's own table; entities cannot map onto it"),
        ));
    }
}

fn identifier(name: &str, span: Span, what: &str, errors: &mut Errors) {
    let problem = if name.is_empty() {
        Some(format!("the {what} name is empty"))
    } else if name.contains('\0') {
        Some(format!("the {what} name contains a NUL byte"))
    } else if name.chars().any(char::is_control) {
        Some(format!("the {what} name contains a control character"))
    } else if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        // The library's internal output names begin with a space, so that no column can
        // collide with them.
        Some(format!(
            "the {what} name `{name}` begins or ends with white space"
        ))
    } else if name.len() > MAX_IDENTIFIER_BYTES {
        Some(format!(
            "the {what} name `{name}` is {} bytes; PostgreSQL identifiers must stay under 63",
            name.len()
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        errors.push(syn::Error::new(span, problem));
    }
}

/// Each `unique = "..."` names one or more columns of the entity, each once, without the
/// tenant (which every key includes).
fn unique_keys(entity: &Entity<'_>, errors: &mut Errors) {
    for key in &entity.attrs.unique {
        let names = key.value();
        let columns: Vec<&str> = names.split(',').map(str::trim).collect();
        let mut seen = Vec::new();
        for column in &columns {
            let problem = if column.is_empty() {
                Some(
                    "a unique key names its columns: `unique = \"name\"` or `unique = \"a, b\"`"
                        .to_owned(),
                )
            } else if seen.contains(column) {
                Some(format!("`{column}` appears twice in this unique key"))
            } else {
                match entity.fields.iter().find(|f| f.column() == *column) {
                    None => Some(format!("`{column}` is not a column of this entity")),
                    Some(f) if f.role() == Some(Role::TenantId) => Some(format!(
                        "`{column}` is the tenant column, which every unique key includes already"
                    )),
                    Some(_) => None,
                }
            };
            if let Some(problem) = problem {
                errors.push(syn::Error::new(key.span(), problem));
            }
            seen.push(column);
        }
    }
}

fn is_named(ty: &Type, names: &[&str]) -> bool {
    last_segment(ty).is_some_and(|s| names.iter().any(|n| s.ident == n) && s.arguments.is_none())
}

fn is_datetime_utc(ty: &Type) -> bool {
    let Some(segment) = last_segment(ty) else {
        return false;
    };
    if segment.ident != "DateTime" {
        return false;
    }
    match &segment.arguments {
        syn::PathArguments::AngleBracketed(args) if args.args.len() == 1 => {
            matches!(&args.args[0], syn::GenericArgument::Type(tz)
                if last_segment(tz).is_some_and(|s| s.ident == "Utc"))
        }
        _ => false,
    }
}
