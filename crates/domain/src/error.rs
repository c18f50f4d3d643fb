//! The error the use cases return, one variant per outcome a caller handles
//! differently. The HTTP edge maps each variant to one status.

use std::fmt;

use crate::caller::Forbidden;
use crate::cursor::CursorError;
use crate::order::TransitionError;
use crate::values::ValueError;

/// A boxed cause, kept as the source of `Unavailable`/`Unexpected` errors.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Which input a `FieldError` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    CustomerId,
    Items,
    ItemProductId(usize),
    ItemQuantity(usize),
    IdempotencyKey,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CustomerId => f.write_str("customer id"),
            Self::Items => f.write_str("items"),
            Self::ItemProductId(i) => write!(f, "items[{i}] product id"),
            Self::ItemQuantity(i) => write!(f, "items[{i}] quantity"),
            Self::IdempotencyKey => f.write_str("idempotency key"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {error}")]
pub struct FieldError {
    pub field: Field,
    pub error: ValueError,
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// One or more inputs are invalid; every invalid field is listed.
    #[error("the request has {} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// No such order, or (for a customer) another customer's order: the
    /// two are not told apart.
    #[error("no such order")]
    NotFound,
    /// The caller asked for what is not theirs.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("the idempotency key was already used with another request")]
    IdempotencyKeyReused,
    /// The order kept changing under us; the caller may try again.
    #[error("the order was changed concurrently")]
    Conflict,
    #[error(transparent)]
    InvalidCursor(#[from] CursorError),
    /// The store is unreachable or throttling; the caller may retry later.
    #[error("the order store is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("unexpected failure of the order store")]
    Unexpected(#[source] BoxError),
}
