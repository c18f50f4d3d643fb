//! A test fixture: `GET /`, every product, by id.

use lambda_http::{Error, Request, run, service_fn};
use sample_products::{Store, answer};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let store = Store::from_env().await?;
    run(service_fn(|_request: Request| {
        let store = store.clone();
        async move { answer(200, &json!({"products": store.all().await?})) }
    }))
    .await
}
