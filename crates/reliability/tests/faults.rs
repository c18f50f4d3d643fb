//! `cargo xtask test-faults`: the local server with DynamoDB Local and
//! moto, while one of them stops answering. Each case is asserted:
//! answers within fn-api's timeout, 503 with `Retry-After` and no internal
//! detail while the store is down, recovery without a restart, nothing
//! lost and nothing done twice.
//!
//! The cases run one at a time (`--test-threads 1`): one pauses a
//! DynamoDB Local of its own.

#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters_dynamo::DynamoOrderRepository;
use adapters_eventbridge::{Consumer, EventBridgePublisher, Outcome};
use adapters_system::{SystemClock, UlidIdGenerator};
use domain::{EventKind, OrderService, ServiceConfig};
use reliability::{
    FUNCTION_TIMEOUT, Proxy, ProxyMode, bounded, cancel, client, fresh_table, get_order, histogram,
    leaks, order_body, place, start_server,
};
use serde_json::{Value, json};
use testkit::dynamodb::{DynamoDbLocal, ProviderConfig};
use testkit::moto::QueuedBus;
use toolkit::local::Events;

fn socket_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// fn-events as deployed: the DynamoDB store and the bus at `bus_url`,
/// with the relay taking every marked order (no minimum age).
fn events_function(dynamodb: &str, table: &str, bus_url: &str, bus: &str) -> Consumer {
    let service = OrderService::new(
        Arc::new(DynamoOrderRepository::new(
            testkit::dynamodb::client_for(dynamodb),
            table,
        )),
        Arc::new(EventBridgePublisher::new(
            testkit::moto::eventbridge_client(bus_url),
            bus,
        )),
        Arc::new(SystemClock),
        Arc::new(UlidIdGenerator::new()),
        ServiceConfig::new(testkit::orders::cursor_key()),
    );
    Consumer::new(service).with_relay_min_age(Duration::ZERO)
}

/// The local server on DynamoDB Local, publishing to a bus in moto through
/// a proxy that can stop answering.
struct BusCase {
    dynamodb: &'static DynamoDbLocal,
    moto: &'static testkit::moto::Moto,
    bus: QueuedBus,
    proxy: Proxy,
    table: String,
    server: toolkit::local::LocalServer,
    base: String,
    http: reqwest::Client,
}

async fn bus_case(tag: &str) -> BusCase {
    let dynamodb = testkit::dynamodb::shared();
    let moto = testkit::moto::shared();
    let bus = QueuedBus::create(moto.endpoint()).await;
    let proxy = Proxy::start(socket_of(moto.endpoint())).await;
    let table = fresh_table(tag);
    let server = start_server(
        dynamodb.endpoint(),
        &table,
        Events::EventBridge {
            endpoint: proxy.url(),
            bus: bus.name.clone(),
        },
    )
    .await;
    let base = server.url();
    BusCase {
        dynamodb,
        moto,
        bus,
        proxy,
        table,
        server,
        base,
        http: client(),
    }
}

/// `count` one-item orders of `customer` (products `P0`, `P1`, …), at
/// most `concurrency` at a time, without keys.
async fn place_many(
    http: &reqwest::Client,
    base: &str,
    count: usize,
    concurrency: usize,
    customer: &'static str,
) -> Vec<reliability::Answer> {
    let (http, base) = (http.clone(), base.to_owned());
    bounded(count, concurrency, move |i| {
        let (http, base) = (http.clone(), base.clone());
        async move { place(&http, &base, &order_body(customer, &format!("P{i}")), None).await }
    })
    .await
}

/// How many of `ids` read back `confirmed` (waiting up to 10 s for it).
async fn confirmed_among(http: &reqwest::Client, base: &str, ids: &HashSet<String>) -> usize {
    let ids: Vec<String> = ids.iter().cloned().collect();
    reliability::statuses_once_settled(http, base, &ids, "confirmed", Duration::from_secs(10))
        .await
        .iter()
        .filter(|s| *s == "confirmed")
        .count()
}

fn scheduled() -> Value {
    json!({"version": "0", "id": "relay", "source": "aws.events",
           "detail-type": "Scheduled Event", "detail": {}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_stopped_mid_run_gives_503s_in_time_then_the_service_recovers() {
    // A DynamoDB Local of this case's own: it is the one that stops.
    let mut config = ProviderConfig::from_env();
    config.endpoint = None;
    let dynamodb = tokio::task::spawn_blocking(move || DynamoDbLocal::start(&config))
        .await
        .expect("start")
        .unwrap_or_else(|e| panic!("{e}"));
    let table = fresh_table("faults-store");
    let server = start_server(dynamodb.endpoint(), &table, Events::Local).await;
    let base = server.url();
    let http = client();

    let mut before = Vec::new();
    for i in 0..20 {
        let answer = place(
            &http,
            &base,
            &order_body("FAULT-STORE", &format!("P{i}")),
            None,
        )
        .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        before.push(answer.order_id().expect("orderId"));
    }

    dynamodb.pause().unwrap_or_else(|e| panic!("{e}"));
    let stopped_at = Instant::now();
    // 20 places (each with its key, to retry later) and 20 reads at once.
    let during = {
        let (http, base, before) = (http.clone(), base.clone(), before.clone());
        bounded(40, 40, move |i| {
            let (http, base, before) = (http.clone(), base.clone(), before.clone());
            async move {
                if i % 2 == 0 {
                    let key = format!("outage-{i}");
                    let body = order_body("FAULT-OUTAGE", &format!("P{i}"));
                    (
                        Some((key.clone(), body.clone())),
                        place(&http, &base, &body, Some(&key)).await,
                    )
                } else {
                    (None, get_order(&http, &base, &before[i / 2]).await)
                }
            }
        })
        .await
    };
    let outage_took = stopped_at.elapsed();
    let by_status = histogram(during.iter().map(|(_, a)| a.status));
    let slowest = during
        .iter()
        .map(|(_, a)| a.elapsed)
        .max()
        .unwrap_or_default();
    println!(
        "faults/dynamodb: DynamoDB Local paused; 40 requests (20 POST, 20 GET) answered by status {by_status:?}, slowest {:.2} s (fn-api timeout {} s), all within {:.2} s",
        slowest.as_secs_f64(),
        FUNCTION_TIMEOUT.as_secs(),
        outage_took.as_secs_f64()
    );
    for (_, answer) in &during {
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert!(answer.elapsed < FUNCTION_TIMEOUT, "{:?}", answer.elapsed);
        let retry_after: u64 = answer
            .retry_after
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("503 without a Retry-After in seconds: {answer:?}"));
        assert!(retry_after >= 1);
        let problem = answer.json();
        assert_eq!(problem["status"], 503, "{}", answer.body);
        assert!(
            problem["requestId"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );
        assert_eq!(leaks(&answer.body, &table), None, "{}", answer.body);
    }

    dynamodb.resume().unwrap_or_else(|e| panic!("{e}"));
    let resumed_at = Instant::now();
    // The same server, with no restart: reads come back...
    let mut first_ok = None;
    while resumed_at.elapsed() < Duration::from_secs(30) {
        if get_order(&http, &base, &before[0]).await.status == 200 {
            first_ok = Some(resumed_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_ok = first_ok.expect("no recovery within 30 s of the restart");
    for id in &before {
        assert_eq!(get_order(&http, &base, id).await.status, 200, "{id}");
    }
    // ...and each refused place, retried with its key, makes one order,
    // whether or not the first attempt reached the store before it froze.
    let mut retried = Vec::new();
    for (key, body) in during.iter().filter_map(|(k, _)| k.clone()) {
        let answer = place(&http, &base, &body, Some(&key)).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        retried.push(answer.order_id().expect("orderId"));
    }
    let stored = reliability::stored_order_ids(&dynamodb.client(), &table).await;
    println!(
        "faults/dynamodb: DynamoDB Local resumed; first 200 after {:.2} s; 20 earlier orders readable; 20 places retried with their keys gave {} orders; orders stored {} (20 + 20 expected)",
        first_ok.as_secs_f64(),
        retried.iter().collect::<HashSet<_>>().len(),
        stored.len()
    );
    assert_eq!(retried.iter().collect::<HashSet<_>>().len(), 20);
    assert_eq!(stored.len(), 40, "stored: {}", stored.len());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_placed_while_eventbridge_is_unreachable_are_all_published_by_the_relay_once() {
    const ORDERS: usize = 100;
    let BusCase {
        dynamodb,
        bus,
        proxy,
        table,
        server,
        base,
        http,
        ..
    } = bus_case("faults-bus").await;

    // The bus stops answering: connections are accepted, never answered.
    proxy.set(ProxyMode::Hang);
    let started = Instant::now();
    let answers = place_many(&http, &base, ORDERS, 50, "FAULT-BUS").await;
    let by_status = histogram(answers.iter().map(|a| a.status));
    let slowest = answers.iter().map(|a| a.elapsed).max().unwrap_or_default();
    println!(
        "faults/eventbridge: bus unreachable; {ORDERS} POST /orders by status {by_status:?} in {:.2} s, slowest {:.2} s; events published meanwhile {}",
        started.elapsed().as_secs_f64(),
        slowest.as_secs_f64(),
        server.published().len()
    );
    assert_eq!(by_status.get(&201), Some(&ORDERS), "{by_status:?}");
    assert!(slowest < FUNCTION_TIMEOUT, "{slowest:?}");
    assert!(server.published().is_empty(), "{:?}", server.published());
    let placed: HashSet<String> = answers.iter().filter_map(|a| a.order_id()).collect();
    assert_eq!(placed.len(), ORDERS);
    assert!(bus.receive_once().await.is_empty(), "an event got through");

    // The bus is back: fn-events' schedule runs the relay.
    proxy.set(ProxyMode::Pass);
    let fn_events = events_function(dynamodb.endpoint(), &table, &proxy.url(), &bus.name);
    let relayed = fn_events.handle(&scheduled()).await.expect("relay");
    let again = fn_events.handle(&scheduled()).await.expect("second relay");
    let received = bus.received(ORDERS).await;
    let mut per_order: BTreeMap<String, usize> = BTreeMap::new();
    for event in &received {
        assert_eq!(event["detail-type"], "OrderPlaced", "{event}");
        let id = event["detail"]["orderId"]
            .as_str()
            .expect("orderId")
            .to_owned();
        *per_order.entry(id).or_default() += 1;
    }
    println!(
        "faults/eventbridge: bus back; relay: {relayed}; second relay: {again}; events on the bus {}, distinct orders {}",
        received.len(),
        per_order.len()
    );
    assert_eq!(
        relayed,
        Outcome::Relayed {
            published: ORDERS,
            failed: 0,
            skipped: 0
        }
    );
    assert_eq!(
        again,
        Outcome::Relayed {
            published: 0,
            failed: 0,
            skipped: 0
        }
    );
    assert_eq!(received.len(), ORDERS, "each event once");
    assert_eq!(per_order.keys().cloned().collect::<HashSet<_>>(), placed);

    // Each event delivered to fn-events (twice, as at-least-once delivery
    // may): confirmed exactly once.
    let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();
    for event in received.iter().chain(received.iter()) {
        let outcome = fn_events.handle(event).await.expect("handled");
        let name = match outcome {
            Outcome::Confirmed(_) => "confirmed",
            Outcome::AlreadyConfirmed(_) => "already confirmed",
            _ => "other",
        };
        *outcomes.entry(name).or_default() += 1;
    }
    let confirmed = confirmed_among(&http, &base, &placed).await;
    println!(
        "faults/eventbridge: deliveries (each twice) {outcomes:?}; orders confirmed {confirmed}; 5xx 0"
    );
    assert_eq!(outcomes.get("confirmed"), Some(&ORDERS));
    assert_eq!(outcomes.get("already confirmed"), Some(&ORDERS));
    assert_eq!(confirmed, ORDERS);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_and_out_of_order_deliveries_leave_the_right_final_state() {
    let dynamodb = testkit::dynamodb::shared();
    let moto = testkit::moto::shared();
    let bus = QueuedBus::create(moto.endpoint()).await;
    let table = fresh_table("faults-order");
    let server = start_server(
        dynamodb.endpoint(),
        &table,
        Events::EventBridge {
            endpoint: moto.endpoint().to_owned(),
            bus: bus.name.clone(),
        },
    )
    .await;
    let base = server.url();
    let http = client();
    let fn_events = events_function(dynamodb.endpoint(), &table, moto.endpoint(), &bus.name);

    let kept = place(&http, &base, &order_body("FAULT-ORDER", "PROD-K"), None)
        .await
        .order_id()
        .expect("kept");
    let cancelled = place(&http, &base, &order_body("FAULT-ORDER", "PROD-C"), None)
        .await
        .order_id()
        .expect("cancelled");
    let answer = cancel(&http, &base, &cancelled).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // Three events reached the bus: two OrderPlaced, one OrderCancelled.
    let received = bus.received(3).await;
    assert_eq!(received.len(), 3, "{received:?}");
    let find = |kind: EventKind, id: &str| {
        received
            .iter()
            .find(|e| e["detail-type"] == kind.as_str() && e["detail"]["orderId"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} for {id} in {received:?}"))
    };
    let kept_placed = find(EventKind::OrderPlaced, &kept);
    let late_placed = find(EventKind::OrderPlaced, &cancelled);
    let cancel_event = find(EventKind::OrderCancelled, &cancelled);

    // The same OrderPlaced three times at once, then twice more.
    let first = {
        let (consumer, event) = (fn_events.clone(), kept_placed.clone());
        bounded(3, 3, move |_| {
            let (consumer, event) = (consumer.clone(), event.clone());
            async move { consumer.handle(&event).await.expect("handled") }
        })
        .await
    };
    let confirmations = first
        .iter()
        .filter(|o| matches!(o, Outcome::Confirmed(_)))
        .count();
    for _ in 0..2 {
        assert_eq!(
            fn_events.handle(&kept_placed).await.expect("handled"),
            Outcome::AlreadyConfirmed(domain::OrderId::parse(&kept).expect("id"))
        );
    }
    // The cancel's event first, then the late OrderPlaced, twice.
    let on_cancel = fn_events.handle(&cancel_event).await.expect("handled");
    let late = fn_events.handle(&late_placed).await.expect("handled");
    let late_again = fn_events.handle(&late_placed).await.expect("handled");

    let kept_now = get_order(&http, &base, &kept).await.json();
    let cancelled_now = get_order(&http, &base, &cancelled).await.json();
    println!(
        "faults/ordering: OrderPlaced x5 for one order: {confirmations} confirmation(s), final status {}; OrderCancelled then a late OrderPlaced x2: {on_cancel} / {late} / {late_again}, final status {}",
        kept_now["status"], cancelled_now["status"]
    );
    assert_eq!(confirmations, 1, "{first:?}");
    assert_eq!(kept_now["status"], "confirmed");
    // The late OrderPlaced speaks of version 1; the order is at 2.
    assert_eq!(
        late,
        Outcome::Superseded {
            id: domain::OrderId::parse(&cancelled).expect("id"),
            event_version: 1,
            applied: 2
        }
    );
    assert_eq!(late_again, late);
    assert_eq!(cancelled_now["status"], "cancelled");
    server.stop().await;
}

/// A write commits but its answer is lost: the proxy holds DynamoDB's
/// answer past the client's attempt timeout (2 s, `client_timeouts`), the
/// SDK sends the request again, and that retry fails its condition on the
/// request's own write. Each is settled by the item the failure returns
/// (ReturnValuesOnConditionCheckFailure): the order is created once and
/// answered 201, the cancel 200; no duplicate, no 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_whose_answers_are_lost_are_settled_by_reading_back_without_duplicates_or_409s() {
    const EACH: usize = 3;
    let dynamodb = testkit::dynamodb::shared();
    let proxy = Proxy::start(socket_of(dynamodb.endpoint())).await;
    let table = fresh_table("faults-ambiguous");
    let server = start_server(&proxy.url(), &table, Events::Local).await;
    let base = server.url();
    let http = client();
    let past_the_attempt_timeout = Duration::from_millis(2_500);

    let mut statuses = Vec::new();
    let mut placed = Vec::new();
    for i in 0..2 * EACH {
        // Half without an Idempotency-Key (one PutItem), half with one (a
        // TransactWriteItems with the key's record).
        let (target, key) = if i < EACH {
            ("DynamoDB_20120810.PutItem", None)
        } else {
            (
                "DynamoDB_20120810.TransactWriteItems",
                Some(format!("lost-{i}")),
            )
        };
        proxy.delay_answers(target, 1, past_the_attempt_timeout);
        let answer = place(
            &http,
            &base,
            &order_body("FAULT-AMBIGUOUS", &format!("P{i}")),
            key.as_deref(),
        )
        .await;
        statuses.push(answer.status);
        placed.extend(answer.order_id());
    }
    for id in placed.iter().take(EACH) {
        proxy.delay_answers("DynamoDB_20120810.UpdateItem", 1, past_the_attempt_timeout);
        statuses.push(cancel(&http, &base, id).await.status);
    }
    let by_status = histogram(statuses.iter().copied());
    let stored = reliability::stored_order_ids(&dynamodb.client(), &table).await;
    let cancelled = {
        let mut n = 0;
        for id in placed.iter().take(EACH) {
            let order = get_order(&http, &base, id).await.json();
            n += usize::from(order["status"] == "cancelled");
        }
        n
    };
    println!(
        "faults/ambiguous: answers held back {}; answers by status {by_status:?}; orders stored {} for {} places (duplicates {}); cancelled {cancelled} of {EACH}",
        proxy.delayed(),
        stored.len(),
        2 * EACH,
        stored.len().saturating_sub(2 * EACH)
    );
    assert_eq!(proxy.delayed(), 3 * EACH, "every write's answer was held");
    assert_eq!(by_status.get(&201), Some(&(2 * EACH)), "{by_status:?}");
    assert_eq!(by_status.get(&200), Some(&EACH), "{by_status:?}");
    assert_eq!(by_status.get(&409), None);
    assert_eq!(stored.len(), 2 * EACH, "duplicates: {stored:?}");
    assert_eq!(cancelled, EACH);
    server.stop().await;
}

/// A consumer that fails every attempt (its table does not exist: a
/// deploy with a wrong TABLE_NAME) for 50 orders. Each event is invoked as
/// Lambda invokes a rule's target asynchronously, with the template's
/// EventInvokeConfig (MaximumRetryAttempts 2: three attempts), then its
/// record goes to the OnFailure destination, the failures queue, here in
/// moto (invocation-async-retain-records). `dlq` lists the 50; a redrive
/// through the consumer on the right table confirms all 50 and empties
/// the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_failing_every_attempt_leaves_50_records_in_the_failures_queue_and_a_redrive_confirms_them()
 {
    use toolkit::functions::{Backend, LocalFunction};
    const ORDERS: usize = 50;
    let BusCase {
        dynamodb,
        moto,
        bus,
        table,
        server,
        base,
        http,
        // Kept alive: the server publishes through it.
        proxy: _proxy,
    } = bus_case("faults-dlq").await;
    let answers = place_many(&http, &base, ORDERS, 10, "FAULT-DLQ").await;
    let placed: HashSet<String> = answers.iter().filter_map(|a| a.order_id()).collect();
    assert_eq!(placed.len(), ORDERS, "{answers:?}");
    let events = bus.received(ORDERS).await;
    assert_eq!(events.len(), ORDERS);

    // The rule's target as the template declares it.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let template =
        toolkit::template::Template::load(&root.join("infra/template.yaml")).expect("template");
    let model = toolkit::model::load(
        &template,
        &toolkit::model::Context {
            region: "us-east-1".to_owned(),
            stack: "faults".to_owned(),
            overrides: BTreeMap::new(),
            table: None,
            ..Default::default()
        },
    )
    .expect("model");
    let spec = model
        .rules
        .iter()
        .flat_map(|rule| &rule.targets)
        .find_map(|target| model.function(target))
        .expect("a rule's target")
        .clone();
    let destination = spec
        .async_config
        .on_failure
        .clone()
        .expect("an OnFailure destination");
    let queue = destination
        .rsplit(':')
        .next()
        .expect("queue name")
        .to_owned();
    let sqs = testkit::moto::sqs_client(moto.endpoint());
    if let Ok(old) = sqs.get_queue_url().queue_name(&queue).send().await {
        let _ = sqs
            .delete_queue()
            .queue_url(old.queue_url.unwrap_or_default())
            .send()
            .await;
    }

    let service_on = |table: &str| {
        OrderService::new(
            Arc::new(DynamoOrderRepository::new(
                testkit::dynamodb::client_for(dynamodb.endpoint()),
                table,
            )),
            Arc::new(EventBridgePublisher::new(
                testkit::moto::eventbridge_client(moto.endpoint()),
                &bus.name,
            )),
            Arc::new(SystemClock),
            Arc::new(UlidIdGenerator::new()),
            ServiceConfig::new(testkit::orders::cursor_key()),
        )
    };
    // The consumer's configuration (it needs no token policy).
    let config = app::Config {
        table: "no-such-table".to_owned(),
        bus: bus.name.clone(),
        warm_up: false,
        cursor_key: None,
        tokens: None,
    };
    let broken =
        app::handler(&spec.binary, &service_on("no-such-table"), &config).expect("composed");
    let local_bus = Arc::new(
        toolkit::bus::Bus::new(
            &[],
            "us-east-1",
            Vec::new(),
            vec![Duration::from_millis(20); 2],
        )
        .expect("bus"),
    );
    local_bus.deliver_failures_to(sqs.clone());
    let function = Arc::new(LocalFunction::new(spec.clone(), Backend::InProcess(broken)));
    let started = Instant::now();
    for event in events {
        local_bus.invoke_async(function.clone(), event, "faults/dlq".to_owned());
    }
    while local_bus.dead_letters().len() < ORDERS && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead = local_bus.dead_letters();
    assert_eq!(dead.len(), ORDERS);
    assert!(
        dead.iter().all(|d| d["deliveredTo"].is_string()),
        "a record did not reach the queue"
    );
    let queue_url = sqs
        .get_queue_url()
        .queue_name(&queue)
        .send()
        .await
        .expect("the failures queue")
        .queue_url
        .unwrap_or_default();
    let listed = toolkit::dlq::list(&sqs, &queue_url).await.expect("list");
    let listed_orders: HashSet<String> = listed.iter().filter_map(|f| f.order_id.clone()).collect();
    let attempts = histogram(
        listed
            .iter()
            .map(|f| u16::try_from(f.attempts.unwrap_or(0)).unwrap_or(u16::MAX)),
    );
    println!(
        "faults/dlq: consumer failing every attempt; {} records in {queue} after {:.1} s, attempts per record {attempts:?}",
        listed.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(listed.len(), ORDERS);
    assert_eq!(listed_orders, placed);
    assert_eq!(attempts.get(&3), Some(&ORDERS), "{attempts:?}");
    assert!(
        listed
            .iter()
            .all(|f| f.condition.as_deref() == Some("RetriesExhausted"))
    );

    // Fixed: the consumer on the right table. Redrive.
    let fixed = app::handler(&spec.binary, &service_on(&table), &config).expect("composed");
    let report = toolkit::dlq::redrive(&sqs, &queue_url, &toolkit::dlq::HandlerTarget(fixed))
        .await
        .expect("redrive");
    let left = toolkit::dlq::list(&sqs, &queue_url).await.expect("list");
    let confirmed = confirmed_among(&http, &base, &placed).await;
    println!(
        "faults/dlq: redrive handled {}, failed {}; queue now {}; orders confirmed {confirmed} of {ORDERS}",
        report.handled.len(),
        report.failed.len(),
        left.len()
    );
    assert_eq!(report.handled.len(), ORDERS, "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(confirmed, ORDERS);
    server.stop().await;
}

/// 100 outbox entries left without a mark (what an interrupted two-write
/// clear used to leave) ahead of one order whose event the bus refused:
/// fn-events' scheduled relay, as deployed, still publishes that one, and
/// takes the leftovers out of the index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_is_not_stalled_by_a_hundred_leftovers_ahead_of_a_marked_order() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let BusCase {
        dynamodb,
        moto,
        bus,
        proxy,
        table,
        server,
        base,
        http,
    } = bus_case("faults-stall").await;
    let store = dynamodb.client();
    let answers = place_many(&http, &base, 100, 10, "FAULT-STALL").await;
    assert!(answers.iter().all(|a| a.status == 201), "{answers:?}");
    let leftovers: Vec<String> = answers.iter().filter_map(|a| a.order_id()).collect();
    for id in &leftovers {
        let [(pk, pk_value), (sk, sk_value)] =
            adapters_dynamo::keys::legacy_outbox_entry(id, "2000-01-01T00:00:00.000Z");
        let mut update = store
            .update_item()
            .table_name(&table)
            .update_expression("SET #pk = :pk, #sk = :sk")
            .expression_attribute_names("#pk", pk)
            .expression_attribute_names("#sk", sk)
            .expression_attribute_values(":pk", AttributeValue::S(pk_value))
            .expression_attribute_values(":sk", AttributeValue::S(sk_value));
        for (name, value) in adapters_dynamo::keys::order_key(id) {
            update = update.key(name, AttributeValue::S(value));
        }
        update.send().await.expect("leave an unmarked entry");
    }
    let _ = bus.received(100).await;
    proxy.set(ProxyMode::Hang);
    let marked = place(&http, &base, &order_body("FAULT-STALL", "LAST"), None).await;
    assert_eq!(marked.status, 201, "{}", marked.body);
    let marked_id = marked.order_id().expect("orderId");
    proxy.set(ProxyMode::Pass);

    let fn_events = events_function(dynamodb.endpoint(), &table, moto.endpoint(), &bus.name);
    let outcome = fn_events.handle(&scheduled()).await.expect("relay");
    let received = bus.received(1).await;
    let (legacy_pk, legacy_pk_value) = adapters_dynamo::keys::LEGACY_OUTBOX_PARTITION;
    let left = store
        .query()
        .table_name(&table)
        .index_name(adapters_dynamo::keys::OUTBOX_INDEX)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", legacy_pk)
        .expression_attribute_values(":pk", AttributeValue::S(legacy_pk_value.to_owned()))
        .send()
        .await
        .expect("query the outbox")
        .count();
    println!(
        "faults/stall: 100 unmarked outbox entries ahead of 1 marked order; relay: {outcome}; events on the bus {}; outbox entries left {left}",
        received.len()
    );
    assert_eq!(
        outcome,
        Outcome::Relayed {
            published: 1,
            failed: 0,
            skipped: 0
        }
    );
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["detail"]["orderId"], marked_id.as_str());
    assert_eq!(left, 0);
    server.stop().await;
}
