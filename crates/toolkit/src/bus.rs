//! `bus`: EventBridge and Lambda's asynchronous invocation, locally.
//!
//! `PutEvents` entries are checked as EventBridge checks them, wrapped in
//! the envelope a target receives (`version` "0", an id, `detail` parsed,
//! second-precision `time`), and matched against the template's rules.
//! EventBridge invokes a Lambda target asynchronously (lambda-services),
//! so each matched target is invoked as Lambda invokes asynchronously
//! (invocation-async-error-handling): a function error or timeout is
//! retried `MaximumRetryAttempts` times (default 2), and an event that
//! still fails, or grows older than `MaximumEventAgeInSeconds`, goes to
//! the dead-letter list with the record Lambda sends an OnFailure
//! destination (invocation-async-retain-records). Locally the retry
//! delays are short and configurable; Lambda's are about 1 and 2 minutes.
//!
//! Invariant: nothing is dropped silently. An event that matches no rule
//! is logged; one that runs out of retries is on the dead-letter list and
//! in the log.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use event_pattern::Pattern;
use serde_json::{Value, json};

use crate::functions::{Functions, LocalFunction, Payload};
use crate::model::{ACCOUNT, Rule};
use crate::runtime::Answer;

/// Entries in one `PutEvents` call (API_PutEvents).
pub const MAX_ENTRIES: usize = 10;
/// The largest `PutEvents` entry, counted as EventBridge counts it
/// (calculate-putevents-entry-size); the newest pages say 1 MB, older
/// ones 256 KB: the older, stricter limit is kept.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// The local retry delays between attempts of an asynchronous invocation.
pub const DEFAULT_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];

/// A request-level refusal of `PutEvents`, as EventBridge words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub message: String,
}

/// The local bus: the template's rules, the functions they target, and
/// what ended on the dead-letter list.
pub struct Bus {
    rules: Vec<(Rule, Pattern)>,
    functions: OnceLock<Arc<Functions>>,
    dead_letters: Mutex<Vec<Value>>,
    retry_delays: Vec<Duration>,
    region: String,
    bus_names: Vec<String>,
    /// An SQS API (moto) that OnFailure destinations naming a queue are
    /// delivered to, as Lambda delivers them.
    sqs: OnceLock<aws_sdk_sqs::Client>,
    /// Every event that reached the bus, numbered, the newest
    /// `EVENT_LOG_SIZE` kept: what a listener reads (`GET /events`).
    log: Mutex<EventLog>,
}

/// How many events the bus keeps for listeners.
pub const EVENT_LOG_SIZE: usize = 10_000;

#[derive(Debug, Default)]
struct EventLog {
    next: u64,
    kept: std::collections::VecDeque<(u64, Value)>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

/// `time` as EventBridge writes it: UTC, to the second.
fn event_time() -> String {
    let now = crate::local::now_rfc3339();
    // `2026-01-01T00:00:00.123Z` -> `2026-01-01T00:00:00Z`
    match now.split_once('.') {
        Some((seconds, _)) => format!("{seconds}Z"),
        None => now,
    }
}

fn event_id() -> String {
    crate::runtime::request_id()
}

impl Bus {
    /// A bus with the rules of the template; `bus_names` are the names a
    /// `PutEvents` entry may give (`default` is always accepted).
    pub fn new(
        rules: &[Rule],
        region: &str,
        bus_names: Vec<String>,
        retry_delays: Vec<Duration>,
    ) -> Result<Self, event_pattern::PatternError> {
        let mut parsed = Vec::new();
        for rule in rules {
            parsed.push((rule.clone(), Pattern::parse(&rule.pattern)?));
        }
        Ok(Self {
            rules: parsed,
            functions: OnceLock::new(),
            dead_letters: Mutex::new(Vec::new()),
            retry_delays,
            region: region.to_owned(),
            bus_names,
            sqs: OnceLock::new(),
            log: Mutex::new(EventLog::default()),
        })
    }

    /// The events that reached the bus after number `after` (0: from the
    /// oldest kept), oldest first, with the number to ask after next.
    pub fn events_after(&self, after: u64) -> (Vec<(u64, Value)>, u64) {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let events = log
            .kept
            .iter()
            .filter(|(seq, _)| *seq > after)
            .cloned()
            .collect();
        (events, log.next)
    }

    fn record(&self, envelope: &Value) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.next += 1;
        let seq = log.next;
        log.kept.push_back((seq, envelope.clone()));
        while log.kept.len() > EVENT_LOG_SIZE {
            log.kept.pop_front();
        }
    }

    /// Delivers the records of OnFailure destinations that name an SQS
    /// queue to that queue on `client`'s endpoint (created there when
    /// missing), besides keeping them on the dead-letter list (set once).
    pub fn deliver_failures_to(&self, client: aws_sdk_sqs::Client) {
        let _ = self.sqs.set(client);
    }

    /// Gives the bus the functions its rules target (set once).
    pub fn attach(&self, functions: Arc<Functions>) {
        let _ = self.functions.set(functions);
    }

    /// What ended on the dead-letter list, oldest first.
    pub fn dead_letters(&self) -> Vec<Value> {
        self.dead_letters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The envelope a target receives for one entry.
    pub fn envelope(
        &self,
        source: &str,
        detail_type: &str,
        detail: Value,
        resources: Value,
    ) -> Value {
        json!({
            "version": "0",
            "id": event_id(),
            "detail-type": detail_type,
            "source": source,
            "account": ACCOUNT,
            "time": event_time(),
            "region": self.region,
            "resources": resources,
            "detail": detail,
        })
    }

    /// `PutEvents`: each entry checked, routed, and answered in order;
    /// one bad entry does not stop the others.
    pub fn put_events(self: &Arc<Self>, request: &Value) -> Result<Value, ValidationError> {
        let entries = request["Entries"].as_array().ok_or_else(|| ValidationError {
            message: "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null".to_owned(),
        })?;
        if entries.is_empty() || entries.len() > MAX_ENTRIES {
            return Err(ValidationError {
                message: format!(
                    "1 validation error detected: Value '{}' at 'entries' failed to satisfy constraint: Member must have length less than or equal to {MAX_ENTRIES} and greater than or equal to 1",
                    entries.len()
                ),
            });
        }
        let mut results = Vec::new();
        let mut failed = 0;
        for entry in entries {
            match self.check_entry(entry) {
                Ok(envelope) => {
                    results.push(json!({"EventId": envelope["id"]}));
                    self.route(envelope);
                }
                Err((code, message)) => {
                    failed += 1;
                    results.push(json!({"ErrorCode": code, "ErrorMessage": message}));
                }
            }
        }
        Ok(json!({"FailedEntryCount": failed, "Entries": results}))
    }

    fn check_entry(&self, entry: &Value) -> Result<Value, (&'static str, String)> {
        let field = |name: &str| entry[name].as_str().filter(|s| !s.is_empty());
        let (Some(source), Some(detail_type), Some(detail)) =
            (field("Source"), field("DetailType"), field("Detail"))
        else {
            return Err((
                "InvalidArgument",
                "Parameters Source, DetailType and Detail are required.".to_owned(),
            ));
        };
        if let Some(bus) = field("EventBusName") {
            let name = bus.rsplit('/').next().unwrap_or(bus);
            if name != "default" && !self.bus_names.iter().any(|b| b == name) {
                return Err((
                    "InvalidArgument",
                    format!("Event bus {name} does not exist."),
                ));
            }
        }
        let parsed: Value = serde_json::from_str(detail)
            .map_err(|_| ("MalformedDetail", "Detail is malformed.".to_owned()))?;
        if !parsed.is_object() {
            return Err(("MalformedDetail", "Detail is malformed.".to_owned()));
        }
        let resources = entry.get("Resources").cloned().unwrap_or_else(|| json!([]));
        let size = source.len()
            + detail_type.len()
            + detail.len()
            + resources.as_array().map_or(0, |r| {
                r.iter().filter_map(Value::as_str).map(str::len).sum()
            })
            + if entry.get("Time").is_some() { 14 } else { 0 };
        if size > MAX_ENTRY_BYTES {
            return Err((
                "InvalidArgument",
                format!("Entry size {size} exceeds the maximum of {MAX_ENTRY_BYTES} bytes."),
            ));
        }
        Ok(self.envelope(source, detail_type, parsed, resources))
    }

    /// Delivers an envelope to every target of every rule it matches.
    pub fn route(self: &Arc<Self>, envelope: Value) {
        self.record(&envelope);
        let label = format!(
            "{} {}",
            envelope["detail-type"].as_str().unwrap_or("?"),
            envelope["detail"]["orderId"]
                .as_str()
                .or_else(|| envelope["id"].as_str())
                .unwrap_or("?")
        );
        let mut routed = false;
        for (rule, pattern) in &self.rules {
            if pattern.matches(&envelope).is_err() {
                continue;
            }
            for target in &rule.targets {
                let Some(function) = self.functions.get().and_then(|f| f.find(target)).cloned()
                else {
                    tracing::warn!(
                        "event {label} -> {}: target {target} is not running",
                        rule.name
                    );
                    continue;
                };
                routed = true;
                self.invoke_async(
                    function,
                    envelope.clone(),
                    format!("event {label} -> {}", rule.name),
                );
            }
        }
        if !routed {
            tracing::info!("event {label}: no rule matched");
        }
    }

    /// Invokes `function` as Lambda invokes asynchronously: retried on a
    /// function error, then to the dead-letter list. `label` starts each
    /// log line.
    pub fn invoke_async(
        self: &Arc<Self>,
        function: Arc<LocalFunction>,
        event: Value,
        label: String,
    ) {
        let bus = self.clone();
        tokio::spawn(async move { bus.run_async(&function, event, &label).await });
    }

    async fn run_async(&self, function: &LocalFunction, event: Value, label: &str) {
        let spec = function.spec();
        let config = &spec.async_config;
        let attempts = config.maximum_retry_attempts + 1;
        let queued = Instant::now();
        let payload = Payload::Json(event.clone());
        let mut last = None;
        for attempt in 1..=attempts {
            if attempt > 1 {
                let delay = self
                    .retry_delays
                    .get(usize::try_from(attempt - 2).unwrap_or(usize::MAX))
                    .or(self.retry_delays.last())
                    .copied()
                    .unwrap_or_default();
                tokio::time::sleep(delay).await;
                if queued.elapsed() > config.maximum_event_age {
                    self.dead_letter(
                        function,
                        &event,
                        last,
                        attempt - 1,
                        "EventAgeExceeded",
                        label,
                    )
                    .await;
                    return;
                }
            }
            let started = Instant::now();
            let invocation = match function.invoke(payload.clone(), false).await {
                Ok(invocation) => invocation,
                Err(e) => {
                    tracing::error!("{label} -> {}: cannot invoke: {e}", spec.binary);
                    last = None;
                    continue;
                }
            };
            let took = started.elapsed().as_secs_f64() * 1000.0;
            if !invocation.answer.is_error() {
                let verdict = match &invocation.answer {
                    Answer::Response(reply) => {
                        reply["outcome"].as_str().unwrap_or("handled").to_owned()
                    }
                    _ => "handled".to_owned(),
                };
                let of = if attempts > 1 && attempt > 1 {
                    format!(" (attempt {attempt} of {attempts})")
                } else {
                    String::new()
                };
                tracing::info!("{label} -> {}: {verdict}{of} ({took:.1} ms)", spec.binary);
                return;
            }
            let error = invocation.answer.payload(&invocation.request_id);
            tracing::warn!(
                "{label} -> {}: attempt {attempt} of {attempts} failed: {}: {} ({took:.1} ms)",
                spec.binary,
                error["errorType"].as_str().unwrap_or("Unhandled"),
                error["errorMessage"].as_str().unwrap_or_default(),
            );
            last = Some((invocation.request_id, error));
        }
        self.dead_letter(function, &event, last, attempts, "RetriesExhausted", label)
            .await;
    }

    async fn dead_letter(
        &self,
        function: &LocalFunction,
        event: &Value,
        last: Option<(String, Value)>,
        invoke_count: u32,
        condition: &str,
        label: &str,
    ) {
        let spec = function.spec();
        let (request_id, error) = last.unwrap_or_else(|| {
            (crate::runtime::request_id(), json!({"errorType": "ServiceException", "errorMessage": "the function could not be started"}))
        });
        let mut record = json!({
            "version": "1.0",
            "timestamp": crate::local::now_rfc3339(),
            "requestContext": {
                "requestId": request_id,
                "functionArn": format!("{}:$LATEST", spec.arn(&self.region)),
                "condition": condition,
                "approximateInvokeCount": invoke_count,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": error,
        });
        let delivered = match (&spec.async_config.on_failure, self.sqs.get()) {
            (Some(destination), Some(sqs)) => match queue_name(destination) {
                Some(queue) => match send_to_queue(sqs, queue, &record).await {
                    Ok(url) => Some(url),
                    Err(why) => {
                        tracing::error!(
                            "{label} -> {}: the record could not be sent to {destination}: {why}; it stays on the dead-letter list",
                            spec.binary
                        );
                        None
                    }
                },
                None => None,
            },
            _ => None,
        };
        record["destination"] = json!(spec.async_config.on_failure);
        record["deliveredTo"] = json!(delivered);
        tracing::error!(
            "{label} -> {}: dead letter after {invoke_count} attempts ({condition}): {}: {}{}",
            spec.binary,
            error["errorType"].as_str().unwrap_or("Unhandled"),
            error["errorMessage"].as_str().unwrap_or_default(),
            spec.async_config
                .on_failure
                .as_deref()
                .map(|d| format!("; OnFailure destination {d}"))
                .unwrap_or_default(),
        );
        self.dead_letters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
    }
}

/// The queue name of an SQS ARN (`arn:aws:sqs:REGION:ACCOUNT:NAME`).
fn queue_name(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (_, service, _, _, name) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (service == "sqs" && !name.is_empty()).then_some(name)
}

/// Sends `record` to the queue named `queue`, made first when missing;
/// returns the queue's URL.
async fn send_to_queue(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    record: &Value,
) -> Result<String, String> {
    let show = |e: &dyn std::fmt::Display| {
        let text = e.to_string();
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let url = match sqs.get_queue_url().queue_name(queue).send().await {
        Ok(found) => found.queue_url.unwrap_or_default(),
        Err(_) => sqs
            .create_queue()
            .queue_name(queue)
            .send()
            .await
            .map_err(|e| show(&aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .queue_url
            .unwrap_or_default(),
    };
    sqs.send_message()
        .queue_url(&url)
        .message_body(record.to_string())
        .send()
        .await
        .map_err(|e| show(&aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    Ok(url)
}

#[cfg(test)]
#[path = "bus_tests.rs"]
mod tests;
