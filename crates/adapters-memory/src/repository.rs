//! The in-memory `OrderRepository`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use domain::{
    CreateOutcome, CustomerId, EventKind, IdempotencyRecord, ListPosition, Order, OrderId,
    OrderPage, OrderRepository, PageLimit, PendingEvent, PendingEvents, RepositoryError, Timestamp,
    Version,
};

#[derive(Debug, Default)]
struct State {
    orders: HashMap<OrderId, Order>,
    /// (customer, created_at, id): the listing index, like DynamoDB's GSI1.
    by_customer: BTreeSet<(CustomerId, Timestamp, OrderId)>,
    idempotency: HashMap<String, (IdempotencyRecord, OrderId)>,
    /// Outbox marks and when they were set.
    marks: HashMap<(OrderId, EventKind), Timestamp>,
}

#[derive(Debug, Default)]
pub struct InMemoryOrderRepository {
    state: Mutex<State>,
}

impl InMemoryOrderRepository {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-made change:
        // every write below happens after all of its checks.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many orders are stored.
    pub fn len(&self) -> usize {
        self.state().orders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The outbox marks still set, sorted.
    pub fn marks(&self) -> Vec<(OrderId, EventKind)> {
        let mut marks: Vec<_> = self.state().marks.keys().cloned().collect();
        marks.sort();
        marks
    }
}

#[async_trait]
impl OrderRepository for InMemoryOrderRepository {
    async fn create(
        &self,
        order: &Order,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<CreateOutcome, RepositoryError> {
        let mut state = self.state();
        let live = idempotency.as_ref().and_then(|record| {
            state
                .idempotency
                .get(&record.scoped_key())
                .filter(|(stored, _)| stored.expires_at > order.created_at())
                .map(|(stored, original)| (stored.request_hash == record.request_hash, original))
        });
        if let Some((same_request, original)) = live {
            if !same_request {
                return Err(RepositoryError::IdempotencyKeyReused);
            }
            let original = state.orders.get(original).cloned().ok_or_else(|| {
                RepositoryError::Unexpected("idempotency record without its order".into())
            })?;
            return Ok(CreateOutcome::Replayed(original));
        }
        if state.orders.contains_key(order.id()) {
            return Err(RepositoryError::AlreadyExists);
        }
        let id = order.id().clone();
        state
            .by_customer
            .insert((order.customer_id().clone(), order.created_at(), id.clone()));
        state
            .marks
            .insert((id.clone(), EventKind::OrderPlaced), order.created_at());
        if let Some(record) = idempotency {
            state
                .idempotency
                .insert(record.scoped_key(), (record, id.clone()));
        }
        state.orders.insert(id, order.clone());
        Ok(CreateOutcome::Created)
    }

    async fn get(&self, id: &OrderId) -> Result<Option<Order>, RepositoryError> {
        Ok(self.state().orders.get(id).cloned())
    }

    async fn update(
        &self,
        order: &Order,
        expected: Version,
        mark: Option<EventKind>,
    ) -> Result<(), RepositoryError> {
        let mut state = self.state();
        let stored = state
            .orders
            .get_mut(order.id())
            .ok_or(RepositoryError::NotFound)?;
        if stored.version() != expected {
            return Err(RepositoryError::VersionConflict);
        }
        *stored = order.clone();
        if let Some(kind) = mark {
            state
                .marks
                .insert((order.id().clone(), kind), order.updated_at());
        }
        Ok(())
    }

    async fn list_by_customer(
        &self,
        customer: &CustomerId,
        limit: PageLimit,
        after: Option<ListPosition>,
    ) -> Result<OrderPage, RepositoryError> {
        let state = self.state();
        let limit = usize::try_from(limit.get()).unwrap_or(usize::MAX);
        let mut keys = state
            .by_customer
            .iter()
            .rev()
            .filter(|(c, _, _)| c == customer)
            .filter(|(_, created_at, id)| match &after {
                Some(p) => (*created_at, id) < (p.created_at, &p.order_id),
                None => true,
            });
        let page: Vec<&(CustomerId, Timestamp, OrderId)> = keys.by_ref().take(limit).collect();
        let more = keys.next().is_some();
        let next = match (more, page.last()) {
            (true, Some((_, created_at, id))) => Some(ListPosition {
                created_at: *created_at,
                order_id: id.clone(),
            }),
            _ => None,
        };
        let orders = page
            .iter()
            .filter_map(|(_, _, id)| state.orders.get(id).cloned())
            .collect();
        Ok(OrderPage { orders, next })
    }

    async fn pending_events(
        &self,
        marked_before: Timestamp,
        limit: usize,
    ) -> Result<PendingEvents, RepositoryError> {
        let state = self.state();
        let mut due: Vec<(&Timestamp, &(OrderId, EventKind))> = state
            .marks
            .iter()
            .filter(|(_, at)| **at <= marked_before)
            .map(|(key, at)| (at, key))
            .collect();
        due.sort();
        let events = due
            .into_iter()
            .filter_map(|(at, (id, kind))| {
                state.orders.get(id).map(|order| PendingEvent {
                    order: order.clone(),
                    kind: *kind,
                    marked_at: *at,
                })
            })
            .take(limit)
            .collect();
        Ok(PendingEvents {
            events,
            corrupt: Vec::new(),
        })
    }

    async fn clear_mark(&self, id: &OrderId, kind: EventKind) -> Result<(), RepositoryError> {
        self.state().marks.remove(&(id.clone(), kind));
        Ok(())
    }
}
