//! Row-level security: the transaction prologue that sets the tenant, the policies that
//! read it, and the catalog queries that check them.

use uuid::Uuid;

use super::{ident, literal};

/// The name of the policy the library creates on each table.
pub(crate) const POLICY_NAME: &str = "tenant_isolation";

/// `BEGIN`, and in RLS mode the transaction-local tenant setting, in one round trip.
/// `set_config(.., true)` is never session-level, so nothing survives the transaction on
/// a pooled (or PgBouncer-shared) connection.
pub(crate) fn begin(setting: Option<&str>, tenant: Uuid) -> String {
    match setting {
        None => "BEGIN".to_owned(),
        Some(setting) => format!(
            "BEGIN; SELECT set_config({}, {}, true)",
            literal(setting),
            literal(&tenant.to_string())
        ),
    }
}

/// Enables and forces RLS on `table` and (re)creates the tenant policy. A missing or
/// reset setting reads as `''`, which `nullif` turns into `NULL`: no row matches, and
/// nothing fails.
pub(crate) fn policy(table: &str, tenant_column: &str, setting: &str) -> String {
    let (table, column) = (ident(table), ident(tenant_column));
    let predicate = format!(
        "{column} = nullif(current_setting({}, true), '')::uuid",
        literal(setting)
    );
    format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
         ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n\
         DROP POLICY IF EXISTS {policy} ON {table};\n\
         CREATE POLICY {policy} ON {table} USING ({predicate}) WITH CHECK ({predicate});\n",
        policy = ident(POLICY_NAME),
    )
}

/// The connected role's powers over RLS: `(superuser, bypassrls)`.
pub(crate) const ROLE_POWERS: &str =
    "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user";

/// Per table (`$1`, a name): whether it exists, RLS is enabled, forced, owned by the
/// connected role, and whether the library's policy exists.
pub(crate) const TABLE_STATE: &str = "SELECT c.relrowsecurity, c.relforcerowsecurity, \
     pg_get_userbyid(c.relowner) = current_user, \
     EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = $2) \
     FROM pg_class c WHERE c.oid = to_regclass(quote_ident($1))";
