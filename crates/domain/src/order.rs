//! The `Order` aggregate and its status machine.
//!
//! Allowed moves: `created -> confirmed`, `created | confirmed -> cancelled`.
//! Confirming a confirmed order is a no-op (the event that confirms it may be
//! delivered more than once); every other move is a `TransitionError`.

use std::fmt;

use crate::caller::Caller;
use crate::time::Timestamp;
use crate::values::{CustomerId, LineItems, OrderId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Created,
    Confirmed,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [Self; 3] = [Self::Created, Self::Confirmed, Self::Cancelled];

    /// The lowercase name used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A move the status machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order that is {from} cannot become {to}")]
pub struct TransitionError {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

/// The optimistic-locking version of a stored order: 1 when placed, one more
/// with every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(u64);

impl Version {
    pub const INITIAL: Self = Self(1);

    /// `None` for 0, which no stored order has.
    pub fn new(raw: u64) -> Option<Self> {
        (raw >= 1).then_some(Self(raw))
    }

    pub fn get(self) -> u64 {
        self.0
    }

    #[must_use]
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

/// What `Order::confirm` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// The order moved from created to confirmed.
    Confirmed,
    /// It was confirmed already; nothing changed.
    AlreadyConfirmed,
    /// The order has changed since the event that asked for confirmation
    /// (its version is past the event's) and is not confirmed: the event is
    /// older than what was applied, so nothing changed.
    Superseded { applied: Version },
}

/// Who cancelled an order, and when: the order's audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    pub by: Caller,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    id: OrderId,
    customer_id: CustomerId,
    items: LineItems,
    status: OrderStatus,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: Version,
    cancellation: Option<Cancellation>,
}

/// The fields of a stored order, for adapters that rebuild one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderParts {
    pub id: OrderId,
    pub customer_id: CustomerId,
    pub items: LineItems,
    pub status: OrderStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: Version,
    /// Who cancelled it and when (none for an order cancelled before the
    /// trail was kept).
    pub cancellation: Option<Cancellation>,
}

impl Order {
    /// A new order, `created`, at version 1.
    pub fn place(id: OrderId, customer_id: CustomerId, items: LineItems, now: Timestamp) -> Self {
        Self {
            id,
            customer_id,
            items,
            status: OrderStatus::Created,
            created_at: now,
            updated_at: now,
            version: Version::INITIAL,
            cancellation: None,
        }
    }

    pub fn from_parts(parts: OrderParts) -> Self {
        let OrderParts {
            id,
            customer_id,
            items,
            status,
            created_at,
            updated_at,
            version,
            cancellation,
        } = parts;
        Self {
            id,
            customer_id,
            items,
            status,
            created_at,
            updated_at,
            version,
            cancellation,
        }
    }

    pub fn into_parts(self) -> OrderParts {
        OrderParts {
            id: self.id,
            customer_id: self.customer_id,
            items: self.items,
            status: self.status,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
            cancellation: self.cancellation,
        }
    }

    pub fn id(&self) -> &OrderId {
        &self.id
    }
    pub fn customer_id(&self) -> &CustomerId {
        &self.customer_id
    }
    pub fn items(&self) -> &LineItems {
        &self.items
    }
    pub fn status(&self) -> OrderStatus {
        self.status
    }
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
    pub fn version(&self) -> Version {
        self.version
    }
    /// Who cancelled the order and when, once it is cancelled.
    pub fn cancellation(&self) -> Option<&Cancellation> {
        self.cancellation.as_ref()
    }

    /// `created | confirmed -> cancelled`.
    /// `by` is recorded with the time, as the order's audit trail.
    pub fn cancel(&mut self, by: &Caller, now: Timestamp) -> Result<(), TransitionError> {
        match self.status {
            OrderStatus::Created | OrderStatus::Confirmed => {
                self.advance(OrderStatus::Cancelled, now);
                self.cancellation = Some(Cancellation {
                    by: by.clone(),
                    at: self.updated_at,
                });
                Ok(())
            }
            OrderStatus::Cancelled => Err(self.refuse(OrderStatus::Cancelled)),
        }
    }

    /// `created -> confirmed`; confirming a confirmed order changes nothing.
    pub fn confirm(&mut self, now: Timestamp) -> Result<Confirmation, TransitionError> {
        match self.status {
            OrderStatus::Created => {
                self.advance(OrderStatus::Confirmed, now);
                Ok(Confirmation::Confirmed)
            }
            OrderStatus::Confirmed => Ok(Confirmation::AlreadyConfirmed),
            OrderStatus::Cancelled => Err(self.refuse(OrderStatus::Confirmed)),
        }
    }

    fn advance(&mut self, to: OrderStatus, now: Timestamp) {
        self.status = to;
        // A clock that steps back must not make an order younger than it was.
        self.updated_at = now.max(self.updated_at);
        self.version = self.version.next();
    }

    fn refuse(&self, to: OrderStatus) -> TransitionError {
        TransitionError {
            from: self.status,
            to,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::values::{LineItem, ProductId, Quantity};

    pub(crate) fn sample_order(at_millis: i64) -> Order {
        let items = LineItems::parse(vec![LineItem::new(
            ProductId::parse("PROD-A").unwrap(),
            Quantity::parse(2).unwrap(),
        )])
        .unwrap();
        Order::place(
            OrderId::parse("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R").unwrap(),
            CustomerId::parse("CUST-001").unwrap(),
            items,
            Timestamp::from_unix_millis(at_millis).unwrap(),
        )
    }

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_unix_millis(millis).unwrap()
    }

    fn staff() -> Caller {
        Caller::Staff(crate::StaffId::parse("ops-1").unwrap())
    }

    #[test]
    fn a_cancellation_records_who_and_when() {
        let mut order = sample_order(1_000);
        assert_eq!(order.cancellation(), None);
        order.cancel(&staff(), at(3_000)).unwrap();
        assert_eq!(
            order.cancellation(),
            Some(&Cancellation {
                by: staff(),
                at: at(3_000)
            })
        );
        // The trail survives being stored and read back.
        let again = Order::from_parts(order.clone().into_parts());
        assert_eq!(again.cancellation(), order.cancellation());
    }

    fn order_in(status: OrderStatus) -> Order {
        let mut order = sample_order(1_000);
        match status {
            OrderStatus::Created => {}
            OrderStatus::Confirmed => {
                order.confirm(at(2_000)).unwrap();
            }
            OrderStatus::Cancelled => order.cancel(&staff(), at(2_000)).unwrap(),
        }
        order
    }

    #[test]
    fn a_placed_order_is_created_at_version_one() {
        let order = sample_order(1_000);
        assert_eq!(order.status(), OrderStatus::Created);
        assert_eq!(order.version(), Version::INITIAL);
        assert_eq!(order.created_at(), order.updated_at());
    }

    #[test]
    fn every_transition_is_allowed_or_refused_as_the_machine_says() {
        use OrderStatus::*;
        // (from, to, allowed)
        let table = [
            (Created, Confirmed, true),
            (Created, Cancelled, true),
            (Confirmed, Cancelled, true),
            (Cancelled, Confirmed, false),
            (Cancelled, Cancelled, false),
        ];
        for (from, to, allowed) in table {
            let mut order = order_in(from);
            let before = order.version();
            let result = match to {
                Confirmed => order.confirm(at(3_000)).map(|_| ()),
                Cancelled => order.cancel(&staff(), at(3_000)),
                Created => unreachable!("nothing moves back to created"),
            };
            if allowed {
                assert_eq!(result, Ok(()), "{from} -> {to}");
                assert_eq!(order.status(), to);
                assert_eq!(order.version(), before.next());
                assert_eq!(order.updated_at(), at(3_000));
            } else {
                assert_eq!(result, Err(TransitionError { from, to }), "{from} -> {to}");
                assert_eq!(order.status(), from);
                assert_eq!(order.version(), before);
            }
        }
    }

    #[test]
    fn confirming_a_confirmed_order_is_a_no_op() {
        let mut order = order_in(OrderStatus::Confirmed);
        let before = order.clone();
        assert_eq!(order.confirm(at(9_000)), Ok(Confirmation::AlreadyConfirmed));
        assert_eq!(order, before);
    }

    #[test]
    fn cancelling_a_cancelled_order_is_a_conflict() {
        let mut order = order_in(OrderStatus::Cancelled);
        assert_eq!(
            order.cancel(&staff(), at(9_000)),
            Err(TransitionError {
                from: OrderStatus::Cancelled,
                to: OrderStatus::Cancelled
            })
        );
    }

    #[test]
    fn a_clock_that_steps_back_never_makes_updated_at_earlier() {
        let mut order = sample_order(5_000);
        order.confirm(at(4_000)).unwrap();
        assert_eq!(order.updated_at(), at(5_000));
    }

    #[test]
    fn status_names_round_trip() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OrderStatus::parse("Created"), None);
        assert_eq!(Version::new(0), None);
    }

    #[test]
    fn parts_round_trip() {
        let order = order_in(OrderStatus::Confirmed);
        assert_eq!(Order::from_parts(order.clone().into_parts()), order);
    }
}
