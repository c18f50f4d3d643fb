//! A test fixture: a function that sends `hello from my queue` to the
//! queue whose URL `SQS_QUEUE_NAME` holds (the template sets it with
//! `!Ref`, which is a queue's URL), and answers the message id.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

async fn handle(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    _event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    let sent = client
        .send_message()
        .queue_url(queue_url)
        .message_body("hello from my queue")
        .send()
        .await?;
    Ok(json!({"MessageId": sent.message_id()}))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let queue_url =
        std::env::var("SQS_QUEUE_NAME").map_err(|_| "SQS_QUEUE_NAME must hold the queue's URL")?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_sqs::Client::new(&config);
    run(service_fn(|event| handle(&client, &queue_url, event))).await
}
