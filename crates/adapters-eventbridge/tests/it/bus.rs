//! A bus in moto with a rule that forwards everything from `orders.api` to
//! an SQS queue, so a test can read what reached the bus.

use std::time::{Duration, Instant};

use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use adapters_eventbridge::EventBridgePublisher;
use domain::{EventKind, EventPublisher, OrderEvent};

pub(crate) struct Bus {
    pub(crate) name: String,
    pub(crate) sqs: aws_sdk_sqs::Client,
    pub(crate) queue_url: String,
    pub(crate) publisher: EventBridgePublisher,
}

impl Bus {
    pub(crate) async fn new() -> Self {
        let endpoint = testkit::moto::shared().endpoint();
        let events = testkit::moto::eventbridge_client(endpoint);
        let sqs = testkit::moto::sqs_client(endpoint);
        let name = format!("orders-{}", &testkit::orders::order_id().as_str()[4..]).to_lowercase();
        events
            .create_event_bus()
            .name(&name)
            .send()
            .await
            .expect("bus");
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("queue")
            .queue_url
            .expect("queue url");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("attributes")
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .expect("queue arn");
        events
            .put_rule()
            .name("everything-from-orders")
            .event_bus_name(&name)
            .event_pattern(r#"{"source":["orders.api"]}"#)
            .send()
            .await
            .expect("rule");
        events
            .put_targets()
            .rule("everything-from-orders")
            .event_bus_name(&name)
            .targets(
                Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("target");
        Self {
            publisher: EventBridgePublisher::new(events, &name),
            name,
            sqs,
            queue_url,
        }
    }

    /// Reads events off the queue until `want` arrived or 10 s passed, then
    /// once more, to catch any extra (duplicate) event.
    pub(crate) async fn received(&self, want: usize) -> Vec<Value> {
        let mut seen = self.receive_until(want).await;
        seen.extend(self.receive_once().await);
        seen
    }

    async fn receive_once(&self) -> Vec<Value> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| serde_json::from_str(&m.body.unwrap_or_default()).expect("an event as JSON"))
            .collect()
    }

    async fn receive_until(&self, want: usize) -> Vec<Value> {
        let started = Instant::now();
        let mut seen = Vec::new();
        while seen.len() < want && started.elapsed() < Duration::from_secs(10) {
            seen.extend(self.receive_once().await);
        }
        seen
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
    let _ = &bus.name;
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
