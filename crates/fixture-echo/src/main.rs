//! fixture-echo: a test fixture, not part of the service. A function the
//! orders template does not declare, which a fixture template adds with an
//! API route and a rule, to show that the local cloud runs any function
//! of a template as its binary with no change to the toolkit.
//!
//! A REST API (payload 1.0) event gets a 200 naming the function, the
//! path and the `GREETING` variable (and the authorizer's claims, when an
//! authorizer let the request in), after `ECHO_DELAY_MS` milliseconds (0
//! when unset: the benchmark sets 20 to stand for a function's own work).
//! An HTTP API (payload 2.0) event is answered with the event itself, as
//! JSON without `statusCode` (which the gateway turns into a 200). On
//! either, a path ending in `/bytes` gets its body back as it came
//! (base64 with `isBase64Encoded` when it came so) with the request's
//! `content-type`. An EventBridge event whose detail has `"fail": true`
//! fails (to show Lambda's async retries); any other event is answered
//! `{"outcome":"echoed"}`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let path = payload
        .get("rawPath")
        .or_else(|| payload.get("path"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if path.ends_with("/bytes") {
        return Ok(json!({
            "statusCode": 200,
            "headers": {"content-type": payload["headers"]["content-type"]},
            "body": payload["body"],
            "isBase64Encoded": payload["isBase64Encoded"],
        }));
    }
    if payload["version"] == json!("2.0") {
        return Ok(json!({"event": payload}));
    }
    if payload.get("httpMethod").is_some() {
        let delay = env("ECHO_DELAY_MS").parse().unwrap_or(0);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        let mut body = json!({
            "function": env("AWS_LAMBDA_FUNCTION_NAME"),
            "path": payload["path"],
            "word": payload["pathParameters"]["word"],
            "greeting": env("GREETING"),
        });
        let claims = &payload["requestContext"]["authorizer"]["claims"];
        if !claims.is_null() {
            body["claims"] = claims.clone();
        }
        return Ok(json!({
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": body.to_string(),
        }));
    }
    if payload["detail"]["fail"] == json!(true) {
        eprintln!("event {} asked to fail", payload["id"]);
        return Err("the event asked the fixture to fail".into());
    }
    Ok(json!({"outcome": "echoed", "received": payload}))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
