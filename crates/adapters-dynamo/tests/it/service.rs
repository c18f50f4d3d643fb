//! The use cases end to end on DynamoDB Local: the outbox keeps what the
//! bus refused, and the relay publishes it exactly once.

use std::sync::Arc;
use std::time::Duration;

use adapters_memory::InMemoryEventPublisher;
use domain::{Confirmation, Delivery, EventKind, OrderStatus, PlaceOrder};

fn request(customer: &str) -> PlaceOrder {
    testkit::orders::place_request(customer, 1, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_placed_while_the_bus_fails_are_published_once_by_the_relay() {
    let events = Arc::new(InMemoryEventPublisher::new());
    let service =
        testkit::orders::service(testkit::dynamodb::fresh_repository().await, events.clone());
    events.set_failing(true);
    let mut placed = Vec::new();
    for _ in 0..10 {
        let outcome = service
            .place(&testkit::orders::staff(), request("CUST-OUTBOX"))
            .await
            .expect("acknowledged");
        assert!(matches!(outcome.delivery, Delivery::Deferred(_)));
        placed.push(outcome.order.id().clone());
    }
    assert!(events.published().is_empty());

    let report = service.relay(Duration::ZERO, 100).await.expect("relay");
    assert_eq!(
        (report.published, report.failed),
        (0, 10),
        "the bus is still down"
    );

    events.set_failing(false);
    let report = service.relay(Duration::ZERO, 100).await.expect("relay");
    assert_eq!((report.published, report.failed), (10, 0));
    let again = service.relay(Duration::ZERO, 100).await.expect("relay");
    assert_eq!(
        (again.published, again.failed),
        (0, 0),
        "nothing is published twice"
    );

    let mut published: Vec<_> = events
        .published()
        .iter()
        .map(|e| (e.order_id.clone(), e.kind))
        .collect();
    published.sort();
    let mut expected: Vec<_> = placed
        .iter()
        .map(|id| (id.clone(), EventKind::OrderPlaced))
        .collect();
    expected.sort();
    assert_eq!(published, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_cancel_and_repeats_behave_on_dynamodb() {
    let events = Arc::new(InMemoryEventPublisher::new());
    let service =
        testkit::orders::service(testkit::dynamodb::fresh_repository().await, events.clone());
    let order = service
        .place(&testkit::orders::staff(), request("CUST-FLOW"))
        .await
        .expect("place")
        .order;
    let (confirmed, outcome) = service.confirm(order.id()).await.expect("confirm");
    assert_eq!(
        (confirmed.status(), outcome),
        (OrderStatus::Confirmed, Confirmation::Confirmed)
    );
    let (_, outcome) = service.confirm(order.id()).await.expect("confirm again");
    assert_eq!(outcome, Confirmation::AlreadyConfirmed);
    let (cancelled, delivery) = service
        .cancel(&testkit::orders::staff(), order.id())
        .await
        .expect("cancel");
    assert_eq!(cancelled.status(), OrderStatus::Cancelled);
    assert!(matches!(delivery, Delivery::Published));
    // Cancel is idempotent: the same order again, nothing written.
    let (again, delivery) = service
        .cancel(&testkit::orders::staff(), order.id())
        .await
        .expect("cancel again");
    assert_eq!(again, cancelled);
    assert!(matches!(delivery, Delivery::Unchanged));
    let stored = service
        .get(&testkit::orders::staff(), order.id())
        .await
        .expect("get");
    assert_eq!(stored, cancelled);
    assert_eq!(stored.version().get(), 3);
}
