//! `dlq`: the events fn-events failed on after Lambda's retries, as they
//! wait in its OnFailure destination (an SQS queue): listed by order, error
//! and attempts, and redriven: each record's original event is sent back
//! through the consumer, and the message deleted once it was handled.
//!
//! A message is a Lambda invocation record (invocation-async-retain-records:
//! `requestContext.condition` and `approximateInvokeCount`, `requestPayload`
//! the event, `responsePayload` the error), or, in the rule's own
//! dead-letter queue, the event EventBridge could not deliver, with why in
//! the message attributes (rule-dlq: `ERROR_CODE`, `ERROR_MESSAGE`,
//! `RETRY_ATTEMPTS`, `EXHAUSTED_RETRY_CONDITION`). `dlq` reads both queues.
//! Invariant: nothing is deleted that was not handled; a message that
//! cannot be read or redriven stays.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::Message;
use serde_json::Value;

/// How long listing hides the messages it read before making them visible
/// again (it reads them all before any reappears).
const LIST_HOLD: Duration = Duration::from_secs(30);
/// How long a redrive holds a message it is working on.
const REDRIVE_HOLD: Duration = Duration::from_secs(120);

/// One message of the failures queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub message_id: String,
    /// `requestPayload.detail.orderId`, when the event names an order.
    pub order_id: Option<String>,
    /// `errorType: errorMessage` of the last attempt, or why the message
    /// is not a record this can read.
    pub error: String,
    /// `requestContext.approximateInvokeCount`.
    pub attempts: Option<u64>,
    /// `requestContext.condition`: `RetriesExhausted`, `EventAgeExceeded`.
    pub condition: Option<String>,
    /// The event the function failed on: what a redrive sends again.
    pub payload: Option<Value>,
    receipt: String,
}

impl Failure {
    /// Reads one message: its body and its string attributes.
    pub fn from_message(
        message_id: &str,
        receipt: &str,
        body: &str,
        attributes: &std::collections::BTreeMap<String, String>,
    ) -> Self {
        let mut failure = Self {
            message_id: message_id.to_owned(),
            order_id: None,
            error: String::new(),
            attempts: None,
            condition: None,
            payload: None,
            receipt: receipt.to_owned(),
        };
        let record: Value = match serde_json::from_str(body) {
            Ok(record) => record,
            Err(e) => {
                failure.error = format!("not a Lambda invocation record: not JSON: {e}");
                return failure;
            }
        };
        let is_event = ["source", "detail-type", "detail"]
            .iter()
            .all(|key| record.get(key).is_some());
        if is_event {
            // The rule's dead-letter queue: the event itself.
            failure.order_id = record["detail"]["orderId"].as_str().map(str::to_owned);
            failure.attempts = attributes
                .get("RETRY_ATTEMPTS")
                .and_then(|n| n.parse::<u64>().ok())
                .map(|n| n + 1);
            failure.condition = attributes.get("EXHAUSTED_RETRY_CONDITION").cloned();
            failure.error = match (
                attributes.get("ERROR_CODE"),
                attributes.get("ERROR_MESSAGE"),
            ) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.clone(),
                (None, Some(message)) => message.clone(),
                (None, None) => "not delivered by the rule".to_owned(),
            };
            failure.payload = Some(record);
            return failure;
        }
        let Some(payload) = record.get("requestPayload").filter(|p| !p.is_null()) else {
            failure.error =
                "not a Lambda invocation record nor an event: no requestPayload".to_owned();
            return failure;
        };
        failure.order_id = payload["detail"]["orderId"].as_str().map(str::to_owned);
        failure.payload = Some(payload.clone());
        failure.attempts = record["requestContext"]["approximateInvokeCount"].as_u64();
        failure.condition = record["requestContext"]["condition"]
            .as_str()
            .map(str::to_owned);
        let response = &record["responsePayload"];
        failure.error = match (
            response["errorType"].as_str(),
            response["errorMessage"].as_str(),
        ) {
            (Some(kind), Some(message)) => format!("{kind}: {message}"),
            (None, Some(message)) => message.to_owned(),
            (Some(kind), None) => kind.to_owned(),
            (None, None) => record["responseContext"]["functionError"]
                .as_str()
                .unwrap_or("unknown error")
                .to_owned(),
        };
        failure
    }
}

/// Where a redriven event goes.
#[async_trait]
pub trait Target: Send + Sync {
    /// Delivers `event`; `Err` says why it was not handled.
    async fn deliver(&self, event: Value) -> Result<(), String>;
}

/// Whether a function's answer says it handled the event: the consumer
/// answers `{"status": "rejected", "reason": ...}` for an event it will
/// never handle (malformed), which is no reason to delete the record.
fn handled(answer: &Value) -> Result<(), String> {
    match answer["status"].as_str() {
        Some("rejected") => Err(format!(
            "rejected: {}",
            answer["reason"].as_str().unwrap_or("no reason given")
        )),
        _ => Ok(()),
    }
}

/// The deployed function, invoked synchronously (RequestResponse): handled
/// when it answers without a `FunctionError`.
#[derive(Debug, Clone)]
pub struct LambdaTarget {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl LambdaTarget {
    pub fn new(client: aws_sdk_lambda::Client, function: impl Into<String>) -> Self {
        Self {
            client,
            function: function.into(),
        }
    }
}

#[async_trait]
impl Target for LambdaTarget {
    async fn deliver(&self, event: Value) -> Result<(), String> {
        let output = self
            .client
            .invoke()
            .function_name(&self.function)
            .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
            .send()
            .await
            .map_err(|e| crate::stage::one_line_error("Lambda Invoke", &e))?;
        match output.function_error() {
            None => {
                let answer = output
                    .payload()
                    .and_then(|p| serde_json::from_slice::<Value>(p.as_ref()).ok())
                    .unwrap_or(Value::Null);
                handled(&answer)
            }
            Some(kind) => {
                let payload = output
                    .payload()
                    .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
                    .unwrap_or_default();
                Err(format!("{kind}: {payload}"))
            }
        }
    }
}

/// A handler in this process (the consumer as the local cloud runs it).
pub struct HandlerTarget(pub Arc<dyn app::Handler>);

impl std::fmt::Debug for HandlerTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandlerTarget")
    }
}

#[async_trait]
impl Target for HandlerTarget {
    async fn deliver(&self, event: Value) -> Result<(), String> {
        let invocation = app::Invocation {
            request_id: crate::runtime::request_id(),
            deadline: None,
        };
        let answer = self
            .0
            .handle(event, &invocation)
            .await
            .map_err(|e| e.to_string())?;
        handled(&answer)
    }
}

/// What a redrive did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Redriven {
    /// Handled and deleted, by order id (or message id).
    pub handled: Vec<String>,
    /// Left in the queue, with why.
    pub failed: Vec<(String, String)>,
}

/// Every message in the queue, read and made visible again.
pub async fn list(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<Vec<Failure>, String> {
    let messages = receive_all(sqs, queue_url, LIST_HOLD).await?;
    let failures: Vec<Failure> = messages.iter().map(failure_of).collect();
    for failure in &failures {
        release(sqs, queue_url, &failure.receipt).await?;
    }
    Ok(failures)
}

/// Sends each message's event to `target`, once per run; deletes what was
/// handled and leaves the rest (visible again at the end) with why. A
/// message left that comes back during the run (its hold ran out) is not
/// sent again, but its newest receipt is kept, so the release at the end
/// does not fail on a stale one; the run ends when the queue has nothing
/// visible.
pub async fn redrive(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    target: &dyn Target,
) -> Result<Redriven, String> {
    let mut report = Redriven::default();
    // Messages left in the queue: id -> newest receipt.
    let mut left: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut seen = HashSet::new();
    loop {
        let batch = receive(sqs, queue_url, REDRIVE_HOLD).await?;
        if batch.is_empty() {
            break;
        }
        let mut fresh = Vec::new();
        for message in &batch {
            let id = message.message_id().unwrap_or_default().to_owned();
            if seen.insert(id.clone()) {
                fresh.push(failure_of(message));
            } else if let Some(receipt) = left.get_mut(&id) {
                *receipt = message.receipt_handle().unwrap_or_default().to_owned();
            }
        }
        for failure in fresh {
            let name = failure
                .order_id
                .clone()
                .unwrap_or_else(|| failure.message_id.clone());
            let outcome = match &failure.payload {
                Some(event) => target.deliver(event.clone()).await,
                None => Err(failure.error.clone()),
            };
            match outcome {
                Ok(()) => {
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(&failure.receipt)
                        .send()
                        .await
                        .map_err(|e| sqs_error("DeleteMessage", &e))?;
                    report.handled.push(name);
                }
                Err(why) => {
                    report.failed.push((name, why));
                    left.insert(failure.message_id.clone(), failure.receipt);
                }
            }
        }
    }
    for receipt in left.values() {
        release(sqs, queue_url, receipt).await?;
    }
    Ok(report)
}

/// The listing as the command prints it: a header, then one line per
/// message (order id, attempts, error).
pub fn render(failures: &[Failure]) -> String {
    let mut text = format!(
        "{:<30}  {:>8}  {:<17}  error\n",
        "order", "attempts", "condition"
    );
    for f in failures {
        text.push_str(&format!(
            "{:<30}  {:>8}  {:<17}  {}\n",
            f.order_id.as_deref().unwrap_or("-"),
            f.attempts.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            f.condition.as_deref().unwrap_or("-"),
            f.error
        ));
    }
    text
}

fn failure_of(message: &Message) -> Failure {
    let attributes = message
        .message_attributes()
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| Some((name.clone(), value.string_value()?.to_owned())))
        .collect();
    Failure::from_message(
        message.message_id().unwrap_or_default(),
        message.receipt_handle().unwrap_or_default(),
        message.body().unwrap_or_default(),
        &attributes,
    )
}

async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    hold: Duration,
) -> Result<Vec<Message>, String> {
    // A long poll of one second asks every server, so an empty answer
    // means an empty queue (short polls sample and may miss messages).
    let output = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .visibility_timeout(i32::try_from(hold.as_secs()).unwrap_or(i32::MAX))
        .wait_time_seconds(1)
        .send()
        .await
        .map_err(|e| sqs_error("ReceiveMessage", &e))?;
    Ok(output.messages.unwrap_or_default())
}

async fn receive_all(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    hold: Duration,
) -> Result<Vec<Message>, String> {
    let mut all: Vec<Message> = Vec::new();
    let mut seen = HashSet::new();
    loop {
        let batch = receive(sqs, queue_url, hold).await?;
        let before = all.len();
        all.extend(
            batch
                .into_iter()
                .filter(|m| seen.insert(m.message_id().unwrap_or_default().to_owned())),
        );
        if all.len() == before {
            return Ok(all);
        }
    }
}

/// Makes a message visible again at once.
async fn release(sqs: &aws_sdk_sqs::Client, queue_url: &str, receipt: &str) -> Result<(), String> {
    sqs.change_message_visibility()
        .queue_url(queue_url)
        .receipt_handle(receipt)
        .visibility_timeout(0)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sqs_error("ChangeMessageVisibility", &e))
}

fn sqs_error<E>(call: &str, err: &E) -> String
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    crate::stage::one_line_error(&format!("SQS {call}"), err)
}

pub const USAGE: &str = "\
dlq --stage STAGE [--redrive] [--queue-url URL] [--function-name NAME]
    [--endpoint-url URL]

Lists the events fn-events failed on after Lambda's retries, as they wait
in the stage's failures queue (its OnFailure destination), and the events
the rule could not deliver, in its dead-letter queue: order id, attempts,
condition and error, one line each, per queue.

  --stage          the stage: its stack and region come from
                   infra/samconfig.toml, the queues and the function from
                   the stack's outputs (EventFailuresQueueUrl,
                   EventsDlqUrl, EventsFunctionName)
  --redrive        send each event back through the function (a synchronous
                   Invoke), once per run, and delete the message once it
                   was handled; what fails again, or what the function
                   rejects as malformed, stays in the queue with why, and
                   the exit status is 1
  --queue-url      one queue, instead of the stack's two
  --function-name  the function, instead of the stack's output
  --endpoint-url   send every call there instead of AWS (moto, or the
                   local cloud's control port for the Invoke)

Credentials come from the usual chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, …).
Locally, `cargo xtask local` keeps the same records on GET /dead-letters
of its control port, and sends them to the template's queue on its moto
(or to another SQS endpoint: --sqs-endpoint).
";

/// `dlq`'s flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqOptions {
    pub stage: String,
    pub redrive: bool,
    pub queue_url: Option<String>,
    pub function_name: Option<String>,
    pub endpoint_url: Option<String>,
}

/// Reads `dlq`'s flags; `Ok(None)` for `--help`.
pub fn parse_options(args: &[String]) -> Result<Option<DlqOptions>, String> {
    let flags = crate::stage::Flags::parse(
        args,
        &["--redrive"],
        &[
            "--stage",
            "--queue-url",
            "--function-name",
            "--endpoint-url",
        ],
    )?;
    if flags.help {
        return Ok(None);
    }
    Ok(Some(DlqOptions {
        stage: flags.required("--stage")?,
        redrive: flags.switches.contains("--redrive"),
        queue_url: flags.value("--queue-url"),
        function_name: flags.value("--function-name"),
        endpoint_url: flags.value("--endpoint-url"),
    }))
}

/// Runs `dlq`: the listing, or the redrive and its report, as text.
/// `Ok((text, true))` when nothing failed.
pub async fn run(options: &DlqOptions, root: &std::path::Path) -> Result<(String, bool), String> {
    let remote =
        crate::stage::Remote::for_stage(root, &options.stage, options.endpoint_url.clone())?;
    let config = remote.sdk_config().await;
    let needs_function = options.redrive && options.function_name.is_none();
    let outputs = if options.queue_url.is_none() || needs_function {
        remote
            .outputs(&aws_sdk_cloudformation::Client::new(&config))
            .await?
    } else {
        std::collections::BTreeMap::new()
    };
    // The function's failures queue and the rule's dead-letter queue.
    let queue_urls = match &options.queue_url {
        Some(url) => vec![url.clone()],
        None => vec![
            remote
                .output(&outputs, "EventFailuresQueueUrl", "--queue-url")?
                .to_owned(),
            remote
                .output(&outputs, "EventsDlqUrl", "--queue-url")?
                .to_owned(),
        ],
    };
    let sqs = aws_sdk_sqs::Client::new(&config);
    if !options.redrive {
        let mut text = String::new();
        for queue_url in &queue_urls {
            let failures = list(&sqs, queue_url).await?;
            text.push_str(&render(&failures));
            text.push_str(&format!("{} message(s) in {queue_url}\n", failures.len()));
        }
        return Ok((text, true));
    }
    let function = match &options.function_name {
        Some(name) => name.clone(),
        None => remote
            .output(&outputs, "EventsFunctionName", "--function-name")?
            .to_owned(),
    };
    let target = LambdaTarget::new(aws_sdk_lambda::Client::new(&config), function.clone());
    let mut text = String::new();
    let mut all_handled = true;
    for queue_url in &queue_urls {
        let report = redrive(&sqs, queue_url, &target).await?;
        for name in &report.handled {
            text.push_str(&format!("{name}: handled by {function}; deleted\n"));
        }
        for (name, why) in &report.failed {
            text.push_str(&format!("{name}: failed again, left in the queue: {why}\n"));
        }
        text.push_str(&format!(
            "redriven {}, failed {} (left in {queue_url})\n",
            report.handled.len(),
            report.failed.len()
        ));
        all_handled &= report.failed.is_empty();
    }
    Ok((text, all_handled))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The record Lambda sends an OnFailure destination
    /// (invocation-async-retain-records).
    #[test]
    fn a_lambda_record_gives_the_order_the_error_and_the_attempts() {
        let body = json!({
            "version": "1.0",
            "timestamp": "2026-11-22T03:00:00.000Z",
            "requestContext": {
                "requestId": "r-1",
                "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:f:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3
            },
            "requestPayload": {"detail-type": "OrderPlaced", "detail": {"orderId": "ORD-1"}},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": "Unhandled", "errorMessage": "handling the event failed"}
        });
        let f = Failure::from_message("m-1", "h-1", &body.to_string(), &Default::default());
        assert_eq!(f.order_id.as_deref(), Some("ORD-1"));
        assert_eq!(f.attempts, Some(3));
        assert_eq!(f.condition.as_deref(), Some("RetriesExhausted"));
        assert_eq!(f.error, "Unhandled: handling the event failed");
        assert_eq!(f.payload, Some(body["requestPayload"].clone()));
        let listing = render(&[f]);
        assert!(
            listing
                .lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("ORD-1")
                    && l.contains("  3  ")
                    && l.ends_with("Unhandled: handling the event failed")),
            "{listing}"
        );
    }

    #[test]
    fn the_flags_are_read_and_bad_ones_refused() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let options = parse_options(&args(&[
            "--stage",
            "dev",
            "--redrive",
            "--endpoint-url",
            "http://127.0.0.1:5000",
        ]))
        .unwrap()
        .unwrap();
        assert!(options.redrive);
        assert_eq!(options.stage, "dev");
        assert_eq!(
            options.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(parse_options(&args(&["--help"])), Ok(None));
        for (bad, why) in [
            (&["--redrive"][..], "--stage is required"),
            (&["--stage"][..], "--stage needs a value"),
            (
                &["--stage", "dev", "--endpoint-url", "localhost"][..],
                "http(s)://",
            ),
            (
                &["--stage", "dev", "--nope", "x"][..],
                "unknown option --nope",
            ),
        ] {
            let err = parse_options(&args(bad)).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_rejected_answer_is_not_handled_and_others_are() {
        assert_eq!(
            handled(&serde_json::json!({"status": "rejected", "reason": "no orderId"})),
            Err("rejected: no orderId".to_owned())
        );
        assert_eq!(handled(&serde_json::json!({"status": "confirmed"})), Ok(()));
        assert_eq!(handled(&Value::Null), Ok(()));
    }

    #[test]
    fn a_message_that_is_not_a_record_is_named_and_has_nothing_to_redrive() {
        for (body, why) in [
            ("{not json", "not JSON"),
            (r#"{"hello": 1}"#, "no requestPayload"),
        ] {
            let f = Failure::from_message("m-2", "h-2", body, &Default::default());
            assert!(f.error.contains(why), "{}", f.error);
            assert_eq!(f.payload, None);
        }
    }
}
