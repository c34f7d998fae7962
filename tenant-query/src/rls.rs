//! Row-level security as a second wall behind the scoped API: the policies, and a check
//! that the database really enforces them for the connected role.

use sqlx::AssertSqlSafe;

use crate::backend::Backend;
use crate::entity::TenantEntity;
use crate::error::{Error, Result};
use crate::exec::Route;
use crate::meta::EntityMeta;
use crate::sql;
use crate::trace::Summary;

pub use crate::isolation::{IsolationProblem, IsolationReport};

/// The DDL that enables and forces RLS on `E`'s table and creates its tenant policy
/// (`USING` and `WITH CHECK`) reading `setting`; for migrations. Idempotent. Not for an
/// entity that reaches its tenant through a parent (`via`): it has no tenant column to
/// compare, and [`TenantDb::enable_row_level_security`](crate::TenantDb::enable_row_level_security)
/// refuses it.
///
/// ```
/// # use tenant_query::prelude::*;
/// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "notes")]
/// # pub struct Note { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid }
/// let ddl = tenant_query::rls::policy_sql::<Note>("app.tenant_id");
/// assert!(ddl.contains("FORCE ROW LEVEL SECURITY"));
/// assert!(ddl.contains(r#""org_id" = nullif(current_setting('app.tenant_id', true), '')::uuid"#));
/// ```
pub fn policy_sql<E: TenantEntity>(setting: &str) -> String {
    let (table, column, sql_type) = entity_target(E::meta());
    sql::rls::policy(table, column, sql_type.as_deref(), setting)
}

/// What an entity's policy compares: its table, its tenant column and that column's SQL
/// type.
pub(crate) fn entity_target(meta: &EntityMeta) -> PolicyTarget {
    let sql_type = (meta.tenant.sql_type)();
    let name = sqlx::TypeInfo::name(&sql_type).to_owned();
    (meta.table, meta.tenant.name, Some(name))
}

/// What the audit log's policy compares: its tenant column, as text (its type is the
/// deployment's).
pub(crate) fn audit_log_target() -> PolicyTarget {
    (sql::AUDIT_LOG_TABLE, "tenant_id", None)
}

/// A table, its tenant column and that column's SQL type, when known.
pub(crate) type PolicyTarget = (&'static str, &'static str, Option<String>);

/// The same DDL for the library's audit log.
///
/// ```
/// assert!(tenant_query::rls::audit_log_policy_sql("app.tenant_id").contains("tenant_audit_log"));
/// ```
pub fn audit_log_policy_sql(setting: &str) -> String {
    let (table, column, sql_type) = audit_log_target();
    sql::rls::policy(table, column, sql_type.as_deref(), setting)
}

/// Applies policy DDL with the database's RLS setting.
pub(crate) async fn apply_policy(
    backend: &Backend,
    (table, tenant, sql_type): PolicyTarget,
) -> Result<()> {
    let setting = backend.settings.rls_setting.as_deref().ok_or_else(|| {
        Error::Configuration("RLS mode is off: call `row_level_security` first".into())
    })?;
    let ddl = sql::rls::policy(table, tenant, sql_type.as_deref(), setting);
    sqlx::raw_sql(AssertSqlSafe(ddl))
        .execute(&backend.pool)
        .await?;
    Ok(())
}

/// The tables to verify; see [`TenantDb::verify_isolation`](crate::TenantDb::verify_isolation).
#[derive(Debug)]
#[must_use = "the check does nothing until `run`"]
pub struct IsolationCheck<'a> {
    backend: &'a Backend,
    tables: Vec<&'static str>,
}

impl<'a> IsolationCheck<'a> {
    pub(crate) fn new(backend: &'a Backend) -> Self {
        IsolationCheck {
            backend,
            tables: Vec::new(),
        }
    }

    /// Also checks `E`'s table.
    pub fn entity<E: TenantEntity>(mut self) -> Self {
        self.tables.push(E::META.table);
        self
    }

    /// Also checks the library's audit log.
    pub fn audit_log(mut self) -> Self {
        self.tables.push(sql::AUDIT_LOG_TABLE);
        self
    }

    /// Runs the check: [`Error::Isolation`] lists every problem found. The catalog reads
    /// are sent like every other statement (unnamed behind a transaction pooler).
    pub async fn run(self) -> Result<()> {
        let mut problems = Vec::new();
        let (statement, args) = sql::rls::role_powers().bind(None)?;
        let (superuser, bypass): (bool, bool) =
            Route::unscoped(self.backend, Summary::select("pg_roles"))
                .fetch_optional(AssertSqlSafe(statement.into_sql()), args)
                .await?
                .unwrap_or((false, false));
        if superuser {
            problems.push(IsolationProblem::Superuser);
        }
        if bypass {
            problems.push(IsolationProblem::BypassRls);
        }
        for table in self.tables {
            let (statement, args) = sql::rls::table_state(table).bind(None)?;
            type State = (bool, bool, bool, String, bool, Vec<String>);
            let state: Option<State> = Route::unscoped(self.backend, Summary::select("pg_class"))
                .fetch_optional(AssertSqlSafe(statement.into_sql()), args)
                .await?;
            let Some((enabled, forced, owned, owner, policy, others)) = state else {
                problems.push(IsolationProblem::MissingTable { table });
                continue;
            };
            if !enabled {
                problems.push(IsolationProblem::RlsDisabled { table });
            }
            if owned && !forced {
                problems.push(IsolationProblem::OwnerNotForced { table, owner });
            }
            if !policy {
                problems.push(IsolationProblem::MissingPolicy { table });
            }
            for policy in others {
                problems.push(IsolationProblem::ExtraPermissivePolicy { table, policy });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Isolation(IsolationReport { problems }))
        }
    }
}
