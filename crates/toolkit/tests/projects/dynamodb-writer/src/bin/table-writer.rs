//! A test fixture: a function that writes one item per invocation to the
//! table `TABLE_NAME` names, keyed `ID` (the invocation's request id),
//! with the event as its `payload`, through the AWS SDK as configured by
//! the environment (`AWS_ENDPOINT_URL*` included). Answers `{"ID": ...}`.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

async fn handle(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    let id = event.context.request_id.clone();
    client
        .put_item()
        .table_name(table)
        .item("ID", AttributeValue::S(id.clone()))
        .item("payload", AttributeValue::S(event.payload.to_string()))
        .send()
        .await?;
    Ok(json!({"ID": id}))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME must name the table")?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    run(service_fn(|event| handle(&client, &table, event))).await
}
