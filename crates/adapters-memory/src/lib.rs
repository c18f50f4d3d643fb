//! `OrderRepository` and `EventPublisher` in memory.
//!
//! The local server's default store and the tests' fakes. They honour the
//! same contracts as the DynamoDB and EventBridge adapters (optimistic
//! versions, idempotency keys, newest-first pages, outbox marks), and the
//! same contract suite holds them to it. Every operation takes one lock for
//! its whole read-check-write, so concurrent callers see atomic changes.

mod publisher;
mod repository;

pub use publisher::InMemoryEventPublisher;
pub use repository::InMemoryOrderRepository;

#[cfg(test)]
mod contract {
    use std::sync::Arc;

    use super::InMemoryOrderRepository;

    testkit::repository_contract!(Arc::new(InMemoryOrderRepository::new()));
}
