//! `#[derive(TenantEntity)]`, re-exported by `tenant-query`; see that crate for the attributes.
//!
//! The derive runs in three steps: `ast` parses the input into a small model (with
//! `attr` reading the `#[tenant(...)]` attributes), `valid` checks it and reports every
//! problem at the offending token, and `expand` generates code from the checked model.

mod ast;
mod attr;
mod expand;
mod migrations;
mod schema;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Generates the tenant-scoped repository of a struct. See `tenant_query`'s documentation.
#[proc_macro_derive(TenantEntity, attributes(tenant))]
pub fn derive_tenant_entity(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let entity = match ast::Entity::from_syn(&input) {
        Ok(entity) => entity,
        Err(error) => return error.into_compile_error().into(),
    };
    // The schema check runs on a valid model only: its findings are about the database.
    let checked = valid::check(&entity).and_then(|()| {
        let findings = schema::check(&entity);
        findings.errors.finish(findings.tokens)
    });
    match checked {
        Ok(schema_tokens) => {
            let mut tokens = expand::entity(&entity);
            tokens.extend(schema_tokens);
            tokens
        }
        // The errors, and a stub with the entity's names, so that code using the entity
        // adds no errors of its own: one mistake, one message.
        Err(error) => {
            let mut tokens = error.into_compile_error();
            tokens.extend(expand::stub(&entity));
            tokens
        }
    }
    .into()
}
