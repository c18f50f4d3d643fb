//! A test fixture: `GET /{id}`, one product, or 404.

use lambda_http::{Error, Request, run, service_fn};
use sample_products::{Store, answer, path_id};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let store = Store::from_env().await?;
    run(service_fn(|request: Request| {
        let store = store.clone();
        async move {
            let id = path_id(&request);
            match store.get(&id).await? {
                Some(product) => answer(200, &product),
                None => answer(404, &json!({"message": "product not found"})),
            }
        }
    }))
    .await
}
