//! One value type for every column of every modelled entity, and the bridges between it
//! and the typed API: field values, filter constants, audit JSON.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use tenant_query::prelude::*;
use tenant_query::{Column, NotNull, Nullable, SqlValue};
use uuid::Uuid;

/// A column value as the model holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
    Uuid(Uuid),
    Ts(DateTime<Utc>),
    /// A timestamp the library has set but the model has not read back yet (a soft
    /// delete returns nothing); it matches any timestamp.
    TsUnseen,
}

impl Val {
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    pub fn uuid(&self) -> Uuid {
        match self {
            Val::Uuid(u) => *u,
            other => panic!("not a uuid: {other:?}"),
        }
    }

    /// Whether `actual`, read from the database, is what the model expects.
    pub fn admits(&self, actual: &Val) -> bool {
        match (self, actual) {
            (Val::TsUnseen, Val::Ts(_)) => true,
            (expected, actual) => expected == actual,
        }
    }

    /// PostgreSQL's order of two non-null values of one column (text columns of the test
    /// schema are `COLLATE "C"`, so byte order; uuids compare bytewise).
    pub fn sql_cmp(&self, other: &Val) -> Ordering {
        match (self, other) {
            (Val::Bool(a), Val::Bool(b)) => a.cmp(b),
            (Val::Int(a), Val::Int(b)) => a.cmp(b),
            (Val::Text(a), Val::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Val::Uuid(a), Val::Uuid(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Val::Ts(a), Val::Ts(b)) => a.cmp(b),
            (a, b) => panic!("cannot order {a:?} against {b:?}"),
        }
    }

    /// The value of a `{"from", "to"}` side of an audit record, read as `kind`.
    pub fn from_json(kind: Kind, json: &serde_json::Value) -> Val {
        if json.is_null() {
            return Val::Null;
        }
        match kind {
            Kind::Bool => Val::Bool(json.as_bool().expect("a boolean")),
            Kind::I32 | Kind::I64 => Val::Int(json.as_i64().expect("an integer")),
            Kind::Text => Val::Text(json.as_str().expect("a string").to_owned()),
            Kind::Uuid => Val::Uuid(json.as_str().expect("a uuid").parse().expect("a uuid")),
            Kind::Ts => Val::Ts(serde_json::from_value(json.clone()).expect("a timestamp")),
        }
    }
}

/// A row's id as the model holds it, whatever the entity's id type: ordered as
/// PostgreSQL orders the id column (uuids bytewise, integers, `COLLATE "C"` text by
/// bytes). A row is known by its id and its tenant (an id is unique only within it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RowKey {
    Uuid(Uuid),
    Int(i64),
    Text(String),
}

impl RowKey {
    pub fn from_val(v: &Val) -> RowKey {
        match v {
            Val::Uuid(u) => RowKey::Uuid(*u),
            Val::Int(i) => RowKey::Int(*i),
            Val::Text(s) => RowKey::Text(s.clone()),
            other => panic!("not a key: {other:?}"),
        }
    }

    pub fn to_val(&self) -> Val {
        match self {
            RowKey::Uuid(u) => Val::Uuid(*u),
            RowKey::Int(i) => Val::Int(*i),
            RowKey::Text(s) => Val::Text(s.clone()),
        }
    }

    /// The key as the audit log stores it.
    pub fn text(&self) -> String {
        match self {
            RowKey::Uuid(u) => u.to_string(),
            RowKey::Int(i) => i.to_string(),
            RowKey::Text(s) => s.clone(),
        }
    }

    pub fn uuid(&self) -> Uuid {
        match self {
            RowKey::Uuid(u) => *u,
            other => panic!("not a uuid: {other:?}"),
        }
    }

    /// A key of `kind` that no row has (`n` picks which).
    pub fn fresh(kind: Kind, n: u128) -> RowKey {
        match kind {
            Kind::Uuid => RowKey::Uuid(Uuid::from_u128(n)),
            // Identities are positive.
            Kind::I64 | Kind::I32 => RowKey::Int(-1 - (n % (1 << 30)) as i64),
            // Inserted keys are short: this one is longer.
            Kind::Text => RowKey::Text(format!("fresh-{n:x}")),
            other => panic!("no key of kind {other:?}"),
        }
    }
}

/// An entity's id type, as the model holds it.
pub trait ModelKey: tenant_query::Key + Send {
    fn to_key(&self) -> RowKey;
    fn from_key(key: &RowKey) -> Self;
}

impl ModelKey for Uuid {
    fn to_key(&self) -> RowKey {
        RowKey::Uuid(*self)
    }
    fn from_key(key: &RowKey) -> Self {
        key.uuid()
    }
}

impl ModelKey for i64 {
    fn to_key(&self) -> RowKey {
        RowKey::Int(*self)
    }
    fn from_key(key: &RowKey) -> Self {
        match key {
            RowKey::Int(i) => *i,
            other => panic!("not an integer key: {other:?}"),
        }
    }
}

impl ModelKey for String {
    fn to_key(&self) -> RowKey {
        RowKey::Text(self.clone())
    }
    fn from_key(key: &RowKey) -> Self {
        match key {
            RowKey::Text(s) => s.clone(),
            other => panic!("not a text key: {other:?}"),
        }
    }
}

/// The Rust type behind a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    I32,
    I64,
    Text,
    Uuid,
    Ts,
}

/// A field type the model can hold.
pub trait ModelValue: Sized {
    const KIND: Kind;
    const NULLABLE: bool;
    fn to_val(&self) -> Val;
    fn from_val(v: &Val) -> Self;
}

macro_rules! model_value {
    ($t:ty, $kind:ident, |$x:ident| $to:expr, |$v:ident| $from:expr) => {
        impl ModelValue for $t {
            const KIND: Kind = Kind::$kind;
            const NULLABLE: bool = false;
            fn to_val(&self) -> Val {
                let $x = self;
                $to
            }
            fn from_val($v: &Val) -> Self {
                $from
            }
        }
        impl ModelValue for Option<$t> {
            const KIND: Kind = Kind::$kind;
            const NULLABLE: bool = true;
            fn to_val(&self) -> Val {
                self.as_ref().map_or(Val::Null, ModelValue::to_val)
            }
            fn from_val(v: &Val) -> Self {
                (!v.is_null()).then(|| <$t>::from_val(v))
            }
        }
    };
}

model_value!(bool, Bool, |x| Val::Bool(*x), |v| match v {
    Val::Bool(b) => *b,
    other => panic!("not a bool: {other:?}"),
});
model_value!(i64, I64, |x| Val::Int(*x), |v| match v {
    Val::Int(i) => *i,
    other => panic!("not an integer: {other:?}"),
});
model_value!(i32, I32, |x| Val::Int(i64::from(*x)), |v| match v {
    Val::Int(i) => i32::try_from(*i).expect("an i32"),
    other => panic!("not an integer: {other:?}"),
});
model_value!(String, Text, |x| Val::Text(x.clone()), |v| match v {
    Val::Text(s) => s.clone(),
    other => panic!("not text: {other:?}"),
});
model_value!(Uuid, Uuid, |x| Val::Uuid(*x), |v| v.uuid());
model_value!(DateTime<Utc>, Ts, |x| Val::Ts(*x), |v| match v {
    Val::Ts(t) => *t,
    other => panic!("not a timestamp: {other:?}"),
});

/// A comparison of the query DSL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ];

    pub fn holds(self, ord: Ordering) -> bool {
        match self {
            CmpOp::Eq => ord.is_eq(),
            CmpOp::Ne => ord.is_ne(),
            CmpOp::Lt => ord.is_lt(),
            CmpOp::Le => ord.is_le(),
            CmpOp::Gt => ord.is_gt(),
            CmpOp::Ge => ord.is_ge(),
        }
    }
}

/// `like` exists only on text columns; the model never asks another column for it.
pub trait MaybeLike: Sized {
    fn like<E, N>(column: Column<E, Self, N>, pattern: &str) -> Filter<E>;
}

impl MaybeLike for String {
    fn like<E, N>(column: Column<E, Self, N>, pattern: &str) -> Filter<E> {
        column.like(pattern)
    }
}

macro_rules! no_like {
    ($($t:ty),*) => {$(
        impl MaybeLike for $t {
            fn like<E, N>(_: Column<E, Self, N>, _: &str) -> Filter<E> {
                unreachable!("like on a non-text column")
            }
        }
    )*};
}
no_like!(bool, i64, i32, Uuid, DateTime<Utc>);

/// What differs between `NOT NULL` and nullable columns: `is_null` on one, keyset pages
/// on the other.
pub trait Nullness: Sized {
    fn null<E, T>(column: Column<E, T, Self>, negated: bool) -> Filter<E>;
    fn after<E: TenantEntity<Id: ModelKey>, T: SqlValue + ModelValue + 'static>(
        column: Column<E, T, Self>,
        query: Query<E>,
        descending: bool,
        value: &Val,
        id: &RowKey,
    ) -> Query<E>;
}

impl Nullness for NotNull {
    fn null<E, T>(_: Column<E, T, Self>, _: bool) -> Filter<E> {
        unreachable!("is_null on a NOT NULL column")
    }
    fn after<E: TenantEntity<Id: ModelKey>, T: SqlValue + ModelValue + 'static>(
        column: Column<E, T, Self>,
        query: Query<E>,
        descending: bool,
        value: &Val,
        id: &RowKey,
    ) -> Query<E> {
        let order = if descending {
            column.desc()
        } else {
            column.asc()
        };
        query.after(order, T::from_val(value), E::Id::from_key(id))
    }
}

impl Nullness for Nullable {
    fn null<E, T>(column: Column<E, T, Self>, negated: bool) -> Filter<E> {
        if negated {
            column.is_not_null()
        } else {
            column.is_null()
        }
    }
    fn after<E: TenantEntity<Id: ModelKey>, T: SqlValue + ModelValue + 'static>(
        _: Column<E, T, Self>,
        _: Query<E>,
        _: bool,
        _: &Val,
        _: &RowKey,
    ) -> Query<E> {
        unreachable!("keyset on a nullable column")
    }
}

/// Every DSL call on one column constant, driven by model values.
pub trait ColOps<E> {
    fn cmp(self, op: CmpOp, value: &Val) -> Filter<E>;
    fn any_of(self, values: &[Val]) -> Filter<E>;
    fn like(self, pattern: &str) -> Filter<E>;
    fn null(self, negated: bool) -> Filter<E>;
    fn order(self, query: Query<E>, descending: bool) -> Query<E>;
    fn after(self, query: Query<E>, descending: bool, value: &Val, id: &RowKey) -> Query<E>;
}

impl<E, T, N> ColOps<E> for Column<E, T, N>
where
    E: TenantEntity<Id: ModelKey>,
    T: SqlValue + ModelValue + MaybeLike + 'static,
    Vec<T>: SqlValue,
    N: Nullness,
{
    fn cmp(self, op: CmpOp, value: &Val) -> Filter<E> {
        let v = T::from_val(value);
        match op {
            CmpOp::Eq => self.eq(v),
            CmpOp::Ne => self.ne(v),
            CmpOp::Lt => self.lt(v),
            CmpOp::Le => self.le(v),
            CmpOp::Gt => self.gt(v),
            CmpOp::Ge => self.ge(v),
        }
    }
    fn any_of(self, values: &[Val]) -> Filter<E> {
        self.is_in(values.iter().map(T::from_val).collect::<Vec<T>>())
    }
    fn like(self, pattern: &str) -> Filter<E> {
        T::like(self, pattern)
    }
    fn null(self, negated: bool) -> Filter<E> {
        N::null(self, negated)
    }
    fn order(self, query: Query<E>, descending: bool) -> Query<E> {
        query.order_by(if descending { self.desc() } else { self.asc() })
    }
    fn after(self, query: Query<E>, descending: bool, value: &Val, id: &RowKey) -> Query<E> {
        N::after(self, query, descending, value, id)
    }
}
