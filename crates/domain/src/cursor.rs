//! Paging through a customer's orders with an opaque cursor.
//!
//! A cursor names the last order of a page, the caller it was issued to
//! and the customer whose list it pages, and is signed (HMAC-SHA256 with
//! the service's `CursorKey`). Decoding checks the signature first, then
//! caller and list: a changed cursor, a made-up one, or one issued to
//! someone else is refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::caller::Caller;

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
    /// Not a cursor this service issued: damaged, forged, or signed with
    /// another key.
    #[error("the cursor is not one this service issued")]
    Malformed,
    /// A cursor this service issued, for another caller or another list.
    #[error("the cursor was issued for another caller or another list")]
    OtherCaller,
}

/// The key cursors are signed with (HMAC-SHA256): at least 32 bytes. Its
/// `Debug` shows no byte of it.
#[derive(Clone)]
pub struct CursorKey(std::sync::Arc<[u8]>);

impl CursorKey {
    pub const MIN_LEN: usize = 32;

    /// `None` when `bytes` is shorter than `MIN_LEN`.
    pub fn new(bytes: &[u8]) -> Option<Self> {
        (bytes.len() >= Self::MIN_LEN).then(|| Self(bytes.into()))
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(payload);
        mac
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CursorKey({} bytes)", self.0.len())
    }
}

/// The opaque text form of a `ListPosition`: the position, the caller it
/// was issued to and the customer whose list it pages, signed.
///
/// ```
/// use domain::{Caller, CursorError, CursorKey, CustomerId, ListCursor, ListPosition, OrderId, Timestamp};
///
/// let key = CursorKey::new(&[7; 32]).unwrap();
/// let list = CustomerId::parse("CUST-001").unwrap();
/// let me = Caller::Customer(list.clone());
/// let position = ListPosition {
///     created_at: Timestamp::from_unix_millis(0).unwrap(),
///     order_id: OrderId::parse("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R").unwrap(),
/// };
/// let cursor = ListCursor::encode(&key, &me, &list, &position);
/// assert_eq!(ListCursor::decode(&key, &cursor, &me, &list), Ok(position));
/// let other = Caller::Customer(CustomerId::parse("CUST-002").unwrap());
/// assert_eq!(ListCursor::decode(&key, &cursor, &other, &list), Err(CursorError::OtherCaller));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ListCursor;

impl ListCursor {
    const VERSION: &'static str = "v2";

    /// `base64url(payload) "." base64url(HMAC-SHA256(key, payload))`, where
    /// the payload is `v2|<caller scope>|<customer>|<created ms>|<order id>`.
    pub fn encode(
        key: &CursorKey,
        caller: &Caller,
        customer: &CustomerId,
        position: &ListPosition,
    ) -> String {
        let plain = format!(
            "{}|{}|{}|{}|{}",
            Self::VERSION,
            caller.scope(),
            customer,
            position.created_at.unix_millis(),
            position.order_id
        );
        let tag = key.mac(plain.as_bytes()).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(plain),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The position a cursor names, once its signature holds and it was
    /// issued to `caller` for `customer`'s list.
    pub fn decode(
        key: &CursorKey,
        raw: &str,
        caller: &Caller,
        customer: &CustomerId,
    ) -> Result<ListPosition, CursorError> {
        let (payload, tag) = raw.split_once('.').ok_or(CursorError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| CursorError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| CursorError::Malformed)?;
        // Compared in constant time; nothing of the payload is read before.
        key.mac(&payload)
            .verify_slice(&tag)
            .map_err(|_| CursorError::Malformed)?;
        let plain = String::from_utf8(payload).map_err(|_| CursorError::Malformed)?;
        let parts: Vec<&str> = plain.split('|').collect();
        let [version, scope, list, millis, id] = parts[..] else {
            return Err(CursorError::Malformed);
        };
        if version != Self::VERSION {
            return Err(CursorError::Malformed);
        }
        let created_at = millis
            .parse::<i64>()
            .ok()
            .and_then(Timestamp::from_unix_millis)
            .ok_or(CursorError::Malformed)?;
        let order_id = OrderId::parse(id).map_err(|_| CursorError::Malformed)?;
        if scope != caller.scope() || list != customer.as_str() {
            return Err(CursorError::OtherCaller);
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
    use crate::caller::StaffId;

    fn position() -> ListPosition {
        ListPosition {
            created_at: Timestamp::from_unix_millis(1_751_455_444_213).unwrap(),
            order_id: OrderId::parse("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R").unwrap(),
        }
    }

    fn customer(raw: &str) -> CustomerId {
        CustomerId::parse(raw).unwrap()
    }

    fn key() -> CursorKey {
        CursorKey::new(b"a cursor key of thirty-two bytes").unwrap()
    }

    fn me() -> Caller {
        Caller::Customer(customer("CUST-001"))
    }

    #[test]
    fn a_cursor_round_trips_for_its_caller_and_list() {
        let cursor = ListCursor::encode(&key(), &me(), &customer("CUST-001"), &position());
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        );
        assert_eq!(
            ListCursor::decode(&key(), &cursor, &me(), &customer("CUST-001")),
            Ok(position())
        );
    }

    #[test]
    fn a_cursor_is_refused_to_another_caller_or_for_another_list() {
        let list = customer("CUST-001");
        let staff = Caller::Staff(StaffId::parse("s-1").unwrap());
        let cursor = ListCursor::encode(&key(), &me(), &list, &position());
        for (caller, list) in [
            (Caller::Customer(customer("CUST-002")), customer("CUST-001")),
            (Caller::Customer(customer("CUST-002")), customer("CUST-002")),
            (staff.clone(), customer("CUST-001")),
            (me(), customer("CUST-002")),
        ] {
            assert_eq!(
                ListCursor::decode(&key(), &cursor, &caller, &list),
                Err(CursorError::OtherCaller),
                "{caller} on {list}"
            );
        }
        let staffs = ListCursor::encode(&key(), &staff, &list, &position());
        let other_staff = Caller::Staff(StaffId::parse("s-2").unwrap());
        assert_eq!(
            ListCursor::decode(&key(), &staffs, &other_staff, &list),
            Err(CursorError::OtherCaller)
        );
        assert_eq!(
            ListCursor::decode(&key(), &staffs, &staff, &list),
            Ok(position())
        );
    }

    #[test]
    fn every_changed_character_breaks_the_signature() {
        let list = customer("CUST-001");
        let cursor = ListCursor::encode(&key(), &me(), &list, &position());
        for at in 0..cursor.len() {
            let mut bytes = cursor.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            if changed == cursor {
                continue;
            }
            assert_eq!(
                ListCursor::decode(&key(), &changed, &me(), &list),
                Err(CursorError::Malformed),
                "character {at} changed: {changed}"
            );
        }
    }

    #[test]
    fn forged_cursors_and_ones_signed_with_another_key_are_malformed() {
        let list = customer("C");
        let caller = Caller::Customer(list.clone());
        let other_key = CursorKey::new(&[1; 32]).unwrap();
        let sign = |plain: &str| {
            let tag = key().mac(plain.as_bytes()).finalize().into_bytes();
            format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(plain),
                URL_SAFE_NO_PAD.encode(tag)
            )
        };
        let unsigned_v1 = URL_SAFE_NO_PAD.encode("v1|C|0|ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R");
        for raw in [
            String::new(),
            "!!!".to_owned(),
            ".".to_owned(),
            unsigned_v1.clone(),
            format!("{unsigned_v1}.AAAA"),
            ListCursor::encode(&other_key, &caller, &list, &position()),
            sign("v1|customer:C|C|0|ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R"),
            sign("v2|customer:C|C|0"),
            sign("v2|customer:C|C|x|ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R"),
            sign("v2|customer:C|C|0|ORD-nope"),
            sign("v2|customer:C|C|0|ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R|extra"),
            sign("v2|customer:C|C|999999999999999999|ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R"),
        ] {
            assert_eq!(
                ListCursor::decode(&key(), &raw, &caller, &list),
                Err(CursorError::Malformed),
                "{raw}"
            );
        }
        assert_eq!(
            ListCursor::decode(
                &key(),
                &sign("v2|customer:C|C|0|ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R"),
                &caller,
                &list
            ),
            Ok(ListPosition {
                created_at: Timestamp::from_unix_millis(0).unwrap(),
                order_id: OrderId::parse("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R").unwrap(),
            })
        );
    }

    #[test]
    fn keys_shorter_than_32_bytes_are_refused_and_never_shown() {
        assert!(CursorKey::new(&[0; 31]).is_none());
        assert_eq!(format!("{:?}", key()), "CursorKey(32 bytes)");
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
