//! Values bound as query parameters, checked before they leave the process.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use sqlx::postgres::{PgArguments, PgHasArrayType};
use sqlx::{Arguments, Encode, Postgres, Type};
use uuid::Uuid;

use crate::error::{Error, Result};

/// A Rust type the library may bind as a query parameter.
///
/// Implemented for the common PostgreSQL types. [`SqlValue::check`] runs before the value
/// is encoded, so input PostgreSQL would reject (a NUL byte in text, for example) is a
/// typed [`Error::InvalidInput`] rather than a round trip. For your own `sqlx::Type`
/// (an enum, a newtype) an empty impl is enough:
///
/// ```
/// #[derive(Debug, Clone, sqlx::Type)]
/// #[sqlx(type_name = "text")]
/// enum Plan { Free, Pro }
///
/// impl tenant_query::SqlValue for Plan {}
/// ```
pub trait SqlValue: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send {
    /// Rejects a value PostgreSQL cannot store, with the reason. Accepts by default.
    fn check(&self) -> Result<(), Cow<'static, str>> {
        Ok(())
    }
}

const NUL_IN_TEXT: &str = "text must not contain NUL (0x00) bytes";

fn check_text(text: &str) -> Result<(), Cow<'static, str>> {
    if text.contains('\0') {
        Err(NUL_IN_TEXT.into())
    } else {
        Ok(())
    }
}

impl SqlValue for String {
    fn check(&self) -> Result<(), Cow<'static, str>> {
        check_text(self)
    }
}

impl SqlValue for &str {
    fn check(&self) -> Result<(), Cow<'static, str>> {
        check_text(self)
    }
}

impl SqlValue for serde_json::Value {
    fn check(&self) -> Result<(), Cow<'static, str>> {
        // jsonb rejects the \u0000 escape, in keys as in values.
        match self {
            serde_json::Value::String(s) => check_text(s),
            serde_json::Value::Array(items) => items.iter().try_for_each(SqlValue::check),
            serde_json::Value::Object(map) => map.iter().try_for_each(|(key, value)| {
                check_text(key)?;
                value.check()
            }),
            _ => Ok(()),
        }
    }
}

impl<T: SqlValue + 'static> SqlValue for Option<T> {
    fn check(&self) -> Result<(), Cow<'static, str>> {
        self.as_ref().map_or(Ok(()), SqlValue::check)
    }
}

impl<T: SqlValue + PgHasArrayType> SqlValue for Vec<T>
where
    Vec<T>: for<'q> Encode<'q, Postgres>,
{
    fn check(&self) -> Result<(), Cow<'static, str>> {
        self.iter().try_for_each(SqlValue::check)
    }
}

impl<T: SqlValue + PgHasArrayType + Sync> SqlValue for &[T]
where
    for<'a> &'a [T]: Encode<'a, Postgres>,
{
    fn check(&self) -> Result<(), Cow<'static, str>> {
        self.iter().try_for_each(SqlValue::check)
    }
}

macro_rules! accepted_as_is {
    ($($ty:ty),* $(,)?) => { $(impl SqlValue for $ty {})* };
}

accepted_as_is!(
    bool,
    i16,
    i32,
    i64,
    f32,
    f64,
    Vec<u8>,
    Uuid,
    DateTime<Utc>,
    NaiveDate,
    NaiveDateTime,
    NaiveTime,
);

/// The parameters of one statement: the tenant first, then what the statement needs.
///
/// Every bind goes through [`Args::push`], which runs [`SqlValue::check`] and names the
/// column in the error.
#[doc(hidden)]
#[derive(Default)]
pub struct Args(PgArguments);

impl Args {
    /// The number of parameters bound so far; the next placeholder is `$len+1`.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is bound yet.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// Checks `value`, then binds it as the next parameter.
    pub fn push<T: SqlValue>(&mut self, column: &'static str, value: T) -> Result<()> {
        value
            .check()
            .map_err(|reason| Error::invalid_input(column, reason))?;
        self.0
            .add(value)
            .map_err(|source| Error::invalid_input(column, source.to_string()))
    }

    pub(crate) fn into_inner(self) -> PgArguments {
        self.0
    }
}
