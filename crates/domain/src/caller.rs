//! Who is asking. Every use case a person drives takes a `Caller`: a
//! customer, confined to its own orders, or a member of staff, who may act
//! on any order.
//!
//! The rules (each held by a table-driven test in `service_tests.rs`):
//! - a customer places orders for itself; a request naming another
//!   customer is `Forbidden`;
//! - a customer reads and cancels only its own orders; another customer's
//!   order is `NotFound`, the same answer as for an id no order has, so ids
//!   tell nothing about other customers;
//! - a customer lists only its own orders; another customer's list is
//!   `Forbidden` (the customer id is in the path: nothing to hide);
//! - staff read, list and cancel any order, and place orders for the
//!   customer the request names.

use std::fmt;

use crate::values::{CustomerId, ValueError};

/// A staff member's stable id (the identity provider's subject): 1 to 128
/// of `[A-Za-z0-9_.:@-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StaffId(String);

impl StaffId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        if raw.is_empty() {
            return Err(ValueError::Empty);
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'@'))
        {
            return Err(ValueError::InvalidCharacter {
                allowed: "letters, digits, '_', '-', '.', ':' and '@'",
            });
        }
        if raw.len() > Self::MAX_LEN {
            return Err(ValueError::TooLong { max: Self::MAX_LEN });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who a use case acts for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    Customer(CustomerId),
    Staff(StaffId),
}

/// What a caller asked for that is not theirs. Each is a 403 at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    #[error("a customer places orders only for itself")]
    OrderForAnotherCustomer,
    #[error("a customer lists only its own orders")]
    AnotherCustomersList,
}

impl Caller {
    /// Whether the caller may see and change an order of `owner`.
    pub fn may_act_for(&self, owner: &CustomerId) -> bool {
        match self {
            Self::Customer(me) => me == owner,
            Self::Staff(_) => true,
        }
    }

    /// The text that scopes what the caller leaves behind (idempotency
    /// records, cursors): `customer:<id>` or `staff:<id>`. Neither id can
    /// hold `|`, `#` or a space, so scopes never run into each other.
    pub fn scope(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Customer(id) => write!(f, "customer:{id}"),
            Self::Staff(id) => write!(f, "staff:{}", id.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_ids_take_what_identity_providers_use_as_subjects() {
        for ok in [
            "a",
            "7c1f6e2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
            "staff@example.com",
        ] {
            assert!(StaffId::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(StaffId::parse(""), Err(ValueError::Empty));
        assert!(StaffId::parse("a|b").is_err());
        assert!(StaffId::parse("a#b").is_err());
        assert!(StaffId::parse("a b").is_err());
        assert_eq!(
            StaffId::parse(&"s".repeat(129)),
            Err(ValueError::TooLong { max: 128 })
        );
    }

    #[test]
    fn scopes_name_the_kind_of_caller_and_its_id() {
        let customer = Caller::Customer(CustomerId::parse("CUST-001").unwrap());
        let staff = Caller::Staff(StaffId::parse("CUST-001").unwrap());
        assert_eq!(customer.scope(), "customer:CUST-001");
        assert_eq!(staff.scope(), "staff:CUST-001");
        assert_ne!(customer.scope(), staff.scope());
    }

    #[test]
    fn a_customer_acts_for_itself_and_staff_for_anyone() {
        let me = CustomerId::parse("CUST-001").unwrap();
        let other = CustomerId::parse("CUST-002").unwrap();
        let customer = Caller::Customer(me.clone());
        let staff = Caller::Staff(StaffId::parse("s-1").unwrap());
        for (caller, owner, allowed) in [
            (&customer, &me, true),
            (&customer, &other, false),
            (&staff, &me, true),
            (&staff, &other, true),
        ] {
            assert_eq!(caller.may_act_for(owner), allowed, "{caller} for {owner}");
        }
    }
}
