//! The event's wire shape, apart from the domain's `OrderEvent`.

use serde::{Deserialize, Serialize};

use domain::OrderEvent;

/// The `source` of every event this service puts.
pub const DETAIL_SOURCE: &str = "orders.api";

/// The `detail` of `OrderPlaced` and `OrderCancelled`.
///
/// `eventId` is the same each time one change is published (the order
/// and its version after the change), `version` that version, and
/// `occurredAt` when the change happened: a consumer can order and
/// deduplicate with them. Events published before they existed lack them,
/// so reading them is optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderEventDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub order_id: String,
    pub customer_id: String,
    pub items: Vec<LineDetail>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
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
            event_id: Some(event.event_id()),
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
            version: Some(event.version.get()),
            occurred_at: Some(event.occurred_at.to_rfc3339()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detail_without_the_change_fields_still_reads() {
        // Published before eventId, version and occurredAt existed.
        let old = serde_json::json!({
            "orderId": "ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R", "customerId": "CUST-001",
            "items": [{"productId": "PROD-A", "quantity": 2}], "createdAt": "2026-07-02T11:24:04.213Z"
        });
        let detail: OrderEventDetail = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(
            (detail.event_id, detail.version, detail.occurred_at),
            (None, None, None)
        );
        let written = serde_json::to_value(OrderEventDetail {
            event_id: Some("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R-v1".into()),
            version: Some(1),
            occurred_at: Some("2026-07-02T11:24:04.213Z".into()),
            ..serde_json::from_value(old).unwrap()
        })
        .unwrap();
        assert_eq!(written["eventId"], "ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R-v1");
        assert_eq!(written["version"], 1);
        assert_eq!(written["occurredAt"], "2026-07-02T11:24:04.213Z");
    }
}
