//! The event's wire shape, apart from the domain's `OrderEvent`.

use serde::{Deserialize, Serialize};

use domain::OrderEvent;

/// The `source` of every event this service puts.
pub const DETAIL_SOURCE: &str = "orders.api";

/// The `detail` of `OrderPlaced` and `OrderCancelled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderEventDetail {
    pub order_id: String,
    pub customer_id: String,
    pub items: Vec<LineDetail>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineDetail {
    pub product_id: String,
    pub quantity: u32,
}

impl From<&OrderEvent> for OrderEventDetail {
    fn from(event: &OrderEvent) -> Self {
        Self {
            order_id: event.order_id.to_string(),
            customer_id: event.customer_id.to_string(),
            items: event
                .items
                .iter()
                .map(|line| LineDetail {
                    product_id: line.product_id().to_string(),
                    quantity: line.quantity().get(),
                })
                .collect(),
            created_at: event.created_at.to_rfc3339(),
        }
    }
}
