//! The schema, checked at startup against `pg_catalog`, and the DDL an entity expects.
//!
//! [`TenantDb::verify_schema`](crate::TenantDb::verify_schema) reads the catalog once per
//! table and reports every way a table does not fit its entity or the library's
//! multi-tenant rules; [`create_table_sql`] prints DDL that passes that check.

use std::fmt::Write;

use sqlx::postgres::PgTypeInfo;
use sqlx::postgres::types::Oid;
use sqlx::{AssertSqlSafe, TypeInfo};

use crate::backend::Backend;
use crate::entity::TenantEntity;
use crate::error::{Error, Result};
use crate::exec::Route;
use crate::meta::{ColumnMeta, ColumnRole, EntityMeta};
use crate::sql::{self, ident, table};
use crate::trace::Summary;

pub use crate::schema_report::{SchemaProblem, SchemaReport};

/// The entities to check; see [`TenantDb::verify_schema`](crate::TenantDb::verify_schema).
#[derive(Debug)]
#[must_use = "the check does nothing until `run`"]
pub struct SchemaCheck<'a> {
    backend: &'a Backend,
    entities: Vec<&'static EntityMeta>,
    warn_only: bool,
}

type Column = (String, Oid, String, String, bool, bool, bool, bool);
type Index = (String, bool, bool, Option<String>, Vec<String>);
type ForeignKey = (String, Vec<String>, Vec<String>, bool);

impl<'a> SchemaCheck<'a> {
    pub(crate) fn new(backend: &'a Backend) -> Self {
        SchemaCheck {
            backend,
            entities: Vec::new(),
            warn_only: false,
        }
    }

    /// Also checks `E`'s table.
    pub fn entity<E: TenantEntity>(mut self) -> Self {
        self.entities.push(E::meta());
        self
    }

    /// Reports problems as `tracing` warnings and returns them, instead of failing.
    pub fn warn_only(mut self) -> Self {
        self.warn_only = true;
        self
    }

    /// Runs the check: [`Error::Schema`] lists every problem (or, with
    /// [`warn_only`](Self::warn_only), the report comes back as `Ok`). The catalog reads
    /// are sent like every other statement, so the check works behind a transaction pooler.
    pub async fn run(self) -> Result<SchemaReport> {
        let mut report = SchemaReport::default();
        for meta in &self.entities {
            self.check(meta, &mut report.problems).await?;
        }
        if report.problems.is_empty() {
            return Ok(report);
        }
        if self.warn_only {
            for problem in &report.problems {
                tracing::warn!(target: "tenant_query::schema", %problem, "schema problem");
            }
            return Ok(report);
        }
        Err(Error::Schema(report))
    }

    async fn read<R>(&self, query: sql::plan::Dynamic) -> Result<Vec<R>>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        let (statement, args) = query.bind(None)?;
        Route::unscoped(self.backend, Summary::select("pg_catalog"))
            .fetch_all(AssertSqlSafe(statement.into_sql()), args)
            .await
    }

    async fn check(
        &self,
        meta: &'static EntityMeta,
        problems: &mut Vec<SchemaProblem>,
    ) -> Result<()> {
        let table = meta.table;
        let columns: Vec<Column> = self.read(sql::catalog::columns(table)).await?;
        if columns.is_empty() {
            problems.push(SchemaProblem::MissingTable { table });
            return Ok(());
        }
        for column in meta.columns {
            let Some(found) = columns.iter().find(|c| c.0 == column.name) else {
                problems.push(SchemaProblem::MissingColumn {
                    table,
                    column: column.name,
                });
                continue;
            };
            check_column(table, column, found, problems);
        }
        let indexes: Vec<Index> = self.read(sql::catalog::indexes(table)).await?;
        // A `via` entity has no tenant column: its parent's key proves the tenant.
        let tenant = meta.via.is_none().then_some(meta.tenant.name);
        for (name, unique, _, _, index_columns) in &indexes {
            let Some(tenant) = tenant else { break };
            if *unique && !index_columns.iter().any(|c| c == tenant) {
                problems.push(SchemaProblem::KeyWithoutTenant {
                    table,
                    index: name.clone(),
                });
            }
        }
        let foreign_keys: Vec<ForeignKey> = self.read(sql::catalog::foreign_keys(table)).await?;
        for relation in meta.relations {
            let fk = relation.column.name;
            let parent = (relation.parent)();
            let own: Vec<&ForeignKey> = foreign_keys
                .iter()
                .filter(|k| k.1.iter().any(|c| c == fk))
                .collect();
            if own.is_empty() {
                problems.push(SchemaProblem::MissingForeignKey { table, column: fk });
            }
            // A composite key pairs the tenant with the tenant and the fk with the id; a
            // parent without a tenant column (`via`) can only be referenced by its id.
            let paired_tenant = tenant.filter(|_| parent.via.is_none());
            let scoped = |k: &&ForeignKey| {
                let pairs: Vec<(&str, &str)> =
                    k.1.iter()
                        .map(String::as_str)
                        .zip(k.2.iter().map(String::as_str))
                        .collect();
                paired_tenant.is_none_or(|tenant| pairs.contains(&(tenant, parent.tenant.name)))
                    && pairs.contains(&(fk, parent.id.name))
            };
            for key in own.iter().filter(|k| !scoped(k)) {
                problems.push(SchemaProblem::ForeignKeyWithoutTenant {
                    table,
                    column: fk,
                    constraint: key.0.clone(),
                });
            }
            let leads = |c: &Vec<String>| match tenant {
                Some(tenant) => c.len() >= 2 && c[0] == tenant && c[1] == fk,
                None => c.first().is_some_and(|c| c == fk),
            };
            if !indexes.iter().any(|i| leads(&i.4)) {
                problems.push(SchemaProblem::MissingLoaderIndex { table, column: fk });
            }
        }
        if meta.audit {
            for key in foreign_keys.iter().filter(|k| k.3) {
                problems.push(SchemaProblem::CascadeIntoAudited {
                    table,
                    constraint: key.0.clone(),
                });
            }
        }
        // The index an upsert's `ON CONFLICT (tenant, key) [WHERE <soft delete> IS NULL]`
        // can use: exactly those columns, partial on live rows for a soft-deleting entity
        // (so that a deleted row frees its key), not partial otherwise.
        let live = meta.soft_delete.map(|sd| format!("({} IS NULL)", sd.name));
        for key in meta.unique_keys {
            let mut wanted: Vec<&str> = key.iter().map(|c| c.name).collect();
            wanted.extend(tenant);
            wanted.sort_unstable();
            let candidates: Vec<&Option<String>> = indexes
                .iter()
                .filter(|(_, unique, _, _, columns)| {
                    let mut columns: Vec<&str> = columns.iter().map(String::as_str).collect();
                    columns.sort_unstable();
                    *unique && columns == wanted
                })
                .map(|index| &index.3)
                .collect();
            let columns: Vec<&'static str> = key.iter().map(|c| c.name).collect();
            let unquoted = |p: &Option<String>| p.as_ref().map(|p| p.replace('"', ""));
            if candidates
                .iter()
                .any(|predicate| unquoted(predicate) == live)
            {
                continue;
            }
            if live.is_some() && candidates.iter().any(|predicate| predicate.is_none()) {
                problems.push(SchemaProblem::UniqueKeyKeepsDeletedRows { table, columns });
            } else {
                problems.push(SchemaProblem::MissingUniqueIndex { table, columns });
            }
        }
        Ok(())
    }
}

fn check_column(
    table: &'static str,
    column: &'static ColumnMeta,
    found: &Column,
    problems: &mut Vec<SchemaProblem>,
) {
    let (_, oid, type_name, formatted, not_null, generated, has_default, identity) = found;
    let expected = (column.sql_type)();
    // An array type's `compatible` asks for its element type, which a bare oid lacks.
    let by_oid = if column.array {
        expected.oid() == Some(*oid)
    } else {
        (column.accepts)(&PgTypeInfo::with_oid(*oid))
    };
    // Types declared by name (enums, domains) are matched by name, arrays as `text[]`.
    let by_name = expected.name().eq_ignore_ascii_case(type_name)
        || expected.name().eq_ignore_ascii_case(formatted);
    if !by_oid && !by_name {
        problems.push(SchemaProblem::TypeMismatch {
            table,
            column: column.name,
            expected: expected.name().to_owned(),
            found: formatted.clone(),
        });
    }
    if !not_null && !column.nullable {
        problems.push(SchemaProblem::NullableColumn {
            table,
            column: column.name,
        });
    }
    if column.default && !has_default {
        problems.push(SchemaProblem::MissingDefault {
            table,
            column: column.name,
        });
    }
    if column.role == ColumnRole::Id && column.generated {
        // An id the database makes (`#[tenant(id, default)]`) is left out of inserts: an
        // identity, a default or a generated expression must supply it.
        if !(*identity || *has_default || *generated) {
            problems.push(SchemaProblem::MissingDefault {
                table,
                column: column.name,
            });
        }
    } else if *generated != column.generated {
        problems.push(SchemaProblem::GeneratedMismatch {
            table,
            column: column.name,
            generated_in_database: *generated,
        });
    }
}

/// The DDL `E` expects, which passes [`TenantDb::verify_schema`](crate::TenantDb::verify_schema):
/// the columns with their types and nullability, a primary key led by the tenant, a
/// composite foreign key and a tenant-leading index per `belongs_to`, a unique index per
/// declared key (partial on live rows for soft-deleting entities), and, given an RLS
/// setting, the row-level security policy. Generated columns need their expression: the
/// DDL leaves a placeholder to fill in.
///
/// ```
/// # use tenant_query::prelude::*;
/// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "projects")]
/// # pub struct Project { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid }
/// # #[derive(Debug, Clone, TenantEntity)] #[tenant(table = "tasks", unique = "title")]
/// # pub struct Task { #[tenant(id)] pub id: uuid::Uuid, #[tenant(tenant_id)] pub org_id: uuid::Uuid,
/// #     #[tenant(belongs_to = Project)] pub project_id: uuid::Uuid, pub title: String }
/// let ddl = tenant_query::schema::create_table_sql::<Task>(None);
/// assert!(ddl.contains(r#"PRIMARY KEY ("org_id", "id")"#));
/// assert!(ddl.contains(r#"FOREIGN KEY ("org_id", "project_id") REFERENCES "projects" ("org_id", "id")"#));
/// ```
pub fn create_table_sql<E: TenantEntity>(rls_setting: Option<&str>) -> String {
    let meta = E::meta();
    let name = meta.table;
    let bare = name.rsplit('.').next().unwrap_or(name);
    // Keys lead with the tenant column; a `via` entity has none.
    let lead = match meta.via {
        None => format!("{}, ", ident(meta.tenant.name)),
        Some(_) => String::new(),
    };
    let mut lines: Vec<String> = meta
        .columns
        .iter()
        .map(|c| {
            let null = if c.nullable { "" } else { " NOT NULL" };
            let generated = match (c.generated, c.role, (c.sql_type)().name()) {
                (false, ..) => "",
                // An id the database makes: an identity, or a default for a uuid.
                (true, ColumnRole::Id, "INT2" | "INT4" | "INT8") => " GENERATED ALWAYS AS IDENTITY",
                (true, ColumnRole::Id, "UUID") => " DEFAULT gen_random_uuid()",
                (true, ColumnRole::Id, _) => " DEFAULT /* the expression */ NULL",
                (true, ..) => " GENERATED ALWAYS AS (/* the expression */ NULL) STORED",
            };
            format!(
                "    {} {}{null}{generated}",
                ident(c.name),
                (c.sql_type)().name()
            )
        })
        .collect();
    lines.push(format!("    PRIMARY KEY ({lead}{})", ident(meta.id.name)));
    for relation in meta.relations {
        let parent = (relation.parent)();
        let parent_lead = match (meta.via, parent.via) {
            (None, None) => format!("{}, ", ident(parent.tenant.name)),
            _ => String::new(),
        };
        let own_lead = if parent_lead.is_empty() { "" } else { &lead };
        lines.push(format!(
            "    FOREIGN KEY ({own_lead}{}) REFERENCES {} ({parent_lead}{})",
            ident(relation.column.name),
            table(parent.table),
            ident(parent.id.name)
        ));
    }
    let mut ddl = format!(
        "CREATE TABLE {} (\n{}\n);\n",
        table(name),
        lines.join(",\n")
    );
    for relation in meta.relations {
        let fk = relation.column.name;
        let _ = writeln!(
            ddl,
            "CREATE INDEX {} ON {} ({lead}{});",
            ident(&format!("{bare}_{fk}_idx")),
            table(name),
            ident(fk)
        );
    }
    for key in meta.unique_keys {
        let names: Vec<&str> = key.iter().map(|c| c.name).collect();
        let columns: Vec<String> = names.iter().map(|n| ident(n)).collect();
        let live = meta
            .soft_delete
            .map(|sd| format!(" WHERE {} IS NULL", ident(sd.name)))
            .unwrap_or_default();
        let _ = writeln!(
            ddl,
            "CREATE UNIQUE INDEX {} ON {} ({lead}{}){live};",
            ident(&format!("{bare}_{}_key", names.join("_"))),
            table(name),
            columns.join(", ")
        );
    }
    // A `via` table has no tenant column for a policy to compare.
    if let Some(setting) = rls_setting.filter(|_| meta.via.is_none()) {
        let (_, column, sql_type) = crate::rls::entity_target(meta);
        ddl.push_str(&sql::rls::policy(
            name,
            column,
            sql_type.as_deref(),
            setting,
        ));
    }
    ddl
}
