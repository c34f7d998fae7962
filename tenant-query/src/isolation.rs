//! Why the database would not keep tenants apart: the report of
//! [`TenantDb::verify_isolation`](crate::TenantDb::verify_isolation). A leaf module.

use std::fmt;

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
    /// The role owns the table, directly or through a role it inherits from, and the table
    /// is not `FORCE ROW LEVEL SECURITY`: owners bypass RLS.
    OwnerNotForced {
        /// The table.
        table: &'static str,
        /// The owning role.
        owner: String,
    },
    /// The table has no tenant policy.
    MissingPolicy {
        /// The table.
        table: &'static str,
    },
    /// Another permissive policy applies to the role: permissive policies are combined
    /// with `OR`, so it can let rows of every tenant through.
    ExtraPermissivePolicy {
        /// The table.
        table: &'static str,
        /// The policy's name.
        policy: String,
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
            IsolationProblem::OwnerNotForced { table, owner } => write!(
                f,
                "the connected role has the rights of `{owner}`, which owns `{table}`, \
                 and the table lacks FORCE ROW LEVEL SECURITY"
            ),
            IsolationProblem::MissingPolicy { table } => {
                write!(f, "table `{table}` has no tenant policy")
            }
            IsolationProblem::ExtraPermissivePolicy { table, policy } => write!(
                f,
                "table `{table}` has another permissive policy, `{policy}`, that applies to \
                 the connected role and is OR-ed with the tenant policy"
            ),
        }
    }
}

/// Every problem the isolation check found.
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
