//! `DynamoOrderRepository`: the `OrderRepository` contract on DynamoDB.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use domain::{
    CreateOutcome, CustomerId, EventKind, IdempotencyRecord, ListPosition, Order, OrderId,
    OrderPage, OrderRepository, PageLimit, PendingEvent, PendingEvents, RepositoryError, Timestamp,
    Version,
};

use crate::errors::{classify, corrupt};
use crate::item::{
    self, CANCELLED_AT, CANCELLED_BY, EXPIRES_AT, GSI1PK, GSI1SK, GSI2PK, GSI2SK, IDEMPOTENCY_SK,
    Item, PK, SK, STATUS, UPDATED_AT, VERSION, WRITE_ID, idempotency_item, mark_attribute, n,
    new_order_item, order_from_item, order_key, s,
};
use crate::table::{GSI1, GSI2};

/// Why [`DynamoOrderRepository::warm_up`] did not open the connection.
#[derive(Debug, thiserror::Error)]
pub enum WarmUpError {
    /// DynamoDB did not answer within the bound.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The read failed before DynamoDB answered it.
    #[error("{}", aws_sdk_dynamodb::error::DisplayErrorContext(.0))]
    Request(#[source] Box<SdkError<aws_sdk_dynamodb::operation::get_item::GetItemError>>),
}

/// How often a transaction that lost a race with another one is retried.
const TRANSACTION_ATTEMPTS: u32 = 8;

/// BatchGetItem takes at most this many keys.
const BATCH_GET_MAX: usize = 100;

#[derive(Debug, Clone)]
pub struct DynamoOrderRepository {
    client: Client,
    table: String,
}

impl DynamoOrderRepository {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Opens the client's connection to DynamoDB (TCP, and TLS on AWS)
    /// with one read of a key no item has, so that the first request does
    /// not pay for it. Meant for a function's init; bounded by `within`.
    /// A failure is logged and returned, never fatal: requests connect on
    /// their own.
    pub async fn warm_up(&self, within: Duration) -> Result<(), WarmUpError> {
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(crate::item::PK, crate::item::s("WARM-UP"))
            .key(crate::item::SK, crate::item::s("WARM-UP"))
            .projection_expression("#pk")
            .expression_attribute_names("#pk", crate::item::PK)
            .send();
        let outcome = match tokio::time::timeout(within, read).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(WarmUpError::Request(Box::new(e))),
            Err(_) => Err(WarmUpError::Timeout(within)),
        };
        if let Err(why) = &outcome {
            tracing::warn!("DynamoDB warm-up failed: {why}");
        }
        outcome
    }

    async fn get_item(&self, key: Item) -> Result<Option<Item>, RepositoryError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        Ok(output.item)
    }

    async fn create_plain(&self, order: &Order) -> Result<CreateOutcome, RepositoryError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(new_order_item(order)))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                let stored = match e.err() {
                    PutItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
                    _ => None,
                };
                self.settle_create(order, stored).await
            }
            Err(e) => Err(classify("PutItem", e)),
        }
    }

    /// The write of a new order failed its condition: an order with its id
    /// is stored. Ids are new for each request, so that is almost always
    /// this request's own write, committed by an attempt whose answer was
    /// lost (the SDK then retried): read it back, and if it is this order,
    /// the write succeeded.
    async fn settle_create(
        &self,
        order: &Order,
        stored: Option<Item>,
    ) -> Result<CreateOutcome, RepositoryError> {
        let stored = match stored {
            Some(item) => Some(item),
            None => self.get_item(order_key(order.id())).await?,
        };
        match stored.map(|item| order_from_item(&item)).transpose()? {
            Some(found) if same_placement(&found, order) => {
                tracing::info!(order_id = %order.id(), "the order's write had committed on an earlier attempt");
                Ok(CreateOutcome::Created)
            }
            _ => Err(RepositoryError::AlreadyExists),
        }
    }

    async fn create_with_key(
        &self,
        order: &Order,
        record: &IdempotencyRecord,
    ) -> Result<CreateOutcome, RepositoryError> {
        let put_order = Put::builder()
            .table_name(&self.table)
            .set_item(Some(new_order_item(order)))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| RepositoryError::Unexpected(Box::new(e)))?;
        // An expired record may be taken over: TTL deletion lags by hours.
        let put_record = Put::builder()
            .table_name(&self.table)
            .set_item(Some(idempotency_item(record, order.id())))
            .condition_expression("attribute_not_exists(PK) OR #expires <= :now")
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":now", n(order.created_at().unix_millis()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| RepositoryError::Unexpected(Box::new(e)))?;
        for attempt in 1..=TRANSACTION_ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put_order.clone()).build())
                .transact_items(TransactWriteItem::builder().put(put_record.clone()).build())
                // The SDK's retries of one attempt share a token, so a retry
                // of a committed transaction succeeds instead of failing its
                // conditions (TransactWriteItems' ClientRequestToken, ten
                // minutes); a new attempt after a conflict is a new request.
                .client_request_token(format!("{}-{attempt}", order.id()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(CreateOutcome::Created),
                Err(err) => err,
            };
            let reasons = match &err {
                SdkError::ServiceError(e) => match e.err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => {
                        c.cancellation_reasons().to_vec()
                    }
                    _ => return Err(classify("TransactWriteItems", err)),
                },
                _ => return Err(classify("TransactWriteItems", err)),
            };
            let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
            if code(1) == "ConditionalCheckFailed" {
                let stored = match reasons.get(1).and_then(|r| r.item()) {
                    Some(item) => Some(item.clone()),
                    None => {
                        let key = HashMap::from([
                            (PK.to_owned(), s(item::idempotency_pk(record))),
                            (SK.to_owned(), s(IDEMPOTENCY_SK)),
                        ]);
                        self.get_item(key).await?
                    }
                };
                // Gone between the write and the read (expired and swept):
                // the next attempt may take the key.
                let Some(stored) = stored else { continue };
                return match self.replay(record, &stored).await? {
                    // The record names this very order: an earlier attempt
                    // of this request committed and its answer was lost.
                    CreateOutcome::Replayed(original) if same_placement(&original, order) => {
                        Ok(CreateOutcome::Created)
                    }
                    outcome => Ok(outcome),
                };
            }
            if code(0) == "ConditionalCheckFailed" {
                let stored = reasons.first().and_then(|r| r.item()).cloned();
                return self.settle_create(order, stored).await;
            }
            let conflicted = reasons
                .iter()
                .any(|r| r.code() == Some("TransactionConflict"));
            if !conflicted {
                return Err(classify("TransactWriteItems", err));
            }
            // Another transaction on the same key is in flight: once it
            // commits, the next attempt sees its record and replays.
            let backoff = Duration::from_millis(10 * u64::from(attempt));
            tokio::time::sleep(backoff).await;
        }
        Err(RepositoryError::Unavailable(
            "transactions on this idempotency key kept conflicting".into(),
        ))
    }

    /// The key is taken: the same request replays, another is refused.
    async fn replay(
        &self,
        record: &IdempotencyRecord,
        stored: &Item,
    ) -> Result<CreateOutcome, RepositoryError> {
        let (hash, original) = item::idempotency_from_item(stored)?;
        if hash != record.request_hash {
            return Err(RepositoryError::IdempotencyKeyReused);
        }
        let order = self.get(&original).await?.ok_or_else(|| {
            corrupt(format!(
                "idempotency record names {original}, which is not stored"
            ))
        })?;
        Ok(CreateOutcome::Replayed(order))
    }

    /// Reads items by key with strongly consistent reads, retrying what
    /// DynamoDB leaves unprocessed.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, RepositoryError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| RepositoryError::Unexpected(Box::new(e)))?,
            );
            for attempt in 0..TRANSACTION_ATTEMPTS {
                let Some(request) = pending.take() else { break };
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                }
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| classify("BatchGetItem", e))?;
                if let Some(mut responses) = output.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
            }
            if pending.is_some() {
                return Err(RepositoryError::Unavailable(
                    "BatchGetItem kept leaving keys unprocessed".into(),
                ));
            }
        }
        Ok(found)
    }
}

/// Whether `stored` is `order` as this request placed it (what a later
/// change alters, status and version, aside).
fn same_placement(stored: &Order, order: &Order) -> bool {
    stored.id() == order.id()
        && stored.customer_id() == order.customer_id()
        && stored.items() == order.items()
        && stored.created_at() == order.created_at()
}

/// A write id no other update has: a random key of this process and a
/// counter.
fn next_write_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PROCESS: OnceLock<u64> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let process = *PROCESS.get_or_init(|| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        hasher.write_u32(std::process::id());
        hasher.finish()
    });
    format!("{process:016x}-{}", COUNT.fetch_add(1, Ordering::Relaxed))
}

fn is_conditional_failure(err: &SdkError<UpdateItemError, impl std::fmt::Debug>) -> bool {
    matches!(
        err,
        SdkError::ServiceError(e) if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_))
    )
}

#[async_trait]
impl OrderRepository for DynamoOrderRepository {
    async fn create(
        &self,
        order: &Order,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<CreateOutcome, RepositoryError> {
        match idempotency {
            None => self.create_plain(order).await,
            Some(record) => self.create_with_key(order, &record).await,
        }
    }

    async fn get(&self, id: &OrderId) -> Result<Option<Order>, RepositoryError> {
        self.get_item(order_key(id))
            .await?
            .map(|item| order_from_item(&item))
            .transpose()
    }

    async fn update(
        &self,
        order: &Order,
        expected: Version,
        mark: Option<EventKind>,
    ) -> Result<(), RepositoryError> {
        let write_id = next_write_id();
        let mut expression =
            "SET #status = :status, #updated = :updated, #version = :version, #writeId = :writeId"
                .to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(order_key(order.id())))
            .condition_expression("attribute_exists(PK) AND #version = :expected")
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#updated", UPDATED_AT)
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_values(":status", s(order.status().as_str()))
            .expression_attribute_values(":updated", s(order.updated_at().to_rfc3339()))
            .expression_attribute_values(":version", n(order.version().get()))
            .expression_attribute_values(":expected", n(expected.get()))
            .expression_attribute_names("#writeId", WRITE_ID)
            .expression_attribute_values(":writeId", s(write_id.clone()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(cancellation) = order.cancellation() {
            expression.push_str(", #cancelledBy = :cancelledBy, #cancelledAt = :cancelledAt");
            request = request
                .expression_attribute_names("#cancelledBy", CANCELLED_BY)
                .expression_attribute_names("#cancelledAt", CANCELLED_AT)
                .expression_attribute_values(":cancelledBy", s(item::caller_text(&cancellation.by)))
                .expression_attribute_values(":cancelledAt", s(cancellation.at.to_rfc3339()));
        }
        if let Some(kind) = mark {
            expression.push_str(
                ", #mark = :marked, #gsi2pk = :outbox, #gsi2sk = if_not_exists(#gsi2sk, :outboxSk)",
            );
            request = request
                .expression_attribute_names("#mark", mark_attribute(kind))
                .expression_attribute_names("#gsi2pk", GSI2PK)
                .expression_attribute_names("#gsi2sk", GSI2SK)
                .expression_attribute_values(":marked", s(order.updated_at().to_rfc3339()))
                .expression_attribute_values(":outbox", s(item::outbox_pk(order.id())))
                .expression_attribute_values(
                    ":outboxSk",
                    s(item::listing_sk(order.updated_at(), order.id())),
                );
        }
        match request.update_expression(expression).send().await {
            Ok(_) => Ok(()),
            Err(err) if is_conditional_failure(&err) => {
                let old = match &err {
                    SdkError::ServiceError(e) => match e.err() {
                        UpdateItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
                        _ => None,
                    },
                    _ => None,
                };
                // Without the old item in the error, one read tells apart.
                let old = match old {
                    Some(item) => Some(item),
                    None => self.get_item(order_key(order.id())).await?,
                };
                match old {
                    None => Err(RepositoryError::NotFound),
                    // An earlier attempt of this update committed (its
                    // answer was lost and the SDK retried): done. Only the
                    // write id tells it from another update that wrote the
                    // same content.
                    Some(stored) if stored.get(WRITE_ID) == Some(&s(write_id.clone())) => {
                        tracing::info!(order_id = %order.id(), "the update had committed on an earlier attempt");
                        Ok(())
                    }
                    Some(_) => Err(RepositoryError::VersionConflict),
                }
            }
            Err(err) => Err(classify("UpdateItem", err)),
        }
    }

    async fn list_by_customer(
        &self,
        customer: &CustomerId,
        limit: PageLimit,
        after: Option<ListPosition>,
    ) -> Result<OrderPage, RepositoryError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1.name)
            .scan_index_forward(false)
            .limit(i32::try_from(limit.get()).unwrap_or(i32::MAX))
            .expression_attribute_names("#pk", GSI1PK)
            .expression_attribute_values(":pk", s(item::customer_pk(customer)));
        request = match &after {
            None => request.key_condition_expression("#pk = :pk"),
            Some(position) => request
                .key_condition_expression("#pk = :pk AND #sk < :after")
                .expression_attribute_names("#sk", GSI1SK)
                .expression_attribute_values(
                    ":after",
                    s(item::listing_sk(position.created_at, &position.order_id)),
                ),
        };
        let output = request.send().await.map_err(|e| classify("Query", e))?;
        let orders = output
            .items()
            .iter()
            .map(order_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next = match (output.last_evaluated_key.is_some(), orders.last()) {
            (true, Some(last)) => Some(ListPosition {
                created_at: last.created_at(),
                order_id: last.id().clone(),
            }),
            _ => None,
        };
        Ok(OrderPage { orders, next })
    }

    async fn pending_events(
        &self,
        marked_before: Timestamp,
        limit: usize,
    ) -> Result<PendingEvents, RepositoryError> {
        let mut found = PendingEvents::default();
        if limit == 0 {
            return Ok(found);
        }
        // '$' sorts right after '#', so this bound takes every mark made at
        // or before the cutoff, whatever the order id.
        let upper = format!("{}$", marked_before.to_rfc3339());
        let mut cleaned = 0usize;
        // Every shard, each paged until `limit` events are found in it or
        // it ends (entries without a mark, or with only younger ones, and
        // damaged entries do not count, so no number of them ahead of a
        // marked order can hide it); the oldest `limit` of all are kept.
        for partition in item::outbox_partitions() {
            self.scan_outbox(
                &partition,
                &upper,
                marked_before,
                limit,
                &mut found,
                &mut cleaned,
            )
            .await?;
        }
        if cleaned > 0 {
            tracing::info!(
                cleaned,
                "outbox entries without a mark taken out of the index"
            );
        }
        found.events.sort_by(|a, b| {
            (a.marked_at, a.order.id(), a.kind).cmp(&(b.marked_at, b.order.id(), b.kind))
        });
        found.events.truncate(limit);
        Ok(found)
    }

    async fn clear_mark(&self, id: &OrderId, kind: EventKind) -> Result<(), RepositoryError> {
        self.clear_mark_of(id, kind).await
    }
}

impl DynamoOrderRepository {
    /// One outbox partition, paged until `limit` of its events are found
    /// or it ends.
    async fn scan_outbox(
        &self,
        partition: &str,
        upper: &str,
        marked_before: Timestamp,
        limit: usize,
        found: &mut PendingEvents,
        cleaned: &mut usize,
    ) -> Result<(), RepositoryError> {
        let mut start: Option<Item> = None;
        let mut in_partition = 0usize;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI2.name)
                .key_condition_expression("#pk = :outbox AND #sk < :upper")
                .expression_attribute_names("#pk", GSI2PK)
                .expression_attribute_names("#sk", GSI2SK)
                .expression_attribute_values(":outbox", s(partition))
                .expression_attribute_values(":upper", s(upper))
                .projection_expression("PK, SK")
                .limit(i32::try_from(limit.clamp(25, 1_000)).unwrap_or(1_000))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("Query", e))?;
            let keys: Vec<Item> = output
                .items
                .unwrap_or_default()
                .into_iter()
                .filter_map(|item| {
                    let pk = item.get(PK)?.clone();
                    let sk = item.get(SK)?.clone();
                    Some(HashMap::from([(PK.to_owned(), pk), (SK.to_owned(), sk)]))
                })
                .collect();
            // The index is eventually consistent: re-read each order so a
            // mark cleared a moment ago is not published again.
            for item in self.batch_get(keys).await? {
                let read =
                    item::marks_of(&item).and_then(|marks| Ok((order_from_item(&item)?, marks)));
                let (order, marks) = match read {
                    Ok(read) => read,
                    Err(err) => {
                        let why = std::error::Error::source(&err)
                            .map_or_else(|| err.to_string(), ToString::to_string);
                        found
                            .corrupt
                            .push(format!("{}: {why}", item::key_text(&item)));
                        continue;
                    }
                };
                if marks.is_empty() {
                    // A leftover of an interrupted clear: take it out of
                    // the index so later runs do not meet it again.
                    self.unlist(order.id(), None).await?;
                    *cleaned += 1;
                    continue;
                }
                for (kind, marked_at) in marks {
                    if marked_at <= marked_before {
                        in_partition += 1;
                        found.events.push(PendingEvent {
                            order: order.clone(),
                            kind,
                            marked_at,
                        });
                    }
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() || in_partition >= limit {
                return Ok(());
            }
        }
    }

    async fn clear_mark_of(&self, id: &OrderId, kind: EventKind) -> Result<(), RepositoryError> {
        // The last mark goes with the index keys in one conditional write;
        // when another mark remains, only this one goes (the order stays
        // listed for the other).
        if self.unlist(id, Some(kind)).await? {
            return Ok(());
        }
        // The order is gone, or another mark is on it.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(order_key(id)))
            .update_expression("REMOVE #mark")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#mark", mark_attribute(kind))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            // The other mark was cleared in between: this one was the last.
            Ok(output)
                if output
                    .attributes
                    .as_ref()
                    .is_some_and(|a| item::marks_of(a).is_ok_and(|marks| marks.is_empty())) =>
            {
                self.unlist(id, None).await.map(|_| ())
            }
            Ok(_) => Ok(()),
            Err(err) if is_conditional_failure(&err) => Ok(()),
            Err(err) => Err(classify("UpdateItem", err)),
        }
    }
}

impl DynamoOrderRepository {
    /// Takes the order out of the outbox index, removing the mark of
    /// `clearing` in the same write, if no other mark is on it (a mark
    /// added in between keeps it listed: the condition checks). `Ok(false)`
    /// when the condition failed: another mark, or no order.
    async fn unlist(
        &self,
        id: &OrderId,
        clearing: Option<EventKind>,
    ) -> Result<bool, RepositoryError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(order_key(id)))
            .expression_attribute_names("#gsi2pk", GSI2PK)
            .expression_attribute_names("#gsi2sk", GSI2SK);
        request = match clearing {
            Some(kind) => request
                .update_expression("REMOVE #mark, #gsi2pk, #gsi2sk")
                .expression_attribute_names("#mark", mark_attribute(kind)),
            None => request.update_expression("REMOVE #gsi2pk, #gsi2sk"),
        };
        let mut condition = "attribute_exists(PK)".to_owned();
        for (i, other) in EventKind::ALL
            .into_iter()
            .filter(|k| Some(*k) != clearing)
            .enumerate()
        {
            let name = format!("#other{i}");
            condition.push_str(&format!(" AND attribute_not_exists({name})"));
            request = request.expression_attribute_names(name, mark_attribute(other));
        }
        match request.condition_expression(condition).send().await {
            Ok(_) => Ok(true),
            Err(err) if is_conditional_failure(&err) => Ok(false),
            Err(err) => Err(classify("UpdateItem", err)),
        }
    }
}

#[cfg(test)]
#[path = "repository_tests.rs"]
mod tests;
