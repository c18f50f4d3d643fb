//! `Consumer`: what fn-events does with each event the bus delivers.

use std::time::Duration;

use serde_json::{Value, json};

use domain::{
    Confirmation, EventKind, OrderError, OrderId, OrderService, RelayReport, TransitionError,
    Version,
};

use crate::wire::{DETAIL_SOURCE, OrderEventDetail};

/// What an event led to. Every outcome acknowledges the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Confirmed(OrderId),
    /// A repeated delivery: the order was confirmed already.
    AlreadyConfirmed(OrderId),
    /// The order is not stored (never was, or the event is from elsewhere).
    UnknownOrder(OrderId),
    /// The order was cancelled before its `OrderPlaced` arrived.
    CancelledBeforeConfirmation(OrderId),
    /// The event is older than what the order has applied (its `version`
    /// is behind the stored order's): ignored.
    Superseded {
        id: OrderId,
        event_version: u64,
        applied: u64,
    },
    /// The relay ran: how many marked events it published, how many the
    /// bus refused, and how many damaged outbox entries it skipped.
    Relayed {
        published: usize,
        failed: usize,
        skipped: usize,
    },
    /// An event of ours that needs nothing here.
    Ignored(&'static str),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Confirmed(id) => write!(f, "confirmed {id}"),
            Self::AlreadyConfirmed(id) => write!(f, "{id} was confirmed already"),
            Self::UnknownOrder(id) => write!(f, "{id} is not stored; acknowledged"),
            Self::CancelledBeforeConfirmation(id) => write!(f, "{id} was cancelled; left as it is"),
            Self::Superseded {
                id,
                event_version,
                applied,
            } => write!(
                f,
                "{id} is at version {applied}, past the event's {event_version}; ignored"
            ),
            Self::Relayed {
                published,
                failed,
                skipped,
            } => {
                write!(f, "relay published {published} event(s), {failed} failed")?;
                if *skipped > 0 {
                    write!(f, ", {skipped} damaged outbox entr(y/ies) skipped")?;
                }
                Ok(())
            }
            Self::Ignored(why) => write!(f, "ignored: {why}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The event can never be handled: retrying cannot help.
    #[error("malformed event: {0}")]
    Malformed(String),
    /// Handling failed for a reason that may pass (the store is down).
    #[error("handling the event failed")]
    Failed(#[source] OrderError),
}

impl ConsumeError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Failed(_))
    }
}

#[derive(Debug, Clone)]
pub struct Consumer {
    service: OrderService,
    /// Marks younger than this are left to the request that made them.
    relay_min_age: Duration,
    /// Events per relay round.
    relay_batch: usize,
    /// Rounds per scheduled run, while rounds come back full.
    relay_rounds: usize,
    /// Write each relay run's metrics line to stdout.
    metrics: bool,
}

fn field<'a>(event: &'a Value, name: &str) -> Result<&'a str, ConsumeError> {
    event
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| ConsumeError::Malformed(format!("`{name}` is missing or not a string")))
}

impl Consumer {
    pub fn new(service: OrderService) -> Self {
        Self {
            service,
            relay_min_age: Duration::from_secs(30),
            relay_batch: 100,
            relay_rounds: 20,
            metrics: true,
        }
    }

    /// Leaves out the relay's metrics line (tests and tools that run the
    /// consumer in their own process).
    #[must_use]
    pub fn without_metrics(mut self) -> Self {
        self.metrics = false;
        self
    }

    /// Sets how old a mark must be before the relay publishes it.
    #[must_use]
    pub fn with_relay_min_age(mut self, min_age: Duration) -> Self {
        self.relay_min_age = min_age;
        self
    }

    /// Handles one delivered event.
    pub async fn handle(&self, event: &Value) -> Result<Outcome, ConsumeError> {
        let source = field(event, "source")?;
        let detail_type = field(event, "detail-type")?;
        if (source, detail_type) == ("aws.events", "Scheduled Event") {
            return self.relay().await;
        }
        let kind = EventKind::parse(detail_type)
            .filter(|_| source == DETAIL_SOURCE)
            .ok_or_else(|| {
                ConsumeError::Malformed(format!("no handler for {detail_type:?} from {source:?}"))
            })?;
        // Exhaustive: a new kind of event does not compile until it is
        // decided here.
        match kind {
            EventKind::OrderPlaced => self.confirm(event).await,
            EventKind::OrderCancelled => {
                Ok(Outcome::Ignored("OrderCancelled needs no confirmation"))
            }
        }
    }

    /// Handles one invocation's payload, as fn-events returns it to Lambda:
    /// an outcome acknowledges; a malformed event is logged and acknowledged
    /// as rejected (retrying cannot fix it); a retryable failure fails the
    /// invocation so that Lambda retries it.
    pub async fn handle_invocation(&self, event: Value) -> Result<Value, ConsumeError> {
        let id = event
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned();
        match self.handle(&event).await {
            Ok(outcome) => {
                tracing::info!(event_id = %id, outcome = %outcome, "event handled");
                Ok(json!({"status": "handled", "outcome": outcome.to_string()}))
            }
            Err(err) if !err.is_retryable() => {
                tracing::error!(event_id = %id, error = %err, "event rejected; it will not be retried");
                Ok(json!({"status": "rejected", "reason": err.to_string()}))
            }
            Err(err) => {
                let cause = match &err {
                    ConsumeError::Failed(source) => source_chain(source),
                    ConsumeError::Malformed(_) => String::new(),
                };
                tracing::error!(event_id = %id, error = %err, cause = %cause, "event failed; it will be retried");
                Err(err)
            }
        }
    }

    async fn confirm(&self, event: &Value) -> Result<Outcome, ConsumeError> {
        let detail = event
            .get("detail")
            .ok_or_else(|| ConsumeError::Malformed("`detail` is missing".into()))?;
        let detail: OrderEventDetail = serde_json::from_value(detail.clone())
            .map_err(|e| ConsumeError::Malformed(format!("`detail` is not an order event: {e}")))?;
        let id = OrderId::parse(&detail.order_id)
            .map_err(|e| ConsumeError::Malformed(format!("`detail.orderId`: {e}")))?;
        let seen = match detail.version {
            None => None,
            Some(raw) => Some(Version::new(raw).ok_or_else(|| {
                ConsumeError::Malformed(format!("`detail.version` {raw} is not a version"))
            })?),
        };
        match self.service.confirm_placed(&id, seen).await {
            Ok((_, Confirmation::Confirmed)) => Ok(Outcome::Confirmed(id)),
            Ok((_, Confirmation::AlreadyConfirmed)) => Ok(Outcome::AlreadyConfirmed(id)),
            Ok((_, Confirmation::Superseded { applied })) => Ok(Outcome::Superseded {
                id,
                event_version: seen.map_or(0, Version::get),
                applied: applied.get(),
            }),
            Err(OrderError::NotFound) => {
                tracing::warn!(order_id = %id, "OrderPlaced for an order that is not stored");
                Ok(Outcome::UnknownOrder(id))
            }
            Err(OrderError::Transition(TransitionError { .. })) => {
                Ok(Outcome::CancelledBeforeConfirmation(id))
            }
            Err(other) => Err(ConsumeError::Failed(other)),
        }
    }

    async fn relay(&self) -> Result<Outcome, ConsumeError> {
        let mut total = RelayReport::default();
        for _ in 0..self.relay_rounds {
            let report = self
                .service
                .relay(self.relay_min_age, self.relay_batch)
                .await
                .map_err(ConsumeError::Failed)?;
            for key in &report.corrupt {
                tracing::error!(entry = %key, "outbox entry cannot be read; skipped");
            }
            total.published += report.published;
            total.failed += report.failed;
            // The first round sees the oldest marks.
            if total.oldest_mark_age.is_none() {
                total.oldest_mark_age = report.oldest_mark_age;
            }
            let round_corrupt = report.corrupt.len();
            if total.corrupt.is_empty() {
                total.corrupt = report.corrupt;
            }
            // A short round means the outbox is drained, or the bus is
            // refusing: either way, the next schedule tries again. Damaged
            // entries are met again by every round: one round names them.
            if report.published + report.failed < self.relay_batch
                || report.failed > 0
                || round_corrupt > 0
            {
                break;
            }
        }
        if self.metrics {
            // Per function, so that each stage's alarm reads its own.
            let function =
                std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_owned());
            emit(&relay_metrics(
                &total,
                &function,
                std::time::SystemTime::now(),
            ));
        }
        Ok(Outcome::Relayed {
            published: total.published,
            failed: total.failed,
            skipped: total.corrupt.len(),
        })
    }
}

/// The namespace of the service's own CloudWatch metrics.
pub const METRICS_NAMESPACE: &str = "Orders";

/// One relay run as a CloudWatch embedded-metric-format record: Lambda
/// sends the function's stdout to CloudWatch Logs, which turns such a line
/// into metrics (`OutboxOldestMarkAge`, the template's outbox alarm, and
/// the run's counts) without an API call. The metrics have one dimension,
/// `FunctionName`, which tells stages apart.
pub fn relay_metrics(report: &RelayReport, function: &str, at: std::time::SystemTime) -> Value {
    let millis = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    json!({
        "_aws": {
            "Timestamp": millis,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["FunctionName"]],
                "Metrics": [
                    {"Name": "OutboxOldestMarkAge", "Unit": "Seconds"},
                    {"Name": "RelayPublished", "Unit": "Count"},
                    {"Name": "RelayFailed", "Unit": "Count"},
                    {"Name": "OutboxDamagedEntries", "Unit": "Count"},
                ],
            }],
        },
        "FunctionName": function,
        "OutboxOldestMarkAge": report.oldest_mark_age.map_or(0, |age| age.as_secs()),
        "RelayPublished": report.published,
        "RelayFailed": report.failed,
        "OutboxDamagedEntries": report.corrupt.len(),
    })
}

/// Writes one line to stdout, where Lambda's log capture reads it.
fn emit(line: &Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

fn source_chain(err: &dyn std::error::Error) -> String {
    let mut text = String::new();
    let mut source = err.source();
    while let Some(e) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
#[path = "consumer_tests.rs"]
mod tests;
