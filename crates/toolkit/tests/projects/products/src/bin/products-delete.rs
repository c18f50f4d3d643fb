//! A test fixture: `DELETE /{id}` removes the product (200, whether or
//! not it was there, as DeleteItem does).

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
            store.delete(&id).await?;
            answer(200, &json!({"message": "product deleted"}))
        }
    }))
    .await
}
