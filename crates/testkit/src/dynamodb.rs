//! DynamoDB Local for tests: the providers of `local-services`, one
//! instance shared by a test binary, and a fresh table for each test.

use std::sync::{Arc, OnceLock};

use aws_sdk_dynamodb::Client;
use domain::OrderRepository;
pub use local_services::dynamodb::*;

/// The test binary's one DynamoDB Local, started on first use. Panics with
/// the providers' message when there is none: the tests cannot run.
pub fn shared() -> &'static DynamoDbLocal {
    static SHARED: OnceLock<DynamoDbLocal> = OnceLock::new();
    SHARED.get_or_init(|| {
        DynamoDbLocal::start(&ProviderConfig::from_env()).unwrap_or_else(|why| panic!("{why}"))
    })
}

/// A new table with a unique name on the shared instance.
pub async fn fresh_table() -> (Client, String) {
    let client = shared().client();
    let name = format!(
        "orders-test-{}",
        crate::orders::order_id().as_str()[4..].to_ascii_lowercase()
    );
    adapters_dynamo::create_table(&client, &name)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "creating {name}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        });
    (client, name)
}

/// A `DynamoOrderRepository` on a fresh table.
pub async fn fresh_repository() -> Arc<dyn OrderRepository> {
    let (client, table) = fresh_table().await;
    Arc::new(adapters_dynamo::DynamoOrderRepository::new(client, table))
}
