//! The SDK calls and their error translation, against aws-smithy-mocks:
//! no network. Behaviour against a real DynamoDB Local is in `tests/it`.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::get_item::{GetItemError, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::CancellationReason;
use aws_sdk_dynamodb::types::error::{
    ConditionalCheckFailedException, ProvisionedThroughputExceededException,
    TransactionCanceledException,
};
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use domain::{
    CreateOutcome, EventKind, IdempotencyKey, IdempotencyRecord, Order, OrderRepository,
    RepositoryError, RequestHash, Version,
};

use super::DynamoOrderRepository;
use crate::item::{idempotency_item, new_order_item};

fn order() -> Order {
    testkit::orders::placed("CUST-001", 0)
}

fn repo(rules: &[&Rule]) -> DynamoOrderRepository {
    // One attempt per call: retries are the SDK's business, not under test.
    let client: Client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules, |conf| {
        conf.retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
    });
    DynamoOrderRepository::new(client, "orders")
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

fn conditional_put_failure(stored: Option<Order>) -> Rule {
    mock!(Client::put_item).then_error(move || {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .set_item(stored.as_ref().map(new_order_item))
                .build(),
        )
    })
}

/// An UpdateItem whose condition fails, returning `stored` as the old item.
fn conditional_update_failure(stored: &Order) -> Rule {
    let old = new_order_item(stored);
    mock!(Client::update_item).then_error(move || {
        UpdateItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .set_item(Some(old.clone()))
                .build(),
        )
    })
}

/// Stores `cancelled` over version 1, with its `OrderCancelled` mark.
async fn cancel_from_the_first_version(
    rule: &Rule,
    cancelled: &Order,
) -> Result<(), RepositoryError> {
    repo(&[rule])
        .update(cancelled, Version::INITIAL, Some(EventKind::OrderCancelled))
        .await
}

/// Another order under the same id: what a lost race on an id would store.
fn another_order_with_the_id_of(order: &Order) -> Order {
    Order::place(
        order.id().clone(),
        order.customer_id().clone(),
        testkit::orders::items(&[("PROD-OTHER", 7)]),
        order.created_at(),
    )
}

#[tokio::test]
async fn a_taken_id_is_already_exists() {
    let order = order();
    let put = conditional_put_failure(Some(another_order_with_the_id_of(&order)));
    let result = repo(&[&put]).create(&order, None).await;
    assert!(
        matches!(result, Err(RepositoryError::AlreadyExists)),
        "{result:?}"
    );
    assert_eq!(put.num_calls(), 1);
}

/// The SDK retried a PutItem whose first attempt committed (its answer was
/// lost): the retry fails its condition on this very order. Settled by the
/// old item the failure returns (ReturnValuesOnConditionCheckFailure), or
/// by a read when it returns none, the write is a success.
#[tokio::test]
async fn a_condition_failed_on_this_very_order_is_a_created_order() {
    let order = order();
    let put = conditional_put_failure(Some(order.clone()));
    let result = repo(&[&put]).create(&order, None).await;
    assert!(matches!(result, Ok(CreateOutcome::Created)), "{result:?}");

    let put = conditional_put_failure(None);
    let stored = new_order_item(&order);
    let get = mock!(Client::get_item)
        .match_requests(|req| req.consistent_read() == Some(true))
        .then_output(move || {
            GetItemOutput::builder()
                .set_item(Some(stored.clone()))
                .build()
        });
    let result = repo(&[&put, &get]).create(&order, None).await;
    assert!(matches!(result, Ok(CreateOutcome::Created)), "{result:?}");
    assert_eq!(get.num_calls(), 1);
}

/// The same for an order with an idempotency key: the record names this
/// order, so the transaction had committed; 201, not a replay.
#[tokio::test]
async fn a_transaction_that_committed_on_an_earlier_attempt_is_a_created_order() {
    let order = order();
    let result = create_with_the_key_taken_by(&order, &order).await;
    assert!(matches!(result, Ok(CreateOutcome::Created)), "{result:?}");
}

/// An update the SDK retried after its first attempt committed: the
/// stored item carries this update's write id, so it succeeded. Another
/// update that wrote the same content (two confirmations in the same
/// millisecond) has another write id: a conflict, so only one of them is
/// told it changed the order.
#[tokio::test]
async fn an_update_whose_earlier_attempt_committed_succeeds_and_a_twin_does_not() {
    let mut cancelled = order();
    cancelled
        .cancel(&testkit::orders::staff(), testkit::orders::at(5))
        .expect("cancel");
    let stored = new_order_item(&cancelled);
    let retried = mock!(Client::update_item).then_compute_response(move |request| {
        let mut old = stored.clone();
        let own = request
            .expression_attribute_values()
            .and_then(|v| v.get(":writeId"))
            .cloned()
            .expect("the update names its write id");
        old.insert("writeId".to_owned(), own);
        MockResponse::Error(UpdateItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .set_item(Some(old))
                .build(),
        ))
    });
    let result = cancel_from_the_first_version(&retried, &cancelled).await;
    assert!(result.is_ok(), "{result:?}");

    let twin = conditional_update_failure(&cancelled);
    let result = cancel_from_the_first_version(&twin, &cancelled).await;
    assert!(
        matches!(result, Err(RepositoryError::VersionConflict)),
        "{result:?}"
    );
}

#[tokio::test]
async fn the_new_order_item_is_put_with_a_condition_on_its_key() {
    let order = order();
    let expected = new_order_item(&order);
    let put = mock!(Client::put_item)
        .match_requests(move |req| {
            req.table_name() == Some("orders")
                && req.condition_expression() == Some("attribute_not_exists(PK)")
                && req.item() == Some(&expected)
        })
        .then_output(|| aws_sdk_dynamodb::operation::put_item::PutItemOutput::builder().build());
    let result = repo(&[&put]).create(&order, None).await;
    assert!(matches!(result, Ok(CreateOutcome::Created)), "{result:?}");
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn throttling_is_unavailable_and_keeps_its_cause() {
    let get = mock!(Client::get_item).then_error(|| {
        GetItemError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .message("rate exceeded")
                .meta(
                    ErrorMetadata::builder()
                        .code("ProvisionedThroughputExceededException")
                        .message("rate exceeded")
                        .build(),
                )
                .build(),
        )
    });
    let result = repo(&[&get]).get(order().id()).await;
    match result {
        Err(RepositoryError::Unavailable(source)) => {
            let text = chain(source.as_ref());
            assert!(text.contains("dynamodb GetItem failed"), "{text}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_server_error_is_unavailable_and_a_client_error_unexpected() {
    let down = mock!(Client::get_item).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(503).expect("503"),
            aws_smithy_types::body::SdkBody::from("{}"),
        )
    });
    let result = repo(&[&down]).get(order().id()).await;
    assert!(
        matches!(result, Err(RepositoryError::Unavailable(_))),
        "{result:?}"
    );

    let missing_table = mock!(Client::get_item).then_error(|| {
        GetItemError::generic(
            ErrorMetadata::builder()
                .code("ResourceNotFoundException")
                .message("Requested resource not found")
                .build(),
        )
    });
    let result = repo(&[&missing_table]).get(order().id()).await;
    assert!(
        matches!(result, Err(RepositoryError::Unexpected(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_stale_version_is_a_conflict_and_a_missing_order_not_found() {
    let mut stored = order();
    stored.confirm(testkit::orders::at(1)).expect("confirm");
    let stale = conditional_update_failure(&order());
    let result = repo(&[&stale])
        .update(&stored, Version::INITIAL, None)
        .await;
    assert!(
        matches!(result, Err(RepositoryError::VersionConflict)),
        "{result:?}"
    );

    // No old item in the error: one consistent read tells the cases apart.
    let gone = mock!(Client::update_item).then_error(|| {
        UpdateItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().build(),
        )
    });
    let nothing = mock!(Client::get_item)
        .match_requests(|req| req.consistent_read() == Some(true))
        .then_output(|| GetItemOutput::builder().build());
    let result = repo(&[&gone, &nothing])
        .update(&stored, Version::INITIAL, None)
        .await;
    assert!(
        matches!(result, Err(RepositoryError::NotFound)),
        "{result:?}"
    );
    assert_eq!(nothing.num_calls(), 1);
}

#[tokio::test]
async fn an_update_is_conditional_on_the_expected_version_and_adds_the_mark() {
    let mut cancelled = order();
    cancelled
        .cancel(&testkit::orders::staff(), testkit::orders::at(5))
        .expect("cancel");
    let update = mock!(Client::update_item)
        .match_requests(|req| {
            let values = req
                .expression_attribute_values()
                .cloned()
                .unwrap_or_default();
            let names = req
                .expression_attribute_names()
                .cloned()
                .unwrap_or_default();
            req.condition_expression() == Some("attribute_exists(PK) AND #version = :expected")
                && values.get(":expected") == Some(&crate::item::n(1))
                && values.get(":version") == Some(&crate::item::n(2))
                && names.get("#mark").map(String::as_str) == Some("outboxOrderCancelled")
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let result = cancel_from_the_first_version(&update, &cancelled).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(update.num_calls(), 1);
}

fn record(order: &Order, hash_of: &Order) -> IdempotencyRecord {
    IdempotencyRecord {
        scope: "customer:CUST-001".to_owned(),
        key: IdempotencyKey::parse("key-1").expect("key"),
        request_hash: RequestHash::of_order_request(hash_of.customer_id(), hash_of.items()),
        expires_at: order.created_at().plus(std::time::Duration::from_secs(60)),
    }
}

fn key_taken(stored: HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> Rule {
    mock!(Client::transact_write_items).then_error(move || {
        TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .cancellation_reasons(CancellationReason::builder().code("None").build())
                .cancellation_reasons(
                    CancellationReason::builder()
                        .code("ConditionalCheckFailed")
                        .set_item(Some(stored.clone()))
                        .build(),
                )
                .build(),
        )
    })
}

/// Creates `order` with its key, which `first` (stored) already holds.
async fn create_with_the_key_taken_by(
    first: &Order,
    order: &Order,
) -> Result<CreateOutcome, RepositoryError> {
    let transact = key_taken(idempotency_item(&record(first, first), first.id()));
    let stored = new_order_item(first);
    let get = mock!(Client::get_item).then_output(move || {
        GetItemOutput::builder()
            .set_item(Some(stored.clone()))
            .build()
    });
    repo(&[&transact, &get])
        .create(order, Some(record(order, order)))
        .await
}

#[tokio::test]
async fn a_taken_key_with_the_same_request_replays_the_stored_order() {
    let first = order();
    let retry = testkit::orders::placed("CUST-001", 500);
    let result = create_with_the_key_taken_by(&first, &retry).await;
    match result {
        Ok(CreateOutcome::Replayed(original)) => assert_eq!(original, first),
        other => panic!("expected a replay, got {other:?}"),
    }
}

#[tokio::test]
async fn a_taken_key_with_another_request_is_refused() {
    let first = order();
    let other = domain::Order::place(
        testkit::orders::order_id(),
        first.customer_id().clone(),
        testkit::orders::items(&[("PROD-Z", 9)]),
        testkit::orders::at(500),
    );
    let transact = key_taken(idempotency_item(&record(&first, &first), first.id()));
    let result = repo(&[&transact])
        .create(&other, Some(record(&other, &other)))
        .await;
    assert!(
        matches!(result, Err(RepositoryError::IdempotencyKeyReused)),
        "{result:?}"
    );
}

#[tokio::test]
async fn clearing_the_mark_of_a_missing_order_succeeds() {
    // The one write that takes the last mark and the index keys together
    // fails its condition; so does the write of the mark alone: no order.
    let update = mock!(Client::update_item).then_error(|| {
        UpdateItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().build(),
        )
    });
    let result = repo(&[&update])
        .clear_mark(order().id(), EventKind::OrderPlaced)
        .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(update.num_calls(), 2);
}

#[tokio::test]
async fn the_last_mark_and_the_outbox_keys_go_in_one_write() {
    let update = mock!(Client::update_item)
        .match_requests(|r| {
            let expression = r.update_expression().unwrap_or_default();
            expression.contains("#mark")
                && expression.contains("#gsi2pk")
                && expression.contains("#gsi2sk")
                && r.condition_expression()
                    .is_some_and(|c| c.contains("attribute_not_exists(#other0)"))
        })
        .then_output(|| {
            aws_sdk_dynamodb::operation::update_item::UpdateItemOutput::builder().build()
        });
    let result = repo(&[&update])
        .clear_mark(order().id(), EventKind::OrderPlaced)
        .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(update.num_calls(), 1);
}
