//! Row-level security: the transaction prologue that sets the tenant, the policies that
//! read it, and the catalog queries that check them.

use super::plan::Dynamic;
use super::{fence, ident, literal, table};
use crate::placement::{Placement, SchemaName};

/// The name of the policy the library creates on each table.
pub(crate) const POLICY_NAME: &str = "tenant_isolation";

/// Where a placed transaction runs: its placement, and whether it may write (which the
/// fence check needs).
pub(crate) struct Placed<'a> {
    pub(crate) placement: &'a Placement,
    pub(crate) writing: bool,
}

/// `BEGIN`, and in the same round trip what the transaction needs: with placements the
/// tenant's `search_path` and the home's fence check, in RLS mode the tenant setting.
/// `set_config(.., true)` is never session-level, so nothing survives the transaction on
/// a pooled (or PgBouncer-shared) connection. `tenant` is the scope's tenant as text,
/// checked ([`tenant_key`](crate::placement::tenant_key)); without one, nothing of the
/// tenant is set.
pub(crate) fn begin(
    setting: Option<&str>,
    tenant: Option<&str>,
    placed: Option<&Placed<'_>>,
) -> String {
    let schema = placed.and_then(|p| p.placement.home.schema());
    let mut calls = settings(setting, tenant, schema);
    if let (Some(placed), Some(tenant)) = (placed, tenant) {
        let home = placed.placement.home.home_key();
        let epoch = placed.placement.epoch;
        calls.push(fence::check(tenant, &home, epoch, placed.writing));
    }
    if calls.is_empty() {
        "BEGIN".to_owned()
    } else {
        format!("BEGIN; SELECT {}", calls.join(", "))
    }
}

/// The transaction-local settings a transaction in `schema` (if any) needs, as calls for
/// one `SELECT`: the `search_path`, and in RLS mode the tenant setting.
pub(crate) fn settings(
    setting: Option<&str>,
    tenant: Option<&str>,
    schema: Option<&SchemaName>,
) -> Vec<String> {
    let mut calls = Vec::new();
    if let Some(schema) = schema {
        calls.push(format!(
            "set_config('search_path', {}, true)",
            literal(&schema.quoted())
        ));
    }
    if let (Some(setting), Some(tenant)) = (setting, tenant) {
        calls.push(format!(
            "set_config({}, {}, true)",
            literal(setting),
            literal(tenant)
        ));
    }
    calls
}

/// Enables and forces RLS on `table` and (re)creates the tenant policy. A missing or
/// reset setting reads as `''`, which `nullif` turns into `NULL`: no row matches, and
/// nothing fails.
/// `tenant_type` is the tenant column's SQL type, which the setting's text is cast to;
/// without one (the audit log, whose tenant type is the deployment's) the column is
/// compared as text.
pub(crate) fn policy(
    table_name: &str,
    tenant_column: &str,
    tenant_type: Option<&str>,
    setting: &str,
) -> String {
    let (table, column) = (table(table_name), ident(tenant_column));
    let setting = format!("nullif(current_setting({}, true), '')", literal(setting));
    let predicate = match tenant_type {
        Some(tenant_type) => format!("{column} = {setting}::{}", tenant_type.to_lowercase()),
        None => format!("{column}::text = {setting}"),
    };
    format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
         ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n\
         DROP POLICY IF EXISTS {policy} ON {table};\n\
         CREATE POLICY {policy} ON {table} USING ({predicate}) WITH CHECK ({predicate});\n",
        policy = ident(POLICY_NAME),
    )
}

/// The connected role's powers over RLS: `(superuser, bypassrls)`.
pub(crate) fn role_powers() -> Dynamic {
    let mut sql = Dynamic::default();
    sql.push("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user");
    sql
}

/// Per table (by name): whether RLS is enabled and forced, whether the connected role has
/// the owner's rights (directly or through membership, which bypasses RLS just the same),
/// the owner, whether the library's policy exists, and the other permissive policies that
/// apply to the role.
pub(crate) fn table_state(table_name: &str) -> Dynamic {
    let mut sql = Dynamic::default();
    sql.push(
        "SELECT c.relrowsecurity, c.relforcerowsecurity, \
         pg_has_role(current_user, c.relowner, 'USAGE'), pg_get_userbyid(c.relowner)::text, \
         EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = ",
    )
    .value("policy", Box::new(POLICY_NAME))
    .push(
        "), ARRAY(SELECT p.polname::text FROM pg_policy p WHERE p.polrelid = c.oid \
         AND p.polname <> ",
    )
    .value("policy", Box::new(POLICY_NAME))
    .push(
        " AND p.polpermissive \
         AND (0 = ANY (p.polroles) OR EXISTS (SELECT 1 FROM unnest(p.polroles) AS r(oid) \
             WHERE pg_has_role(current_user, r.oid, 'USAGE'))) ORDER BY 1) \
         FROM pg_class c WHERE c.oid = to_regclass(",
    )
    .value("table", Box::new(table(table_name)))
    .push(")");
    sql
}

/// The foreign keys that delete or change rows of other tables when a row of the table
/// is deleted, as `table.constraint`.
pub(crate) fn cascades(table_name: &str) -> Dynamic {
    let mut sql = Dynamic::default();
    sql.push(
        "SELECT c.conrelid::regclass::text || '.' || c.conname::text \
         FROM pg_constraint c WHERE c.contype = 'f' AND c.confrelid = to_regclass(",
    )
    .value("table", Box::new(table(table_name)))
    .push(") AND c.confdeltype IN ('c', 'n', 'd') ORDER BY 1");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::TenantPlacement;

    #[test]
    fn the_prologue_is_one_round_trip_of_transaction_local_settings() {
        let tenant = Some("00000000-0000-0000-0000-000000000000");
        assert_eq!(begin(None, tenant, None), "BEGIN");
        assert_eq!(
            begin(Some("app.tenant_id"), tenant, None),
            "BEGIN; SELECT set_config('app.tenant_id', '00000000-0000-0000-0000-000000000000', true)"
        );
        let placement = Placement::new(TenantPlacement::Schema(SchemaName::new("big").unwrap()));
        let placed = Placed {
            placement: &placement,
            writing: true,
        };
        assert_eq!(
            begin(Some("app.tenant_id"), Some("t'1"), Some(&placed)),
            "BEGIN; SELECT set_config('search_path', '\"big\"', true), \
             set_config('app.tenant_id', 't''1', true), \
             tenant_query.fence('t''1', 'schema:big', 0, true)"
        );
        let shared = Placement::new(TenantPlacement::Shared);
        let placed = Placed {
            placement: &shared,
            writing: false,
        };
        assert_eq!(
            begin(None, Some("t"), Some(&placed)),
            "BEGIN; SELECT tenant_query.fence('t', 'shared', 0, false)"
        );
    }
}
