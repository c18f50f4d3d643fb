//! A test fixture: `DELETE /{id}` removes the product (200, whether or
//! not it was there, as DeleteItem does).

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
            store.delete(&id).await?;
            answer(200, &json!({"message": "product deleted"}))
        }
    }))
    .await
}
