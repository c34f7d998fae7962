//! What the schema check found: the report of
//! [`TenantDb::verify_schema`](crate::TenantDb::verify_schema). A leaf module.

use std::fmt;

/// One way a table does not fit its entity, or the library's multi-tenant rules.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaProblem {
    /// The entity's table does not exist (or is not on the search path).
    MissingTable {
        /// The table.
        table: &'static str,
    },
    /// A field has no column.
    MissingColumn {
        /// The table.
        table: &'static str,
        /// The column the field maps to.
        column: &'static str,
    },
    /// The column's type cannot be decoded into the field's type.
    TypeMismatch {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The SQL type the field's Rust type expects.
        expected: String,
        /// The column's SQL type.
        found: String,
    },
    /// The column may be `NULL` but the field is not an `Option`: reading a `NULL` fails.
    NullableColumn {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
    },
    /// The field is `generated` and the column is not, or the other way round.
    GeneratedMismatch {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// Whether the database generates the column.
        generated_in_database: bool,
    },
    /// The field is `default`, but the column has no default in the database.
    MissingDefault {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
    },
    /// A primary key or unique index does not include the tenant column: it makes values
    /// unique across tenants (one tenant's row blocks another's), and a tenant-distributed
    /// PostgreSQL cannot enforce it.
    KeyWithoutTenant {
        /// The table.
        table: &'static str,
        /// The index.
        index: String,
    },
    /// A `belongs_to` column has no foreign key.
    MissingForeignKey {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
    },
    /// A `belongs_to` column's foreign key does not include the tenant column, so the
    /// database would let a row point at another tenant's parent.
    ForeignKeyWithoutTenant {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The constraint.
        constraint: String,
    },
    /// A foreign key of an audited table deletes or changes its rows when the parent goes
    /// (`ON DELETE CASCADE`, `SET NULL`, `SET DEFAULT`): those changes leave no record.
    CascadeIntoAudited {
        /// The audited table.
        table: &'static str,
        /// The constraint.
        constraint: String,
    },
    /// No index starts with the tenant column and a `belongs_to` column: each batch load
    /// scans the tenant's rows.
    MissingLoaderIndex {
        /// The table.
        table: &'static str,
        /// The foreign-key column.
        column: &'static str,
    },
    /// The unique index of a declared key on a soft-deleting table is not partial on live
    /// rows (`WHERE deleted_at IS NULL`): a deleted row keeps its key, so an upsert of that
    /// key is a conflict instead of a new row.
    UniqueKeyKeepsDeletedRows {
        /// The table.
        table: &'static str,
        /// The key's columns.
        columns: Vec<&'static str>,
    },
    /// No unique index on the tenant and a declared `unique` key (partial on live rows for
    /// a soft-deleting table, not partial otherwise): upserts on it fail.
    MissingUniqueIndex {
        /// The table.
        table: &'static str,
        /// The key's columns.
        columns: Vec<&'static str>,
    },
}

impl fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaProblem::MissingTable { table } => write!(f, "table `{table}` does not exist"),
            SchemaProblem::MissingColumn { table, column } => {
                write!(f, "`{table}` has no column `{column}`")
            }
            SchemaProblem::TypeMismatch {
                table,
                column,
                expected,
                found,
            } => write!(
                f,
                "`{table}.{column}` is `{found}`, but the field's type reads `{expected}`"
            ),
            SchemaProblem::NullableColumn { table, column } => write!(
                f,
                "`{table}.{column}` may be NULL, but its field is not an `Option`"
            ),
            SchemaProblem::MissingDefault { table, column } => write!(
                f,
                "`{table}.{column}` is marked `default`, but the column has no default: add `DEFAULT <expression>` (an id may be `GENERATED ALWAYS AS IDENTITY` instead)"
            ),
            SchemaProblem::GeneratedMismatch {
                table,
                column,
                generated_in_database,
            } => {
                if *generated_in_database {
                    write!(
                        f,
                        "`{table}.{column}` is generated by the database: mark its field `#[tenant(generated)]`"
                    )
                } else {
                    write!(
                        f,
                        "`{table}.{column}` is marked `generated`, but the database does not generate it"
                    )
                }
            }
            SchemaProblem::KeyWithoutTenant { table, index } => write!(
                f,
                "`{index}` on `{table}` is unique without the tenant column"
            ),
            SchemaProblem::MissingForeignKey { table, column } => write!(
                f,
                "`{table}.{column}` is a `belongs_to` without a foreign key"
            ),
            SchemaProblem::ForeignKeyWithoutTenant {
                table,
                column,
                constraint,
            } => write!(
                f,
                "the foreign key `{constraint}` of `{table}.{column}` does not include the tenant column: \
                 declare `(tenant, {column}) REFERENCES parent (tenant, id)`"
            ),
            SchemaProblem::CascadeIntoAudited { table, constraint } => write!(
                f,
                "`{constraint}` deletes or changes rows of the audited table `{table}` without a record"
            ),
            SchemaProblem::MissingLoaderIndex { table, column } => write!(
                f,
                "no index on `{table}` starts with the tenant column and `{column}`"
            ),
            SchemaProblem::MissingUniqueIndex { table, columns } => write!(
                f,
                "no unique index on `{table}` that upserts can use covers the tenant and ({})",
                columns.join(", ")
            ),
            SchemaProblem::UniqueKeyKeepsDeletedRows { table, columns } => write!(
                f,
                "the unique index of ({}) on `{table}` is not partial on live rows, so deleted rows keep their keys",
                columns.join(", ")
            ),
        }
    }
}

/// Every problem the schema check found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaReport {
    /// The problems, entity by entity.
    pub problems: Vec<SchemaProblem>,
}

impl fmt::Display for SchemaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the database schema does not fit the entities:")?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}
