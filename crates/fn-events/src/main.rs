//! fn-events: the orders events function (OrderPlaced confirms the order;
//! the scheduled event runs the outbox relay). Wiring only: the
//! composition root (`app`) builds `adapters_eventbridge::Consumer` once
//! before the first invocation, then runs the runtime loop.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    app::run(env!("CARGO_BIN_NAME")).await
}
