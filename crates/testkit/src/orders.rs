//! Sample orders with fresh, time-sortable ids.

use std::sync::OnceLock;

use adapters_system::UlidIdGenerator;
use domain::{
    CustomerId, IdGenerator, LineItem, LineItems, Order, OrderId, ProductId, Quantity, Timestamp,
};

fn ids() -> &'static UlidIdGenerator {
    static IDS: OnceLock<UlidIdGenerator> = OnceLock::new();
    IDS.get_or_init(UlidIdGenerator::new)
}

/// A fresh order id, never seen before in this process.
pub fn order_id() -> OrderId {
    ids().next_order_id()
}

/// 2026-07-02T11:24:04.213Z plus `offset_millis`.
pub fn at(offset_millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_782_991_444_213 + offset_millis)
        .unwrap_or_else(|| panic!("offset {offset_millis} ms leaves years 0 to 9999"))
}

pub fn customer(raw: &str) -> CustomerId {
    CustomerId::parse(raw).unwrap_or_else(|e| panic!("customer {raw:?}: {e}"))
}

/// `spec` as (product, quantity) lines.
pub fn items(spec: &[(&str, i64)]) -> LineItems {
    let lines = spec
        .iter()
        .map(|(product, quantity)| {
            let product = ProductId::parse(product).unwrap_or_else(|e| panic!("{product:?}: {e}"));
            let quantity = Quantity::parse(*quantity).unwrap_or_else(|e| panic!("{quantity}: {e}"));
            LineItem::new(product, quantity)
        })
        .collect();
    LineItems::parse(lines).unwrap_or_else(|e| panic!("{spec:?}: {e}"))
}

/// A new `created` order of `customer`, placed at `at(offset_millis)`.
pub fn placed(customer_id: &str, offset_millis: i64) -> Order {
    Order::place(
        order_id(),
        customer(customer_id),
        items(&[("PROD-A", 2), ("PROD-B", 1)]),
        at(offset_millis),
    )
}

/// The use cases over `repo` and `events`, with the system clock and ULIDs.
pub fn service(
    repo: std::sync::Arc<dyn domain::OrderRepository>,
    events: std::sync::Arc<dyn domain::EventPublisher>,
) -> domain::OrderService {
    domain::OrderService::new(
        repo,
        events,
        std::sync::Arc::new(adapters_system::SystemClock),
        std::sync::Arc::new(UlidIdGenerator::new()),
        domain::ServiceConfig::new(cursor_key()),
    )
}

/// The cursor key tests sign with.
pub fn cursor_key() -> domain::CursorKey {
    domain::CursorKey::new(b"testkit's cursor key, 32 bytes+!").unwrap_or_else(|| unreachable!())
}

/// A member of staff, who may act on any order.
pub fn staff() -> domain::Caller {
    domain::Caller::Staff(domain::StaffId::parse("staff-test").unwrap_or_else(|e| panic!("{e}")))
}

/// The customer `id` as a caller.
pub fn as_customer(id: &str) -> domain::Caller {
    domain::Caller::Customer(customer(id))
}

/// A request to place one line of `PROD-A` for `customer`.
pub fn place_request(customer: &str, quantity: i64, key: Option<&str>) -> domain::PlaceOrder {
    domain::PlaceOrder {
        customer_id: Some(customer.to_owned()),
        items: vec![domain::LineItemInput {
            product_id: "PROD-A".to_owned(),
            quantity,
        }],
        idempotency_key: key.map(str::to_owned),
    }
}
