//! `cargo xtask test-load`: a bounded load against the local server with
//! DynamoDB Local. Every order is read back; stored orders are counted in
//! the table, published events in the server's tally, confirmations by
//! reading each order. Any 5xx, missing or duplicated order or event fails.

#![allow(clippy::print_stdout)]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use domain::EventKind;
use reliability::{bounded, client, fresh_table, histogram, percentile_ms, place, start_server};
use toolkit::local::Events;

const ORDERS: usize = 2_000;
const CONCURRENCY: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_orders_at_fifty_concurrent_are_each_stored_published_and_confirmed_once() {
    let dynamodb = testkit::dynamodb::shared();
    let table = fresh_table("load");
    let server = start_server(dynamodb.endpoint(), &table, Events::Local).await;
    let base = server.url();
    let http = client();

    let started = Instant::now();
    let answers = {
        let (http, base) = (http.clone(), base.clone());
        bounded(ORDERS, CONCURRENCY, move |i| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                // 40 customers, 25 products: listing and GSI pages get
                // real use, and keys collide across requests.
                let body = reliability::order_body(
                    &format!("LOAD-C{:02}", i % 40),
                    &format!("PROD-{:02}", i % 25),
                );
                place(&http, &base, &body, None).await
            }
        })
        .await
    };
    let placing = started.elapsed();
    let by_status = histogram(answers.iter().map(|a| a.status));
    let latencies: Vec<Duration> = answers.iter().map(|a| a.elapsed).collect();
    println!(
        "load: {ORDERS} POST /orders at {CONCURRENCY} concurrent in {:.2} s ({:.0} req/s); p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; by status {by_status:?}",
        placing.as_secs_f64(),
        ORDERS as f64 / placing.as_secs_f64(),
        percentile_ms(&latencies, 50.0),
        percentile_ms(&latencies, 99.0),
        percentile_ms(&latencies, 100.0),
    );
    let server_errors = answers.iter().filter(|a| a.status >= 500).count();
    assert_eq!(server_errors, 0, "5xx answers: {by_status:?}");
    assert_eq!(by_status.get(&201), Some(&ORDERS), "{by_status:?}");

    let placed: Vec<String> = answers
        .iter()
        .map(|a| {
            a.order_id()
                .unwrap_or_else(|| panic!("no orderId in {}", a.body))
        })
        .collect();
    let distinct: HashSet<&String> = placed.iter().collect();
    assert_eq!(distinct.len(), ORDERS, "an order id was given twice");

    // Stored: counted in the table itself.
    let stored = reliability::stored_order_ids(&dynamodb.client(), &table).await;
    let stored_set: HashSet<&String> = stored.iter().collect();
    assert_eq!(stored.len(), ORDERS, "stored orders");
    assert_eq!(
        stored_set, distinct,
        "stored orders are not the placed ones"
    );
    // The outbox index's shard of each stored order (its two index writes
    // went there): spread over every shard, none hot.
    let mut per_shard = vec![0usize; adapters_dynamo::OUTBOX_SHARDS as usize];
    for id in &stored {
        let id = domain::OrderId::parse(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        per_shard[adapters_dynamo::outbox_shard(&id) as usize] += 1;
    }
    println!("load: orders per outbox shard (OUTBOX#0..15): {per_shard:?}");
    let fair = ORDERS / per_shard.len();
    assert!(
        per_shard.iter().all(|n| *n > fair / 2 && *n < fair * 2),
        "{per_shard:?}"
    );

    // Confirmed: every order read back over HTTP until confirmed.
    let statuses = reliability::statuses_once_settled(
        &http,
        &base,
        &placed,
        "confirmed",
        Duration::from_secs(60),
    )
    .await;
    let mut by_order_status: HashMap<&str, usize> = HashMap::new();
    for status in &statuses {
        *by_order_status.entry(status.as_str()).or_default() += 1;
    }
    let confirmed = by_order_status.get("confirmed").copied().unwrap_or(0);

    // Published: the server's tally, one OrderPlaced per order.
    let published = server.published();
    let placed_events: Vec<_> = published
        .iter()
        .filter(|(kind, _, _)| *kind == EventKind::OrderPlaced)
        .collect();
    let published_once = placed_events.iter().filter(|(_, _, n)| *n == 1).count();
    let duplicated: Vec<_> = placed_events.iter().filter(|(_, _, n)| *n > 1).collect();
    let published_ids: HashSet<&String> = placed_events.iter().map(|(_, id, _)| id).collect();
    println!(
        "load: requests sent {ORDERS}, orders stored {}, OrderPlaced events published {} (each once: {published_once}), orders confirmed {confirmed}, 5xx {server_errors}",
        stored.len(),
        placed_events.len(),
    );
    assert!(
        duplicated.is_empty(),
        "published more than once: {duplicated:?}"
    );
    assert_eq!(
        published_ids, distinct,
        "published events are not one per order"
    );
    assert_eq!(confirmed, ORDERS, "order statuses: {by_order_status:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_places_with_one_idempotency_key_store_one_order() {
    let dynamodb = testkit::dynamodb::shared();
    let table = fresh_table("load-key");
    let server = start_server(dynamodb.endpoint(), &table, Events::Local).await;
    let base = server.url();
    let http = client();
    let key = format!("load-key-{}", &table[table.len() - 12..]);

    let answers = {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        bounded(CONCURRENCY, CONCURRENCY, move |_| {
            let (http, base, key) = (http.clone(), base.clone(), key.clone());
            async move {
                let body = reliability::order_body("LOAD-ONE-KEY", "PROD-A");
                place(&http, &base, &body, Some(&key)).await
            }
        })
        .await
    };
    let by_status = histogram(answers.iter().map(|a| a.status));
    let ids: HashSet<String> = answers.iter().filter_map(|a| a.order_id()).collect();
    let stored = reliability::stored_order_ids(&dynamodb.client(), &table).await;
    // Let the one delivery land, then count what was published.
    let statuses = reliability::statuses_once_settled(
        &http,
        &base,
        &stored,
        "confirmed",
        Duration::from_secs(30),
    )
    .await;
    let published = server.published();
    println!(
        "load: {CONCURRENCY} concurrent POST /orders with one Idempotency-Key: by status {by_status:?}, distinct order ids {}, orders stored {}, events published {}, confirmed {}",
        ids.len(),
        stored.len(),
        published.iter().map(|(_, _, n)| *n as usize).sum::<usize>(),
        statuses.iter().filter(|s| *s == "confirmed").count(),
    );
    assert_eq!(by_status.get(&201), Some(&CONCURRENCY), "{by_status:?}");
    assert_eq!(ids.len(), 1, "one key gave several orders: {ids:?}");
    assert_eq!(stored.len(), 1, "stored: {stored:?}");
    assert!(ids.contains(&stored[0]));
    assert_eq!(
        published,
        vec![(EventKind::OrderPlaced, stored[0].clone(), 1)],
        "one OrderPlaced, once"
    );
    assert_eq!(statuses, ["confirmed"]);
    server.stop().await;
}
