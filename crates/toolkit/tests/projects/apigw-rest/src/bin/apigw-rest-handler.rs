//! A test fixture: the function of a REST API sample. `POST /do` with
//! `{"prop1": "Hello", "prop2": "World"}` answers 200 with
//! `{"message": "Hello World", "payload": <the body>}`; a body that is not
//! such JSON answers 400.

use lambda_http::{Body, Error, Request, Response, run, service_fn};
use serde_json::{Value, json};

async fn handle(request: Request) -> Result<Response<Body>, Error> {
    let payload: Option<Value> = match request.body() {
        Body::Text(text) => serde_json::from_str(text).ok(),
        Body::Binary(bytes) => serde_json::from_slice(bytes).ok(),
        _ => None,
    };
    let words = payload.as_ref().and_then(|p| {
        Some(format!(
            "{} {}",
            p.get("prop1")?.as_str()?,
            p.get("prop2")?.as_str()?
        ))
    });
    let (status, body) = match (words, payload) {
        (Some(message), Some(payload)) => (200, json!({"message": message, "payload": payload})),
        _ => (
            400,
            json!({"message": "send {\"prop1\": ..., \"prop2\": ...}"}),
        ),
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(handle)).await
}
