//! fn-events: the orders events function. Wiring only: tracing,
//! configuration from the environment, adapters built once, then the
//! runtime loop. `adapters_eventbridge::Consumer` decides what each event
//! means (OrderPlaced confirms; the scheduled event runs the outbox relay).

use std::sync::Arc;

use adapters_dynamo::DynamoOrderRepository;
use adapters_eventbridge::{Consumer, EventBridgePublisher};
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
    let (dynamodb, eventbridge) = tokio::join!(
        adapters_dynamo::load_client(),
        adapters_eventbridge::load_client()
    );
    let service = OrderService::new(
        Arc::new(DynamoOrderRepository::new(dynamodb, table)),
        Arc::new(EventBridgePublisher::new(eventbridge, bus)),
        Arc::new(SystemClock),
        Arc::new(UlidIdGenerator::new()),
        ServiceConfig::default(),
    );
    let consumer = Consumer::new(service);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let consumer = &consumer;
        async move {
            consumer
                .handle_invocation(event.payload)
                .await
                .map_err(Error::from)
        }
    }))
    .await
}
