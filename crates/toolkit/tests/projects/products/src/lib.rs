//! A test fixture: the products store shared by the four functions of the
//! products sample. A product is `{"id": ..., "name": ..., "price": ...}`,
//! one item per product keyed `id` in the table `TABLE_NAME` names; every
//! answer is JSON, with 404 for a product that is not there and 400 for a
//! body that is not a product.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Error, Response};
use serde_json::{Value, json};

/// The table and a client for it, built once per process.
#[derive(Debug, Clone)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl Store {
    /// # Errors
    /// When `TABLE_NAME` is not set.
    pub async fn from_env() -> Result<Self, Error> {
        let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME must name the table")?;
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Self {
            client: aws_sdk_dynamodb::Client::new(&config),
            table,
        })
    }

    /// # Errors
    /// When DynamoDB fails.
    pub async fn all(&self) -> Result<Vec<Value>, Error> {
        let mut products = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            products.extend(page.items().iter().map(product));
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        products.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        Ok(products)
    }

    /// # Errors
    /// When DynamoDB fails.
    pub async fn get(&self, id: &str) -> Result<Option<Value>, Error> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_owned()))
            .send()
            .await?;
        Ok(found.item().map(product))
    }

    /// # Errors
    /// When DynamoDB fails.
    pub async fn put(&self, id: &str, name: &str, price: f64) -> Result<(), Error> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(id.to_owned()))
            .item("name", AttributeValue::S(name.to_owned()))
            .item("price", AttributeValue::N(price.to_string()))
            .send()
            .await?;
        Ok(())
    }

    /// # Errors
    /// When DynamoDB fails.
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_owned()))
            .send()
            .await?;
        Ok(())
    }
}

fn product(item: &HashMap<String, AttributeValue>) -> Value {
    let text = |key: &str| item.get(key).and_then(|v| v.as_s().ok()).cloned();
    let price = item
        .get("price")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<f64>().ok());
    json!({"id": text("id"), "name": text("name"), "price": price})
}

/// The `{id}` of the request's path (empty when the route has none).
pub fn path_id(request: &lambda_http::Request) -> String {
    use lambda_http::RequestExt as _;
    request
        .path_parameters_ref()
        .and_then(|p| p.first("id"))
        .unwrap_or_default()
        .to_owned()
}

/// A JSON answer.
///
/// # Errors
/// When the response cannot be built.
pub fn answer(status: u16, body: &Value) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))?)
}
