//! `dlq` against moto's SQS, redriving through the local cloud's Lambda
//! Invoke API: what a stage's operator runs, with the queue in moto and
//! the function in the local cloud.

use serde_json::{Value, json};
use toolkit::dlq::{self, LambdaTarget};
use toolkit::local::{Events, LocalOptions, Store};

/// The record Lambda sends an OnFailure destination
/// (invocation-async-retain-records) for `event`.
fn record(event: &Value, attempts: u64) -> String {
    json!({
        "version": "1.0",
        "timestamp": "2026-11-22T03:00:00.000Z",
        "requestContext": {
            "requestId": "r-1",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:EventsFunction:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Unhandled", "errorMessage": "handling the event failed"}
    })
    .to_string()
}

fn lambda_client(endpoint: &str) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                "local", "local", None, None, "test",
            ))
            .endpoint_url(endpoint)
            .build(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_events_are_listed_and_redriven_through_the_function_and_what_fails_stays() {
    let moto = testkit::moto::shared();
    let sqs = testkit::moto::sqs_client(moto.endpoint());
    let queue = format!(
        "failures-{}",
        &testkit::orders::order_id().as_str()[4..].to_lowercase()
    );
    let queue_url = sqs
        .create_queue()
        .queue_name(&queue)
        .send()
        .await
        .expect("create the queue")
        .queue_url
        .expect("url");

    // The local cloud, its bus unreachable: a placed order stays created,
    // as one whose confirmation failed does.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let server = toolkit::local::start(LocalOptions {
        port: 0,
        lambda_port: Some(0),
        store: Store::Memory,
        events: Events::EventBridge {
            endpoint: "http://127.0.0.1:9".to_owned(),
            bus: "nowhere".to_owned(),
        },
        build: false,
        ..LocalOptions::new(&root)
    })
    .await
    .expect("the local cloud starts");
    let http = reqwest::Client::new();
    let staff = server.token(&toolkit::auth::Who::Staff).expect("token");
    let placed: Value = http
        .post(format!("{}/orders", server.url()))
        .bearer_auth(&staff)
        .json(&json!({"customerId": "CUST-DLQ", "items": [{"productId": "PROD-A", "quantity": 1}]}))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("JSON");
    let order_id = placed["orderId"].as_str().expect("orderId").to_owned();
    assert_eq!(placed["status"], "created");

    let event = json!({
        "version": "0", "id": "e-1", "detail-type": "OrderPlaced", "source": "orders.api",
        "account": "123456789012", "time": "2026-11-22T03:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {"orderId": order_id, "customerId": "CUST-DLQ",
        "items": [{"productId": "PROD-A", "quantity": 1}], "createdAt": placed["createdAt"],
        "version": 1}
    });
    // An event the consumer can never handle: it answers "rejected", and
    // the record must stay, with the reason, not be deleted as handled.
    let malformed = json!({
        "version": "0", "id": "e-2", "detail-type": "OrderPlaced", "source": "orders.api",
        "account": "123456789012", "time": "2026-11-22T03:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {"customerId": "CUST-DLQ"}
    });
    for body in [
        record(&event, 3),
        "not a record".to_owned(),
        record(&malformed, 3),
    ] {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }

    let listed = dlq::list(&sqs, &queue_url).await.expect("list");
    assert_eq!(listed.len(), 3, "{listed:?}");
    let ours = listed
        .iter()
        .find(|f| f.order_id.as_deref() == Some(order_id.as_str()))
        .expect("the order's record");
    assert_eq!(ours.attempts, Some(3));
    assert_eq!(ours.error, "Unhandled: handling the event failed");
    // Listing leaves every message in the queue, visible.
    assert_eq!(dlq::list(&sqs, &queue_url).await.expect("list").len(), 3);

    let lambda = lambda_client(&server.lambda_url().expect("control port"));
    let target = LambdaTarget::new(lambda, "EventsFunction");
    let report = dlq::redrive(&sqs, &queue_url, &target)
        .await
        .expect("redrive");
    assert_eq!(report.handled, vec![order_id.clone()]);
    assert_eq!(report.failed.len(), 2, "{report:?}");
    assert!(
        report
            .failed
            .iter()
            .any(|(_, why)| why.contains("not a Lambda invocation record")),
        "{report:?}"
    );
    assert!(
        report
            .failed
            .iter()
            .any(|(_, why)| why.starts_with("rejected: ")),
        "{report:?}"
    );

    let now: Value = http
        .get(format!("{}/orders/{order_id}", server.url()))
        .bearer_auth(&staff)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(now["status"], "confirmed", "{now}");
    let left = dlq::list(&sqs, &queue_url).await.expect("list");
    assert_eq!(
        left.len(),
        2,
        "the unreadable and the rejected messages stay: {left:?}"
    );
    assert!(left.iter().all(|f| f.order_id.is_none()), "{left:?}");
    server.stop().await;
}
