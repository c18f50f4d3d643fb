//! Domain events: what happened to an order, as other services learn of it.
//!
//! An event is derived from the order it speaks of, so a relay that finds an
//! order still marked can rebuild the very event the first attempt sent.

use std::fmt;

use crate::order::{Order, Version};
use crate::time::Timestamp;
use crate::values::{CustomerId, LineItems, OrderId};

/// The one list of event kinds: the enum, `ALL` and each kind's name come
/// from it, so a new kind is one line here, and the compiler then finds
/// each place that must decide what it means (the consumer's exhaustive
/// match; the service's use case that emits it). Marks, the outbox, the
/// publisher and both repositories work over `ALL` and need no change.
macro_rules! event_kinds {
    ($($(#[$doc:meta])* $kind:ident),+ $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind {
            $($(#[$doc])* $kind,)+
        }

        impl EventKind {
            /// Every kind, in declaration order.
            pub const ALL: [Self; [$(stringify!($kind)),+].len()] = [$(Self::$kind),+];

            /// The name used as the event's detail type.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$kind => stringify!($kind),)+
                }
            }
        }
    };
}

event_kinds! {
    /// An order was placed: the consumer confirms it.
    OrderPlaced,
    /// An order was cancelled.
    OrderCancelled,
}

impl EventKind {
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub kind: EventKind,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub items: LineItems,
    pub created_at: Timestamp,
    /// The order's version once the change happened: 1 for OrderPlaced.
    pub version: Version,
    /// When the change happened.
    pub occurred_at: Timestamp,
}

impl OrderEvent {
    /// The event of `kind` about `order`. A relay that finds an order
    /// still marked rebuilds the same event: OrderPlaced always speaks of
    /// version 1 at the order's creation, and a cancelled order no longer
    /// changes.
    pub fn of(kind: EventKind, order: &Order) -> Self {
        let (version, occurred_at) = match kind {
            EventKind::OrderPlaced => (Version::INITIAL, order.created_at()),
            EventKind::OrderCancelled => (order.version(), order.updated_at()),
        };
        Self {
            kind,
            order_id: order.id().clone(),
            customer_id: order.customer_id().clone(),
            items: order.items().clone(),
            created_at: order.created_at(),
            version,
            occurred_at,
        }
    }

    /// Unique per change (the order and its version after the change), and
    /// the same each time the change is published, so a consumer can tell
    /// a repeat from a new change.
    pub fn event_id(&self) -> String {
        format!("{}-v{}", self.order_id, self.version.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::tests::sample_order;

    #[test]
    fn order_placed_speaks_of_version_one_at_creation_even_when_rebuilt_later() {
        let mut order = sample_order(1_000);
        let first = OrderEvent::of(EventKind::OrderPlaced, &order);
        assert_eq!(first.version, Version::INITIAL);
        assert_eq!(first.occurred_at, order.created_at());
        assert_eq!(first.event_id(), "ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R-v1");
        // The relay may rebuild it after the order moved on: same event.
        order
            .confirm(Timestamp::from_unix_millis(2_000).unwrap())
            .unwrap();
        assert_eq!(OrderEvent::of(EventKind::OrderPlaced, &order), first);
    }

    #[test]
    fn order_cancelled_speaks_of_the_cancellation() {
        let mut order = sample_order(1_000);
        let at = Timestamp::from_unix_millis(3_000).unwrap();
        let staff = crate::Caller::Staff(crate::StaffId::parse("ops-1").unwrap());
        order.cancel(&staff, at).unwrap();
        let event = OrderEvent::of(EventKind::OrderCancelled, &order);
        assert_eq!(event.version, Version::INITIAL.next());
        assert_eq!(event.occurred_at, at);
        assert_eq!(event.event_id(), "ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R-v2");
        assert_ne!(
            event.event_id(),
            OrderEvent::of(EventKind::OrderPlaced, &order).event_id()
        );
    }
}
