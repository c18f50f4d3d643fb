//! fn-events' behaviour on the in-memory adapters: repeats, unknown and
//! cancelled orders, malformed events, the relay.

use std::sync::Arc;

use adapters_memory::{InMemoryEventPublisher, InMemoryOrderRepository};
use adapters_system::{SystemClock, UlidIdGenerator};
use domain::{LineItemInput, OrderService, OrderStatus, PlaceOrder, ServiceConfig};
use serde_json::{Value, json};

use super::*;

struct Harness {
    consumer: Consumer,
    service: OrderService,
    events: Arc<InMemoryEventPublisher>,
}

fn harness() -> Harness {
    let events = Arc::new(InMemoryEventPublisher::new());
    let service = OrderService::new(
        Arc::new(InMemoryOrderRepository::new()),
        events.clone(),
        Arc::new(SystemClock),
        Arc::new(UlidIdGenerator::new()),
        ServiceConfig::new(testkit::orders::cursor_key()),
    );
    Harness {
        consumer: Consumer::new(service.clone())
            .with_relay_min_age(Duration::ZERO)
            .without_metrics(),
        service,
        events,
    }
}

async fn place(service: &OrderService) -> domain::Order {
    service
        .place(
            &testkit::orders::staff(),
            PlaceOrder {
                customer_id: Some("CUST-001".into()),
                items: vec![LineItemInput {
                    product_id: "PROD-A".into(),
                    quantity: 2,
                }],
                idempotency_key: None,
            },
        )
        .await
        .expect("placed")
        .order
}

fn order_placed(order_id: &str) -> Value {
    json!({
        "version": "0",
        "id": "e1",
        "detail-type": "OrderPlaced",
        "source": "orders.api",
        "account": "123456789012",
        "time": "2026-07-02T11:24:04Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "orderId": order_id,
            "customerId": "CUST-001",
            "items": [{"productId": "PROD-A", "quantity": 2}],
            "createdAt": "2026-07-02T11:24:04.213Z"
        }
    })
}

fn scheduled() -> Value {
    json!({
        "version": "0",
        "id": "s1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-07-02T11:25:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/relay"],
        "detail": {}
    })
}

#[tokio::test]
async fn the_same_order_placed_delivered_three_times_confirms_once() {
    let h = harness();
    let order = place(&h.service).await;
    let event = order_placed(order.id().as_str());
    let outcomes = [
        h.consumer.handle(&event).await.expect("first"),
        h.consumer.handle(&event).await.expect("second"),
        h.consumer.handle(&event).await.expect("third"),
    ];
    assert_eq!(
        outcomes,
        [
            Outcome::Confirmed(order.id().clone()),
            Outcome::AlreadyConfirmed(order.id().clone()),
            Outcome::AlreadyConfirmed(order.id().clone()),
        ]
    );
    let stored = h
        .service
        .get(&testkit::orders::staff(), order.id())
        .await
        .expect("stored");
    assert_eq!(stored.status(), OrderStatus::Confirmed);
    assert_eq!(stored.version().get(), 2, "one change, not three");
}

#[tokio::test]
async fn an_event_for_an_unknown_order_is_acknowledged() {
    let h = harness();
    let event = order_placed("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R");
    let outcome = h.consumer.handle(&event).await.expect("acknowledged");
    assert!(matches!(outcome, Outcome::UnknownOrder(_)));
    let reply = h
        .consumer
        .handle_invocation(event)
        .await
        .expect("not retried");
    assert_eq!(reply["status"], "handled");
}

#[tokio::test]
async fn a_late_event_for_a_cancelled_order_changes_nothing() {
    let h = harness();
    let order = place(&h.service).await;
    h.service
        .cancel(&testkit::orders::staff(), order.id())
        .await
        .expect("cancel");
    let outcome = h
        .consumer
        .handle(&order_placed(order.id().as_str()))
        .await
        .expect("acknowledged");
    assert_eq!(
        outcome,
        Outcome::CancelledBeforeConfirmation(order.id().clone())
    );
    let stored = h
        .service
        .get(&testkit::orders::staff(), order.id())
        .await
        .expect("stored");
    assert_eq!(stored.status(), OrderStatus::Cancelled);
}

/// An event carries the order's version after its change: one older than
/// the stored order is ignored as superseded, and a bad one is malformed.
#[tokio::test]
async fn an_order_placed_older_than_the_stored_order_is_ignored_by_its_version() {
    let h = harness();
    let order = place(&h.service).await;
    h.service
        .cancel(&testkit::orders::staff(), order.id())
        .await
        .expect("cancel");
    let mut event = order_placed(order.id().as_str());
    event["detail"]["version"] = json!(1);
    let outcome = h.consumer.handle(&event).await.expect("acknowledged");
    assert_eq!(
        outcome,
        Outcome::Superseded {
            id: order.id().clone(),
            event_version: 1,
            applied: 2
        }
    );
    assert_eq!(
        h.service
            .get(&testkit::orders::staff(), order.id())
            .await
            .expect("stored")
            .version()
            .get(),
        2,
        "nothing written"
    );
    event["detail"]["version"] = json!(0);
    assert!(matches!(
        h.consumer.handle(&event).await,
        Err(ConsumeError::Malformed(_))
    ));
}

#[tokio::test]
async fn malformed_events_are_rejected_without_retry() {
    let h = harness();
    let mut wrong_detail = order_placed("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R");
    wrong_detail["detail"] = json!({"orderId": 7});
    let mut bad_id = order_placed("ORD-nope");
    bad_id["id"] = json!("e2");
    let mut no_detail = order_placed("x");
    no_detail.as_object_mut().expect("object").remove("detail");
    let mut foreign = order_placed("x");
    foreign["source"] = json!("someone.else");
    for event in [
        json!({}),
        json!([1, 2]),
        json!(null),
        wrong_detail,
        bad_id,
        no_detail,
        foreign,
    ] {
        let err = h
            .consumer
            .handle(&event)
            .await
            .expect_err(&event.to_string());
        assert!(!err.is_retryable(), "{event}: {err}");
        assert!(err.to_string().starts_with("malformed event: "), "{err}");
        let reply = h
            .consumer
            .handle_invocation(event)
            .await
            .expect("acknowledged");
        assert_eq!(reply["status"], "rejected");
    }
}

#[tokio::test]
async fn the_scheduled_event_runs_the_relay() {
    let h = harness();
    h.events.set_failing(true);
    for _ in 0..3 {
        place(&h.service).await;
    }
    assert!(h.events.published().is_empty());
    h.events.set_failing(false);
    let outcome = h.consumer.handle(&scheduled()).await.expect("relay");
    assert_eq!(
        outcome,
        Outcome::Relayed {
            published: 3,
            failed: 0,
            skipped: 0
        }
    );
    let again = h.consumer.handle(&scheduled()).await.expect("relay");
    assert_eq!(
        again,
        Outcome::Relayed {
            published: 0,
            failed: 0,
            skipped: 0
        }
    );
    assert_eq!(h.events.published().len(), 3);
}

#[tokio::test]
async fn order_cancelled_is_acknowledged_and_ignored() {
    let h = harness();
    let mut event = order_placed("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R");
    event["detail-type"] = json!("OrderCancelled");
    assert!(matches!(
        h.consumer.handle(&event).await,
        Ok(Outcome::Ignored(_))
    ));
}

/// CloudWatch's embedded metric format: `_aws.CloudWatchMetrics` names the
/// namespace, the dimension sets and the metrics, whose values are members
/// of the root (CloudWatch_Embedded_Metric_Format_Specification).
#[test]
fn a_relay_run_is_one_embedded_metric_format_record() {
    let report = domain::RelayReport {
        published: 4,
        failed: 1,
        corrupt: vec!["item X: damaged".into()],
        oldest_mark_age: Some(Duration::from_millis(95_400)),
    };
    let at = std::time::UNIX_EPOCH + Duration::from_millis(1_790_000_000_123);
    let record = crate::relay_metrics(&report, "dev-orders-events", at);
    let directive = &record["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(record["_aws"]["Timestamp"], 1_790_000_000_123_u64);
    assert_eq!(directive["Namespace"], crate::METRICS_NAMESPACE);
    assert_eq!(directive["Dimensions"], json!([["FunctionName"]]));
    assert_eq!(record["FunctionName"], "dev-orders-events");
    for metric in directive["Metrics"].as_array().expect("metrics") {
        let name = metric["Name"].as_str().expect("name");
        assert!(record[name].is_u64(), "{name} has no value: {record}");
    }
    assert_eq!(record["OutboxOldestMarkAge"], 95);
    assert_eq!(record["RelayPublished"], 4);
    assert_eq!(record["RelayFailed"], 1);
    assert_eq!(record["OutboxDamagedEntries"], 1);
    let empty = crate::relay_metrics(&domain::RelayReport::default(), "f", at);
    assert_eq!(empty["OutboxOldestMarkAge"], 0, "an empty outbox is age 0");
}
