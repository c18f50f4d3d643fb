//! A test fixture: `PUT /{id}` with `{"id", "name", "price"}` stores the
//! product (201); a body that is not one, or names another id, is a 400.

use lambda_http::{Body, Error, Request, run, service_fn};
use sample_products::{Store, answer, path_id};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let store = Store::from_env().await?;
    run(service_fn(|request: Request| {
        let store = store.clone();
        async move {
            let id = path_id(&request);
            let body: Option<Value> = match request.body() {
                Body::Text(text) => serde_json::from_str(text).ok(),
                Body::Binary(bytes) => serde_json::from_slice(bytes).ok(),
                _ => None,
            };
            let product = body
                .as_ref()
                .and_then(|b| Some((b["id"].as_str()?, b["name"].as_str()?, b["price"].as_f64()?)));
            match product {
                Some((body_id, name, price)) if body_id == id => {
                    store.put(&id, name, price).await?;
                    answer(201, &json!({"message": "product created"}))
                }
                _ => answer(
                    400,
                    &json!({"message": "send {\"id\", \"name\", \"price\"} with the path's id"}),
                ),
            }
        }
    }))
    .await
}
