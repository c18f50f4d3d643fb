//! PutEvents against aws-smithy-mocks: batching, partial and whole failure.

use std::sync::{Arc, Mutex};

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use domain::{EventKind, OrderEvent};

use super::*;

fn events(n: usize) -> Vec<OrderEvent> {
    (0..n)
        .map(|i| {
            OrderEvent::of(
                EventKind::OrderPlaced,
                &testkit::orders::placed("CUST-001", i64::try_from(i).unwrap_or(0)),
            )
        })
        .collect()
}

fn publisher(rules: &[&Rule]) -> EventBridgePublisher {
    let client: Client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, rules, |conf| {
        conf.retry_config(aws_sdk_eventbridge::config::retry::RetryConfig::disabled())
    });
    EventBridgePublisher::new(client, "orders-dev")
}

fn ok_entry(i: usize) -> PutEventsResultEntry {
    PutEventsResultEntry::builder()
        .event_id(format!("ev-{i}"))
        .build()
}

fn failed_entry(code: &str) -> PutEventsResultEntry {
    PutEventsResultEntry::builder()
        .error_code(code)
        .error_message("simulated")
        .build()
}

#[tokio::test]
async fn twenty_five_events_go_out_in_batches_of_ten() {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let seen = sizes.clone();
    let rule = mock!(Client::put_events)
        .match_requests(move |req| {
            seen.lock().expect("lock").push(req.entries().len());
            req.entries().iter().all(|e| {
                e.source() == Some("orders.api")
                    && e.detail_type() == Some("OrderPlaced")
                    && e.event_bus_name() == Some("orders-dev")
                    && e.detail().is_some_and(|d| d.contains("\"orderId\":\"ORD-"))
            })
        })
        .then_compute_output(|req| {
            PutEventsOutput::builder()
                .failed_entry_count(0)
                .set_entries(Some((0..req.entries().len()).map(ok_entry).collect()))
                .build()
        });
    let result = publisher(&[&rule]).publish(&events(25)).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(*sizes.lock().expect("lock"), [10, 10, 5]);
}

#[tokio::test]
async fn batches_also_respect_the_size_limit() {
    let entry = |index, size| Entry {
        index,
        entry: PutEventsRequestEntry::builder().build(),
        size,
    };
    let big = MAX_BATCH_BYTES / 3 + 1;
    let split = batches(vec![
        entry(0, big),
        entry(1, big),
        entry(2, big),
        entry(3, 10),
    ]);
    let indexes: Vec<Vec<usize>> = split
        .iter()
        .map(|b| b.iter().map(|e| e.index).collect())
        .collect();
    assert_eq!(indexes, [vec![0, 1], vec![2, 3]]);
    let exact = batches(vec![entry(0, MAX_BATCH_BYTES), entry(1, 1)]);
    assert_eq!(exact.len(), 2);
}

#[tokio::test]
async fn a_transient_entry_failure_is_retried_and_then_succeeds() {
    let rule = mock!(Client::put_events)
        .sequence()
        .output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(1)
                .entries(ok_entry(0))
                .entries(failed_entry("ThrottlingException"))
                .entries(ok_entry(2))
                .build()
        })
        .output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(0)
                .entries(ok_entry(1))
                .build()
        })
        .build();
    let result = publisher(&[&rule]).publish(&events(3)).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn a_permanent_entry_failure_is_reported_by_index() {
    let rule = mock!(Client::put_events).then_output(|| {
        PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(ok_entry(0))
            .entries(ok_entry(1))
            .entries(failed_entry("ValidationException"))
            .build()
    });
    match publisher(&[&rule]).publish(&events(3)).await {
        Err(PublishError::Rejected { failed }) => {
            assert_eq!(failed.len(), 1);
            assert_eq!(failed[0].index, 2);
            assert!(
                failed[0].reason.starts_with("ValidationException"),
                "{}",
                failed[0].reason
            );
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(rule.num_calls(), 1, "a permanent failure is not retried");
}

#[tokio::test]
async fn an_entry_that_keeps_failing_is_reported_after_three_rounds() {
    let rule = mock!(Client::put_events).then_output(|| {
        PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(failed_entry("InternalFailure"))
            .build()
    });
    match publisher(&[&rule]).publish(&events(1)).await {
        Err(PublishError::Rejected { failed }) => assert_eq!(failed[0].index, 0),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn a_failed_count_without_results_is_not_taken_for_success() {
    let rule = mock!(Client::put_events)
        .then_output(|| PutEventsOutput::builder().failed_entry_count(2).build());
    match publisher(&[&rule]).publish(&events(2)).await {
        Err(PublishError::Rejected { failed }) => assert_eq!(failed.len(), 2),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_bus_that_does_not_answer_is_unavailable() {
    let rule = mock!(Client::put_events).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(503).expect("503"),
            aws_smithy_types::body::SdkBody::from("{}"),
        )
    });
    let result = publisher(&[&rule]).publish(&events(12)).await;
    assert!(
        matches!(result, Err(PublishError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(rule.num_calls(), 2, "one call per batch");
}

#[tokio::test]
async fn one_failed_batch_of_two_is_a_rejection_of_that_batch_only() {
    let rule = mock!(Client::put_events)
        .sequence()
        .output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(0)
                .set_entries(Some((0..10).map(ok_entry).collect()))
                .build()
        })
        .http_status(500, None)
        .build();
    match publisher(&[&rule]).publish(&events(12)).await {
        Err(PublishError::Rejected { failed }) => {
            let indexes: Vec<usize> = failed.iter().map(|f| f.index).collect();
            assert_eq!(indexes, [10, 11]);
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}
