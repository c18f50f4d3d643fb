//! Paging through a customer's orders with an opaque cursor.
//!
//! A cursor names the last order of a page and the customer it was issued
//! for. Decoding checks that customer, so a cursor made for one customer
//! cannot be used to read another customer's orders.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::time::Timestamp;
use crate::values::{CustomerId, OrderId};

/// Where a page ends: orders sort newest first by `(created_at, order_id)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListPosition {
    pub created_at: Timestamp,
    pub order_id: OrderId,
}

/// How many orders a page holds: 1 to 100, 20 when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl PageLimit {
    pub const DEFAULT: Self = Self(20);
    pub const MAX: u32 = 100;

    pub fn parse(raw: i64) -> Option<Self> {
        u32::try_from(raw)
            .ok()
            .filter(|n| (1..=Self::MAX).contains(n))
            .map(Self)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("the cursor is not one this service issued")]
    Malformed,
    #[error("the cursor was issued for another customer")]
    OtherCustomer,
}

/// The opaque text form of a `ListPosition`.
///
/// ```
/// use domain::{CursorError, CustomerId, ListCursor, ListPosition, OrderId, Timestamp};
///
/// let me = CustomerId::parse("CUST-001").unwrap();
/// let position = ListPosition {
///     created_at: Timestamp::from_unix_millis(0).unwrap(),
///     order_id: OrderId::parse("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R").unwrap(),
/// };
/// let cursor = ListCursor::encode(&me, &position);
/// assert_eq!(ListCursor::decode(&cursor, &me), Ok(position));
/// let other = CustomerId::parse("CUST-002").unwrap();
/// assert_eq!(ListCursor::decode(&cursor, &other), Err(CursorError::OtherCustomer));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ListCursor;

impl ListCursor {
    const VERSION: &'static str = "v1";

    pub fn encode(customer: &CustomerId, position: &ListPosition) -> String {
        let plain = format!(
            "{}|{}|{}|{}",
            Self::VERSION,
            customer,
            position.created_at.unix_millis(),
            position.order_id
        );
        URL_SAFE_NO_PAD.encode(plain)
    }

    pub fn decode(raw: &str, customer: &CustomerId) -> Result<ListPosition, CursorError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| CursorError::Malformed)?;
        let plain = String::from_utf8(bytes).map_err(|_| CursorError::Malformed)?;
        let mut parts = plain.split('|');
        let (Some(version), Some(owner), Some(millis), Some(id), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(CursorError::Malformed);
        };
        if version != Self::VERSION {
            return Err(CursorError::Malformed);
        }
        let owner = CustomerId::parse(owner).map_err(|_| CursorError::Malformed)?;
        let created_at = millis
            .parse::<i64>()
            .ok()
            .and_then(Timestamp::from_unix_millis)
            .ok_or(CursorError::Malformed)?;
        let order_id = OrderId::parse(id).map_err(|_| CursorError::Malformed)?;
        if &owner != customer {
            return Err(CursorError::OtherCustomer);
        }
        Ok(ListPosition {
            created_at,
            order_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> ListPosition {
        ListPosition {
            created_at: Timestamp::from_unix_millis(1_751_455_444_213).unwrap(),
            order_id: OrderId::parse("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R").unwrap(),
        }
    }

    fn customer(raw: &str) -> CustomerId {
        CustomerId::parse(raw).unwrap()
    }

    #[test]
    fn a_cursor_round_trips_for_its_customer() {
        let cursor = ListCursor::encode(&customer("CUST-001"), &position());
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(
            ListCursor::decode(&cursor, &customer("CUST-001")),
            Ok(position())
        );
    }

    #[test]
    fn a_cursor_cannot_be_used_for_another_customer() {
        let cursor = ListCursor::encode(&customer("CUST-001"), &position());
        assert_eq!(
            ListCursor::decode(&cursor, &customer("CUST-002")),
            Err(CursorError::OtherCustomer)
        );
    }

    #[test]
    fn forged_or_damaged_cursors_are_malformed() {
        let me = customer("C");
        let forge = |plain: &str| URL_SAFE_NO_PAD.encode(plain);
        for raw in [
            String::new(),
            "!!!".to_owned(),
            "dGVzdA==".to_owned(),
            forge("v2|C|0|ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R"),
            forge("v1|C|0"),
            forge("v1|C|x|ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R"),
            forge("v1|C|0|ORD-nope"),
            forge("v1|C#D|0|ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R"),
            forge("v1|C|0|ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R|extra"),
            forge("v1|C|999999999999999999|ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R"),
        ] {
            assert_eq!(
                ListCursor::decode(&raw, &me),
                Err(CursorError::Malformed),
                "{raw}"
            );
        }
    }

    #[test]
    fn page_limits_accept_one_to_a_hundred() {
        for (raw, ok) in [
            (0, false),
            (1, true),
            (20, true),
            (100, true),
            (101, false),
            (-1, false),
        ] {
            assert_eq!(PageLimit::parse(raw).is_some(), ok, "{raw}");
        }
        assert_eq!(PageLimit::DEFAULT.get(), 20);
    }
}
