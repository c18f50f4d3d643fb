//! fn-api: the orders API as a Lambda function. Wiring only: the
//! composition root (`app`) reads the configuration, builds the SDK
//! clients, adapters and `adapters_http::Api` once before the first
//! invocation, then runs the runtime loop.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    app::run(env!("CARGO_BIN_NAME")).await
}
