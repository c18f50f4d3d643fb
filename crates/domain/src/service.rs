//! The use cases: place, get, list, cancel, confirm, and the outbox relay.
//!
//! Invariant: an order that `place` acknowledges always gets its
//! `OrderPlaced` event. The order is stored with an outbox mark in the same
//! write; the event is published at once and the mark cleared; when
//! publishing fails, the mark stays and `relay` publishes it later.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::caller::{Caller, Forbidden};
use crate::cursor::{CursorKey, ListCursor, PageLimit};
use crate::error::{Field, FieldError, OrderError};
use crate::event::{EventKind, OrderEvent};
use crate::idempotency::{IdempotencyKey, IdempotencyRecord, RequestHash};
use crate::order::{Confirmation, Order};
use crate::ports::{
    Clock, CreateOutcome, EventPublisher, IdGenerator, OrderPage, OrderRepository, PublishError,
    RepositoryError,
};
use crate::values::{CustomerId, LineItem, LineItems, OrderId, ProductId, Quantity};

/// One requested line, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItemInput {
    pub product_id: String,
    pub quantity: i64,
}

/// A request to place an order, as it arrived: `place` validates it.
/// `customer_id` is whom the order is for: optional for a customer (it
/// must be the customer itself), required for staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    pub customer_id: Option<String>,
    pub items: Vec<LineItemInput>,
    pub idempotency_key: Option<String>,
}

/// Why an event was left marked for the relay.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("publishing failed")]
    Publish(#[source] PublishError),
    #[error("the event was published but its mark could not be cleared")]
    ClearMark(#[source] RepositoryError),
    /// The caller's deadline came first: publishing (or clearing the mark)
    /// was left unfinished, and the mark stays for the relay.
    #[error("the deadline for publishing passed")]
    OutOfTime,
}

/// What became of the event a change produced.
#[derive(Debug)]
pub enum Delivery {
    Published,
    /// The event is still marked; the relay will publish it (again).
    Deferred(DeliveryError),
    /// Nothing to deliver: the request changed nothing.
    Unchanged,
}

#[derive(Debug)]
pub struct Placed {
    pub order: Order,
    /// True when an idempotency key matched an earlier request.
    pub replayed: bool,
    pub delivery: Delivery,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelayReport {
    pub published: usize,
    pub failed: usize,
    /// Keys of outbox entries that could not be read: skipped, for the
    /// caller to log.
    pub corrupt: Vec<String>,
    /// How old the oldest mark this run found was (none found: `None`).
    pub oldest_mark_age: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// How long an idempotency key stays bound to its first request.
    pub idempotency_ttl: Duration,
    /// How many times a change is retried when the order changed under it.
    pub max_attempts: u32,
    /// What list cursors are signed with. There is no default: a key
    /// anyone could know would let anyone forge cursors.
    pub cursor_key: CursorKey,
}

impl ServiceConfig {
    /// Idempotency keys held 24 hours, 3 attempts per change, cursors
    /// signed with `cursor_key`.
    pub fn new(cursor_key: CursorKey) -> Self {
        Self {
            idempotency_ttl: Duration::from_secs(24 * 60 * 60),
            max_attempts: 3,
            cursor_key,
        }
    }
}

/// The use cases, over the four ports. Cheap to clone.
#[derive(Clone)]
pub struct OrderService {
    repo: Arc<dyn OrderRepository>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    config: ServiceConfig,
}

impl std::fmt::Debug for OrderService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn repository_error(err: RepositoryError) -> OrderError {
    match err {
        RepositoryError::NotFound => OrderError::NotFound,
        RepositoryError::IdempotencyKeyReused => OrderError::IdempotencyKeyReused,
        RepositoryError::VersionConflict | RepositoryError::AlreadyExists => OrderError::Conflict,
        RepositoryError::Unavailable(source) => OrderError::Unavailable(source),
        RepositoryError::Unexpected(source) => OrderError::Unexpected(source),
    }
}

impl OrderService {
    pub fn new(
        repo: Arc<dyn OrderRepository>,
        events: Arc<dyn EventPublisher>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        config: ServiceConfig,
    ) -> Self {
        Self {
            repo,
            events,
            clock,
            ids,
            config,
        }
    }

    /// Validates and stores a new order, then publishes `OrderPlaced`.
    ///
    /// Every invalid field is reported at once, and nothing is stored or
    /// published then. A failure to publish does not fail the request: the
    /// order is stored and marked, and the relay publishes it.
    pub async fn place(&self, caller: &Caller, request: PlaceOrder) -> Result<Placed, OrderError> {
        self.place_by(caller, request, std::future::pending()).await
    }

    /// `place`, with publishing bounded by `deadline` (a future that
    /// completes when the time for it is up: the caller's timer, so this
    /// crate keeps no clock of its own). The order is stored either way;
    /// what is not published by then stays marked for the relay.
    pub async fn place_by(
        &self,
        caller: &Caller,
        request: PlaceOrder,
        deadline: impl Future<Output = ()> + Send,
    ) -> Result<Placed, OrderError> {
        let (customer, items, key) = validate(caller, request)?;
        let now = self.clock.now();
        let order = Order::place(self.ids.next_order_id(), customer, items, now);
        let record = key.map(|key| IdempotencyRecord {
            scope: caller.scope(),
            key,
            request_hash: RequestHash::of_order_request(order.customer_id(), order.items()),
            expires_at: now.plus(self.config.idempotency_ttl),
        });
        match self
            .repo
            .create(&order, record)
            .await
            .map_err(repository_error)?
        {
            CreateOutcome::Replayed(original) => Ok(Placed {
                order: original,
                replayed: true,
                delivery: Delivery::Unchanged,
            }),
            CreateOutcome::Created => {
                let delivery = self
                    .deliver_by(&order, EventKind::OrderPlaced, deadline)
                    .await;
                Ok(Placed {
                    order,
                    replayed: false,
                    delivery,
                })
            }
        }
    }

    /// The order, when the caller may see it: another customer's order is
    /// `NotFound`, as a missing one.
    pub async fn get(&self, caller: &Caller, id: &OrderId) -> Result<Order, OrderError> {
        self.load(id)
            .await?
            .filter(|order| caller.may_act_for(order.customer_id()))
            .ok_or(OrderError::NotFound)
    }

    async fn load(&self, id: &OrderId) -> Result<Option<Order>, OrderError> {
        self.repo.get(id).await.map_err(repository_error)
    }

    /// A page of the customer's orders, newest first, and the cursor of the
    /// next page when there may be one. A customer lists only its own
    /// (another's is `Forbidden`); a cursor must be one issued to this
    /// caller for this list.
    pub async fn list(
        &self,
        caller: &Caller,
        customer: &CustomerId,
        limit: PageLimit,
        cursor: Option<&str>,
    ) -> Result<(Vec<Order>, Option<String>), OrderError> {
        if !caller.may_act_for(customer) {
            return Err(Forbidden::AnotherCustomersList.into());
        }
        let key = &self.config.cursor_key;
        let after = cursor
            .map(|raw| ListCursor::decode(key, raw, caller, customer))
            .transpose()?;
        let OrderPage { orders, next } = self
            .repo
            .list_by_customer(customer, limit, after)
            .await
            .map_err(repository_error)?;
        let next = next.map(|position| ListCursor::encode(key, caller, customer, &position));
        Ok((orders, next))
    }

    /// Cancels an order and publishes `OrderCancelled`. Another customer's
    /// order is `NotFound`, as in `get`.
    pub async fn cancel(
        &self,
        caller: &Caller,
        id: &OrderId,
    ) -> Result<(Order, Delivery), OrderError> {
        self.cancel_by(caller, id, std::future::pending()).await
    }

    /// `cancel`, with publishing bounded by `deadline`, as `place_by`.
    pub async fn cancel_by(
        &self,
        caller: &Caller,
        id: &OrderId,
        deadline: impl Future<Output = ()> + Send,
    ) -> Result<(Order, Delivery), OrderError> {
        let mut changed = false;
        let order = self
            .change(id, |order, now| {
                if !caller.may_act_for(order.customer_id()) {
                    return Err(OrderError::NotFound);
                }
                // Idempotent: a retried cancel whose first attempt
                // committed gets the cancelled order, and nothing is
                // written or published again.
                changed = order.status() != crate::order::OrderStatus::Cancelled;
                if changed {
                    order.cancel(caller, now)?;
                }
                Ok(changed)
            })
            .await?;
        let delivery = if changed {
            self.deliver_by(&order, EventKind::OrderCancelled, deadline)
                .await
        } else {
            Delivery::Unchanged
        };
        Ok((order, delivery))
    }

    /// Confirms an order after its `OrderPlaced` event. A repeated
    /// confirmation returns `AlreadyConfirmed` and changes nothing.
    pub async fn confirm(&self, id: &OrderId) -> Result<(Order, Confirmation), OrderError> {
        self.confirm_placed(id, None).await
    }

    /// `confirm`, for the event that spoke of the order at `seen` (its
    /// `version`): an order changed since then and not confirmed is
    /// `Superseded`, and nothing is written. Without a version (events
    /// from before it was sent), as `confirm`.
    pub async fn confirm_placed(
        &self,
        id: &OrderId,
        seen: Option<crate::order::Version>,
    ) -> Result<(Order, Confirmation), OrderError> {
        let mut outcome = Confirmation::AlreadyConfirmed;
        let order = self
            .change(id, |order, now| {
                let moved_on = seen.is_some_and(|seen| order.version() > seen);
                if moved_on && order.status() != crate::order::OrderStatus::Confirmed {
                    outcome = Confirmation::Superseded {
                        applied: order.version(),
                    };
                    return Ok(false);
                }
                outcome = order.confirm(now)?;
                Ok(outcome == Confirmation::Confirmed)
            })
            .await?;
        Ok((order, outcome))
    }

    /// Publishes the events still marked whose mark is older than
    /// `min_age`, then clears the marks of those the bus accepted.
    pub async fn relay(&self, min_age: Duration, limit: usize) -> Result<RelayReport, OrderError> {
        let cutoff = self.clock.now().minus(min_age);
        let found = self
            .repo
            .pending_events(cutoff, limit)
            .await
            .map_err(repository_error)?;
        let pending = found.events;
        let now = self.clock.now();
        let mut report = RelayReport {
            corrupt: found.corrupt,
            oldest_mark_age: pending.iter().map(|p| p.marked_at).min().map(|at| {
                Duration::from_millis(
                    u64::try_from(now.unix_millis() - at.unix_millis()).unwrap_or(0),
                )
            }),
            ..RelayReport::default()
        };
        if pending.is_empty() {
            return Ok(report);
        }
        let events: Vec<OrderEvent> = pending
            .iter()
            .map(|p| OrderEvent::of(p.kind, &p.order))
            .collect();
        let accepted: Vec<bool> = match self.events.publish(&events).await {
            Ok(()) => vec![true; events.len()],
            Err(PublishError::Rejected { failed }) => {
                let mut accepted = vec![true; events.len()];
                for rejected in failed {
                    if let Some(slot) = accepted.get_mut(rejected.index) {
                        *slot = false;
                    }
                }
                accepted
            }
            Err(PublishError::Unavailable(_)) => vec![false; events.len()],
        };
        for (event, ok) in events.iter().zip(accepted) {
            if ok {
                // A mark that cannot be cleared is published again next
                // time: consumers treat events as at-least-once.
                self.repo
                    .clear_mark(&event.order_id, event.kind)
                    .await
                    .map_err(repository_error)?;
                report.published += 1;
            } else {
                report.failed += 1;
            }
        }
        Ok(report)
    }

    /// Loads, applies `apply`, and stores with an optimistic version check,
    /// retrying from a fresh read when the order changed in between. `apply`
    /// returns whether it changed anything; nothing is written when not.
    async fn change<F>(&self, id: &OrderId, mut apply: F) -> Result<Order, OrderError>
    where
        F: FnMut(&mut Order, crate::time::Timestamp) -> Result<bool, OrderError>,
    {
        for _ in 0..self.config.max_attempts.max(1) {
            let mut order = self.load(id).await?.ok_or(OrderError::NotFound)?;
            let expected = order.version();
            if !apply(&mut order, self.clock.now())? {
                return Ok(order);
            }
            let mark = match order.status() {
                crate::order::OrderStatus::Cancelled => Some(EventKind::OrderCancelled),
                _ => None,
            };
            match self.repo.update(&order, expected, mark).await {
                Ok(()) => return Ok(order),
                Err(RepositoryError::VersionConflict) => continue,
                Err(err) => return Err(repository_error(err)),
            }
        }
        Err(OrderError::Conflict)
    }

    async fn deliver_by(
        &self,
        order: &Order,
        kind: EventKind,
        deadline: impl Future<Output = ()> + Send,
    ) -> Delivery {
        first_of(self.deliver(order, kind), deadline)
            .await
            .unwrap_or(Delivery::Deferred(DeliveryError::OutOfTime))
    }

    async fn deliver(&self, order: &Order, kind: EventKind) -> Delivery {
        let event = OrderEvent::of(kind, order);
        if let Err(err) = self.events.publish(std::slice::from_ref(&event)).await {
            return Delivery::Deferred(DeliveryError::Publish(err));
        }
        match self.repo.clear_mark(order.id(), kind).await {
            Ok(()) => Delivery::Published,
            Err(err) => Delivery::Deferred(DeliveryError::ClearMark(err)),
        }
    }
}

/// `work`'s output, or `None` when `deadline` completes first (`work` is
/// then dropped where it stands).
async fn first_of<T>(
    work: impl Future<Output = T>,
    deadline: impl Future<Output = ()>,
) -> Option<T> {
    let mut work = std::pin::pin!(work);
    let mut deadline = std::pin::pin!(deadline);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(value) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(value));
        }
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Parses every field and reports all that are invalid, not just the
/// first; a valid customer id that is not the caller's own (for a
/// customer) is `Forbidden` before anything else is judged.
fn validate(
    caller: &Caller,
    request: PlaceOrder,
) -> Result<(CustomerId, LineItems, Option<IdempotencyKey>), OrderError> {
    let mut errors = Vec::new();
    let named = request.customer_id.as_deref().map(CustomerId::parse);
    let customer = match (caller, named) {
        (_, Some(Ok(named))) if !caller.may_act_for(&named) => {
            return Err(Forbidden::OrderForAnotherCustomer.into());
        }
        (_, Some(Ok(named))) => Some(named),
        (Caller::Customer(me), None) => Some(me.clone()),
        (Caller::Staff(_), None) => {
            errors.push(FieldError {
                field: Field::CustomerId,
                error: crate::values::ValueError::Required,
            });
            None
        }
        (_, Some(Err(error))) => {
            errors.push(FieldError {
                field: Field::CustomerId,
                error,
            });
            None
        }
    };
    let key = match request
        .idempotency_key
        .as_deref()
        .map(IdempotencyKey::parse)
    {
        None => None,
        Some(Ok(key)) => Some(key),
        Some(Err(error)) => {
            errors.push(FieldError {
                field: Field::IdempotencyKey,
                error,
            });
            None
        }
    };
    let mut lines = Vec::with_capacity(request.items.len());
    for (i, item) in request.items.iter().enumerate() {
        let product = ProductId::parse(&item.product_id)
            .map_err(|error| {
                errors.push(FieldError {
                    field: Field::ItemProductId(i),
                    error,
                })
            })
            .ok();
        let quantity = Quantity::parse(item.quantity)
            .map_err(|error| {
                errors.push(FieldError {
                    field: Field::ItemQuantity(i),
                    error,
                })
            })
            .ok();
        if let (Some(product), Some(quantity)) = (product, quantity) {
            lines.push(LineItem::new(product, quantity));
        }
    }
    // The list rules (count, duplicates) are judged on the lines as sent.
    let items = if lines.len() == request.items.len() {
        LineItems::parse(lines)
            .map_err(|error| {
                errors.push(FieldError {
                    field: Field::Items,
                    error,
                })
            })
            .ok()
    } else if !(LineItems::MIN..=LineItems::MAX).contains(&request.items.len()) {
        errors.push(FieldError {
            field: Field::Items,
            error: crate::values::ValueError::ItemCount {
                min: LineItems::MIN,
                max: LineItems::MAX,
            },
        });
        None
    } else {
        None
    };
    match (customer, items, errors.is_empty()) {
        (Some(customer), Some(items), true) => Ok((customer, items, key)),
        _ => Err(OrderError::Invalid(errors)),
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
