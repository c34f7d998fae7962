//! The compile-time schema check: the entity against the table its crate's migrations
//! build (see `migrations`). Each finding is an error at the field or attribute it
//! concerns, saying what the migrations say.

use std::path::{Path, PathBuf};

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Type;
use syn::spanned::Spanned;

use crate::ast::{Entity, Field, last_segment, option_inner};
use crate::attr::{Errors, Role};
use crate::migrations::{self, Schema, Table};

/// What the check found, and what the expansion must carry for it.
#[derive(Default)]
pub struct Findings {
    pub errors: Errors,
    /// `include_str!` of every migration read, and a warning per DDL the parser could not
    /// follow.
    pub tokens: TokenStream,
}

/// Checks `entity` against its crate's migrations, if it has any.
pub fn check(entity: &Entity<'_>) -> Findings {
    let mut findings = Findings::default();
    let dir = match migrations_dir(entity) {
        Ok(Some(dir)) => dir,
        Ok(None) => return findings,
        Err(error) => {
            findings.errors.push(error);
            return findings;
        }
    };
    let schema = match migrations::replay(&dir) {
        Ok(schema) => schema,
        Err(message) => {
            findings
                .errors
                .push(syn::Error::new(Span::call_site(), message));
            return findings;
        }
    };
    let files = schema
        .files
        .iter()
        .map(|f| f.to_string_lossy().into_owned());
    let mut tokens = quote!(#(const _: &str = ::core::include_str!(#files);)*);
    if !schema.unfollowed.is_empty() {
        // A note, never a silent pass: the check is skipped and says why.
        for unfollowed in &schema.unfollowed {
            tokens.extend(warning(&format!(
                "tenant-query could not follow this migration DDL, so the schema check of `{}` is skipped: {unfollowed}",
                entity.ident
            )));
        }
        findings.tokens = tokens;
        return findings;
    }
    findings.tokens = tokens;
    check_table(entity, &schema, &mut findings.errors);
    findings
}

/// A compiler warning on stable Rust: the use of a deprecated item, whose note is `text`.
fn warning(text: &str) -> TokenStream {
    quote! {
        const _: () = {
            #[deprecated(note = #text)]
            #[allow(non_upper_case_globals)]
            const tenant_query_schema_check: () = ();
            tenant_query_schema_check
        };
    }
}

/// The directory named by `#[tenant(migrations = "...")]` (relative to the crate, or else
/// to the source file), or the crate's `migrations/` when there is one.
fn migrations_dir(entity: &Entity<'_>) -> syn::Result<Option<PathBuf>> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let Some(lit) = &entity.attrs.migrations else {
        return Ok(manifest
            .map(|m| m.join("migrations"))
            .filter(|d| d.is_dir()));
    };
    let path = PathBuf::from(lit.value());
    let mut candidates = Vec::new();
    if path.is_absolute() {
        candidates.push(path.clone());
    } else {
        if let Some(manifest) = &manifest {
            candidates.push(manifest.join(&path));
        }
        if let Some(source) = source_dir(lit.span()) {
            candidates.push(source.join(&path));
        }
    }
    match candidates.into_iter().find(|c| c.is_dir()) {
        Some(dir) => Ok(Some(dir)),
        None => Err(syn::Error::new(
            lit.span(),
            format!(
                "no migrations directory `{}` (relative to the crate or to this file)",
                path.display()
            ),
        )),
    }
}

fn source_dir(span: Span) -> Option<PathBuf> {
    span.unwrap().local_file()?.parent().map(Path::to_path_buf)
}

/// The SQL types (normalised) a field's Rust type reads; `None` when the library cannot
/// tell (the user's own types).
fn sql_types(ty: &Type) -> Option<Vec<String>> {
    if let Some(inner) = option_inner(ty) {
        return sql_types(inner);
    }
    let segment = last_segment(ty)?;
    let name = segment.ident.to_string();
    let plain: &[&str] = match name.as_str() {
        "String" => &["text"],
        "i64" => &["int8"],
        "i32" => &["int4"],
        "i16" => &["int2"],
        "bool" => &["bool"],
        "f64" => &["float8"],
        "f32" => &["float4"],
        "Uuid" => &["uuid"],
        "DateTime" => &["timestamptz"],
        "NaiveDateTime" => &["timestamp"],
        "NaiveDate" => &["date"],
        "NaiveTime" => &["time"],
        "Value" | "Json" => &["json", "jsonb"],
        "Decimal" => &["numeric"],
        "PgInterval" => &["interval"],
        "Vec" => {
            let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
                return None;
            };
            let Some(syn::GenericArgument::Type(element)) = args.args.first() else {
                return None;
            };
            if last_segment(element).is_some_and(|s| s.ident == "u8") {
                return Some(vec!["bytea".to_owned()]);
            }
            return Some(
                sql_types(element)?
                    .into_iter()
                    .map(|t| format!("{t}[]"))
                    .collect(),
            );
        }
        _ => return None,
    };
    Some(plain.iter().map(|t| (*t).to_owned()).collect())
}

fn check_table(entity: &Entity<'_>, schema: &Schema, errors: &mut Errors) {
    let table_name = entity.table();
    let Some(table) = schema.tables.get(&table_name) else {
        let span = entity
            .attrs
            .table
            .as_ref()
            .map_or(entity.ident.span(), |t| t.span());
        errors.push(syn::Error::new(
            span,
            format!("no migration creates the table `{table_name}`"),
        ));
        return;
    };
    let tenant = entity.field(Role::TenantId).map(Field::column);
    for field in &entity.fields {
        check_field(field, table, errors);
        if let (Some(parent), Some(tenant)) = (&field.attrs.belongs_to, &tenant) {
            check_relation(field, parent, tenant, table, errors);
        }
    }
    if entity.attrs.audit.is_some() {
        for key in table.foreign_keys.iter().filter(|k| k.changes_on_delete) {
            let on = entity
                .fields
                .iter()
                .find(|f| f.role() != Some(Role::TenantId) && key.columns.contains(&f.column()))
                .map_or_else(
                    || entity.attrs.audit.unwrap_or(entity.ident.span()),
                    |f| f.ident.span(),
                );
            errors.push(syn::Error::new(
                on,
                format!(
                    "the foreign key on ({}) deletes or changes rows of this audited table when the parent \
                     goes (ON DELETE CASCADE / SET NULL / SET DEFAULT), leaving no audit record; \
                     per {}, declare it ON DELETE RESTRICT or NO ACTION",
                    key.columns.join(", "),
                    table.file
                ),
            ));
        }
    }
}

fn check_field(field: &Field<'_>, table: &Table, errors: &mut Errors) {
    let name = field.column();
    let Some(column) = table.column(&name) else {
        errors.push(syn::Error::new(
            field.column_span(),
            format!(
                "the migrations leave no column `{name}` (last change to the table: {})",
                table.file
            ),
        ));
        return;
    };
    if let Some(expected) = sql_types(field.ty)
        && !expected.contains(&column.ty)
    {
        errors.push(syn::Error::new(
            field.ty.span(),
            format!(
                "the migrations make `{name}` a `{}` column (per {}), which this type does not read; it reads `{}`",
                column.ty,
                table.file,
                expected.join("` or `")
            ),
        ));
    }
    let optional = option_inner(field.ty).is_some();
    if optional && column.not_null {
        errors.push(syn::Error::new(
            field.ty.span(),
            format!(
                "`{name}` is NOT NULL (per {}): its field is not an `Option`",
                table.file
            ),
        ));
    } else if !optional && !column.not_null {
        let what = if field.role() == Some(Role::TenantId) {
            "the tenant column must be NOT NULL"
        } else {
            "make the field an `Option`, or the column NOT NULL"
        };
        errors.push(syn::Error::new(
            field.ty.span(),
            format!("`{name}` may be NULL (per {}): {what}", table.file),
        ));
    }
    if let (Some(span), false) = (field.attrs.default, column.default) {
        errors.push(syn::Error::new(
            span,
            format!(
                "`{name}` is marked `default`, but the migrations give it no default (per {}): \
                 add `DEFAULT <expression>` to the column",
                table.file
            ),
        ));
    }
    if field.attrs.generated.is_some() != column.generated {
        errors.push(syn::Error::new(
            field.column_span(),
            if column.generated {
                format!("`{name}` is generated by the database (per {}): mark it `#[tenant(generated)]`", table.file)
            } else {
                format!("`{name}` is marked `generated`, but the migrations do not generate it")
            },
        ));
    }
}

fn check_relation(
    field: &Field<'_>,
    parent: &syn::Path,
    tenant: &str,
    table: &Table,
    errors: &mut Errors,
) {
    let name = field.column();
    let keys: Vec<_> = table
        .foreign_keys
        .iter()
        .filter(|k| k.columns.contains(&name))
        .collect();
    let problem = if keys.is_empty() {
        Some(format!(
            "no foreign key backs `{name}` (per {}): declare `FOREIGN KEY ({tenant}, {name}) REFERENCES <parent> ({tenant}, id)`",
            table.file
        ))
    } else if keys.iter().all(|k| !k.columns.iter().any(|c| c == tenant)) {
        Some(format!(
            "the foreign key of `{name}` does not include the tenant column (per {}), so a row could point at \
             another tenant's parent: declare `FOREIGN KEY ({tenant}, {name}) REFERENCES <parent> ({tenant}, id)`",
            table.file
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        errors.push(syn::Error::new(parent.span(), problem));
    }
}
