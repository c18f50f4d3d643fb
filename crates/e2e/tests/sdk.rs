//! The local cloud's control port driven by the AWS SDK for Rust, as an
//! application or test of the user's would drive it: `aws-sdk-lambda`'s
//! Invoke and `aws-sdk-eventbridge`'s PutEvents with the endpoint set to
//! the control port. Needs `LAMBDA_URL` (the control port) and `API_URL`;
//! `cargo xtask test-e2e --binaries` sets them.
//!
//! Documented behaviours held here (API_Invoke, API_PutEvents): a
//! RequestResponse invoke returns status 200 and the payload, a function
//! error sets `FunctionError` to `Unhandled` and still answers 200; an
//! unknown function is `ResourceNotFoundException`; `DryRun` answers 204;
//! PutEvents reports `FailedEntryCount` with per-entry results in order.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::Value;

fn lambda_url() -> String {
    std::env::var("LAMBDA_URL").unwrap_or_else(|_| {
        panic!("LAMBDA_URL is not set: run `cargo xtask test-e2e --binaries`, which sets it")
    })
}

async fn config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "local", "local", None, None, "e2e",
        ))
        .endpoint_url(lambda_url())
        .load()
        .await
}

fn sample(path: &str) -> Vec<u8> {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

#[tokio::test]
async fn the_sdk_invokes_a_function_of_the_template_and_reads_its_answer() {
    let lambda = aws_sdk_lambda::Client::new(&config().await);
    let reply = lambda
        .invoke()
        .function_name("ApiFunction")
        .payload(Blob::new(sample("events/apigw/create-order.json")))
        .send()
        .await
        .expect("invoke");
    assert_eq!(reply.status_code(), 200);
    assert_eq!(reply.function_error(), None);
    assert_eq!(reply.executed_version(), Some("$LATEST"));
    let payload: Value =
        serde_json::from_slice(reply.payload().expect("payload").as_ref()).expect("JSON");
    assert_eq!(payload["statusCode"], 201, "{payload}");

    // A payload the function cannot take: 200, FunctionError Unhandled.
    let failed = lambda
        .invoke()
        .function_name("ApiFunction")
        .payload(Blob::new(b"[1, 2, 3]".to_vec()))
        .send()
        .await
        .expect("invoke");
    assert_eq!(failed.status_code(), 200);
    assert_eq!(failed.function_error(), Some("Unhandled"));

    let dry = lambda
        .invoke()
        .function_name("fn-events")
        .invocation_type(InvocationType::DryRun)
        .send()
        .await
        .expect("dry run");
    assert_eq!(dry.status_code(), 204);

    let missing = lambda
        .invoke()
        .function_name("NoSuchFunction")
        .send()
        .await
        .expect_err("no such function");
    let service = missing.into_service_error();
    assert!(service.is_resource_not_found_exception(), "{service:?}");
}

#[tokio::test]
async fn the_sdk_puts_events_and_reads_each_entrys_result() {
    let events = aws_sdk_eventbridge::Client::new(&config().await);
    let entry = |detail: &str| {
        PutEventsRequestEntry::builder()
            .source("e2e.sdk")
            .detail_type("Ping")
            .detail(detail)
            .build()
    };
    let reply = events
        .put_events()
        .entries(entry(r#"{"n": 1}"#))
        .entries(entry("{broken"))
        .entries(entry(r#"{"n": 3}"#))
        .send()
        .await
        .expect("put events");
    assert_eq!(reply.failed_entry_count(), 1);
    let results = reply.entries();
    assert_eq!(results.len(), 3);
    assert!(results[0].event_id().is_some());
    assert_eq!(results[1].error_code(), Some("MalformedDetail"));
    assert!(results[2].event_id().is_some());
}
