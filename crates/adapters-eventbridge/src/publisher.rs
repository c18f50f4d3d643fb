//! `EventBridgePublisher`: PutEvents in batches, failed entries retried,
//! then reported by index.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::{DisplayErrorContext, SdkError};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use domain::{EventPublisher, OrderEvent, PublishError, RejectedEvent};

use crate::wire::{DETAIL_SOURCE, OrderEventDetail};

/// Why [`EventBridgePublisher::warm_up`] did not reach the service.
#[derive(Debug, thiserror::Error)]
pub enum WarmUpError {
    /// EventBridge did not answer within the bound.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The call failed before EventBridge answered it.
    #[error("{}", DisplayErrorContext(.0))]
    Request(#[source] Box<SdkError<aws_sdk_eventbridge::operation::put_events::PutEventsError>>),
}

/// PutEvents takes at most this many entries.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// ... and at most this many bytes, counted as EventBridge counts them.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Rounds of PutEvents for entries that failed with a transient code.
const ATTEMPTS: u32 = 3;

#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
}

/// An entry and its index in the caller's slice.
#[derive(Clone)]
struct Entry {
    index: usize,
    entry: PutEventsRequestEntry,
    size: usize,
}

/// The size EventBridge counts: source, detail type, detail, resources.
fn entry_size(entry: &PutEventsRequestEntry) -> usize {
    entry.source().map_or(0, str::len)
        + entry.detail_type().map_or(0, str::len)
        + entry.detail().map_or(0, str::len)
        + entry.resources().iter().map(String::len).sum::<usize>()
        + if entry.time().is_some() { 14 } else { 0 }
}

/// Splits entries into batches of at most 10 entries and 256 KiB, in order.
fn batches(entries: Vec<Entry>) -> Vec<Vec<Entry>> {
    let mut out: Vec<Vec<Entry>> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let fits = out.last().is_some_and(|batch| {
            batch.len() < MAX_BATCH_ENTRIES && bytes + entry.size <= MAX_BATCH_BYTES
        });
        if !fits {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += entry.size;
        if let Some(batch) = out.last_mut() {
            batch.push(entry);
        }
    }
    out
}

/// Error codes of failed entries worth another round.
fn retryable(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException" | "InternalFailure" | "InternalException" | "ServiceUnavailable"
    )
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }

    /// Opens the client's connection to EventBridge (TCP, and TLS on AWS),
    /// so that the first order's publish does not pay for it: a
    /// `PutEvents` with no entries, which EventBridge refuses as invalid
    /// and which publishes nothing. Any answer from the service means the
    /// connection is open. Meant for a function's init; bounded by
    /// `within`; a failure to reach the service is logged and returned.
    pub async fn warm_up(&self, within: Duration) -> Result<(), WarmUpError> {
        let call = self
            .client
            .put_events()
            .set_entries(Some(Vec::new()))
            .send();
        let outcome = match tokio::time::timeout(within, call).await {
            Ok(Ok(_)) => Ok(()),
            // The service answered (a validation error): connected.
            Ok(Err(SdkError::ServiceError(_))) => Ok(()),
            Ok(Err(e)) => Err(WarmUpError::Request(Box::new(e))),
            Err(_) => Err(WarmUpError::Timeout(within)),
        };
        if let Err(why) = &outcome {
            tracing::warn!("EventBridge warm-up failed: {why}");
        }
        outcome
    }

    fn entry(&self, event: &OrderEvent) -> Result<PutEventsRequestEntry, String> {
        let detail = serde_json::to_string(&OrderEventDetail::from(event))
            .map_err(|e| format!("the detail does not serialize: {e}"))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(DETAIL_SOURCE)
            .detail_type(event.kind.as_str())
            .detail(detail)
            .build())
    }

    /// Sends one batch, retrying the entries that failed transiently.
    /// Returns the entries that finally failed, with their reasons, and
    /// the SDK error when the call itself failed.
    async fn send_batch(&self, batch: Vec<Entry>) -> (Vec<RejectedEvent>, Option<String>) {
        let mut pending = batch;
        let mut rejected = Vec::new();
        for attempt in 1..=ATTEMPTS {
            let result = self
                .client
                .put_events()
                .set_entries(Some(pending.iter().map(|e| e.entry.clone()).collect()))
                .send()
                .await;
            let output = match result {
                Ok(output) => output,
                Err(err) => {
                    let reason = DisplayErrorContext(&err).to_string();
                    rejected.extend(pending.iter().map(|e| RejectedEvent {
                        index: e.index,
                        reason: reason.clone(),
                    }));
                    return (rejected, Some(reason));
                }
            };
            if output.failed_entry_count() == 0 {
                return (rejected, None);
            }
            let results = output.entries();
            let mut again = Vec::new();
            for (i, entry) in pending.into_iter().enumerate() {
                // A result without an event id is a failure, whether or not
                // it carries a code; a missing result is one too.
                let result = results.get(i);
                if result.is_some_and(|r| r.event_id().is_some() && r.error_code().is_none()) {
                    continue;
                }
                let code = result
                    .and_then(|r| r.error_code())
                    .unwrap_or("MissingResult");
                let message = result.and_then(|r| r.error_message()).unwrap_or_default();
                if retryable(code) && attempt < ATTEMPTS {
                    again.push(entry);
                } else {
                    rejected.push(RejectedEvent {
                        index: entry.index,
                        reason: format!("{code}: {message}"),
                    });
                }
            }
            if again.is_empty() {
                return (rejected, None);
            }
            tracing::warn!(
                entries = again.len(),
                attempt,
                "PutEvents entries failed; retrying them"
            );
            tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
            pending = again;
        }
        (rejected, None)
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[OrderEvent]) -> Result<(), PublishError> {
        let mut rejected = Vec::new();
        let mut entries = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            match self.entry(event) {
                Ok(entry) => {
                    let size = entry_size(&entry);
                    if size > MAX_BATCH_BYTES {
                        rejected.push(RejectedEvent {
                            index,
                            reason: format!("the entry is {size} bytes; EventBridge takes at most {MAX_BATCH_BYTES}"),
                        });
                    } else {
                        entries.push(Entry { index, entry, size });
                    }
                }
                Err(reason) => rejected.push(RejectedEvent { index, reason }),
            }
        }
        let mut call_errors = Vec::new();
        let sent = entries.len();
        for batch in batches(entries) {
            let (failed, call_error) = self.send_batch(batch).await;
            rejected.extend(failed);
            call_errors.extend(call_error);
        }
        if rejected.is_empty() {
            return Ok(());
        }
        rejected.sort_by_key(|r| r.index);
        // Nothing got through and the calls themselves failed: the bus is
        // unreachable, not picky.
        if sent > 0 && rejected.len() == events.len() && !call_errors.is_empty() {
            return Err(PublishError::Unavailable(call_errors.join("; ").into()));
        }
        Err(PublishError::Rejected { failed: rejected })
    }
}

#[cfg(test)]
#[path = "publisher_tests.rs"]
mod tests;
