//! A test fixture: the consumer of an EventBridge rule. Each event it gets
//! is logged as `transaction at LOCATION` (the detail's `location`) and
//! answered `{"handled": LOCATION}`; an event without one fails.

// A function writes its log lines to standard output, as Lambda keeps them.
#![allow(clippy::print_stdout)]

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let location = event.payload["detail"]["location"]
        .as_str()
        .ok_or("the event's detail has no location")?
        .to_owned();
    println!("transaction at {location}");
    Ok(json!({"handled": location}))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(handle)).await
}
