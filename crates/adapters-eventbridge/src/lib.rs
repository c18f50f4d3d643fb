//! EventBridge, both ways: `EventBridgePublisher` puts order events on the
//! stage's bus, and `Consumer` handles what the bus delivers to fn-events
//! (`OrderPlaced` confirms the order; the scheduled relay event publishes
//! what the outbox still holds).
//!
//! Only this crate knows the event wire shape: source `orders.api`,
//! detail-type `OrderPlaced` / `OrderCancelled`, detail
//! `{eventId, orderId, customerId, items, createdAt, version, occurredAt}`
//! (`eventId` and `version` name the change, so repeats can be told apart).
//!
//! Invariants: PutEvents' `FailedEntryCount` is read, failed entries are
//! retried and then reported one by one, never dropped; batches hold at
//! most 10 entries and 256 KiB. A delivered event that can never succeed
//! (malformed) is rejected without being retried, and one that may succeed
//! later (the store is down) fails the invocation so it is retried.

mod consumer;
mod publisher;
mod wire;

pub use consumer::{ConsumeError, Consumer, METRICS_NAMESPACE, Outcome, relay_metrics};
pub use publisher::{EventBridgePublisher, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, WarmUpError};
pub use wire::{DETAIL_SOURCE, OrderEventDetail};

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

/// The timeouts a function's EventBridge client uses: a dead bus fails
/// quickly, since the order is already stored and marked and the relay
/// publishes it later.
pub fn client_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(4))
        .build()
}

/// The retries a function's EventBridge client makes: two attempts in all.
pub fn client_retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(2)
}
