//! Property tests of the value types and the cursor: every valid value
//! round-trips through its text, no input makes a parser panic, and a
//! cursor issued to one customer never opens another's orders, nor does one
//! made without the key.

use proptest::prelude::*;

use crate::caller::Caller;
use crate::cursor::{CursorError, CursorKey, ListCursor, ListPosition};
use crate::time::Timestamp;
use crate::values::{CustomerId, OrderId, ProductId, Quantity};

fn order_id() -> impl Strategy<Value = OrderId> {
    (0u64..(1 << 48), any::<u128>()).prop_map(|(ms, random)| {
        OrderId::from_ulid(ulid::Ulid::from_parts(ms, random & ((1 << 80) - 1)))
    })
}

fn customer() -> impl Strategy<Value = CustomerId> {
    "[A-Za-z0-9_-]{1,64}"
        .prop_map(|raw| CustomerId::parse(&raw).unwrap_or_else(|e| panic!("{raw}: {e}")))
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (0i64..253_402_300_799_999)
        .prop_map(|ms| Timestamp::from_unix_millis(ms).unwrap_or_else(|| unreachable!()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn identifiers_round_trip(raw in "[A-Za-z0-9_-]{1,64}") {
        prop_assert_eq!(CustomerId::parse(&raw).map(|c| c.to_string()), Ok(raw.clone()));
        prop_assert_eq!(ProductId::parse(&raw).map(|p| p.to_string()), Ok(raw));
    }

    #[test]
    fn order_ids_round_trip(id in order_id()) {
        prop_assert_eq!(OrderId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn quantities_round_trip_inside_the_range(q in 1i64..=10_000) {
        prop_assert_eq!(Quantity::parse(q).map(|q| i64::from(q.get())), Ok(q));
    }

    #[test]
    fn timestamps_round_trip_through_text(t in timestamp()) {
        prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
    }

    #[test]
    fn no_string_makes_a_parser_panic(raw in ".{0,80}") {
        let _ = CustomerId::parse(&raw);
        let _ = ProductId::parse(&raw);
        let _ = OrderId::parse(&raw);
        let _ = Timestamp::parse_rfc3339(&raw);
        let c = CustomerId::parse("C").unwrap_or_else(|_| unreachable!());
        let _ = ListCursor::decode(&key(), &raw, &Caller::Customer(c.clone()), &c);
    }

    #[test]
    fn a_parsed_identifier_never_holds_a_key_separator(raw in ".{0,80}") {
        if let Ok(id) = CustomerId::parse(&raw) {
            prop_assert!(!id.as_str().contains(['#', '/']) && !id.as_str().chars().any(char::is_control));
        }
    }

    #[test]
    fn a_cursor_issued_to_another_customer_is_refused(owner in customer(), other in customer(), at in timestamp(), id in order_id()) {
        // A cursor of the owner's list, tried by another customer on its
        // own list or on the owner's: refused either way.
        prop_assume!(owner != other);
        let issued = ListCursor::encode(&key(), &Caller::Customer(owner.clone()), &owner, &ListPosition { created_at: at, order_id: id });
        let thief = Caller::Customer(other.clone());
        prop_assert_eq!(ListCursor::decode(&key(), &issued, &thief, &other), Err(CursorError::OtherCaller));
        prop_assert_eq!(ListCursor::decode(&key(), &issued, &thief, &owner), Err(CursorError::OtherCaller));
    }

    #[test]
    fn a_cursor_opens_only_its_own_callers_list(owner in customer(), at in timestamp(), id in order_id()) {
        let position = ListPosition { created_at: at, order_id: id };
        let me = Caller::Customer(owner.clone());
        let cursor = ListCursor::encode(&key(), &me, &owner, &position);
        prop_assert_eq!(ListCursor::decode(&key(), &cursor, &me, &owner), Ok(position));
    }

    #[test]
    fn no_cursor_made_without_the_key_is_accepted(owner in customer(), at in timestamp(), id in order_id(), guess in proptest::collection::vec(any::<u8>(), 32..64)) {
        let position = ListPosition { created_at: at, order_id: id };
        let me = Caller::Customer(owner.clone());
        let Some(guessed) = CursorKey::new(&guess) else { unreachable!() };
        prop_assume!(guess != KEY);
        let forged = ListCursor::encode(&guessed, &me, &owner, &position);
        prop_assert_eq!(ListCursor::decode(&key(), &forged, &me, &owner), Err(CursorError::Malformed));
    }
}

const KEY: &[u8] = b"the property tests' cursor key!!";

fn key() -> CursorKey {
    CursorKey::new(KEY).unwrap_or_else(|| unreachable!())
}
