//! Key types: what an id or a tenant may be (`Uuid`, `i64`, `String`, a newtype over
//! one), and the erased form the statement binder uses.

use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::str::FromStr;

use sqlx::postgres::PgHasArrayType;
use sqlx::{Decode, Postgres};

use crate::error::Result;
use crate::value::{Args, BindOnce, SqlValue};

/// Declares a trait with its bounds and implements it for every type that meets them, so
/// the bounds are written once.
macro_rules! implied_trait {
    ($(#[$attr:meta])* pub trait $name:ident: $($bound:tt)+) => {
        $(#[$attr])*
        pub trait $name: $($bound)+ {}
        impl<K> $name for K where K: $($bound)+ {}
    };
}

implied_trait! {
/// A type that can be an entity's id or its tenant: `Uuid` (the default), `i64`, `i32`,
/// `String`, or your own newtype over one of them.
///
/// Implemented for every type that can be bound and read back, has an array type (batch
/// loads bind one array of keys), and prints and parses as PostgreSQL prints it (the audit
/// log stores keys as text; the row-level-security setting is text):
///
/// ```
/// use std::fmt;
///
/// #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, sqlx::Type)]
/// #[sqlx(transparent)]
/// pub struct AccountId(i64);
///
/// impl fmt::Display for AccountId {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         self.0.fmt(f)
///     }
/// }
/// impl std::str::FromStr for AccountId {
///     type Err = std::num::ParseIntError;
///     fn from_str(text: &str) -> Result<Self, Self::Err> {
///         text.parse().map(AccountId)
///     }
/// }
/// impl tenant_query::SqlValue for AccountId {}
///
/// fn is_key<K: tenant_query::Key>() {}
/// is_key::<AccountId>();
/// is_key::<uuid::Uuid>();
/// is_key::<i64>();
/// is_key::<String>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an id or a tenant",
    label = "not a key type",
    note = "keys are `Uuid`, `i64`, `i32`, `String`, or a newtype over one with `#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, sqlx::Type)]`, `#[sqlx(transparent)]`, `Display`, `FromStr` and `impl tenant_query::SqlValue`"
)]
pub trait Key:
    SqlValue
    + PgHasArrayType
    + for<'r> Decode<'r, Postgres>
    + Clone
    + Eq
    + Ord
    + Hash
    + Debug
    + Display
    + FromStr<Err: Display>
    + Sync
    + Unpin
    + 'static
}

/// A key whose type is erased: what a scope's tenant is to the statement binder, which is
/// written once for every key type.
pub(crate) trait ErasedKey: Debug + Display + Send + Sync {
    /// Binds a copy of the key as the next parameter.
    fn bind_copy(&self, column: &str, args: &mut Args) -> Result<()>;

    /// Binds the key as a scope's tenant: a tenant whose text is empty (an unset value, most
    /// likely) is [`Error::InvalidInput`](crate::Error::InvalidInput), whatever the mode, so
    /// it never writes rows that row-level security could not read back.
    fn bind_tenant(&self, args: &mut Args) -> Result<()> {
        if !prints_something(self) {
            return Err(crate::Error::invalid_input(
                "tenant_id",
                "the scope's tenant is empty",
            ));
        }
        self.bind_copy("tenant_id", args)
    }

    /// A copy of the key, as a value of a dynamic statement.
    fn boxed(&self) -> Box<dyn BindOnce>;
}

/// Whether `key` prints at least one character (without building its text).
fn prints_something(key: &(impl Display + ?Sized)) -> bool {
    struct Any(bool);
    impl std::fmt::Write for Any {
        fn write_str(&mut self, text: &str) -> std::fmt::Result {
            self.0 |= !text.is_empty();
            Ok(())
        }
    }
    let mut any = Any(false);
    let _ = std::fmt::write(&mut any, format_args!("{key}"));
    any.0
}

impl<K: Key> ErasedKey for K {
    fn bind_copy(&self, column: &str, args: &mut Args) -> Result<()> {
        args.push(column, self.clone())
    }

    fn boxed(&self) -> Box<dyn BindOnce> {
        Box::new(self.clone())
    }
}
