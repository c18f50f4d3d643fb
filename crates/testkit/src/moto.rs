//! moto's server for EventBridge tests: the provider of `local-services`,
//! one server shared by a test binary, and a bus whose rule forwards to an
//! SQS queue, to read what reached it.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

pub use local_services::moto::*;

/// The test binary's one moto server. Panics with the reason when there is
/// none: the tests cannot run.
pub fn shared() -> &'static Moto {
    static SHARED: OnceLock<Moto> = OnceLock::new();
    SHARED.get_or_init(|| Moto::start().unwrap_or_else(|why| panic!("{why}")))
}

/// A bus in moto with a rule that forwards everything from `orders.api` to
/// an SQS queue, so a test can read what reached the bus.
#[derive(Debug)]
pub struct QueuedBus {
    pub name: String,
    pub events: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl QueuedBus {
    /// A new bus on the moto server at `endpoint`, with its rule and queue.
    ///
    /// # Panics
    /// When moto refuses any of the calls: the test cannot go on.
    pub async fn create(endpoint: &str) -> Self {
        let events = eventbridge_client(endpoint);
        let sqs = sqs_client(endpoint);
        let name = format!("orders-{}", &crate::orders::order_id().as_str()[4..]).to_lowercase();
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
            name,
            events,
            sqs,
            queue_url,
        }
    }

    /// Reads events off the queue until `want` arrived or 20 s passed, then
    /// once more, to catch any extra (duplicate) event.
    ///
    /// # Panics
    /// When moto refuses a receive or a message is not JSON.
    pub async fn received(&self, want: usize) -> Vec<Value> {
        let mut seen = self.receive_until(want).await;
        seen.extend(self.receive_once().await);
        seen
    }

    /// One receive of up to 10 events, waiting at most a second.
    pub async fn receive_once(&self) -> Vec<Value> {
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
        while seen.len() < want && started.elapsed() < Duration::from_secs(20) {
            seen.extend(self.receive_once().await);
        }
        seen
    }
}
