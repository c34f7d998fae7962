//! The statement protocol: every statement is built together with its parameter plan,
//! and bound by walking that plan. No other code writes a placeholder number.

use std::fmt::Write;

use crate::error::{Error, Result};
use crate::scope::AnyScope;
use crate::value::{Args, BindOnce, Values};

/// What one placeholder of a statement stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Param {
    /// The scope's tenant.
    Tenant,
    /// The scope's actor (audited writes).
    Actor,
    /// The key the call names: a row id, an array of ids, or the parent ids of a loader.
    Key,
    /// The value of data column number `index` (an array of values in a batch insert).
    Data { index: usize, column: &'static str },
    /// Where each row's array lies in the flat array of array column number `index` in a
    /// batch insert: the first positions (or the last, `upper`).
    ArrayBound {
        index: usize,
        column: &'static str,
        upper: bool,
    },
    /// Whether a patch sets optional column number `index`.
    SetFlag { index: usize, column: &'static str },
    /// Value number `n` of a dynamic statement (filters, keysets, windows).
    Value(usize),
    /// A fresh UUIDv7 for the audit record of a one-row write, made by the client (cheaper
    /// than the log's `DEFAULT` expression).
    AuditId,
}

/// SQL text and the meaning of each of its placeholders, in order (`$1` is `params[0]`).
#[derive(Debug)]
pub struct Statement {
    sql: String,
    params: Vec<Param>,
}

/// A value of a dynamic statement, with the column it is bound for.
pub(crate) type Named = (&'static str, Box<dyn BindOnce>);

/// What a statement's parameters are bound from.
pub(crate) struct Input<'a> {
    /// The scope, for scoped statements; the library's catalog reads have none.
    pub(crate) scope: Option<&'a AnyScope>,
    pub(crate) key: Option<Box<dyn BindOnce>>,
    pub(crate) data: Option<Values>,
    pub(crate) values: Vec<Named>,
}

impl<'a> Input<'a> {
    /// Only the scope.
    pub(crate) fn scope(scope: &'a AnyScope) -> Self {
        Input {
            scope: Some(scope),
            key: None,
            data: None,
            values: Vec::new(),
        }
    }

    /// The scope and the key the call names.
    pub(crate) fn key<K: crate::value::SqlValue + 'static>(scope: &'a AnyScope, key: K) -> Self {
        Input {
            key: Some(Box::new(key)),
            ..Input::scope(scope)
        }
    }

    /// The scope and, when known, the key the call names.
    pub(crate) fn maybe_key<K: crate::value::SqlValue + 'static>(
        scope: &'a AnyScope,
        key: Option<K>,
    ) -> Self {
        Input {
            key: key.map(|key| Box::new(key) as Box<dyn BindOnce>),
            ..Input::scope(scope)
        }
    }

    /// The same input, with the data values of a write.
    pub(crate) fn with_data(self, data: Values) -> Self {
        Input {
            data: Some(data),
            ..self
        }
    }
}

impl Statement {
    /// The SQL text, exactly as it is sent.
    #[doc(hidden)]
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The number of the tenant's placeholder (`2` for `$2`), if the statement binds the
    /// tenant; for tests that inspect the SQL (the routability check).
    #[doc(hidden)]
    pub fn tenant_placeholder(&self) -> Option<usize> {
        self.params
            .iter()
            .position(|p| *p == Param::Tenant)
            .map(|i| i + 1)
    }

    /// The SQL text, owned.
    pub(crate) fn into_sql(self) -> String {
        self.sql
    }

    /// Binds `input` by walking the plan. A value the plan needs and the input lacks is an
    /// [`Error::Configuration`], never a misplaced value.
    pub(crate) fn bind(&self, input: Input<'_>) -> Result<Args> {
        let Input {
            scope,
            mut key,
            mut data,
            values,
        } = input;
        let mut values: Vec<Option<Named>> = values.into_iter().map(Some).collect();
        let mut args = Args::default();
        for param in &self.params {
            match *param {
                Param::Tenant => {
                    let scope = scope.ok_or_else(|| missing("tenant_id"))?;
                    scope.erased_tenant().bind_tenant(&mut args)?
                }
                Param::Actor => {
                    let scope = scope.ok_or_else(|| missing("actor"))?;
                    args.push("actor", scope.actor())?
                }
                Param::Key => key
                    .take()
                    .ok_or_else(|| missing("key"))?
                    .bind("id", &mut args)?,
                Param::Data { index, column } => data
                    .as_mut()
                    .and_then(|d| d.take_value(index))
                    .ok_or_else(|| missing(column))?
                    .bind(column, &mut args)?,
                Param::ArrayBound {
                    index,
                    column,
                    upper,
                } => data
                    .as_mut()
                    .and_then(|d| d.take_bound(index, upper))
                    .ok_or_else(|| missing(column))?
                    .bind(column, &mut args)?,
                Param::SetFlag { index, column } => {
                    let set = data.as_ref().and_then(|d| d.flag(index));
                    args.push(column, set.ok_or_else(|| missing(column))?)?
                }
                Param::AuditId => args.push("audit_id", uuid::Uuid::now_v7())?,
                Param::Value(n) => {
                    let (column, value) = values
                        .get_mut(n)
                        .and_then(Option::take)
                        .ok_or_else(|| missing("value"))?;
                    value.bind(column, &mut args)?
                }
            }
        }
        Ok(args)
    }
}

fn missing(what: &str) -> Error {
    Error::Configuration(format!("no value was supplied for the parameter `{what}`").into())
}

/// A statement under construction: placeholders are handed out only here, one per
/// distinct parameter, in the order first asked for.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    params: Vec<Param>,
    /// Whether the statement writes at most one row, so its audit record's id can be one
    /// bound value.
    one_row: bool,
}

impl Plan {
    /// The plan of a statement that writes at most one row.
    pub(crate) fn one_row() -> Self {
        Plan {
            one_row: true,
            ..Plan::default()
        }
    }

    /// The placeholder of the audit record's id, for a one-row write; `None` lets the
    /// log's `DEFAULT` make one per row.
    pub(crate) fn audit_id(&mut self) -> Option<String> {
        self.one_row.then(|| self.param(Param::AuditId))
    }

    /// The placeholder of `param` (`$n`), the same one each time it is asked for.
    pub(crate) fn param(&mut self, param: Param) -> String {
        let position = match self.params.iter().position(|p| *p == param) {
            Some(position) => position,
            None => {
                self.params.push(param);
                self.params.len() - 1
            }
        };
        format!("${}", position + 1)
    }

    /// The finished statement.
    pub(crate) fn finish(self, sql: String) -> Statement {
        Statement {
            sql,
            params: self.params,
        }
    }
}

/// A statement whose text depends on the call (the query builder, audit reads): text and
/// plan grow together, and values are kept until the statement is bound.
#[derive(Default)]
pub(crate) struct Dynamic {
    sql: String,
    plan: Plan,
    values: Vec<Named>,
}

impl Dynamic {
    /// Appends SQL text.
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    /// Appends the placeholder of `param`.
    pub(crate) fn param(&mut self, param: Param) -> &mut Self {
        let placeholder = self.plan.param(param);
        self.sql.push_str(&placeholder);
        self
    }

    /// Appends the placeholder of a new value, bound under `column`'s name.
    pub(crate) fn value(&mut self, column: &'static str, value: Box<dyn BindOnce>) -> &mut Self {
        let placeholder = self.value_placeholder(column, value);
        self.sql.push_str(&placeholder);
        self
    }

    /// The placeholder of a new value, for text built elsewhere.
    pub(crate) fn value_placeholder(
        &mut self,
        column: &'static str,
        value: Box<dyn BindOnce>,
    ) -> String {
        self.values.push((column, value));
        let n = self.values.len() - 1;
        self.plan.param(Param::Value(n))
    }

    /// The plan, for text built elsewhere that needs placeholders.
    pub(crate) fn plan(&mut self) -> &mut Plan {
        &mut self.plan
    }

    /// Takes the text written so far, leaving the plan and values in place.
    pub(crate) fn take_sql(&mut self) -> String {
        std::mem::take(&mut self.sql)
    }

    /// Appends formatted text.
    pub(crate) fn write(&mut self, args: std::fmt::Arguments<'_>) -> &mut Self {
        let _ = self.sql.write_fmt(args);
        self
    }

    /// The statement and the values its plan refers to.
    pub(crate) fn finish(self) -> (Statement, Vec<Named>) {
        (self.plan.finish(self.sql), self.values)
    }

    /// The statement bound for `scope` (none for the library's catalog reads), ready to
    /// send.
    pub(crate) fn bind(self, scope: Option<&AnyScope>) -> Result<(Statement, Args)> {
        self.bind_with(scope, None)
    }

    /// The same, with the data values of a write.
    pub(crate) fn bind_with(
        self,
        scope: Option<&AnyScope>,
        data: Option<Values>,
    ) -> Result<(Statement, Args)> {
        let (statement, values) = self.finish();
        let args = statement.bind(Input {
            scope,
            key: None,
            data,
            values,
        })?;
        Ok((statement, args))
    }
}
