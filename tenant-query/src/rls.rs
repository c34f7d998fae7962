//! Row-level security as a second wall behind the scoped API: the policies, and a check
//! that the database really enforces them for the connected role.

use std::fmt;

use crate::db::TenantDb;
use crate::entity::{ColumnRole, TenantEntity};
use crate::error::{Error, Result};
use crate::sql;

/// The DDL that enables and forces RLS on `E`'s table and creates its tenant policy
/// (`USING` and `WITH CHECK`) reading `setting`; for migrations. Idempotent.
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
    let tenant = E::META
        .column(ColumnRole::TenantId)
        .expect("validated by the derive");
    sql::rls::policy(E::META.table, tenant.name, setting)
}

/// The same DDL for the library's audit log.
///
/// ```
/// assert!(tenant_query::rls::audit_log_policy_sql("app.tenant_id").contains("tenant_audit_log"));
/// ```
pub fn audit_log_policy_sql(setting: &str) -> String {
    sql::rls::policy(sql::AUDIT_LOG_TABLE, "tenant_id", setting)
}

impl TenantDb {
    fn rls_setting(&self) -> Result<&str> {
        self.settings().rls_setting.as_deref().ok_or_else(|| {
            Error::invalid_input(
                "row_level_security",
                "RLS mode is off: call `row_level_security` first",
            )
        })
    }

    /// Applies [`policy_sql`] for `E` with this database's RLS setting (run it as the
    /// table's owner, typically at migration time).
    pub async fn enable_row_level_security<E: TenantEntity>(&self) -> Result<()> {
        let ddl = policy_sql::<E>(self.rls_setting()?);
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Applies [`audit_log_policy_sql`] with this database's RLS setting.
    pub async fn enable_audit_log_row_level_security(&self) -> Result<()> {
        let ddl = audit_log_policy_sql(self.rls_setting()?);
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Starts a check, for startup, that the connected role cannot escape RLS on the
    /// tables you name.
    ///
    /// ```no_run
    /// # use tenant_query::prelude::*;
    /// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "notes")]
    /// # pub struct Note { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid }
    /// # async fn run(db: TenantDb) -> tenant_query::Result<()> {
    /// db.verify_isolation().entity::<Note>().audit_log().run().await?;
    /// # Ok(()) }
    /// ```
    pub fn verify_isolation(&self) -> IsolationCheck<'_> {
        IsolationCheck {
            db: self,
            tables: Vec::new(),
        }
    }
}

/// The tables to verify; see [`TenantDb::verify_isolation`].
#[derive(Debug)]
#[must_use = "the check does nothing until `run`"]
pub struct IsolationCheck<'a> {
    db: &'a TenantDb,
    tables: Vec<&'static str>,
}

impl IsolationCheck<'_> {
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

    /// Runs the check: [`Error::Isolation`] lists every problem found.
    pub async fn run(self) -> Result<()> {
        let pool = self.db.pool();
        let mut problems = Vec::new();
        let (superuser, bypass): (bool, bool) = sqlx::query_as(sql::rls::ROLE_POWERS)
            .fetch_one(pool)
            .await?;
        if superuser {
            problems.push(IsolationProblem::Superuser);
        }
        if bypass {
            problems.push(IsolationProblem::BypassRls);
        }
        for table in self.tables {
            let state: Option<(bool, bool, bool, bool)> = sqlx::query_as(sql::rls::TABLE_STATE)
                .bind(table)
                .bind(sql::rls::POLICY_NAME)
                .fetch_optional(pool)
                .await?;
            match state {
                None => problems.push(IsolationProblem::MissingTable { table }),
                Some((enabled, forced, owned, policy)) => {
                    if !enabled {
                        problems.push(IsolationProblem::RlsDisabled { table });
                    }
                    if owned && !forced {
                        problems.push(IsolationProblem::OwnerNotForced { table });
                    }
                    if !policy {
                        problems.push(IsolationProblem::MissingPolicy { table });
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Isolation(IsolationReport { problems }))
        }
    }
}

/// Why the database would not keep tenants apart for the connected role.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IsolationProblem {
    /// The role is a superuser: RLS never applies to it.
    Superuser,
    /// The role has `BYPASSRLS`.
    BypassRls,
    /// The table does not exist (or is not visible on the search path).
    MissingTable {
        /// The table.
        table: &'static str,
    },
    /// RLS is not enabled on the table.
    RlsDisabled {
        /// The table.
        table: &'static str,
    },
    /// The role owns the table, which is not `FORCE ROW LEVEL SECURITY`: owners bypass RLS.
    OwnerNotForced {
        /// The table.
        table: &'static str,
    },
    /// The table has no tenant policy.
    MissingPolicy {
        /// The table.
        table: &'static str,
    },
}

impl fmt::Display for IsolationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsolationProblem::Superuser => {
                f.write_str("the connected role is a superuser, which bypasses RLS")
            }
            IsolationProblem::BypassRls => f.write_str("the connected role has BYPASSRLS"),
            IsolationProblem::MissingTable { table } => write!(f, "table `{table}` does not exist"),
            IsolationProblem::RlsDisabled { table } => write!(
                f,
                "table `{table}` does not have row level security enabled"
            ),
            IsolationProblem::OwnerNotForced { table } => {
                write!(
                    f,
                    "the connected role owns `{table}`, which lacks FORCE ROW LEVEL SECURITY"
                )
            }
            IsolationProblem::MissingPolicy { table } => {
                write!(
                    f,
                    "table `{table}` has no `{}` policy",
                    sql::rls::POLICY_NAME
                )
            }
        }
    }
}

/// Every problem [`IsolationCheck::run`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsolationReport {
    /// The problems, role first, then table by table.
    pub problems: Vec<IsolationProblem>,
}

impl fmt::Display for IsolationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tenant isolation is not enforced by the database:")?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}
