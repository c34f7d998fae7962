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
/// enum an empty impl is enough:
///
/// ```
/// #[derive(Debug, Clone, sqlx::Type)]
/// #[sqlx(type_name = "text")]
/// enum Plan { Free, Pro }
///
/// impl tenant_query::SqlValue for Plan {}
/// ```
///
/// A newtype over a type with a check (text, JSON) delegates to it, so it keeps that check:
///
/// ```
/// use std::borrow::Cow;
/// use tenant_query::SqlValue;
///
/// #[derive(Debug, Clone, sqlx::Type)]
/// #[sqlx(transparent)]
/// struct Email(String);
///
/// impl SqlValue for Email {
///     fn check(&self) -> Result<(), Cow<'static, str>> {
///         self.0.check()
///     }
/// }
/// assert!(Email("a\0b".into()).check().is_err());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be bound as a column value by tenant-query",
    label = "this field's type is not a `SqlValue`",
    note = "derive `sqlx::Type` for it (or wrap a foreign type in a newtype that does), then add `impl tenant_query::SqlValue for {Self} {{}}`"
)]
pub trait SqlValue: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send {
    /// Rejects a value PostgreSQL cannot store, with the reason. Accepts by default.
    fn check(&self) -> Result<(), Cow<'static, str>> {
        Ok(())
    }
}

pub(crate) const NUL_IN_TEXT: &str = "text must not contain NUL (0x00) bytes";

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

impl<T: serde::Serialize + Send + Sync> SqlValue for sqlx::types::Json<T> {
    fn check(&self) -> Result<(), Cow<'static, str>> {
        // jsonb rejects the \u0000 escape: check the document as it will be sent.
        serde_json::to_value(&self.0)
            .map_err(|error| Cow::Owned(error.to_string()))?
            .check()
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

/// `interval` columns.
impl SqlValue for sqlx::postgres::types::PgInterval {}

/// `numeric` columns (feature `rust_decimal`).
#[cfg(feature = "rust_decimal")]
#[cfg_attr(docsrs, doc(cfg(feature = "rust_decimal")))]
impl SqlValue for rust_decimal::Decimal {}

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

/// A value waiting to be bound, its type erased, so that statements of any entity can
/// be bound by one routine that walks their parameter plan.
pub(crate) trait BindOnce: Send {
    fn bind(self: Box<Self>, column: &str, args: &mut Args) -> Result<()>;
}

impl<T: SqlValue + 'static> BindOnce for T {
    fn bind(self: Box<Self>, column: &str, args: &mut Args) -> Result<()> {
        args.push(column, *self)
    }
}

/// The bound parameters of one statement.
///
/// Every bind goes through [`Args::push`], which runs [`SqlValue::check`] and names the
/// column in the error. Only the statement plan (`sql::plan`) decides what is bound in
/// which order.
#[derive(Default)]
pub(crate) struct Args(PgArguments);

impl Args {
    /// Checks `value`, then binds it as the next parameter.
    pub(crate) fn push<T: SqlValue>(&mut self, column: &str, value: T) -> Result<()> {
        value
            .check()
            .map_err(|reason| Error::invalid_input(column.to_owned(), reason))?;
        self.0
            .add(value)
            .map_err(|source| Error::invalid_input(column.to_owned(), source.to_string()))
    }

    pub(crate) fn into_inner(self) -> PgArguments {
        self.0
    }
}

/// The data values of one write, keyed by column position: what generated code hands the
/// runtime for a `New…` row, a batch of them (one array per column) or a `…Patch`.
#[doc(hidden)]
pub struct Values {
    slots: Vec<Slot>,
}

#[derive(Default)]
struct Slot {
    value: Option<Box<dyn BindOnce>>,
    /// For an array column of a batch: where each row's array lies in the one flat array
    /// bound as `value` (first and last position, 1-based; no first position for `NULL`).
    first: Option<Box<dyn BindOnce>>,
    last: Option<Box<dyn BindOnce>>,
    /// For a patch of an optional column: whether to set it at all.
    set: Option<bool>,
    /// For a `belongs_to` column, the parent a write points it at.
    parent: Option<Box<dyn BindOnce>>,
}

impl Values {
    /// Room for an entity of `columns` columns.
    pub fn with_columns(columns: usize) -> Self {
        Values {
            slots: (0..columns).map(|_| Slot::default()).collect(),
        }
    }

    /// The value of column number `index` (for a patch of a required column, `None`
    /// keeps the stored value).
    pub fn set<T: SqlValue + 'static>(&mut self, index: usize, value: T) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.value = Some(Box::new(value));
        }
    }

    /// The patch of required column number `index`: `Some(v)` sets it, `None` keeps it.
    pub fn set_required_patch<T: SqlValue + 'static>(&mut self, index: usize, patch: Option<T>)
    where
        Option<T>: SqlValue,
    {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.value = Some(Box::new(patch));
        }
    }

    /// The patch of optional column number `index`: `Some(v)` sets it to `v` (`None` for
    /// `NULL`), `None` leaves it alone.
    pub fn set_patch<T: SqlValue + 'static>(&mut self, index: usize, patch: Option<Option<T>>) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.set = Some(patch.is_some());
            slot.value = Some(Box::new(patch.flatten()));
        }
    }

    /// The arrays of array column number `index` in a batch, flattened (one array of
    /// arrays cannot be bound: PostgreSQL's arrays are rectangular).
    pub fn set_array_batch<T>(&mut self, index: usize, batch: ArrayBatch<T>)
    where
        Vec<T>: SqlValue + 'static,
    {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.value = Some(Box::new(batch.flat));
            slot.first = Some(Box::new(batch.first));
            slot.last = Some(Box::new(batch.last));
        }
    }

    /// Takes the first (`upper == false`) or last positions of a batch's arrays.
    pub(crate) fn take_bound(&mut self, index: usize, upper: bool) -> Option<Box<dyn BindOnce>> {
        let slot = self.slots.get_mut(index)?;
        if upper {
            slot.last.take()
        } else {
            slot.first.take()
        }
    }

    /// Takes the value of column `index` for binding.
    pub(crate) fn take_value(&mut self, index: usize) -> Option<Box<dyn BindOnce>> {
        self.slots.get_mut(index)?.value.take()
    }

    /// Whether the patch sets optional column `index` (`None`: not a patch of it).
    pub(crate) fn flag(&self, index: usize) -> Option<bool> {
        self.slots.get(index)?.set
    }

    /// Notes the parent a write points `belongs_to` column `index` at, so that a refused
    /// write can say why.
    pub fn note_parent<K: crate::Key>(&mut self, index: usize, parent: Option<K>) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.parent = parent.map(|parent| Box::new(parent) as Box<dyn BindOnce>);
        }
    }

    /// Takes the parents noted with [`note_parent`](Self::note_parent), by column.
    pub(crate) fn take_parents(&mut self) -> Vec<(usize, Box<dyn BindOnce>)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(index, slot)| slot.parent.take().map(|parent| (index, parent)))
            .collect()
    }
}

/// The arrays of one array column across the rows of a batch insert: one flat array of
/// every element, and where each row's array lies in it. Built by generated code.
#[doc(hidden)]
pub struct ArrayBatch<T> {
    flat: Vec<T>,
    /// 1-based; `None` for a `NULL` array.
    first: Vec<Option<i32>>,
    last: Vec<i32>,
}

impl<T> ArrayBatch<T> {
    /// Room for `rows` rows.
    pub fn with_capacity(rows: usize) -> Self {
        ArrayBatch {
            flat: Vec::new(),
            first: Vec::with_capacity(rows),
            last: Vec::with_capacity(rows),
        }
    }

    /// Appends one row's array (`None` for `NULL`).
    pub fn push(&mut self, array: impl Into<Option<Vec<T>>>) {
        // PostgreSQL subscripts are `int4`; no bound parameter holds 2^31 elements.
        let position = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        match array.into() {
            Some(array) => {
                self.first.push(Some(position(self.flat.len() + 1)));
                self.flat.extend(array);
            }
            None => self.first.push(None),
        }
        self.last.push(position(self.flat.len()));
    }
}
