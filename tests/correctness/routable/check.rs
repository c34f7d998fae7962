//! The routability check: a tenant-distributed PostgreSQL (Citus, distributing each table
//! by its tenant column) sends a statement to one node only when every distributed table
//! in it is filtered by the tenant or joined on it to a table that is. Citus itself is not
//! at hand, so the check is structural: each statement is parsed with `sqlparser` and every
//! table reference must carry `alias.tenant = $n` (the tenant parameter), or an equality
//! of its tenant column with the tenant column of a reference that does; an `INSERT` must
//! give its tenant column the tenant parameter, and no update may set a tenant column. All
//! of a statement's references must be pinned to the same parameter.
//!
//! What the check walks: every statement, CTE (data-modifying ones included), derived
//! table, subquery in any expression (`EXISTS`, `IN`, scalar), join, and the targets of
//! `INSERT`, `UPDATE` and `DELETE` (`USING`, `FROM`, `ON CONFLICT`, `RETURNING`).
//! Conservative where it does not understand: an `OR` pins nothing, an outer join or an
//! unknown table is a finding of its own, and a subquery inside an expression the walker
//! does not descend into is reported as unsupported rather than skipped. System catalogs
//! (`pg_*`) are local to every node and not checked.

use std::collections::{HashMap, HashSet};
use std::fmt;

use sqlparser::ast::{
    self, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, InTarget,
    JoinConstraint, JoinOperator, ObjectName, Query, Select, SelectItem, SetExpr, TableFactor,
    TableObject, TableWithJoins, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use tenant_query::__private_v0_1::{EntityMeta, Generated};

/// The audit log's table, its tenant column and its columns, read from the library's own
/// DDL (`tenant_query::MIGRATION_SQL`): the tenant column is the first of the primary key,
/// tenant first as everywhere in the library.
fn audit_log() -> (String, String, Vec<String>) {
    // The tables come first; the in-place upgrade of older logs (a `DO` block) follows.
    let tables = tenant_query::MIGRATION_SQL
        .split("DO $$")
        .next()
        .unwrap_or_default();
    let ddl = Parser::parse_sql(&PostgreSqlDialect {}, tables).expect("the audit log's DDL parses");
    let table = ddl
        .iter()
        .find_map(|statement| match statement {
            ast::Statement::CreateTable(table) => Some(table),
            _ => None,
        })
        .expect("the DDL creates the audit log");
    let tenant = table
        .constraints
        .iter()
        .find_map(|constraint| match constraint {
            ast::TableConstraint::PrimaryKey(key) => match &key.columns.first()?.column.expr {
                Expr::Identifier(column) => Some(name(column)),
                _ => None,
            },
            _ => None,
        })
        .expect("the audit log has a primary key, tenant first");
    let columns = table.columns.iter().map(|c| name(&c.name)).collect();
    (object_name(&table.name).join("."), tenant, columns)
}

/// The distributed tables: name -> (tenant column, every column).
#[derive(Debug, Default)]
pub struct Tables {
    tables: HashMap<String, (String, HashSet<String>)>,
}

impl Tables {
    /// The tables of `entities` and the audit log.
    pub fn of(entities: &[&EntityMeta]) -> Self {
        let mut tables = Tables::default();
        let (log, tenant, columns) = audit_log();
        tables.add(&log, &tenant, columns.iter().map(String::as_str));
        for meta in entities {
            tables.add(
                meta.table,
                meta.tenant.name,
                meta.columns.iter().map(|c| c.name),
            );
        }
        tables
    }

    fn add<'a>(&mut self, table: &str, tenant: &str, columns: impl Iterator<Item = &'a str>) {
        self.tables.insert(
            table.to_owned(),
            (tenant.to_owned(), columns.map(str::to_owned).collect()),
        );
    }
}

/// A table reference that a tenant-distributed PostgreSQL could not route to one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The statement, as sent.
    pub statement: String,
    /// The table (or, for a statement-wide finding, every table concerned).
    pub table: String,
    /// Why.
    pub reason: Reason,
}

/// Why a reference is not routable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Its tenant column is neither compared with the tenant parameter nor equated with the
    /// tenant column of a reference that is.
    Unfiltered,
    /// An `INSERT` that does not set the tenant column to a parameter.
    InsertWithoutTenant,
    /// Tenant columns are compared with different parameters: several shards.
    SeveralParameters(Vec<String>),
    /// The tenant column is compared with a parameter that is not the tenant's.
    NotTheTenantParameter { expected: String, found: String },
    /// An `UPDATE` (or `ON CONFLICT DO UPDATE`) sets the tenant column: the row would move
    /// to another tenant's shard, which a distributed table refuses.
    TenantAssigned,
    /// A table the check does not know: neither an entity's nor the audit log.
    UnknownTable,
    /// SQL the check does not understand, so cannot vouch for.
    Unsupported(String),
    /// SQL the parser rejects.
    Unparsable(String),
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match &self.reason {
            Reason::Unfiltered => {
                "not filtered by the tenant parameter, nor joined on the tenant to a table that is"
                    .to_owned()
            }
            Reason::InsertWithoutTenant => {
                "inserted without the tenant parameter in the tenant column".to_owned()
            }
            Reason::SeveralParameters(p) => {
                format!(
                    "tenant columns compared with several parameters: {}",
                    p.join(", ")
                )
            }
            Reason::NotTheTenantParameter { expected, found } => {
                format!("tenant compared with {found}, not the tenant parameter {expected}")
            }
            Reason::TenantAssigned => "the tenant column is assigned".into(),
            Reason::UnknownTable => "a table that is neither an entity's nor the audit log".into(),
            Reason::Unsupported(what) => format!("not understood by the check: {what}"),
            Reason::Unparsable(error) => format!("unparsable: {error}"),
        };
        write!(f, "{}: {reason}\n    in: {}", self.table, self.statement)
    }
}

/// Every finding of `sql` against `tables`. `tenant` is the number of the tenant's
/// placeholder when known; otherwise the one placeholder the tenant columns are compared
/// with is taken as the tenant's.
pub fn check(sql: &str, tables: &Tables, tenant: Option<usize>) -> Vec<Finding> {
    let finding = |table: &str, reason| Finding {
        statement: sql.to_owned(),
        table: table.to_owned(),
        reason,
    };
    let statements = match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(statements) => statements,
        Err(error) => return vec![finding("", Reason::Unparsable(error.to_string()))],
    };
    let mut walk = Walk {
        tables,
        refs: Vec::new(),
        scopes: Vec::new(),
        ctes: Vec::new(),
        problems: Vec::new(),
    };
    for statement in &statements {
        walk.statement(statement);
    }
    let mut findings: Vec<Finding> = walk
        .problems
        .into_iter()
        .map(|(table, reason)| finding(&table, reason))
        .collect();
    let mut parameters: Vec<String> = walk.refs.iter().filter_map(|r| r.pinned.clone()).collect();
    parameters.sort();
    parameters.dedup();
    let all_tables = || {
        let mut names: Vec<&str> = walk.refs.iter().map(|r| r.table.as_str()).collect();
        names.sort();
        names.dedup();
        names.join(", ")
    };
    if parameters.len() > 1 {
        findings.push(finding(
            &all_tables(),
            Reason::SeveralParameters(parameters.clone()),
        ));
    }
    if let Some(expected) = tenant.map(|n| format!("${n}")) {
        for found in parameters.into_iter().filter(|p| *p != expected) {
            findings.push(finding(
                &all_tables(),
                Reason::NotTheTenantParameter {
                    expected: expected.clone(),
                    found,
                },
            ));
        }
    }
    findings
}

/// One table reference of the statement.
struct Ref {
    table: String,
    /// The name its columns are qualified with.
    alias: String,
    tenant: String,
    columns: HashSet<String>,
    /// The placeholder its tenant column equals, once known.
    pinned: Option<String>,
}

struct Walk<'t> {
    tables: &'t Tables,
    refs: Vec<Ref>,
    /// The references of each enclosing `FROM`, innermost last.
    scopes: Vec<Vec<usize>>,
    /// The CTE names in scope.
    ctes: Vec<HashSet<String>>,
    problems: Vec<(String, Reason)>,
}

/// An identifier as PostgreSQL folds it.
fn name(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

fn object_name(object: &ObjectName) -> Vec<String> {
    object
        .0
        .iter()
        .map(|part| {
            part.as_ident()
                .map(name)
                .unwrap_or_else(|| part.to_string())
        })
        .collect()
}

fn placeholder(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => Some(p.clone()),
            _ => None,
        },
        Expr::Nested(inner) => placeholder(inner),
        _ => None,
    }
}

/// The `AND`ed terms of `expr`.
fn conjuncts<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        Expr::Nested(inner) => conjuncts(inner, out),
        other => out.push(other),
    }
}

impl Walk<'_> {
    fn unsupported(&mut self, what: impl fmt::Display) {
        let what = what.to_string();
        let short: String = what.chars().take(120).collect();
        self.problems
            .push((String::new(), Reason::Unsupported(short)));
    }

    /// Runs `f` with no enclosing `FROM` visible: CTEs and non-lateral derived tables
    /// cannot see the outer query's tables.
    fn detached(&mut self, f: impl FnOnce(&mut Self)) {
        let outer = std::mem::take(&mut self.scopes);
        f(self);
        self.scopes = outer;
    }

    fn statement(&mut self, statement: &ast::Statement) {
        match statement {
            ast::Statement::Query(query) => self.query(query),
            ast::Statement::Insert(insert) => self.insert(insert),
            ast::Statement::Update(update) => self.update(update),
            ast::Statement::Delete(delete) => self.delete(delete),
            other => self.unsupported(other),
        }
    }

    fn query(&mut self, query: &Query) {
        let mut names = HashSet::new();
        if let Some(with) = &query.with {
            names.extend(with.cte_tables.iter().map(|cte| name(&cte.alias.name)));
        }
        self.ctes.push(names);
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.detached(|walk| walk.query(&cte.query));
            }
        }
        self.set_expr(&query.body);
        if let Some(order_by) = &query.order_by
            && let ast::OrderByKind::Expressions(exprs) = &order_by.kind
        {
            for e in exprs {
                self.expr(&e.expr);
            }
        }
        self.ctes.pop();
    }

    fn set_expr(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Select(select) => self.select(select),
            SetExpr::Query(query) => self.query(query),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left);
                self.set_expr(right);
            }
            SetExpr::Values(values) => {
                for row in &values.rows {
                    for e in &row.content {
                        self.expr(e);
                    }
                }
            }
            SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) => self.statement(s),
            other => self.unsupported(other),
        }
    }

    /// Adds the references of `from` to a new scope, pins them, reports the unpinned ones
    /// and walks the subqueries of `exprs` within the scope.
    fn scope<'e>(
        &mut self,
        from: &'e [TableWithJoins],
        filter: Option<&'e Expr>,
        pinned: &[(usize, String)],
        exprs: impl IntoIterator<Item = &'e Expr>,
    ) {
        let mut scope = Vec::new();
        let mut terms = Vec::new();
        let mut join_exprs = Vec::new();
        for twj in from {
            self.joined(twj, &mut scope, &mut terms, &mut join_exprs);
        }
        for (i, p) in pinned {
            scope.push(*i);
            self.refs[*i].pinned = Some(p.clone());
        }
        if let Some(filter) = filter {
            conjuncts(filter, &mut terms);
        }
        self.scopes.push(scope.clone());
        self.pin(&scope, &terms);
        for &i in &scope {
            if self.refs[i].pinned.is_none() {
                let table = self.refs[i].table.clone();
                self.problems.push((table, Reason::Unfiltered));
            }
        }
        for e in join_exprs.into_iter().chain(filter).chain(exprs) {
            self.expr(e);
        }
        self.scopes.pop();
    }

    /// The references of one `FROM` item with its joins; inner joins' `ON` terms pin.
    fn joined<'e>(
        &mut self,
        twj: &'e TableWithJoins,
        scope: &mut Vec<usize>,
        terms: &mut Vec<&'e Expr>,
        join_exprs: &mut Vec<&'e Expr>,
    ) {
        self.factor(&twj.relation, scope, terms, join_exprs);
        for join in &twj.joins {
            let (inner, constraint) = match &join.join_operator {
                JoinOperator::Join(c) | JoinOperator::Inner(c) | JoinOperator::CrossJoin(c) => {
                    (true, c)
                }
                JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (false, c),
                other => {
                    self.unsupported(format!("{other:?}"));
                    continue;
                }
            };
            let before = scope.len();
            self.factor(&join.relation, scope, terms, join_exprs);
            // An outer join's condition does not restrict the rows of either side the way
            // a filter does: a distributed table behind one is not understood.
            if !inner && scope.len() > before {
                self.unsupported(format!("an outer join of {}", join.relation));
            }
            match constraint {
                JoinConstraint::On(on) => {
                    if inner {
                        conjuncts(on, terms);
                    }
                    join_exprs.push(on);
                }
                JoinConstraint::None => {}
                other => self.unsupported(format!("{other:?}")),
            }
        }
    }

    fn factor<'e>(
        &mut self,
        factor: &'e TableFactor,
        scope: &mut Vec<usize>,
        terms: &mut Vec<&'e Expr>,
        join_exprs: &mut Vec<&'e Expr>,
    ) {
        match factor {
            TableFactor::Table {
                name: table,
                alias,
                args: None,
                ..
            } => {
                let parts = object_name(table);
                let alias = alias.as_ref().map(|a| name(&a.name));
                if let Some(i) = self.reference(&parts, alias) {
                    scope.push(i);
                }
            }
            // A table function (`unnest(...)`): its arguments may hold subqueries.
            TableFactor::Table {
                args: Some(args), ..
            } => {
                for arg in &args.args {
                    self.function_arg(arg);
                }
            }
            TableFactor::UNNEST { array_exprs, .. } => {
                for e in array_exprs {
                    self.expr(e);
                }
            }
            TableFactor::Function { args, .. } => {
                for arg in args {
                    self.function_arg(arg);
                }
            }
            TableFactor::Derived {
                lateral, subquery, ..
            } => {
                if *lateral {
                    // Sees the references before it: walk it with them in scope.
                    self.scopes.push(scope.clone());
                    self.query(subquery);
                    self.scopes.pop();
                } else {
                    self.detached(|walk| walk.query(subquery));
                }
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.joined(table_with_joins, scope, terms, join_exprs),
            other => self.unsupported(other),
        }
    }

    /// The reference to table `parts` (aliased `alias`), if it is a distributed table; a
    /// CTE or a system catalog is none, an unknown table a finding.
    fn reference(&mut self, parts: &[String], alias: Option<String>) -> Option<usize> {
        let full = parts.join(".");
        if parts.len() == 1 && self.ctes.iter().any(|names| names.contains(&full)) {
            return None;
        }
        if parts.iter().any(|p| p.starts_with("pg_"))
            || parts.first().is_some_and(|p| p == "information_schema")
        {
            return None;
        }
        let Some((tenant, columns)) = self.tables.tables.get(&full) else {
            self.problems.push((full, Reason::UnknownTable));
            return None;
        };
        self.refs.push(Ref {
            table: full,
            alias: alias.unwrap_or_else(|| parts.last().cloned().unwrap_or_default()),
            tenant: tenant.clone(),
            columns: columns.clone(),
            pinned: None,
        });
        Some(self.refs.len() - 1)
    }

    /// The reference whose tenant column `expr` names, looking outward from the innermost
    /// scope as PostgreSQL resolves names.
    fn tenant_of(&self, expr: &Expr) -> Option<usize> {
        match expr {
            Expr::Nested(inner) => self.tenant_of(inner),
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                let (qualifier, column) = (name(&parts[0]), name(&parts[1]));
                for scope in self.scopes.iter().rev() {
                    if let Some(&i) = scope.iter().find(|&&i| self.refs[i].alias == qualifier) {
                        return (self.refs[i].tenant == column).then_some(i);
                    }
                }
                None
            }
            Expr::Identifier(ident) => {
                let column = name(ident);
                for scope in self.scopes.iter().rev() {
                    let having: Vec<usize> = scope
                        .iter()
                        .copied()
                        .filter(|&i| self.refs[i].columns.contains(&column))
                        .collect();
                    match having.as_slice() {
                        [] => continue,
                        [i] => return (self.refs[*i].tenant == column).then_some(*i),
                        _ => return None,
                    }
                }
                None
            }
            _ => None,
        }
    }

    /// Pins the references of `scope` from `terms`: `tenant = $n` pins directly, and
    /// `a.tenant = b.tenant` carries a pin from one side to the other (from an outer
    /// scope inward, never outward).
    fn pin(&mut self, scope: &[usize], terms: &[&Expr]) {
        let mut edges = Vec::new();
        for term in terms {
            let Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } = term
            else {
                continue;
            };
            match (self.tenant_of(left), self.tenant_of(right)) {
                (Some(a), Some(b)) => edges.push((a, b)),
                (Some(a), None) | (None, Some(a)) => {
                    let other = if self.tenant_of(left).is_some() {
                        right
                    } else {
                        left
                    };
                    if let (Some(p), true) = (placeholder(other), scope.contains(&a)) {
                        match &self.refs[a].pinned {
                            None => self.refs[a].pinned = Some(p),
                            // Two different placeholders on one table: both are reported.
                            Some(q) if *q != p => {
                                let table = self.refs[a].table.clone();
                                self.problems
                                    .push((table, Reason::SeveralParameters(vec![q.clone(), p])));
                            }
                            Some(_) => {}
                        }
                    }
                }
                (None, None) => {}
            }
        }
        loop {
            let mut changed = false;
            for &(a, b) in &edges {
                for (from, to) in [(a, b), (b, a)] {
                    if scope.contains(&to)
                        && self.refs[to].pinned.is_none()
                        && let Some(p) = self.refs[from].pinned.clone()
                    {
                        self.refs[to].pinned = Some(p);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn select(&mut self, select: &Select) {
        let mut exprs: Vec<&Expr> = select
            .projection
            .iter()
            .filter_map(|item| match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
                _ => None,
            })
            .collect();
        if let Some(ast::Distinct::On(on)) = &select.distinct {
            exprs.extend(on);
        }
        if let ast::GroupByExpr::Expressions(group, _) = &select.group_by {
            exprs.extend(group);
        }
        exprs.extend(&select.having);
        self.scope(&select.from, select.selection.as_ref(), &[], exprs);
    }

    fn insert(&mut self, insert: &ast::Insert) {
        let TableObject::TableName(table) = &insert.table else {
            self.unsupported(&insert.table);
            return;
        };
        let parts = object_name(table);
        let alias = insert.table_alias.as_ref().map(|a| name(&a.alias));
        // The source is walked first, without the target in scope, as PostgreSQL does.
        if let Some(source) = &insert.source {
            self.query(source);
        }
        let Some(target) = self.reference(&parts, alias) else {
            return;
        };
        let tenant = self.refs[target].tenant.clone();
        let position = insert
            .columns
            .iter()
            .position(|c| object_name(c).last().is_some_and(|c| *c == tenant));
        let value = position.and_then(|i| {
            let body = &insert.source.as_ref()?.body;
            match &**body {
                SetExpr::Select(select) => match select.projection.get(i)? {
                    SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                        placeholder(e)
                    }
                    _ => None,
                },
                SetExpr::Values(values) => {
                    let mut found: Vec<String> = values
                        .rows
                        .iter()
                        .map(|row| row.content.get(i).and_then(placeholder))
                        .collect::<Option<_>>()?;
                    found.dedup();
                    (found.len() == 1).then(|| found.remove(0))
                }
                _ => None,
            }
        });
        let Some(value) = value else {
            let table = self.refs[target].table.clone();
            self.problems.push((table, Reason::InsertWithoutTenant));
            return;
        };
        let mut exprs: Vec<&Expr> = Vec::new();
        if let Some(ast::OnInsert::OnConflict(on_conflict)) = &insert.on
            && let ast::OnConflictAction::DoUpdate(update) = &on_conflict.action
        {
            self.assigned(&parts, &update.assignments);
            exprs.extend(update.assignments.iter().map(|a| &a.value));
            exprs.extend(&update.selection);
        }
        exprs.extend(returning(&insert.returning));
        self.scope(&[], None, &[(target, value)], exprs);
    }

    /// Reports an assignment to the tenant column of table `parts`.
    fn assigned(&mut self, parts: &[String], assignments: &[ast::Assignment]) {
        let table = parts.join(".");
        let Some((tenant, _)) = self.tables.tables.get(&table) else {
            return;
        };
        let names = |target: &ast::AssignmentTarget| -> Vec<String> {
            match target {
                ast::AssignmentTarget::ColumnName(column) => object_name(column),
                ast::AssignmentTarget::Tuple(columns) => {
                    columns.iter().flat_map(object_name).collect()
                }
            }
        };
        if assignments
            .iter()
            .any(|a| names(&a.target).contains(tenant))
        {
            self.problems.push((table, Reason::TenantAssigned));
        }
    }

    fn update(&mut self, update: &ast::Update) {
        if let TableFactor::Table { name: table, .. } = &update.table.relation {
            self.assigned(&object_name(table), &update.assignments);
        }
        let mut from = vec![update.table.clone()];
        match &update.from {
            Some(ast::UpdateTableFromKind::AfterSet(tables))
            | Some(ast::UpdateTableFromKind::BeforeSet(tables)) => from.extend(tables.clone()),
            None => {}
        }
        let mut exprs: Vec<&Expr> = update.assignments.iter().map(|a| &a.value).collect();
        exprs.extend(returning(&update.returning));
        self.scope(&from, update.selection.as_ref(), &[], exprs);
    }

    fn delete(&mut self, delete: &ast::Delete) {
        let mut from = match &delete.from {
            ast::FromTable::WithFromKeyword(tables) | ast::FromTable::WithoutKeyword(tables) => {
                tables.clone()
            }
        };
        from.extend(delete.using.iter().flatten().cloned());
        self.scope(
            &from,
            delete.selection.as_ref(),
            &[],
            returning(&delete.returning),
        );
    }

    fn function_arg(&mut self, arg: &FunctionArg) {
        let (FunctionArg::Unnamed(arg)
        | FunctionArg::Named { arg, .. }
        | FunctionArg::ExprNamed { arg, .. }) = arg;
        if let FunctionArgExpr::Expr(e) = arg {
            self.expr(e);
        }
    }

    /// Walks the subqueries of `expr` with the current scopes visible (correlated).
    fn expr(&mut self, expr: &Expr) {
        match expr {
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => self.query(subquery),
            Expr::In { expr, target, .. } => {
                self.expr(expr);
                match target {
                    InTarget::Subquery(q) => self.query(q),
                    InTarget::List(list) => list.iter().for_each(|e| self.expr(e)),
                    InTarget::Unnest(e) => self.expr(e),
                    other => self.unsupported(other),
                }
            }
            Expr::Identifier(_)
            | Expr::CompoundIdentifier(_)
            | Expr::Value(_)
            | Expr::TypedString(_)
            | Expr::Wildcard(_)
            | Expr::QualifiedWildcard(..) => {}
            Expr::BinaryOp { left, right, .. }
            | Expr::IsDistinctFrom(left, right)
            | Expr::IsNotDistinctFrom(left, right)
            | Expr::AnyOp { left, right, .. }
            | Expr::AllOp { left, right, .. } => {
                self.expr(left);
                self.expr(right);
            }
            Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
                self.expr(expr);
                self.expr(pattern);
            }
            Expr::UnaryOp { expr, .. }
            | Expr::Nested(expr)
            | Expr::IsNull(expr)
            | Expr::IsNotNull(expr)
            | Expr::IsTrue(expr)
            | Expr::IsFalse(expr)
            | Expr::IsNotTrue(expr)
            | Expr::IsNotFalse(expr)
            | Expr::Cast { expr, .. }
            | Expr::Collate { expr, .. } => self.expr(expr),
            Expr::AtTimeZone {
                timestamp,
                time_zone,
            } => {
                self.expr(timestamp);
                self.expr(time_zone);
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                self.expr(expr);
                self.expr(low);
                self.expr(high);
            }
            Expr::Tuple(items) => items.iter().for_each(|e| self.expr(e)),
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                operand.iter().for_each(|e| self.expr(e));
                for when in conditions {
                    self.expr(&when.condition);
                    self.expr(&when.result);
                }
                else_result.iter().for_each(|e| self.expr(e));
            }
            Expr::Function(function) => {
                for args in [&function.parameters, &function.args] {
                    match args {
                        FunctionArguments::None => {}
                        FunctionArguments::Subquery(q) => self.query(q),
                        FunctionArguments::List(list) => {
                            list.args.iter().for_each(|a| self.function_arg(a))
                        }
                    }
                }
                function.filter.iter().for_each(|e| self.expr(e));
                if function.over.is_some() || !function.within_group.is_empty() {
                    self.unsupported(function);
                }
            }
            Expr::Array(array) => array.elem.iter().for_each(|e| self.expr(e)),
            // Anything else is fine as long as it holds no query the walk would miss.
            other => {
                if other.to_string().to_uppercase().contains("SELECT") {
                    self.unsupported(other);
                }
            }
        }
    }
}

fn returning(items: &Option<Vec<SelectItem>>) -> impl Iterator<Item = &Expr> {
    items.iter().flatten().filter_map(|item| match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
        _ => None,
    })
}

/// Every fixed statement of `E`, checked against `tables` with its known tenant
/// placeholder; labelled `table.function`.
pub fn check_fixed<E: Generated>(tables: &Tables) -> (usize, Vec<(String, Finding)>) {
    let named = E::statements().named();
    let mut findings = Vec::new();
    for (function, statement) in &named {
        let label = format!("{}.{function}", E::META.table);
        for finding in check(statement.sql(), tables, statement.tenant_placeholder()) {
            findings.push((label.clone(), finding));
        }
    }
    (named.len(), findings)
}
