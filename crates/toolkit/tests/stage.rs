//! The remote commands against moto's server, as a user runs them with
//! `--endpoint-url`: a stack moto made holds the stage's names.

use serde_json::{Value, json};

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The SDK configuration of moto's server: its region and test keys.
async fn moto_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// A new event bus in moto, named `TAG-…`.
async fn new_bus(events: &aws_sdk_eventbridge::Client, tag: &str) -> String {
    let bus = format!(
        "{tag}-{}",
        &testkit::orders::order_id().as_str()[4..].to_lowercase()
    );
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("bus");
    bus
}

/// The command `orders-toolkit ARGS…` in the project, with moto's test
/// credentials and no profile.
fn command(args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_orders-toolkit"));
    command
        .args(args)
        .current_dir(root())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
    command
}

/// `orders-toolkit ARGS…` in the project, with moto's test credentials.
async fn toolkit(args: &[&str]) -> (i32, String, String) {
    let output = command(args).output().await.expect("orders-toolkit runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The record Lambda sends an OnFailure destination after three attempts
/// (invocation-async-retain-records).
fn failure_record(event: &Value) -> String {
    json!({
        "version": "1.0",
        "timestamp": "2026-11-22T03:00:00.000Z",
        "requestContext": {"requestId": "r-1", "condition": "RetriesExhausted",
                           "approximateInvokeCount": 3,
                           "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST"},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Unhandled", "errorMessage": "handling the event failed"}
    })
    .to_string()
}

/// `rule-test --stage` reads the deployed pattern from EventBridge and has
/// EventBridge test it: on the sample events it agrees with the local
/// `rule-test`; when the deployed pattern is changed behind the template's
/// back, it says drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_test_on_a_stage_agrees_with_the_local_one_and_reports_drift() {
    let moto = testkit::moto::shared();
    let events = testkit::moto::eventbridge_client(moto.endpoint());
    let bus = new_bus(&events, "rules").await;
    let template =
        toolkit::template::Template::load(&root().join("infra/template.yaml")).expect("template");
    let declared: Value = template.rule_pattern("OrderPlacedRule").expect("pattern");
    let rule = "dev-order-placed";
    events
        .put_rule()
        .name(rule)
        .event_bus_name(&bus)
        .event_pattern(declared.to_string())
        .send()
        .await
        .expect("rule");

    let endpoint = moto.endpoint();
    let stage_args = |sample: &'static str| {
        vec![
            "rule-test",
            "OrderPlacedRule",
            "--stage",
            "dev",
            "--rule-name",
            rule,
            "--event",
            sample,
        ]
    };
    for sample in [
        "events/eventbridge/order-placed.json",
        "events/eventbridge/scheduled.json",
    ] {
        let (local, local_out, _) =
            toolkit(&["rule-test", "OrderPlacedRule", "--event", sample]).await;
        let mut args = stage_args(sample);
        args.extend(["--bus", &bus, "--endpoint-url", endpoint]);
        let (remote, remote_out, remote_err) = toolkit(&args).await;
        println!(
            "{sample}: local {local}, stage {remote}: {}",
            remote_out.trim()
        );
        assert_eq!(
            local, remote,
            "{sample}: {local_out} / {remote_out}{remote_err}"
        );
        assert!(!remote_out.contains("drift"), "{remote_out}");
        // moto's TestEventPattern is a stub: the command says whose verdict
        // it gives.
        assert!(remote_err.contains("does not answer"), "{remote_err}");
    }

    // Someone edits the rule in the console.
    events
        .put_rule()
        .name(rule)
        .event_bus_name(&bus)
        .event_pattern(
            json!({"source": ["orders.api"], "detail-type": ["OrderShipped"]}).to_string(),
        )
        .send()
        .await
        .expect("changed rule");
    let mut args = stage_args("events/eventbridge/order-placed.json");
    args.extend(["--bus", &bus, "--endpoint-url", endpoint]);
    let (code, out, err) = toolkit(&args).await;
    println!("after the change: {code}: {out}");
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("no match: OrderPlacedRule (dev-order-placed, deployed on dev)"),
        "{out}"
    );
    assert!(
        out.contains("drift: the deployed pattern differs from infra/template.yaml"),
        "{out}"
    );
    assert!(out.contains("OrderShipped"), "{out}");
}

/// `cargo xtask dlq --stage dev --endpoint-url <moto>`: the queues come
/// from the stage's stack outputs (a stack moto made from a template with
/// the outputs): the function's failures queue, with Lambda's records, and
/// the rule's dead-letter queue, with the events EventBridge could not
/// deliver and why in their attributes (rule-dlq); the listing is what
/// the command prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_finds_the_queue_in_the_stages_stack_outputs() {
    let moto = testkit::moto::shared();
    let cloudformation = aws_sdk_cloudformation::Client::new(&moto_config(moto.endpoint()).await);
    let queue = format!(
        "cli-failures-{}",
        &testkit::orders::order_id().as_str()[4..].to_lowercase()
    );
    let _ = cloudformation
        .delete_stack()
        .stack_name("orders-dev")
        .send()
        .await;
    let dlq_name = format!("{queue}-rule-dlq");
    let template = json!({
        "Resources": {
            "Failures": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": queue}},
            "RuleDlq": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": dlq_name}}
        },
        "Outputs": {
            "EventFailuresQueueUrl": {"Value": {"Ref": "Failures"}},
            "EventsDlqUrl": {"Value": {"Ref": "RuleDlq"}}
        }
    });
    cloudformation
        .create_stack()
        .stack_name("orders-dev")
        .template_body(template.to_string())
        .send()
        .await
        .expect("moto makes the stack");
    let sqs = testkit::moto::sqs_client(moto.endpoint());
    let url = sqs
        .get_queue_url()
        .queue_name(&queue)
        .send()
        .await
        .expect("the stack's queue")
        .queue_url
        .expect("url");
    let event = json!({"detail-type": "OrderPlaced", "detail": {"orderId": "ORD-CLI"}});
    sqs.send_message()
        .queue_url(&url)
        .message_body(failure_record(&event))
        .send()
        .await
        .expect("send");

    let dlq_url = sqs
        .get_queue_url()
        .queue_name(&dlq_name)
        .send()
        .await
        .expect("the rule's queue")
        .queue_url
        .expect("url");
    let attribute = |text: &str| {
        aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(text)
            .build()
            .expect("attribute")
    };
    let undelivered = json!({"source": "orders.api", "detail-type": "OrderPlaced", "detail": {"orderId": "ORD-RULE"}});
    sqs.send_message()
        .queue_url(&dlq_url)
        .message_body(undelivered.to_string())
        .message_attributes("ERROR_CODE", attribute("ResourceNotFoundException"))
        .message_attributes("ERROR_MESSAGE", attribute("Function not found"))
        .message_attributes("RETRY_ATTEMPTS", attribute("0"))
        .send()
        .await
        .expect("send");

    let (code, text, err) =
        toolkit(&["dlq", "--stage", "dev", "--endpoint-url", moto.endpoint()]).await;
    assert_eq!(code, 0, "{text}{err}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines[1].starts_with("ORD-CLI"), "{text}");
    assert!(lines[1].contains("RetriesExhausted"), "{text}");
    assert!(lines[2].starts_with("1 message(s) in "), "{text}");
    assert!(lines[4].starts_with("ORD-RULE"), "{text}");
    assert!(
        lines[4].ends_with("ResourceNotFoundException: Function not found"),
        "{text}"
    );
    assert!(
        lines[5].starts_with("1 message(s) in ") && lines[5].ends_with("-rule-dlq"),
        "{text}"
    );
}

/// `logs` prints the events a function wrote, oldest first, REPORT lines as
/// they are; `--filter` keeps those that match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_prints_the_events_a_function_wrote_oldest_first() {
    use aws_sdk_cloudwatchlogs::types::InputLogEvent;
    let moto = testkit::moto::shared();
    let client = aws_sdk_cloudwatchlogs::Client::new(&moto_config(moto.endpoint()).await);
    let function = format!(
        "orders-dev-EventsFunction-{}",
        &testkit::orders::order_id().as_str()[4..14]
    );
    let group = format!("/aws/lambda/{function}");
    client
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .expect("group");
    client
        .create_log_stream()
        .log_group_name(&group)
        .log_stream_name("2026/11/22/[$LATEST]abc")
        .send()
        .await
        .expect("stream");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let now = i64::try_from(now).expect("millis");
    let written = [
        "START RequestId: r-1 Version: $LATEST",
        "{\"level\":\"INFO\",\"fields\":{\"message\":\"event handled\"}}",
        "END RequestId: r-1",
        "REPORT RequestId: r-1\tDuration: 3.10 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\tMax Memory Used: 19 MB",
    ];
    let mut put = client
        .put_log_events()
        .log_group_name(&group)
        .log_stream_name("2026/11/22/[$LATEST]abc");
    for (i, message) in written.iter().enumerate() {
        put = put.log_events(
            InputLogEvent::builder()
                .timestamp(now - 5_000 + i64::try_from(i).expect("small") * 10)
                .message(*message)
                .build()
                .expect("event"),
        );
    }
    put.send().await.expect("put");

    let endpoint = moto.endpoint();
    let (code, out, err) = toolkit(&[
        "logs",
        "EventsFunction",
        "--stage",
        "dev",
        "--function-name",
        &function,
        "--since",
        "5m",
        "--endpoint-url",
        endpoint,
    ])
    .await;
    println!("{out}");
    assert_eq!(code, 0, "{err}");
    let messages: Vec<&str> = out
        .lines()
        .map(|l| l.split_once(' ').map_or(l, |(_, m)| m))
        .collect();
    assert_eq!(messages, written, "{out}");

    let (code, out, err) = toolkit(&[
        "logs",
        "EventsFunction",
        "--stage",
        "dev",
        "--function-name",
        &function,
        "--filter",
        "REPORT",
        "--endpoint-url",
        endpoint,
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("Max Memory Used: 19 MB"), "{out}");

    let (code, _, err) = toolkit(&[
        "logs",
        "EventsFunction",
        "--stage",
        "dev",
        "--function-name",
        "nothing-here",
        "--endpoint-url",
        endpoint,
    ])
    .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("/aws/lambda/nothing-here does not exist"),
        "{err}"
    );
}

/// `listen --stage`: a temporary rule and queue on the stage's bus; an
/// OrderPlaced put on the bus is printed, `--count 1` ends the listening
/// there; on exit neither is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_prints_an_event_put_on_the_bus_and_leaves_no_rule_or_queue() {
    use tokio::io::AsyncBufReadExt;
    let moto = testkit::moto::shared();
    let events = testkit::moto::eventbridge_client(moto.endpoint());
    let sqs = testkit::moto::sqs_client(moto.endpoint());
    let bus = new_bus(&events, "listen").await;
    let started = std::time::Instant::now();
    let mut child = command(&[
        "listen",
        "--stage",
        "dev",
        "--bus",
        &bus,
        "--for",
        "60s",
        "--count",
        "1",
        "--endpoint-url",
        moto.endpoint(),
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("listen starts");
    let mut errors = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let first = errors
        .next_line()
        .await
        .expect("stderr")
        .unwrap_or_default();
    assert!(
        first.starts_with("listening: rule orders-listen-"),
        "{first}"
    );

    let order_id = testkit::orders::order_id().to_string();
    events
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name(&bus)
                .source("orders.api")
                .detail_type("OrderPlaced")
                .detail(json!({"orderId": order_id}).to_string())
                .build(),
        )
        .send()
        .await
        .expect("put");
    let output = child.wait_with_output().await.expect("listen ends");
    let mut rest = String::new();
    while let Ok(Some(line)) = errors.next_line().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    let printed = String::from_utf8_lossy(&output.stdout);
    println!("{printed}{first}\n{rest}");
    assert!(output.status.success(), "{rest}");
    let arrived: Vec<Value> = printed
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(arrived.len(), 1, "{printed}");
    assert_eq!(arrived[0]["detail-type"], "OrderPlaced");
    assert_eq!(arrived[0]["detail"]["orderId"], order_id.as_str());
    assert!(rest.contains("removed: rule orders-listen-"), "{rest}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(50),
        "--count 1 did not end the listening at the first event"
    );

    let rules = events
        .list_rules()
        .event_bus_name(&bus)
        .send()
        .await
        .expect("rules");
    assert!(rules.rules().is_empty(), "{:?}", rules.rules());
    let queues = sqs
        .list_queues()
        .queue_name_prefix("orders-listen-")
        .send()
        .await
        .expect("queues");
    assert!(queues.queue_urls().is_empty(), "{:?}", queues.queue_urls());

    // Ctrl-C (SIGINT) while it listens: it still removes what it made.
    let mut child = command(&[
        "listen",
        "--stage",
        "dev",
        "--bus",
        &bus,
        "--for",
        "60s",
        "--endpoint-url",
        moto.endpoint(),
    ])
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("listen starts");
    let mut errors = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let first = errors
        .next_line()
        .await
        .expect("stderr")
        .unwrap_or_default();
    assert!(first.starts_with("listening: "), "{first}");
    let pid = child.id().expect("pid").to_string();
    let interrupted = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .expect("kill");
    assert!(interrupted.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
        .await
        .expect("listen stops on Ctrl-C")
        .expect("status");
    let last = errors
        .next_line()
        .await
        .expect("stderr")
        .unwrap_or_default();
    assert!(status.success(), "{last}");
    assert!(last.starts_with("removed: "), "{last}");
    let rules = events
        .list_rules()
        .event_bus_name(&bus)
        .send()
        .await
        .expect("rules");
    assert!(
        rules.rules().is_empty(),
        "after Ctrl-C: {:?}",
        rules.rules()
    );
}

/// The same listener API on the local cloud reads its bus: an order placed
/// through the API gives its OrderPlaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_reads_the_local_clouds_bus() {
    use toolkit::local::{LocalOptions, Store};
    let server = toolkit::local::start(LocalOptions {
        port: 0,
        lambda_port: Some(0),
        store: Store::Memory,
        build: false,
        ..LocalOptions::new(&root())
    })
    .await
    .expect("the local cloud starts");
    let mut listener = toolkit::listen::Listener::on_local(
        &server.lambda_url().expect("control port"),
        Some(json!({"detail-type": ["OrderPlaced"]})),
    )
    .await
    .expect("listener");
    let token = server
        .token(&toolkit::auth::Who::Customer("CUST-LISTEN".to_owned()))
        .expect("token");
    let placed: Value = reqwest::Client::new()
        .post(format!("{}/orders", server.url()))
        .bearer_auth(&token)
        .json(&json!({"customerId": "CUST-LISTEN", "items": [{"productId": "PROD-A", "quantity": 1}]}))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("JSON");
    let id = placed["orderId"].clone();
    let event = listener
        .wait_for(std::time::Duration::from_secs(10), |e| {
            e["detail"]["orderId"] == id
        })
        .await
        .expect("the feed")
        .expect("the order's OrderPlaced within 10 s");
    assert_eq!(event["source"], "orders.api");
    listener.close().await.expect("close");
    server.stop().await;
}
