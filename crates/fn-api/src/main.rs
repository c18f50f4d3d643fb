//! fn-api: the orders API as a Lambda function. Wiring only: tracing,
//! configuration from the environment, adapters built once before the first
//! invocation, then the runtime loop. The logic lives in `domain` and
//! `adapters-http`.

use std::sync::Arc;

use adapters_dynamo::DynamoOrderRepository;
use adapters_eventbridge::EventBridgePublisher;
use adapters_http::Api;
use adapters_system::{SystemClock, UlidIdGenerator};
use domain::{OrderService, ServiceConfig};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME must name the orders table")?;
    let bus =
        std::env::var("EVENT_BUS_NAME").map_err(|_| "EVENT_BUS_NAME must name the event bus")?;
    // Region, credentials and AWS_ENDPOINT_URL_DYNAMODB / _EVENTBRIDGE come
    // from the SDK's own environment handling.
    let (dynamodb, eventbridge) = tokio::join!(
        adapters_dynamo::load_client(),
        adapters_eventbridge::load_client()
    );
    let repository = DynamoOrderRepository::new(dynamodb, table);
    let publisher = EventBridgePublisher::new(eventbridge, bus);
    // Open both connections (TLS on AWS) during init, not in the first
    // request; ORDERS_WARM_UP=off skips it. Failures are only logged.
    if std::env::var("ORDERS_WARM_UP").as_deref() != Ok("off") {
        let within = std::time::Duration::from_secs(1);
        let _ = tokio::join!(repository.warm_up(within), publisher.warm_up(within));
    }
    let service = OrderService::new(
        Arc::new(repository),
        Arc::new(publisher),
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
