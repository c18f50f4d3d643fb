//! Orders and idempotency records as DynamoDB items, and back.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use domain::{
    Caller, Cancellation, CustomerId, EventKind, IdempotencyRecord, LineItem, LineItems, Order,
    OrderId, OrderParts, OrderStatus, ProductId, Quantity, RepositoryError, RequestHash, StaffId,
    Timestamp, Version,
};

use crate::errors::corrupt;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) const PK: &str = "PK";
pub(crate) const SK: &str = "SK";
pub(crate) const GSI1PK: &str = "GSI1PK";
pub(crate) const GSI1SK: &str = "GSI1SK";
pub(crate) const GSI2PK: &str = "GSI2PK";
pub(crate) const GSI2SK: &str = "GSI2SK";
pub(crate) const ORDER_SK: &str = "METADATA";
/// An order item's partition key is this, then the order id.
pub(crate) const ORDER_PK_PREFIX: &str = "ORDER#";
pub(crate) const IDEMPOTENCY_SK: &str = "IDEMPOTENCY";
pub(crate) const OUTBOX: &str = "OUTBOX";
pub(crate) const VERSION: &str = "version";
pub(crate) const STATUS: &str = "status";
pub(crate) const UPDATED_AT: &str = "updatedAt";
/// Who cancelled the order (`staff:ID` or `customer:ID`) and when.
pub(crate) const CANCELLED_BY: &str = "cancelledBy";
pub(crate) const CANCELLED_AT: &str = "cancelledAt";

/// A caller as the audit trail stores it: `staff:ID` or `customer:ID`.
pub(crate) fn caller_text(caller: &Caller) -> String {
    match caller {
        Caller::Staff(id) => format!("staff:{}", id.as_str()),
        Caller::Customer(id) => format!("customer:{}", id.as_str()),
    }
}

fn caller_from_text(text: &str) -> Option<Caller> {
    match text.split_once(':')? {
        ("staff", id) => StaffId::parse(id).ok().map(Caller::Staff),
        ("customer", id) => CustomerId::parse(id).ok().map(Caller::Customer),
        _ => None,
    }
}
pub(crate) const REQUEST_HASH: &str = "requestHash";
pub(crate) const ORDER_ID: &str = "orderId";
pub(crate) const EXPIRES_AT: &str = "expiresAt";
pub(crate) const TTL: &str = "ttl";
/// The id of the update that wrote an order last: tells a retried update
/// that committed apart from another update with the same content.
pub(crate) const WRITE_ID: &str = "writeId";

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn order_pk(id: &OrderId) -> String {
    format!("{ORDER_PK_PREFIX}{id}")
}

pub(crate) fn customer_pk(customer: &CustomerId) -> String {
    format!("CUSTOMER#{customer}")
}

/// `<createdAt>#<orderId>`: sorts by time, then id.
pub(crate) fn listing_sk(created_at: Timestamp, id: &OrderId) -> String {
    format!("{}#{id}", created_at.to_rfc3339())
}

pub(crate) fn idempotency_pk(record: &IdempotencyRecord) -> String {
    format!("IDEMPOTENCY#{}", record.scoped_key())
}

/// The attribute holding the time an event of `kind` was marked.
pub(crate) fn mark_attribute(kind: EventKind) -> String {
    format!("outbox{}", kind.as_str())
}

pub(crate) fn order_key(id: &OrderId) -> Item {
    HashMap::from([(PK.into(), s(order_pk(id))), (SK.into(), s(ORDER_SK))])
}

/// A new order's item, marked for `OrderPlaced` at its creation.
pub(crate) fn new_order_item(order: &Order) -> Item {
    let items = order
        .items()
        .iter()
        .map(|line| {
            AttributeValue::M(HashMap::from([
                ("productId".into(), s(line.product_id().as_str())),
                ("quantity".into(), n(line.quantity().get())),
            ]))
        })
        .collect();
    let mut item = order_key(order.id());
    item.extend([
        ("entityType".into(), s("Order")),
        (ORDER_ID.into(), s(order.id().as_str())),
        ("customerId".into(), s(order.customer_id().as_str())),
        ("items".into(), AttributeValue::L(items)),
        (STATUS.into(), s(order.status().as_str())),
        ("createdAt".into(), s(order.created_at().to_rfc3339())),
        (UPDATED_AT.into(), s(order.updated_at().to_rfc3339())),
        (VERSION.into(), n(order.version().get())),
        (GSI1PK.into(), s(customer_pk(order.customer_id()))),
        (GSI1SK.into(), s(listing_sk(order.created_at(), order.id()))),
        (
            mark_attribute(EventKind::OrderPlaced),
            s(order.created_at().to_rfc3339()),
        ),
        (GSI2PK.into(), s(outbox_pk(order.id()))),
        (GSI2SK.into(), s(listing_sk(order.created_at(), order.id()))),
    ]);
    item
}

/// How many partitions the outbox index is spread over. Each order writes
/// its index entry twice (marked, then cleared); DynamoDB takes at most
/// 1,000 writes a second on one partition key, so one `OUTBOX` key would
/// throttle near 500 orders a second, under prod's 1,000 requests a
/// second (2,000 burst). Sixteen keys take 16 × 1,000 / 2 = 8,000 orders a
/// second, four times prod's burst.
pub const OUTBOX_SHARDS: u32 = 16;

/// The outbox shard of an order: FNV-1a of its id, so an order keeps its
/// shard, and ids (time-ordered ULIDs) spread evenly.
pub fn outbox_shard(id: &OrderId) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in id.as_str().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % OUTBOX_SHARDS
}

/// The outbox index's partition key for an order: `OUTBOX#n`.
pub(crate) fn outbox_pk(id: &OrderId) -> String {
    format!("{OUTBOX}#{}", outbox_shard(id))
}

/// Every partition the relay reads: the shards, and the single `OUTBOX`
/// key that orders written before sharding may still carry.
pub(crate) fn outbox_partitions() -> impl Iterator<Item = String> {
    (0..OUTBOX_SHARDS)
        .map(|n| format!("{OUTBOX}#{n}"))
        .chain([OUTBOX.to_owned()])
}

pub(crate) fn idempotency_item(record: &IdempotencyRecord, order: &OrderId) -> Item {
    HashMap::from([
        (PK.into(), s(idempotency_pk(record))),
        (SK.into(), s(IDEMPOTENCY_SK)),
        ("entityType".into(), s("IdempotencyRecord")),
        (REQUEST_HASH.into(), s(record.request_hash.as_str())),
        (ORDER_ID.into(), s(order.as_str())),
        (EXPIRES_AT.into(), n(record.expires_at.unix_millis())),
        (TTL.into(), n(record.expires_at.unix_seconds())),
    ])
}

/// Reads attributes of one item, naming the item in every complaint.
pub(crate) struct Reader<'a> {
    item: &'a Item,
    what: &'a str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(item: &'a Item, what: &'a str) -> Self {
        Self { item, what }
    }

    fn missing(&self, name: &str, expected: &str) -> RepositoryError {
        corrupt(format!(
            "{}: attribute {name} is missing or not {expected}",
            self.what
        ))
    }

    pub(crate) fn string(&self, name: &str) -> Result<&'a str, RepositoryError> {
        match self.item.get(name) {
            Some(AttributeValue::S(value)) => Ok(value),
            _ => Err(self.missing(name, "a string")),
        }
    }

    pub(crate) fn number(&self, name: &str) -> Result<i64, RepositoryError> {
        match self.item.get(name) {
            Some(AttributeValue::N(value)) => {
                value.parse().map_err(|_| self.missing(name, "an integer"))
            }
            _ => Err(self.missing(name, "a number")),
        }
    }

    pub(crate) fn timestamp(&self, name: &str) -> Result<Timestamp, RepositoryError> {
        Timestamp::parse_rfc3339(self.string(name)?)
            .ok_or_else(|| self.missing(name, "an RFC 3339 time"))
    }

    fn list(&self, name: &str) -> Result<&'a [AttributeValue], RepositoryError> {
        match self.item.get(name) {
            Some(AttributeValue::L(values)) => Ok(values),
            _ => Err(self.missing(name, "a list")),
        }
    }
}

fn bad(what: &str, name: &str, err: impl std::fmt::Display) -> RepositoryError {
    corrupt(format!("{what}: attribute {name} is invalid: {err}"))
}

/// Rebuilds an order from its item. A malformed item is `Unexpected`.
pub(crate) fn order_from_item(item: &Item) -> Result<Order, RepositoryError> {
    let pk = match item.get(PK) {
        Some(AttributeValue::S(pk)) => pk.as_str(),
        _ => "an order item",
    };
    let r = Reader::new(item, pk);
    let id = OrderId::parse(r.string(ORDER_ID)?).map_err(|e| bad(pk, ORDER_ID, e))?;
    let customer_id =
        CustomerId::parse(r.string("customerId")?).map_err(|e| bad(pk, "customerId", e))?;
    let mut lines = Vec::new();
    for (i, line) in r.list("items")?.iter().enumerate() {
        let AttributeValue::M(line) = line else {
            return Err(bad(pk, "items", format!("line {i} is not a map")));
        };
        let line_reader = Reader::new(line, pk);
        let product = ProductId::parse(line_reader.string("productId")?)
            .map_err(|e| bad(pk, "items.productId", e))?;
        let quantity = Quantity::parse(line_reader.number("quantity")?)
            .map_err(|e| bad(pk, "items.quantity", e))?;
        lines.push(LineItem::new(product, quantity));
    }
    let items = LineItems::parse(lines).map_err(|e| bad(pk, "items", e))?;
    let status = OrderStatus::parse(r.string(STATUS)?)
        .ok_or_else(|| bad(pk, STATUS, "not a known status"))?;
    let version = u64::try_from(r.number(VERSION)?)
        .ok()
        .and_then(Version::new)
        .ok_or_else(|| bad(pk, VERSION, "not a positive integer"))?;
    // Orders cancelled before the trail was kept have none.
    let cancellation = match item.get(CANCELLED_BY) {
        None => None,
        Some(_) => Some(Cancellation {
            by: caller_from_text(r.string(CANCELLED_BY)?)
                .ok_or_else(|| bad(pk, CANCELLED_BY, "not staff:ID or customer:ID"))?,
            at: r.timestamp(CANCELLED_AT)?,
        }),
    };
    Ok(Order::from_parts(OrderParts {
        id,
        customer_id,
        items,
        status,
        created_at: r.timestamp("createdAt")?,
        updated_at: r.timestamp(UPDATED_AT)?,
        version,
        cancellation,
    }))
}

/// The events marked on an order item, with when each was marked. A mark
/// that is not an RFC 3339 time makes the item corrupt: read as "no mark",
/// it would be taken out of the outbox and its event lost.
pub(crate) fn marks_of(item: &Item) -> Result<Vec<(EventKind, Timestamp)>, RepositoryError> {
    let mut marks = Vec::new();
    for kind in EventKind::ALL {
        let name = mark_attribute(kind);
        match item.get(&name) {
            None => {}
            Some(AttributeValue::S(at)) => match Timestamp::parse_rfc3339(at) {
                Some(at) => marks.push((kind, at)),
                None => return Err(bad("an outbox mark", &name, "not an RFC 3339 time")),
            },
            Some(_) => return Err(bad("an outbox mark", &name, "not a string")),
        }
    }
    Ok(marks)
}

/// The item's key as `PK/SK`, for logs.
pub(crate) fn key_text(item: &Item) -> String {
    let part = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => "?".to_owned(),
    };
    format!("{}/{}", part(PK), part(SK))
}

/// The stored record's hash and order id.
pub(crate) fn idempotency_from_item(
    item: &Item,
) -> Result<(RequestHash, OrderId), RepositoryError> {
    let r = Reader::new(item, "an idempotency record");
    let hash = RequestHash::from_stored(r.string(REQUEST_HASH)?).ok_or_else(|| {
        bad(
            "an idempotency record",
            REQUEST_HASH,
            "not a SHA-256 hex digest",
        )
    })?;
    let id = OrderId::parse(r.string(ORDER_ID)?)
        .map_err(|e| bad("an idempotency record", ORDER_ID, e))?;
    Ok((hash, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order {
        Order::place(
            OrderId::parse("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R").unwrap(),
            CustomerId::parse("CUST-001").unwrap(),
            LineItems::parse(vec![LineItem::new(
                ProductId::parse("PROD-A").unwrap(),
                Quantity::parse(2).unwrap(),
            )])
            .unwrap(),
            Timestamp::from_unix_millis(1_782_991_444_213).unwrap(),
        )
    }

    #[test]
    fn an_order_item_has_the_tutorials_key_shape() {
        let item = new_order_item(&order());
        assert_eq!(item[PK], s("ORDER#ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R"));
        assert_eq!(item[SK], s("METADATA"));
        assert_eq!(item[GSI1PK], s("CUSTOMER#CUST-001"));
        assert_eq!(
            item[GSI1SK],
            s("2026-07-02T11:24:04.213Z#ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R")
        );
        assert_eq!(item[STATUS], s("created"));
        assert_eq!(item[VERSION], n(1));
        assert_eq!(
            item[GSI2PK],
            s(format!("OUTBOX#{}", outbox_shard(order().id())))
        );
        assert_eq!(
            marks_of(&item).unwrap(),
            vec![(EventKind::OrderPlaced, order().created_at())]
        );
    }

    #[test]
    fn a_mark_that_is_not_a_time_makes_the_item_corrupt_not_unmarked() {
        let mut item = new_order_item(&order());
        item.insert(mark_attribute(EventKind::OrderPlaced), s("yesterday"));
        let err = marks_of(&item).unwrap_err().to_string();
        assert!(err.contains("unexpected"), "{err}");
        item.insert(mark_attribute(EventKind::OrderPlaced), n(3));
        assert!(marks_of(&item).is_err());
        assert_eq!(
            key_text(&item),
            "ORDER#ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R/METADATA"
        );
    }

    #[test]
    fn an_order_round_trips_through_its_item() {
        assert_eq!(order_from_item(&new_order_item(&order())).unwrap(), order());
    }

    #[test]
    fn a_damaged_item_is_an_unexpected_error_that_names_it() {
        let damaged: [(&str, AttributeValue); 6] = [
            (STATUS, s("shipped")),
            (VERSION, n(0)),
            (VERSION, s("1")),
            ("items", AttributeValue::L(vec![])),
            ("customerId", s("C#1")),
            ("createdAt", s("yesterday")),
        ];
        for (name, value) in damaged {
            let mut item = new_order_item(&order());
            item.insert(name.into(), value);
            match order_from_item(&item) {
                Err(RepositoryError::Unexpected(e)) => {
                    assert!(
                        e.to_string()
                            .contains("ORDER#ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R"),
                        "{e}"
                    );
                    assert!(e.to_string().contains(name), "{e}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn orders_spread_over_every_outbox_shard_and_keep_theirs() {
        let mut counts = [0u32; OUTBOX_SHARDS as usize];
        let ids = adapters_system_free_ids(1_600);
        for id in &ids {
            let shard = outbox_shard(id);
            assert_eq!(shard, outbox_shard(id), "stable");
            counts[shard as usize] += 1;
        }
        // 1,600 ids over 16 shards: about 100 each; none starved or hot.
        assert!(counts.iter().all(|c| (50..=150).contains(c)), "{counts:?}");
        assert_eq!(outbox_partitions().count(), OUTBOX_SHARDS as usize + 1);
    }

    /// Time-ordered ids as the service makes them: one millisecond apart,
    /// random parts from a fixed sequence.
    fn adapters_system_free_ids(n: usize) -> Vec<OrderId> {
        const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        (0..n)
            .map(|i| {
                let mut text = format!("ORD-01JDQ8{:04}", i % 10_000);
                while text.len() < 30 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    text.push(char::from(CROCKFORD[(state % 32) as usize]));
                }
                OrderId::parse(&text).expect("an order id")
            })
            .collect()
    }
}
