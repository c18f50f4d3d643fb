//! The local cloud's control port driven by the AWS CLI, as a user drives
//! it: `aws lambda invoke` and `aws events put-events` with
//! `--endpoint-url`. Needs `API_URL`, `LAMBDA_URL` (the control port) and
//! `AWS_CLI` (the `aws` program); `cargo xtask test-e2e --binaries` sets
//! them, with the CLI installed into `target/awscli-venv`.
//!
//! Documented behaviours held here (API_Invoke): a RequestResponse invoke
//! answers StatusCode 200 with the function's payload; `DryRun` 204; an
//! unknown function is `ResourceNotFoundException`; `--log-type Tail`
//! returns the log's tail in `LogResult`. PutEvents answers
//! `FailedEntryCount` and an `EventId` per entry (API_PutEvents).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine as _;
use e2e::{api_url, customer_token, get_json};
use serde_json::Value;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run `cargo xtask test-e2e --binaries`, which sets it")
    })
}

fn aws(args: &[&str]) -> Output {
    let endpoint = var("LAMBDA_URL");
    Command::new(var("AWS_CLI"))
        .args(args)
        .args(["--endpoint-url", endpoint.as_str(), "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_PAGER", "")
        .output()
        .unwrap_or_else(|e| panic!("cannot run the AWS CLI: {e}"))
}

fn json_out(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "aws failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn sample(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    format!("fileb://{}", file.display())
}

fn out_file(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("cli-{tag}-{}.json", std::process::id()))
}

#[test]
fn aws_lambda_invoke_runs_the_api_function_and_the_order_is_confirmed() {
    let out = out_file("invoke");
    let out_text = out.to_string_lossy().into_owned();
    let payload = sample("events/apigw/create-order.json");
    let reply = json_out(&aws(&[
        "lambda",
        "invoke",
        "--function-name",
        "ApiFunction",
        "--payload",
        payload.as_str(),
        "--log-type",
        "Tail",
        out_text.as_str(),
    ]));
    assert_eq!(reply["StatusCode"], 200);
    assert_eq!(reply["ExecutedVersion"], "$LATEST");
    assert!(reply.get("FunctionError").is_none(), "{reply}");
    let log = base64::engine::general_purpose::STANDARD
        .decode(reply["LogResult"].as_str().expect("LogResult"))
        .expect("base64");
    assert!(String::from_utf8_lossy(&log).contains("REPORT RequestId: "));
    let response: Value =
        serde_json::from_slice(&std::fs::read(&out).expect("out file")).expect("JSON");
    assert_eq!(response["statusCode"], 201, "{response}");
    let order: Value =
        serde_json::from_str(response["body"].as_str().expect("body")).expect("order");
    let id = order["orderId"].as_str().expect("orderId");

    // fn-api published OrderPlaced to the local bus; the rule's target,
    // fn-events, confirms the order.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The sample is CUST-001's (its authorizer claims say so).
    let token = runtime.block_on(customer_token("CUST-001"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = runtime.block_on(get_json(&format!("{}/orders/{id}", api_url()), &token, &[]));
        if got["status"] == "confirmed" {
            break;
        }
        assert!(Instant::now() < deadline, "{id} not confirmed: {got}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The same event again through PutEvents: accepted, and a repeat
    // changes nothing.
    let detail = serde_json::json!({
        "orderId": id, "customerId": order["customerId"], "items": order["items"], "createdAt": order["createdAt"]
    });
    let entries = serde_json::json!([{
        "Source": "orders.api", "DetailType": "OrderPlaced", "EventBusName": "dev-orders",
        "Detail": detail.to_string(),
    }])
    .to_string();
    let put = json_out(&aws(&[
        "events",
        "put-events",
        "--entries",
        entries.as_str(),
    ]));
    assert_eq!(put["FailedEntryCount"], 0, "{put}");
    assert!(put["Entries"][0]["EventId"].is_string(), "{put}");
}

#[test]
fn dry_runs_unknown_functions_and_bad_entries_answer_as_aws_does() {
    let out = out_file("dry");
    let out_text = out.to_string_lossy().into_owned();
    let dry = json_out(&aws(&[
        "lambda",
        "invoke",
        "--function-name",
        "EventsFunction",
        "--invocation-type",
        "DryRun",
        out_text.as_str(),
    ]));
    assert_eq!(dry["StatusCode"], 204);

    let missing = aws(&[
        "lambda",
        "invoke",
        "--function-name",
        "NoSuchFunction",
        out_text.as_str(),
    ]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("ResourceNotFoundException"), "{stderr}");
    assert!(
        stderr.contains(
            "Function not found: arn:aws:lambda:us-east-1:123456789012:function:NoSuchFunction"
        ),
        "{stderr}"
    );

    let bad = json_out(&aws(&[
        "events",
        "put-events",
        "--entries",
        r#"[{"Source":"orders.api","DetailType":"OrderPlaced","Detail":"{not json"}]"#,
    ]));
    assert_eq!(bad["FailedEntryCount"], 1, "{bad}");
    assert_eq!(bad["Entries"][0]["ErrorCode"], "MalformedDetail");
}
