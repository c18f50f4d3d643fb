//! Domain events: what happened to an order, as other services learn of it.
//!
//! An event is derived from the order it speaks of, so a relay that finds an
//! order still marked can rebuild the very event the first attempt sent.

use std::fmt;

use crate::order::Order;
use crate::time::Timestamp;
use crate::values::{CustomerId, LineItems, OrderId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    OrderPlaced,
    OrderCancelled,
}

impl EventKind {
    pub const ALL: [Self; 2] = [Self::OrderPlaced, Self::OrderCancelled];

    /// The name used as the event's detail type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderPlaced => "OrderPlaced",
            Self::OrderCancelled => "OrderCancelled",
        }
    }

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
}

impl OrderEvent {
    pub fn of(kind: EventKind, order: &Order) -> Self {
        Self {
            kind,
            order_id: order.id().clone(),
            customer_id: order.customer_id().clone(),
            items: order.items().clone(),
            created_at: order.created_at(),
        }
    }
}
