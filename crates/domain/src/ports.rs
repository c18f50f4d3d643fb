//! The ports: what the use cases need from the outside world.
//!
//! Each trait states its contract with MUST. Every adapter (in memory,
//! DynamoDB, EventBridge) honours the same contract, and one contract suite
//! holds them to it.

use async_trait::async_trait;

use crate::cursor::{ListPosition, PageLimit};
use crate::error::BoxError;
use crate::event::{EventKind, OrderEvent};
use crate::idempotency::IdempotencyRecord;
use crate::order::{Order, Version};
use crate::time::Timestamp;
use crate::values::{CustomerId, OrderId};

/// Errors a repository reports. Business outcomes have their own variant;
/// technical failures keep their cause.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    #[error("an order with this id already exists")]
    AlreadyExists,
    #[error("the idempotency key was already used with another request")]
    IdempotencyKeyReused,
    #[error("the stored order has another version")]
    VersionConflict,
    #[error("no such order")]
    NotFound,
    /// Unreachable, throttled or timed out after the client's own retries.
    #[error("the store is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("unexpected store failure")]
    Unexpected(#[source] BoxError),
}

/// What `create` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The order was stored, with its `OrderPlaced` mark.
    Created,
    /// The idempotency key was already bound to this same request: nothing
    /// was stored, and this is the order the first request created.
    Replayed(Order),
}

/// One page of a customer's orders, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    /// Present when more orders may follow this page.
    pub next: Option<ListPosition>,
}

/// An event that is marked in the outbox: not yet known to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    pub order: Order,
    pub kind: EventKind,
    pub marked_at: Timestamp,
}

/// What one look at the outbox found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PendingEvents {
    /// Oldest mark first.
    pub events: Vec<PendingEvent>,
    /// Outbox entries that cannot be read as orders, by key: skipped, so
    /// that one damaged item does not stop every run behind it.
    pub corrupt: Vec<String>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OrderRepository: Send + Sync {
    /// Stores a new order together with an outbox mark for `OrderPlaced`
    /// (marked at the order's `created_at`), and with the idempotency record
    /// when one is given, all or nothing.
    ///
    /// - MUST return `AlreadyExists` when an order with this id is stored.
    /// - When the record's key is stored and not expired at the order's
    ///   `created_at`: MUST store nothing and return `Replayed` with the
    ///   stored order when the request hashes match, and MUST return
    ///   `IdempotencyKeyReused` when they differ.
    /// - Concurrent calls with one key MUST store at most one order.
    async fn create(
        &self,
        order: &Order,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<CreateOutcome, RepositoryError>;

    /// MUST return `Ok(None)` for an unknown id, never `NotFound`.
    async fn get(&self, id: &OrderId) -> Result<Option<Order>, RepositoryError>;

    /// Replaces a stored order with `order` if the stored version is
    /// `expected`, and adds an outbox mark for `mark` (marked at the order's
    /// `updated_at`) in the same write.
    ///
    /// - MUST return `NotFound` when no order has this id.
    /// - MUST return `VersionConflict` and change nothing when the stored
    ///   version is not `expected`.
    async fn update(
        &self,
        order: &Order,
        expected: Version,
        mark: Option<EventKind>,
    ) -> Result<(), RepositoryError>;

    /// A customer's orders, newest first by `(created_at, id)`, strictly
    /// after `after` when given.
    ///
    /// MUST return at most `limit` orders, and MUST set `next` when more
    /// orders follow (it MAY also set it on a last page that is full).
    async fn list_by_customer(
        &self,
        customer: &CustomerId,
        limit: PageLimit,
        after: Option<ListPosition>,
    ) -> Result<OrderPage, RepositoryError>;

    /// Marked events whose mark is at or before `marked_before`, oldest
    /// first, at most `limit` of them. MUST include the order as stored now.
    ///
    /// - MUST return `limit` events when at least that many are marked,
    ///   however many entries without a mark (or damaged ones) come first.
    /// - MUST skip an entry it cannot read, naming it in `corrupt`, rather
    ///   than fail.
    async fn pending_events(
        &self,
        marked_before: Timestamp,
        limit: usize,
    ) -> Result<PendingEvents, RepositoryError>;

    /// Removes the mark for `kind` from the order. MUST succeed when the mark
    /// or the order is already gone, and MUST NOT change the order's version.
    /// The last mark's removal MUST take the order out of the outbox in the
    /// same write, so that no outcome leaves an unmarked entry behind.
    async fn clear_mark(&self, id: &OrderId, kind: EventKind) -> Result<(), RepositoryError>;
}

/// An event the bus did not accept, by its index in the published slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEvent {
    pub index: usize,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The bus answered, but refused some events; the others were accepted.
    #[error("{} event(s) were not accepted", failed.len())]
    Rejected { failed: Vec<RejectedEvent> },
    /// Nothing is known to have been accepted.
    #[error("the event bus is unavailable")]
    Unavailable(#[source] BoxError),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes the events, in batches as the bus allows.
    ///
    /// MUST return `Ok` only when every event was accepted, and MUST name in
    /// `Rejected` exactly the events that were not, so that the caller can
    /// keep those marked and clear the others.
    async fn publish(&self, events: &[OrderEvent]) -> Result<(), PublishError>;
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait IdGenerator: Send + Sync {
    /// A new order id. MUST never return the same id twice, and ids MUST
    /// sort in the order they were made within one process.
    fn next_order_id(&self) -> OrderId;
}
