//! Wire shapes: the request body of `POST /orders`, the order JSON, the
//! page JSON. They live here, apart from the domain types, and convert.
//!
//! The request body is read as a `serde_json::Value` and checked field by
//! field, so that every wrong type, missing or unknown field is reported
//! in one 422, instead of stopping at serde's first complaint.

use serde::Serialize;
use serde_json::{Map, Value};

use domain::{LineItemInput, Order, PlaceOrder};

use crate::names::MAX_BODY_BYTES;
use crate::problem::ApiError;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses a JSON body: at most `MAX_BODY_BYTES`, an optional UTF-8 BOM.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    let body = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson("the body is empty".into()));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))
}

/// Collects the shape errors of one JSON object.
struct Fields<'o, 'e> {
    object: &'o Map<String, Value>,
    prefix: String,
    errors: &'e mut Vec<(String, String)>,
}

impl<'o> Fields<'o, '_> {
    fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    fn fail(&mut self, key: &str, message: &str) {
        let name = self.name(key);
        self.errors.push((name, message.to_owned()));
    }

    fn unknown(&mut self, known: &[&str]) {
        let mut unknown: Vec<&String> = self
            .object
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .collect();
        unknown.sort();
        for key in unknown {
            let name = self.name(key);
            self.errors.push((name, "is not a known field".into()));
        }
    }

    fn required(&mut self, key: &str) -> Option<&'o Value> {
        let value = self.object.get(key);
        if value.is_none() {
            self.fail(key, "is required");
        }
        value
    }

    /// A string that may be left out (`None` then, as when it is not a
    /// string, which is reported).
    fn optional_string(&mut self, key: &str) -> Option<String> {
        match self.object.get(key)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.fail(key, "must be a string");
                None
            }
        }
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.required(key)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.fail(key, "must be a string");
                None
            }
        }
    }

    fn integer(&mut self, key: &str) -> Option<i64> {
        match self.required(key)? {
            Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
            // Beyond i64: surely out of range, and said so by the domain.
            Value::Number(n) if n.as_u64().is_some() => Some(i64::MAX),
            _ => {
                self.fail(key, "must be an integer");
                None
            }
        }
    }
}

/// Reads `POST /orders`' body into the use case's request.
pub(crate) fn place_order(
    body: &Value,
    idempotency_key: Option<String>,
) -> Result<PlaceOrder, ApiError> {
    let mut errors = Vec::new();
    let Some(object) = body.as_object() else {
        return Err(ApiError::Invalid(vec![(
            "body".into(),
            "must be a JSON object".into(),
        )]));
    };
    let mut top = Fields {
        object,
        prefix: String::new(),
        errors: &mut errors,
    };
    top.unknown(&["customerId", "items"]);
    // Optional: a customer's own id is the default; the use case decides.
    let customer_id = top.optional_string("customerId");
    let items_value = top.required("items");
    let mut items = Vec::new();
    match items_value {
        None => {}
        // The count first: an order of 101 lines is refused as such, not
        // line by line.
        Some(Value::Array(lines)) if lines.len() > domain::LineItems::MAX => errors.push((
            "items".into(),
            format!(
                "must hold {} to {} lines, not {}",
                domain::LineItems::MIN,
                domain::LineItems::MAX,
                lines.len()
            ),
        )),
        Some(Value::Array(lines)) => {
            for (i, line) in lines.iter().enumerate() {
                let Some(object) = line.as_object() else {
                    errors.push((format!("items[{i}]"), "must be an object".into()));
                    continue;
                };
                let mut fields = Fields {
                    object,
                    prefix: format!("items[{i}]"),
                    errors: &mut errors,
                };
                fields.unknown(&["productId", "quantity"]);
                let product_id = fields.string("productId");
                let quantity = fields.integer("quantity");
                if let (Some(product_id), Some(quantity)) = (product_id, quantity) {
                    items.push(LineItemInput {
                        product_id,
                        quantity,
                    });
                }
            }
        }
        Some(_) => errors.push(("items".into(), "must be an array".into())),
    }
    if errors.is_empty() {
        Ok(PlaceOrder {
            customer_id,
            items,
            idempotency_key,
        })
    } else {
        Err(ApiError::Invalid(errors))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderBody {
    order_id: String,
    customer_id: String,
    items: Vec<LineBody>,
    status: &'static str,
    created_at: String,
    updated_at: String,
    /// Who cancelled the order, once cancelled (the audit trail).
    #[serde(skip_serializing_if = "Option::is_none")]
    cancelled_by: Option<ActorBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cancelled_at: Option<String>,
}

/// A caller as the order's audit trail shows it.
#[derive(Serialize)]
struct ActorBody {
    kind: &'static str,
    id: String,
}

impl From<&domain::Caller> for ActorBody {
    fn from(caller: &domain::Caller) -> Self {
        match caller {
            domain::Caller::Staff(id) => Self {
                kind: "staff",
                id: id.as_str().to_owned(),
            },
            domain::Caller::Customer(id) => Self {
                kind: "customer",
                id: id.to_string(),
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LineBody {
    product_id: String,
    quantity: u32,
}

impl From<&Order> for OrderBody {
    fn from(order: &Order) -> Self {
        Self {
            order_id: order.id().to_string(),
            customer_id: order.customer_id().to_string(),
            items: order
                .items()
                .iter()
                .map(|line| LineBody {
                    product_id: line.product_id().to_string(),
                    quantity: line.quantity().get(),
                })
                .collect(),
            status: order.status().as_str(),
            created_at: order.created_at().to_rfc3339(),
            updated_at: order.updated_at().to_rfc3339(),
            cancelled_by: order.cancellation().map(|c| ActorBody::from(&c.by)),
            cancelled_at: order.cancellation().map(|c| c.at.to_rfc3339()),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageBody {
    pub(crate) items: Vec<OrderBody>,
    pub(crate) next_cursor: Option<String>,
}
