//! Value types: each one can only hold a valid value.
//!
//! Every type has a private field and a `parse` that returns a typed
//! `ValueError`; once a value exists, nothing downstream validates it again.
//! Identifiers are restricted to `[A-Za-z0-9_-]`, so none of them can reach
//! into another key of the store (`#`, `/` and control characters are out).

use std::collections::HashSet;
use std::fmt;

use ulid::Ulid;

/// Why a raw value was refused. Messages are lowercase and name the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("is required")]
    Required,
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters long")]
    TooLong { max: usize },
    #[error("may only contain {allowed}")]
    InvalidCharacter { allowed: &'static str },
    #[error("must be 'ORD-' followed by an upper-case 26-character ULID")]
    MalformedOrderId,
    #[error("must be an integer from {min} to {max}")]
    OutOfRange { min: i64, max: i64 },
    #[error("must hold from {min} to {max} items")]
    ItemCount { min: usize, max: usize },
    #[error("product '{0}' appears more than once")]
    DuplicateProduct(String),
}

const IDENTIFIER_CHARS: &str = "letters, digits, '_' and '-'";

fn parse_identifier(raw: &str, max: usize) -> Result<String, ValueError> {
    if raw.is_empty() {
        return Err(ValueError::Empty);
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ValueError::InvalidCharacter {
            allowed: IDENTIFIER_CHARS,
        });
    }
    // Only ASCII is left, so bytes and characters agree.
    if raw.len() > max {
        return Err(ValueError::TooLong { max });
    }
    Ok(raw.to_owned())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The longest accepted value, in characters.
            pub const MAX_LEN: usize = 64;

            /// Parses 1 to 64 characters of `[A-Za-z0-9_-]`.
            pub fn parse(raw: &str) -> Result<Self, ValueError> {
                parse_identifier(raw, Self::MAX_LEN).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

identifier!(
    /// The customer an order belongs to.
    CustomerId
);
identifier!(
    /// A product in the catalogue.
    ProductId
);

/// An order's identifier: `ORD-` followed by a ULID, so identifiers are
/// unique and sort by creation time. Never a timestamp in seconds, which
/// collides as soon as two orders arrive in the same second.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId(String);

impl OrderId {
    const PREFIX: &'static str = "ORD-";

    /// Parses the canonical form, `ORD-` and 26 upper-case Crockford base32
    /// characters. Lower case is refused so that one order has one spelling.
    ///
    /// ```
    /// use domain::{OrderId, ValueError};
    ///
    /// let id = OrderId::parse("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R").unwrap();
    /// assert_eq!(id.as_str(), "ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R");
    /// // The tutorial's timestamp ids collide within a second: refused.
    /// assert_eq!(OrderId::parse("ORD-20260702093000"), Err(ValueError::MalformedOrderId));
    /// ```
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let ulid = raw
            .strip_prefix(Self::PREFIX)
            .filter(|rest| rest.len() == ulid::ULID_LEN)
            .and_then(|rest| {
                Ulid::from_string(rest)
                    .ok()
                    .filter(|u| u.to_string() == rest)
            })
            .ok_or(ValueError::MalformedOrderId)?;
        Ok(Self::from_ulid(ulid))
    }

    pub fn from_ulid(ulid: Ulid) -> Self {
        Self(format!("{}{ulid}", Self::PREFIX))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many units of one product an order holds: 1 to 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quantity(u32);

impl Quantity {
    pub const MIN: u32 = 1;
    pub const MAX: u32 = 10_000;

    /// ```
    /// use domain::Quantity;
    ///
    /// assert_eq!(Quantity::parse(10_000).map(Quantity::get), Ok(10_000));
    /// assert!(Quantity::parse(0).is_err());
    /// assert!(Quantity::parse(10_001).is_err());
    /// ```
    pub fn parse(raw: i64) -> Result<Self, ValueError> {
        u32::try_from(raw)
            .ok()
            .filter(|q| (Self::MIN..=Self::MAX).contains(q))
            .map(Self)
            .ok_or(ValueError::OutOfRange {
                min: i64::from(Self::MIN),
                max: i64::from(Self::MAX),
            })
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LineItem {
    product_id: ProductId,
    quantity: Quantity,
}

impl LineItem {
    pub fn new(product_id: ProductId, quantity: Quantity) -> Self {
        Self {
            product_id,
            quantity,
        }
    }

    pub fn product_id(&self) -> &ProductId {
        &self.product_id
    }

    pub fn quantity(&self) -> Quantity {
        self.quantity
    }
}

/// The lines of an order: 1 to 100, no product twice, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LineItems(Vec<LineItem>);

impl LineItems {
    pub const MIN: usize = 1;
    pub const MAX: usize = 100;

    /// ```
    /// use domain::{LineItem, LineItems, ProductId, Quantity, ValueError};
    ///
    /// let line = |p: &str, q| LineItem::new(ProductId::parse(p).unwrap(), Quantity::parse(q).unwrap());
    /// assert_eq!(LineItems::parse(vec![line("A", 1), line("B", 2)]).map(|i| i.len()), Ok(2));
    /// assert_eq!(
    ///     LineItems::parse(vec![line("A", 1), line("A", 2)]),
    ///     Err(ValueError::DuplicateProduct("A".into()))
    /// );
    /// ```
    pub fn parse(items: Vec<LineItem>) -> Result<Self, ValueError> {
        if !(Self::MIN..=Self::MAX).contains(&items.len()) {
            return Err(ValueError::ItemCount {
                min: Self::MIN,
                max: Self::MAX,
            });
        }
        let mut seen = HashSet::with_capacity(items.len());
        if let Some(dup) = items.iter().find(|i| !seen.insert(i.product_id())) {
            return Err(ValueError::DuplicateProduct(dup.product_id().to_string()));
        }
        Ok(Self(items))
    }

    pub fn as_slice(&self) -> &[LineItem] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a `LineItems` holds at least one item.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, LineItem> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a LineItems {
    type Item = &'a LineItem;
    type IntoIter = std::slice::Iter<'a, LineItem>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_identifier(raw: &str, expected: Result<(), ValueError>) {
        assert_eq!(
            CustomerId::parse(raw).map(|_| ()),
            expected,
            "customer {raw:?}"
        );
        assert_eq!(
            ProductId::parse(raw).map(|_| ()),
            expected,
            "product {raw:?}"
        );
    }

    #[test]
    fn identifiers_accept_one_to_sixty_four_safe_characters() {
        let bad_char = Err(ValueError::InvalidCharacter {
            allowed: IDENTIFIER_CHARS,
        });
        check_identifier("a", Ok(()));
        check_identifier("CUST-001", Ok(()));
        check_identifier("a_b-C9", Ok(()));
        check_identifier(&"x".repeat(64), Ok(()));
        check_identifier(&"x".repeat(65), Err(ValueError::TooLong { max: 64 }));
        check_identifier("", Err(ValueError::Empty));
        check_identifier("CUST#1", bad_char.clone());
        check_identifier("a/b", bad_char.clone());
        check_identifier("a b", bad_char.clone());
        check_identifier("a\nb", bad_char.clone());
        check_identifier("a\u{0}", bad_char.clone());
        check_identifier("caf\u{e9}", bad_char.clone());
        check_identifier("A#x", bad_char);
    }

    #[test]
    fn identifiers_round_trip_through_their_string() {
        let id = CustomerId::parse("CUST-001").unwrap();
        assert_eq!(CustomerId::parse(id.as_str()).unwrap(), id);
        assert_eq!(id.to_string(), "CUST-001");
    }

    fn check_order_id(raw: &str, ok: bool) {
        assert_eq!(OrderId::parse(raw).is_ok(), ok, "{raw:?}");
    }

    #[test]
    fn order_ids_are_the_prefix_and_a_canonical_ulid() {
        check_order_id("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R", true);
        check_order_id("ORD-7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true);
        check_order_id("ORD-00000000000000000000000000", true);
        // Just outside: one character short or long, lower case, overflow.
        check_order_id("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1", false);
        check_order_id("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1RR", false);
        check_order_id("ORD-01jdq8n4zc6b7x2y3w5v9t0s1r", false);
        check_order_id("ORD-8ZZZZZZZZZZZZZZZZZZZZZZZZZ", false);
        check_order_id("ord-01JDQ8N4ZC6B7X2Y3W5V9T0S1R", false);
        check_order_id("01JDQ8N4ZC6B7X2Y3W5V9T0S1R", false);
        check_order_id("ORD-20260702093000", false);
        check_order_id("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0SUR", false);
        check_order_id("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S#R", false);
        check_order_id("", false);
        check_order_id("DOESNOTEXIST", false);
    }

    #[test]
    fn order_ids_round_trip_and_sort_by_time() {
        let early = OrderId::from_ulid(Ulid::from_parts(1_000, 5));
        let late = OrderId::from_ulid(Ulid::from_parts(2_000, 1));
        assert!(early < late);
        assert_eq!(OrderId::parse(early.as_str()).unwrap(), early);
    }

    #[test]
    fn quantity_accepts_one_to_ten_thousand() {
        let out = Err(ValueError::OutOfRange {
            min: 1,
            max: 10_000,
        });
        for (raw, expected) in [
            (1, Ok(1)),
            (2, Ok(2)),
            (9_999, Ok(9_999)),
            (10_000, Ok(10_000)),
            (0, out.clone()),
            (-1, out.clone()),
            (10_001, out.clone()),
            (i64::MAX, out.clone()),
            (i64::MIN, out.clone()),
            (i64::from(u32::MAX) + 1, out.clone()),
        ] {
            assert_eq!(Quantity::parse(raw).map(Quantity::get), expected, "{raw}");
        }
    }

    fn items(n: usize) -> Vec<LineItem> {
        (0..n)
            .map(|i| {
                LineItem::new(
                    ProductId::parse(&format!("P{i}")).unwrap(),
                    Quantity::parse(1).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn line_items_hold_one_to_a_hundred_lines() {
        let count = Err(ValueError::ItemCount { min: 1, max: 100 });
        assert_eq!(LineItems::parse(items(0)).map(|i| i.len()), count);
        assert_eq!(LineItems::parse(items(1)).map(|i| i.len()), Ok(1));
        assert_eq!(LineItems::parse(items(100)).map(|i| i.len()), Ok(100));
        assert_eq!(LineItems::parse(items(101)).map(|i| i.len()), count);
    }

    #[test]
    fn line_items_refuse_a_product_twice() {
        let mut lines = items(3);
        lines.push(lines[1].clone());
        assert_eq!(
            LineItems::parse(lines),
            Err(ValueError::DuplicateProduct("P1".into()))
        );
    }

    #[test]
    fn line_items_keep_the_order_given() {
        let mut lines = items(3);
        lines.reverse();
        let parsed = LineItems::parse(lines).unwrap();
        let ids: Vec<_> = parsed.iter().map(|i| i.product_id().as_str()).collect();
        assert_eq!(ids, ["P2", "P1", "P0"]);
        assert!(!parsed.is_empty());
    }
}
