//! The one place SQL text is built.
//!
//! Identifiers come only from the derive and are always quoted; values are always bound
//! parameters. Every statement names the tenant column of every table it touches, so a
//! tenant-distributed PostgreSQL can route it to one node.

mod audit;
pub(crate) mod rls;
mod select;
mod statements;

pub(crate) use audit::{AUDIT_LOG_DDL, AUDIT_LOG_TABLE, AuditFilter, render_audit_select};
pub(crate) use select::{DeletedRows, Projection, SelectParts, render_select};
pub use statements::Statements;

use std::fmt::Write;

use crate::entity::{ColumnMeta, ColumnRole, EntityMeta};

/// `name` as a quoted SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a quoted SQL string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The quoted column list of `meta`, each qualified by `alias` when given.
pub(crate) fn column_list(meta: &EntityMeta, alias: Option<&str>) -> String {
    let mut list = String::new();
    for (i, column) in meta.columns.iter().enumerate() {
        if i > 0 {
            list.push_str(", ");
        }
        if let Some(alias) = alias {
            let _ = write!(list, "{alias}.");
        }
        list.push_str(&ident(column.name));
    }
    list
}

/// The quoted name of the column that plays `role`; the derive guarantees the required ones.
pub(crate) fn role_column(meta: &EntityMeta, role: ColumnRole) -> Option<String> {
    meta.column(role).map(|c: &ColumnMeta| ident(c.name))
}

/// Numbering of bound parameters. The tenant is always `$1`; writes of audited entities
/// bind the actor as `$2`. The runtime binds in the same order (see `repo`).
pub(crate) struct Params {
    next: usize,
}

impl Params {
    /// Parameters of a write: `$1` is the tenant, `$2` the actor when audited.
    pub(crate) fn write(meta: &EntityMeta) -> Self {
        Params {
            next: if meta.audit { 3 } else { 2 },
        }
    }

    /// The placeholder of the next parameter.
    pub(crate) fn next(&mut self) -> String {
        let placeholder = format!("${}", self.next);
        self.next += 1;
        placeholder
    }
}

/// The placeholder of the tenant parameter.
pub(crate) const TENANT_PARAM: &str = "$1";
/// The placeholder of the actor parameter of audited writes.
pub(crate) const ACTOR_PARAM: &str = "$2";
