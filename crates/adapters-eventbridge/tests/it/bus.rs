//! What reaches a bus in moto, read back through a rule and a queue
//! (`testkit::moto::QueuedBus`).

use adapters_eventbridge::EventBridgePublisher;
use domain::{EventKind, EventPublisher, OrderEvent};
use testkit::moto::QueuedBus;

pub(crate) struct Bus {
    pub(crate) inner: QueuedBus,
    pub(crate) publisher: EventBridgePublisher,
}

impl Bus {
    pub(crate) async fn new() -> Self {
        let inner = QueuedBus::create(testkit::moto::shared().endpoint()).await;
        Self {
            publisher: EventBridgePublisher::new(inner.events.clone(), &inner.name),
            inner,
        }
    }

    pub(crate) async fn received(&self, want: usize) -> Vec<serde_json::Value> {
        self.inner.received(want).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_events_reaches_the_bus_in_the_documented_shape() {
    let bus = Bus::new().await;
    let orders: Vec<_> = (0..12)
        .map(|i| testkit::orders::placed("CUST-BUS", i))
        .collect();
    let events: Vec<OrderEvent> = orders
        .iter()
        .map(|o| OrderEvent::of(EventKind::OrderPlaced, o))
        .collect();
    bus.publisher.publish(&events).await.expect("published");

    let received = bus.received(12).await;
    assert_eq!(received.len(), 12, "{received:?}");
    let mut ids: Vec<&str> = received
        .iter()
        .map(|e| e["detail"]["orderId"].as_str().expect("orderId"))
        .collect();
    ids.sort_unstable();
    let mut expected: Vec<&str> = orders.iter().map(|o| o.id().as_str()).collect();
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let first = &received[0];
    assert_eq!(first["source"], "orders.api");
    assert_eq!(first["detail-type"], "OrderPlaced");
    assert_eq!(first["detail"]["customerId"], "CUST-BUS");
    assert_eq!(
        first["detail"]["items"],
        serde_json::json!([{"productId": "PROD-A", "quantity": 2}, {"productId": "PROD-B", "quantity": 1}])
    );
    assert!(
        first["detail"]["createdAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_that_does_not_exist_rejects_every_entry() {
    let endpoint = testkit::moto::shared().endpoint();
    let publisher =
        EventBridgePublisher::new(testkit::moto::eventbridge_client(endpoint), "no-such-bus");
    let events = vec![OrderEvent::of(
        EventKind::OrderPlaced,
        &testkit::orders::placed("C", 0),
    )];
    let result = publisher.publish(&events).await;
    assert!(
        result.is_err(),
        "publishing to a missing bus must not pass as success: {result:?}"
    );
}
