//! The outbox end to end: orders placed while the bus is unreachable are
//! all acknowledged, and the relay publishes each one exactly once.

use std::sync::Arc;
use std::time::Duration;

use adapters_eventbridge::{Consumer, EventBridgePublisher, Outcome};
use adapters_system::{SystemClock, UlidIdGenerator};
use domain::{
    Delivery, EventPublisher, LineItemInput, OrderRepository, OrderService, OrderStatus,
    PlaceOrder, ServiceConfig, Timestamp,
};

use crate::bus::Bus;

fn service(repo: Arc<dyn OrderRepository>, events: Arc<dyn EventPublisher>) -> OrderService {
    OrderService::new(
        repo,
        events,
        Arc::new(SystemClock),
        Arc::new(UlidIdGenerator::new()),
        ServiceConfig::new(testkit::orders::cursor_key()),
    )
}

fn request() -> PlaceOrder {
    PlaceOrder {
        customer_id: Some("CUST-RELAY".into()),
        items: vec![LineItemInput {
            product_id: "PROD-A".into(),
            quantity: 1,
        }],
        idempotency_key: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_placed_while_the_bus_is_down_are_published_once_by_the_relay() {
    let repo = testkit::dynamodb::fresh_repository().await;
    // Nothing listens on port 9: every PutEvents fails to connect.
    let dead = EventBridgePublisher::new(
        testkit::moto::eventbridge_client("http://127.0.0.1:9"),
        "down",
    );
    let during_outage = service(repo.clone(), Arc::new(dead));
    let mut placed = Vec::new();
    for _ in 0..8 {
        let outcome = during_outage
            .place(&testkit::orders::staff(), request())
            .await
            .expect("acknowledged despite the bus");
        assert!(
            matches!(outcome.delivery, Delivery::Deferred(_)),
            "{:?}",
            outcome.delivery
        );
        placed.push(outcome.order.id().clone());
    }
    let far_future = Timestamp::from_unix_millis(4_102_444_800_000).expect("2100");
    assert_eq!(
        repo.pending_events(far_future, 100)
            .await
            .expect("pending")
            .events
            .len(),
        8
    );

    let bus = Bus::new().await;
    let recovered = service(repo.clone(), Arc::new(bus.publisher.clone()));
    let relay = Consumer::new(recovered.clone()).with_relay_min_age(Duration::ZERO);
    let scheduled = serde_json::json!({
        "id": "s1", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}
    });
    let outcome = relay.handle(&scheduled).await.expect("relay");
    assert_eq!(
        outcome,
        Outcome::Relayed {
            published: 8,
            failed: 0,
            skipped: 0
        }
    );
    let outcome = relay.handle(&scheduled).await.expect("relay again");
    assert_eq!(
        outcome,
        Outcome::Relayed {
            published: 0,
            failed: 0,
            skipped: 0
        }
    );
    assert!(
        repo.pending_events(far_future, 100)
            .await
            .expect("pending")
            .events
            .is_empty()
    );

    let received = bus.received(8).await;
    let mut ids: Vec<String> = received
        .iter()
        .map(|e| e["detail"]["orderId"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    let mut expected: Vec<String> = placed.iter().map(ToString::to_string).collect();
    expected.sort();
    assert_eq!(ids, expected, "each order's event exactly once");

    // Delivering them to fn-events confirms each order once.
    for event in &received {
        relay.handle(event).await.expect("confirm");
        relay.handle(event).await.expect("a repeat is harmless");
    }
    for id in &placed {
        let order = recovered
            .get(&testkit::orders::staff(), id)
            .await
            .expect("stored");
        assert_eq!(order.status(), OrderStatus::Confirmed);
        assert_eq!(order.version().get(), 2);
    }
}
