//! The table's key shapes for code outside this crate that must find an
//! order's item without knowing how it is keyed: sample stream records
//! (the toolkit), counting stored orders and leaving legacy outbox entries
//! behind (the load and fault runs). The shapes themselves stay in
//! `item.rs`; tidy holds that no other crate spells them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::item::{GSI2PK, GSI2SK, ORDER_PK_PREFIX, ORDER_SK, OUTBOX, PK, SK};
use crate::table::GSI2;

/// An order's item key: each key attribute's name and its string value.
pub fn order_key(order_id: &str) -> [(&'static str, String); 2] {
    [
        (PK, format!("{ORDER_PK_PREFIX}{order_id}")),
        (SK, ORDER_SK.to_owned()),
    ]
}

/// The attributes that name an item's key, for a projection.
pub const KEY_ATTRIBUTES: [&str; 2] = [PK, SK];

/// The order id of an order's item; `None` for any other item (an
/// idempotency record).
pub fn order_id_of(item: &HashMap<String, AttributeValue>) -> Option<String> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value.as_str()),
        _ => None,
    };
    if text(SK)? != ORDER_SK {
        return None;
    }
    text(PK)?.strip_prefix(ORDER_PK_PREFIX).map(str::to_owned)
}

/// The outbox index's name.
pub const OUTBOX_INDEX: &str = GSI2.name;

/// The single, unsharded outbox partition orders written before sharding
/// carry (the relay still reads it): the index's partition attribute and
/// its value.
pub const LEGACY_OUTBOX_PARTITION: (&str, &str) = (GSI2PK, OUTBOX);

/// The index attributes of an outbox entry under
/// [`LEGACY_OUTBOX_PARTITION`], marked at `marked_at`: each attribute's
/// name and string value.
pub fn legacy_outbox_entry(order_id: &str, marked_at: &str) -> [(&'static str, String); 2] {
    let (partition, value) = LEGACY_OUTBOX_PARTITION;
    [
        (partition, value.to_owned()),
        (GSI2SK, format!("{marked_at}#{order_id}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{order_key as item_key, order_pk};

    #[test]
    fn the_public_key_is_the_items_key() {
        let id = domain::OrderId::parse("ORD-01HZX5V6Q2N8K4M3J7P1R9T0WB").expect("id");
        let key: HashMap<String, AttributeValue> = order_key(id.as_str())
            .into_iter()
            .map(|(name, value)| (name.to_owned(), AttributeValue::S(value)))
            .collect();
        assert_eq!(key, item_key(&id));
        assert_eq!(order_id_of(&key).as_deref(), Some(id.as_str()));
        let record = HashMap::from([
            (PK.to_owned(), AttributeValue::S(order_pk(&id))),
            (SK.to_owned(), AttributeValue::S("IDEMPOTENCY".to_owned())),
        ]);
        assert_eq!(order_id_of(&record), None);
    }
}
