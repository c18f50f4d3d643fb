//! A test fixture: `GET /{id}`, one product, or 404.

use lambda_http::{Error, Request, RequestExt, run, service_fn};
use sample_products::{Store, answer};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let store = Store::from_env().await?;
    run(service_fn(|request: Request| {
        let store = store.clone();
        async move {
            let id = request
                .path_parameters_ref()
                .and_then(|p| p.first("id"))
                .unwrap_or_default()
                .to_owned();
            match store.get(&id).await? {
                Some(product) => answer(200, &product),
                None => answer(404, &json!({"message": "product not found"})),
            }
        }
    }))
    .await
}
