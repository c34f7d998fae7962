//! The crate's migrations, replayed offline: the `.sql` files are parsed with `sqlparser`
//! (PostgreSQL dialect) in file-name order, and their DDL is applied to a small model of
//! the tables. No database is involved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, ColumnDef, ColumnOption, ObjectName, ObjectType,
    ReferentialAction, Statement, TableConstraint,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// A column as the migrations leave it.
#[derive(Debug, Clone)]
pub struct Column {
    /// The type, normalised (`text`, `int8`, `timestamptz`, `uuid[]`, ...).
    pub ty: String,
    pub not_null: bool,
    pub generated: bool,
    /// Whether the column has a `DEFAULT`.
    pub default: bool,
}

/// A foreign key of a table.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
    /// `ON DELETE CASCADE`, `SET NULL` or `SET DEFAULT`: deleting the parent changes rows.
    pub changes_on_delete: bool,
}

/// A table as the migrations leave it.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Columns in order of creation.
    pub columns: Vec<(String, Column)>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    /// The migration file that last changed the table.
    pub file: String,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    fn column_mut(&mut self, name: &str) -> Option<&mut Column> {
        self.columns
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
    }
}

/// The replayed schema, and what the derive must tell the user about it.
#[derive(Debug, Default)]
pub struct Schema {
    /// Tables by name (`schema.table` for a qualified one).
    pub tables: BTreeMap<String, Table>,
    /// The files read, for `include_str!` (so Cargo rebuilds when one changes).
    pub files: Vec<PathBuf>,
    /// DDL that could not be followed: reported as warnings, and the check is skipped.
    pub unfollowed: Vec<String>,
}

/// Reads and replays the `.sql` files of `dir` in name order.
pub fn replay(dir: &Path) -> Result<Schema, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| {
            format!(
                "cannot read the migrations directory {}: {e}",
                dir.display()
            )
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    let mut schema = Schema::default();
    for path in &files {
        let file = path
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the migration {}: {e}", path.display()))?;
        match Parser::parse_sql(&PostgreSqlDialect {}, &text) {
            Ok(statements) => {
                for statement in statements {
                    schema.apply(statement, &file);
                }
            }
            Err(error) => schema.unfollowed.push(format!("{file}: {error}")),
        }
    }
    schema.files = files;
    Ok(schema)
}

/// PostgreSQL folds unquoted identifiers to lower case.
fn name(ident: &sqlparser::ast::Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// `table` or `schema.table`; a `public.` prefix is dropped.
fn table_name(object: &ObjectName) -> String {
    let parts: Vec<String> = object
        .0
        .iter()
        .filter_map(|part| part.as_ident().map(name))
        .collect();
    match parts.as_slice() {
        [schema, table] if schema == "public" => table.clone(),
        _ => parts.join("."),
    }
}

/// A type name normalised so that synonyms compare equal.
pub fn normalise_type(raw: &str) -> String {
    let lower = raw.to_lowercase();
    let (base, array) = match lower.strip_suffix("[]") {
        Some(base) => (base.trim().to_owned(), true),
        None => (lower.trim().to_owned(), false),
    };
    let bare = base.split('(').next().unwrap_or(&base).trim().to_owned();
    let ty = match bare.as_str() {
        "text" | "varchar" | "character varying" | "char" | "character" | "bpchar" | "citext"
        | "name" => "text",
        "bigint" | "int8" | "bigserial" | "serial8" => "int8",
        "integer" | "int" | "int4" | "serial" | "serial4" => "int4",
        "smallint" | "int2" | "smallserial" | "serial2" => "int2",
        "boolean" | "bool" => "bool",
        "timestamptz" | "timestamp with time zone" => "timestamptz",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "double precision" | "float8" | "float" => "float8",
        "real" | "float4" => "float4",
        "numeric" | "decimal" => "numeric",
        other => other,
    };
    if array {
        format!("{ty}[]")
    } else {
        ty.to_owned()
    }
}

fn column(def: &ColumnDef) -> (String, Column, Vec<ForeignKey>, bool) {
    let mut column = Column {
        ty: normalise_type(&def.data_type.to_string()),
        not_null: false,
        generated: false,
        default: false,
    };
    let mut foreign_keys = Vec::new();
    let mut primary = false;
    for option in &def.options {
        match &option.option {
            ColumnOption::NotNull => column.not_null = true,
            ColumnOption::Default(_) => column.default = true,
            ColumnOption::Null => column.not_null = false,
            ColumnOption::PrimaryKey(_) => {
                primary = true;
                column.not_null = true;
            }
            ColumnOption::Generated {
                generation_expr: Some(_),
                ..
            } => column.generated = true,
            ColumnOption::ForeignKey(fk) => foreign_keys.push(ForeignKey {
                name: option.name.as_ref().map(name),
                columns: vec![name(&def.name)],
                changes_on_delete: changes_on_delete(fk.on_delete),
            }),
            _ => {}
        }
    }
    (name(&def.name), column, foreign_keys, primary)
}

fn changes_on_delete(action: Option<ReferentialAction>) -> bool {
    matches!(
        action,
        Some(
            ReferentialAction::Cascade | ReferentialAction::SetNull | ReferentialAction::SetDefault
        )
    )
}

fn index_column_name(column: &sqlparser::ast::IndexColumn) -> String {
    match &column.column.expr {
        sqlparser::ast::Expr::Identifier(ident) => name(ident),
        other => other.to_string(),
    }
}

impl Schema {
    fn apply(&mut self, statement: Statement, file: &str) {
        match statement {
            Statement::CreateTable(create) => {
                let mut table = Table {
                    file: file.to_owned(),
                    ..Table::default()
                };
                for def in &create.columns {
                    let (column_name, column, foreign_keys, primary) = column(def);
                    if primary {
                        table.primary_key = vec![column_name.clone()];
                    }
                    table.foreign_keys.extend(foreign_keys);
                    table.columns.push((column_name, column));
                }
                for constraint in create.constraints {
                    table.add_constraint(constraint);
                }
                self.tables.insert(table_name(&create.name), table);
            }
            Statement::AlterTable(alter) => {
                let key = table_name(&alter.name);
                let Some(table) = self.tables.get_mut(&key) else {
                    return;
                };
                table.file = file.to_owned();
                for operation in alter.operations {
                    if let Some(unfollowed) = table.alter(operation) {
                        self.unfollowed
                            .push(format!("{file}: ALTER TABLE {key} {unfollowed}"));
                    }
                }
            }
            Statement::Drop {
                object_type: ObjectType::Table,
                names,
                ..
            } => {
                for object in names {
                    self.tables.remove(&table_name(&object));
                }
            }
            // Everything else (indexes, policies, data, functions) leaves the columns as
            // they are.
            _ => {}
        }
    }
}

impl Table {
    fn add_constraint(&mut self, constraint: TableConstraint) {
        match constraint {
            TableConstraint::PrimaryKey(pk) => {
                self.primary_key = pk.columns.iter().map(index_column_name).collect();
                for key in self.primary_key.clone() {
                    if let Some(column) = self.column_mut(&key) {
                        column.not_null = true;
                    }
                }
            }
            TableConstraint::ForeignKey(fk) => self.foreign_keys.push(ForeignKey {
                name: fk.name.as_ref().map(name),
                columns: fk.columns.iter().map(name).collect(),
                changes_on_delete: changes_on_delete(fk.on_delete),
            }),
            _ => {}
        }
    }

    /// Applies one `ALTER TABLE` operation; returns it when it cannot be followed.
    fn alter(&mut self, operation: AlterTableOperation) -> Option<String> {
        match operation {
            AlterTableOperation::AddColumn { column_def, .. } => {
                let (column_name, column, foreign_keys, primary) = column(&column_def);
                if primary {
                    self.primary_key = vec![column_name.clone()];
                }
                self.foreign_keys.extend(foreign_keys);
                self.columns.push((column_name, column));
            }
            AlterTableOperation::DropColumn { column_names, .. } => {
                for dropped in column_names.iter().map(name) {
                    self.columns.retain(|(n, _)| *n != dropped);
                    self.foreign_keys.retain(|k| !k.columns.contains(&dropped));
                }
            }
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => {
                let (old, new) = (name(&old_column_name), name(&new_column_name));
                for (n, _) in &mut self.columns {
                    if *n == old {
                        n.clone_from(&new);
                    }
                }
                for key in &mut self.foreign_keys {
                    for c in &mut key.columns {
                        if *c == old {
                            c.clone_from(&new);
                        }
                    }
                }
            }
            AlterTableOperation::AlterColumn { column_name, op } => {
                let column = self.column_mut(&name(&column_name))?;
                match op {
                    AlterColumnOperation::SetNotNull => column.not_null = true,
                    AlterColumnOperation::DropNotNull => column.not_null = false,
                    AlterColumnOperation::SetDataType { data_type, .. } => {
                        column.ty = normalise_type(&data_type.to_string());
                    }
                    AlterColumnOperation::SetDefault { .. } => column.default = true,
                    AlterColumnOperation::DropDefault => column.default = false,
                    other => return Some(other.to_string()),
                }
            }
            AlterTableOperation::AddConstraint { constraint, .. } => {
                self.add_constraint(constraint)
            }
            AlterTableOperation::DropConstraint { name: dropped, .. } => {
                let dropped = name(&dropped);
                self.foreign_keys
                    .retain(|k| k.name.as_deref() != Some(dropped.as_str()));
            }
            AlterTableOperation::EnableRowLevelSecurity
            | AlterTableOperation::DisableRowLevelSecurity
            | AlterTableOperation::ForceRowLevelSecurity
            | AlterTableOperation::NoForceRowLevelSecurity
            | AlterTableOperation::OwnerTo { .. } => {}
            other => return Some(other.to_string()),
        }
        None
    }
}
