//! fn-api: the orders API as a Lambda function. Wiring only: tracing,
//! configuration from the environment, adapters built once before the first
//! invocation, then the runtime loop. The logic lives in `domain` and
//! `adapters-http`.

use std::sync::Arc;

use adapters_dynamo::DynamoOrderRepository;
use adapters_http::Api;
use adapters_memory::InMemoryEventPublisher;
use adapters_system::{SystemClock, UlidIdGenerator};
use domain::{OrderService, ServiceConfig};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME must name the orders table")?;
    // Region, credentials and AWS_ENDPOINT_URL_DYNAMODB come from the SDK's
    // own environment handling.
    let dynamodb = adapters_dynamo::load_client().await;
    // No event bus is wired into this function yet: every event is refused,
    // so it stays marked in the outbox until a relay publishes it.
    let events = InMemoryEventPublisher::new();
    events.set_failing(true);
    let service = OrderService::new(
        Arc::new(DynamoOrderRepository::new(dynamodb, table)),
        Arc::new(events),
        Arc::new(SystemClock),
        Arc::new(UlidIdGenerator::new()),
        ServiceConfig::default(),
    );
    let api = Api::new(service);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let api = &api;
        async move {
            api.handle_event(event.payload, &event.context.request_id)
                .await
                .map_err(Error::from)
        }
    }))
    .await
}
