//! The outbox on DynamoDB Local when it holds what it should not: entries
//! left without a mark, damaged entries, and orders with two marks. The
//! relay must find every marked order however much of that comes first.

use std::sync::Arc;
use std::time::Duration;

use adapters_dynamo::DynamoOrderRepository;
use adapters_memory::InMemoryEventPublisher;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::{EventKind, OrderRepository, Version};
use testkit::orders::{at, placed};

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// How many entries each outbox partition holds now (`OUTBOX#0` to
/// `OUTBOX#15`, then the unsharded `OUTBOX` of older orders).
async fn per_partition(client: &Client, table: &str) -> Vec<usize> {
    let mut counts = Vec::new();
    let partitions = (0..adapters_dynamo::OUTBOX_SHARDS)
        .map(|n| format!("OUTBOX#{n}"))
        .chain(["OUTBOX".to_owned()]);
    for partition in partitions {
        let output = client
            .query()
            .table_name(table)
            .index_name("GSI2")
            .key_condition_expression("GSI2PK = :outbox")
            .expression_attribute_values(":outbox", s(&partition))
            .send()
            .await
            .expect("query GSI2");
        counts.push(output.items().len());
    }
    counts
}

/// How many entries the outbox index holds now.
async fn listed(client: &Client, table: &str) -> usize {
    per_partition(client, table).await.iter().sum()
}

/// The outbox index is sharded (one partition key would take every order's
/// two index writes): 64 marked orders land on many shards, in the shard
/// their id names, and the relay, reading every shard, publishes each
/// once; an entry an older version left under the unsharded key is
/// published too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_spread_over_the_outbox_shards_and_the_relay_publishes_each_once() {
    let (client, table) = testkit::dynamodb::fresh_table().await;
    let repo = Arc::new(DynamoOrderRepository::new(client.clone(), table.clone()));
    let mut ids = Vec::new();
    for i in 0..64 {
        let order = placed("CUST-SHARDS", -60_000 + i);
        repo.create(&order, None).await.expect("create");
        ids.push(order.id().clone());
    }
    // One order as the unsharded index listed it.
    let legacy = placed("CUST-SHARDS", -70_000);
    repo.create(&legacy, None).await.expect("create");
    client
        .update_item()
        .table_name(&table)
        .key("PK", s(&format!("ORDER#{}", legacy.id())))
        .key("SK", s("METADATA"))
        .update_expression("SET GSI2PK = :outbox")
        .expression_attribute_values(":outbox", s("OUTBOX"))
        .send()
        .await
        .expect("move to the unsharded key");
    let counts = per_partition(&client, &table).await;
    let shards_used = counts[..counts.len() - 1]
        .iter()
        .filter(|c| **c > 0)
        .count();
    assert!(
        shards_used >= 12,
        "64 orders on {shards_used} of 16 shards: {counts:?}"
    );
    assert_eq!(counts[counts.len() - 1], 1, "{counts:?}");
    for (shard, count) in counts.iter().enumerate().take(16) {
        let expected = ids
            .iter()
            .filter(|id| adapters_dynamo::outbox_shard(id) as usize == shard)
            .count();
        assert_eq!(*count, expected, "shard {shard}");
    }

    let events = Arc::new(InMemoryEventPublisher::new());
    let service = testkit::orders::service(repo.clone(), events.clone());
    let report = service.relay(Duration::ZERO, 100).await.expect("relay");
    assert_eq!((report.published, report.failed), (65, 0), "{report:?}");
    let again = service.relay(Duration::ZERO, 100).await.expect("relay");
    assert_eq!(again.published, 0, "{again:?}");
    let mut published: Vec<String> = events
        .published()
        .iter()
        .map(|e| e.order_id.to_string())
        .collect();
    published.sort();
    published.dedup();
    assert_eq!(published.len(), 65, "each once");
    assert_eq!(listed(&client, &table).await, 0);
}

/// Removes the order's `OrderPlaced` mark and nothing else: what the
/// former two-write clear left when its second write failed.
async fn unmark_only(client: &Client, table: &str, id: &str) {
    client
        .update_item()
        .table_name(table)
        .key("PK", s(&format!("ORDER#{id}")))
        .key("SK", s("METADATA"))
        .update_expression("REMOVE outboxOrderPlaced")
        .send()
        .await
        .expect("remove the mark");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marked_order_behind_a_hundred_unmarked_leftovers_is_published_and_they_are_cleaned() {
    let (client, table) = testkit::dynamodb::fresh_table().await;
    let repo = Arc::new(DynamoOrderRepository::new(client.clone(), table.clone()));
    for i in 0..100 {
        let order = placed("CUST-LEFTOVER", -100_000 + i);
        repo.create(&order, None).await.expect("create");
        unmark_only(&client, &table, order.id().as_str()).await;
    }
    let marked = placed("CUST-MARKED", 0);
    repo.create(&marked, None).await.expect("create");
    assert_eq!(listed(&client, &table).await, 101);

    let events = Arc::new(InMemoryEventPublisher::new());
    let service = testkit::orders::service(repo.clone(), events.clone());
    // The consumer's batch: with 100 leftovers at the head of the index, a
    // scan that stopped at 100 keys published nothing, run after run.
    let report = service.relay(Duration::ZERO, 100).await.expect("relay");
    assert_eq!((report.published, report.failed), (1, 0), "{report:?}");
    let published = events.published();
    assert_eq!(published.len(), 1);
    assert_eq!(&published[0].order_id, marked.id());
    assert_eq!(listed(&client, &table).await, 0, "leftovers not cleaned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_entry_is_skipped_and_named_and_the_orders_behind_it_are_published() {
    let (client, table) = testkit::dynamodb::fresh_table().await;
    client
        .put_item()
        .table_name(&table)
        .item("PK", s("ORDER#ORD-DAMAGED"))
        .item("SK", s("METADATA"))
        .item("GSI2PK", s("OUTBOX"))
        .item("GSI2SK", s("2000-01-01T00:00:00.000Z#ORD-DAMAGED"))
        .item("outboxOrderPlaced", s("2000-01-01T00:00:00.000Z"))
        .send()
        .await
        .expect("put the damaged item");
    let repo = Arc::new(DynamoOrderRepository::new(client.clone(), table.clone()));
    let order = placed("CUST-BEHIND", 0);
    repo.create(&order, None).await.expect("create");

    let events = Arc::new(InMemoryEventPublisher::new());
    let service = testkit::orders::service(repo.clone(), events.clone());
    for run in 0..2 {
        let report = service.relay(Duration::ZERO, 100).await.expect("relay");
        assert_eq!(report.published, usize::from(run == 0), "run {run}");
        assert_eq!(report.corrupt.len(), 1, "{report:?}");
        assert!(
            report.corrupt[0].starts_with("ORDER#ORD-DAMAGED/METADATA: "),
            "{:?}",
            report.corrupt
        );
    }
    assert_eq!(events.published().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_mark_cleared_takes_the_order_out_of_the_index_and_an_earlier_one_does_not() {
    let (client, table) = testkit::dynamodb::fresh_table().await;
    let repo = DynamoOrderRepository::new(client.clone(), table.clone());
    let mut order = placed("CUST-TWO-MARKS", 0);
    repo.create(&order, None).await.expect("create");
    order
        .cancel(&testkit::orders::staff(), at(10))
        .expect("cancel");
    repo.update(&order, Version::INITIAL, Some(EventKind::OrderCancelled))
        .await
        .expect("cancel with its mark");

    repo.clear_mark(order.id(), EventKind::OrderPlaced)
        .await
        .expect("clear one");
    assert_eq!(listed(&client, &table).await, 1, "one mark is left");
    let pending = repo.pending_events(at(1_000), 10).await.expect("pending");
    assert_eq!(pending.events.len(), 1);
    assert_eq!(pending.events[0].kind, EventKind::OrderCancelled);

    repo.clear_mark(order.id(), EventKind::OrderCancelled)
        .await
        .expect("clear the last");
    assert_eq!(listed(&client, &table).await, 0);
    let item = client
        .get_item()
        .table_name(&table)
        .key("PK", s(&format!("ORDER#{}", order.id())))
        .key("SK", s("METADATA"))
        .send()
        .await
        .expect("get")
        .item
        .expect("the order is stored");
    for gone in [
        "GSI2PK",
        "GSI2SK",
        "outboxOrderPlaced",
        "outboxOrderCancelled",
    ] {
        assert!(!item.contains_key(gone), "{gone} is still on the item");
    }
    assert_eq!(item["version"], AttributeValue::N("2".into()));
}
