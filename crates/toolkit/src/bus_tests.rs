//! The bus against in-process handlers that count their calls. Each test
//! names the documented behaviour it holds (API_PutEvents,
//! eb-events-structure, invocation-async-error-handling,
//! invocation-async-retain-records).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;

use super::*;
use crate::functions::Backend;
use crate::model::{AsyncConfig, FunctionSpec};

/// Fails its first `failures` calls, then answers; keeps what it got.
struct Counting {
    failures: u32,
    calls: AtomicU32,
    seen: Mutex<Vec<Value>>,
}

#[async_trait]
impl app::Handler for Counting {
    async fn handle(
        &self,
        event: Value,
        _invocation: &app::Invocation,
    ) -> Result<Value, app::HandlerError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.seen.lock().unwrap().push(event);
        if call <= self.failures {
            Err(format!("failure {call}").into())
        } else {
            Ok(json!({"outcome": "handled"}))
        }
    }
}

fn spec(retries: u32) -> FunctionSpec {
    FunctionSpec {
        id: "Consumer".into(),
        name: "Consumer".into(),
        binary: "consumer".into(),
        memory_mb: 128,
        timeout: Duration::from_secs(3),
        environment: BTreeMap::new(),
        async_config: AsyncConfig {
            maximum_retry_attempts: retries,
            on_failure: Some("arn:aws:sqs:us-east-1:123456789012:failures".into()),
            ..AsyncConfig::default()
        },
        build: crate::model::BuildSpec::default(),
        code: crate::model::Code::Unresolved,
    }
}

fn bus_with(failures: u32, retries: u32) -> (Arc<Bus>, Arc<Counting>) {
    let rule = Rule {
        name: "ThingsRule".into(),
        pattern: json!({"source": ["things"]}),
        targets: vec!["Consumer".into()],
    };
    let bus = Arc::new(
        Bus::new(
            &[rule],
            "us-east-1",
            vec!["things-bus".into()],
            vec![Duration::from_millis(10), Duration::from_millis(20)],
        )
        .unwrap(),
    );
    let handler = Arc::new(Counting {
        failures,
        calls: AtomicU32::new(0),
        seen: Mutex::new(Vec::new()),
    });
    let functions = Functions::new(vec![LocalFunction::new(
        spec(retries),
        Backend::InProcess(handler.clone()),
    )]);
    bus.attach(Arc::new(functions));
    (bus, handler)
}

fn entry(source: &str, detail: &str) -> Value {
    json!({"Source": source, "DetailType": "Thing Happened", "Detail": detail, "EventBusName": "things-bus"})
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn eleven_entries_are_refused_as_a_validation_error() {
    let (bus, _) = bus_with(0, 2);
    let entries: Vec<Value> = (0..11).map(|_| entry("things", "{}")).collect();
    let err = bus.put_events(&json!({"Entries": entries})).unwrap_err();
    assert!(
        err.message.contains("length less than or equal to 10"),
        "{}",
        err.message
    );
    assert!(bus.put_events(&json!({"Entries": []})).is_err());
    assert!(bus.put_events(&json!({})).is_err());
}

#[tokio::test]
async fn one_bad_entry_fails_alone_and_the_results_keep_their_order() {
    let (bus, handler) = bus_with(0, 2);
    let reply = bus
        .put_events(&json!({"Entries": [
            entry("things", r#"{"n": 1}"#),
            entry("things", "{not json"),
            {"Source": "things", "Detail": "{}"},
            entry("things", r#"{"n": 4}"#),
            {"Source": "things", "DetailType": "x", "Detail": "{}", "EventBusName": "nope"},
        ]}))
        .unwrap();
    assert_eq!(reply["FailedEntryCount"], 3);
    let entries = reply["Entries"].as_array().unwrap();
    assert_eq!(entries.len(), 5);
    assert!(entries[0]["EventId"].is_string());
    assert_eq!(entries[1]["ErrorCode"], "MalformedDetail");
    assert_eq!(entries[2]["ErrorCode"], "InvalidArgument");
    assert!(entries[3]["EventId"].is_string());
    assert_eq!(entries[4]["ErrorMessage"], "Event bus nope does not exist.");
    wait_for("two deliveries", || {
        handler.calls.load(Ordering::SeqCst) == 2
    })
    .await;
}

#[tokio::test]
async fn the_target_gets_eventbridges_envelope_with_a_parsed_detail() {
    let (bus, handler) = bus_with(0, 2);
    bus.put_events(&json!({"Entries": [entry("things", r#"{"n": 1}"#)]}))
        .unwrap();
    wait_for("a delivery", || handler.calls.load(Ordering::SeqCst) == 1).await;
    let event = handler.seen.lock().unwrap()[0].clone();
    assert_eq!(event["version"], "0");
    assert_eq!(event["detail"], json!({"n": 1}));
    assert_eq!(event["detail-type"], "Thing Happened");
    assert_eq!(event["account"], ACCOUNT);
    let time = event["time"].as_str().unwrap();
    assert_eq!(time.len(), "2026-01-01T00:00:00Z".len(), "{time}");
    assert!(time.ends_with('Z'));
}

#[tokio::test]
async fn an_event_that_matches_no_rule_reaches_no_function() {
    let (bus, handler) = bus_with(0, 2);
    let reply = bus
        .put_events(&json!({"Entries": [entry("others", "{}")]}))
        .unwrap();
    assert_eq!(reply["FailedEntryCount"], 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(handler.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_failing_target_is_retried_then_recorded_as_lambda_records_an_on_failure() {
    // MaximumRetryAttempts 2: three attempts, then RetriesExhausted.
    let (bus, handler) = bus_with(u32::MAX, 2);
    bus.put_events(&json!({"Entries": [entry("things", r#"{"n": 7}"#)]}))
        .unwrap();
    wait_for("a dead letter", || !bus.dead_letters().is_empty()).await;
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
    let record = &bus.dead_letters()[0];
    assert_eq!(record["version"], "1.0");
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(
        record["requestContext"]["functionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:Consumer:$LATEST"
    );
    assert_eq!(record["requestPayload"]["detail"], json!({"n": 7}));
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["responsePayload"]["errorMessage"], "failure 3");
    assert_eq!(
        record["destination"],
        "arn:aws:sqs:us-east-1:123456789012:failures"
    );
}

#[tokio::test]
async fn a_target_that_recovers_within_its_retries_leaves_no_dead_letter() {
    let (bus, handler) = bus_with(2, 2);
    bus.put_events(&json!({"Entries": [entry("things", "{}")]}))
        .unwrap();
    wait_for("the third attempt", || {
        handler.calls.load(Ordering::SeqCst) == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(bus.dead_letters().is_empty());
}

#[tokio::test]
async fn no_retries_configured_means_one_attempt() {
    let (bus, handler) = bus_with(u32::MAX, 0);
    bus.put_events(&json!({"Entries": [entry("things", "{}")]}))
        .unwrap();
    wait_for("a dead letter", || !bus.dead_letters().is_empty()).await;
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        bus.dead_letters()[0]["requestContext"]["approximateInvokeCount"],
        1
    );
}
