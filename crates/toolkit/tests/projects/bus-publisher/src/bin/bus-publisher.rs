//! A test fixture: a function that puts one event (source `demo.event`,
//! detail-type `Message`, detail `{"message": "Hello from publisher",
//! "state": "new"}`) on the bus `EVENT_BUS_NAME` names, and fails when
//! PutEvents reports a failed entry.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

async fn handle(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    _event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    let entry = PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source("demo.event")
        .detail_type("Message")
        .detail(json!({"message": "Hello from publisher", "state": "new"}).to_string())
        .build();
    let put = client.put_events().entries(entry).send().await?;
    if put.failed_entry_count() > 0 {
        return Err(format!("PutEvents failed for {} entry", put.failed_entry_count()).into());
    }
    let ids: Vec<&str> = put.entries().iter().filter_map(|e| e.event_id()).collect();
    Ok(json!({"EventIds": ids}))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let bus = std::env::var("EVENT_BUS_NAME").map_err(|_| "EVENT_BUS_NAME must name the bus")?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_eventbridge::Client::new(&config);
    run(service_fn(|event| handle(&client, &bus, event))).await
}
