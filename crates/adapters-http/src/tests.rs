//! From event to status and body: the sample events under `events/`, and a
//! table of bad inputs, each with the status and problem it must get.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use adapters_memory::{InMemoryEventPublisher, InMemoryOrderRepository};
use domain::{
    Clock, IdGenerator, MockOrderRepository, OrderId, OrderRepository, OrderService,
    RepositoryError, ServiceConfig, Timestamp,
};

use crate::{Api, TokenPolicy};

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(1_782_991_444_213).expect("valid")
    }
}

/// Sequential ids: `ORD-` + 26 digits, each a valid ULID.
#[derive(Default)]
struct SequentialIds(AtomicU64);

impl IdGenerator for SequentialIds {
    fn next_order_id(&self) -> OrderId {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        OrderId::parse(&format!("ORD-{n:026}")).expect("valid id")
    }
}

struct Harness {
    api: Api,
    repo: Arc<InMemoryOrderRepository>,
    events: Arc<InMemoryEventPublisher>,
}

fn harness() -> Harness {
    let repo = Arc::new(InMemoryOrderRepository::new());
    let events = Arc::new(InMemoryEventPublisher::new());
    Harness {
        api: api_over(repo.clone(), events.clone()),
        repo,
        events,
    }
}

/// The pool and app client the tests' tokens come from.
/// The local user pool's, as the sample events in `events/` carry them.
const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_local";
const CLIENT: &str = "localclient0000000000000000";

fn api_over(repo: Arc<dyn OrderRepository>, events: Arc<dyn domain::EventPublisher>) -> Api {
    api_with(repo, events, TokenPolicy::new(ISSUER, CLIENT))
}

fn api_with(
    repo: Arc<dyn OrderRepository>,
    events: Arc<dyn domain::EventPublisher>,
    tokens: TokenPolicy,
) -> Api {
    Api::new(
        OrderService::new(
            repo,
            events,
            Arc::new(FixedClock),
            Arc::new(SequentialIds::default()),
            ServiceConfig::new(
                domain::CursorKey::new(b"the HTTP tests' cursor key (32+)").expect("key"),
            ),
        ),
        tokens,
    )
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Value,
    body: Value,
    raw: Value,
}

/// Claims of a customer, as a REST API's Cognito authorizer passes them.
fn customer_claims(id: &str) -> Value {
    json!({"sub": format!("sub-{id}"), "custom:customerId": id, "token_use": "id", "iss": ISSUER, "aud": CLIENT})
}

/// Claims of a member of staff (`cognito:groups` as the REST authorizer
/// writes one group).
fn staff_claims() -> Value {
    json!({"sub": "staff-1", "cognito:groups": "staff", "token_use": "id", "iss": ISSUER, "aud": CLIENT})
}

/// `event` as sent by the caller whose claims these are.
fn as_caller(mut event: Value, claims: Value) -> Value {
    if event.get("requestContext").is_none_or(Value::is_null) {
        event["requestContext"] = json!({});
    }
    event["requestContext"]["authorizer"] = json!({"claims": claims});
    event
}

/// Sends `event` as staff (who may act on any order) unless it names its
/// caller; the tests of who may do what name theirs, and `send_raw`
/// sends an event as it is.
async fn send(api: &Api, event: Value) -> Reply {
    let named = event.pointer("/requestContext/authorizer").is_some();
    let event = if named {
        event
    } else {
        as_caller(event, staff_claims())
    };
    send_raw(api, event).await
}

async fn send_raw(api: &Api, event: Value) -> Reply {
    let raw = api
        .handle_event(event, "invocation-1", None)
        .await
        .expect("an API Gateway event");
    let status = u16::try_from(raw["statusCode"].as_u64().expect("statusCode")).expect("u16");
    let body = match raw["body"].as_str() {
        Some(text) if !text.is_empty() => serde_json::from_str(text).expect("JSON body"),
        _ => Value::Null,
    };
    Reply {
        status,
        headers: raw["headers"].clone(),
        body,
        raw,
    }
}

/// A REST v1 event as the tutorial writes them: no requestContext.
fn rest(method: &str, path: &str, body: Option<&str>) -> Value {
    json!({
        "httpMethod": method,
        "path": path,
        "headers": {"Content-Type": "application/json"},
        "pathParameters": null,
        "body": body,
    })
}

fn post(body: &str) -> Value {
    rest("POST", "/orders", Some(body))
}

fn with_header(mut event: Value, name: &str, value: &str) -> Value {
    event["headers"][name] = json!(value);
    event
}

fn base64_post(body: &[u8]) -> Value {
    let mut event = post("");
    event["body"] = json!(STANDARD.encode(body));
    event["isBase64Encoded"] = json!(true);
    event
}

fn sample(name: &str) -> Value {
    let path = format!("{}/../../events/apigw/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const GOOD: &str = r#"{"customerId":"CUST-001","items":[{"productId":"PROD-A","quantity":2}]}"#;

fn assert_order(body: &Value, status: &str) {
    assert!(
        body["orderId"]
            .as_str()
            .is_some_and(|id| id.starts_with("ORD-")),
        "{body}"
    );
    assert_eq!(body["customerId"], "CUST-001");
    assert_eq!(
        body["items"],
        json!([{"productId": "PROD-A", "quantity": 2}])
    );
    assert_eq!(body["status"], status);
    assert_eq!(body["createdAt"], "2026-07-02T11:24:04.213Z");
    assert_eq!(body["updatedAt"], "2026-07-02T11:24:04.213Z");
    let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
    assert_eq!(
        keys.len(),
        6,
        "storage keys must never leave the adapter: {keys:?}"
    );
}

#[tokio::test]
async fn the_tutorials_create_order_event_creates_an_order() {
    let h = harness();
    let reply = send(&h.api, sample("create-order.json")).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_order(&reply.body, "created");
    let id = reply.body["orderId"].as_str().expect("id");
    assert_eq!(reply.headers["location"], format!("/orders/{id}"));
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(h.repo.len(), 1);
    assert_eq!(h.events.published().len(), 1);
    assert!(
        h.repo.marks().is_empty(),
        "the mark is cleared once published"
    );

    let got = send(&h.api, rest("GET", &format!("/orders/{id}"), None)).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, reply.body);
}

/// Each shape of a create-order event API Gateway sends (or SAM
/// generates) places one order; the answer is in the event's own payload
/// version, and its Location carries the public path's stage.
#[tokio::test]
async fn every_shape_of_a_create_order_event_places_an_order() {
    let mut http_on_stage = sample("http-create-order.json");
    http_on_stage["rawPath"] = json!("/dev/orders");
    http_on_stage["requestContext"]["stage"] = json!("dev");
    let mut bom_in_base64 = b"\xEF\xBB\xBF".to_vec();
    bom_in_base64.extend_from_slice(GOOD.as_bytes());
    // (what, event, Location before the id, payload version 2)
    let cases = [
        (
            "a SAM-generated event: base64 body, null stage variables",
            sample("sam-aws-proxy-create-order.json"),
            "/prod/orders/",
            false,
        ),
        (
            "an HTTP API v2 event",
            sample("http-create-order.json"),
            "/orders/",
            true,
        ),
        (
            "an HTTP API event on a named stage, routed without it",
            http_on_stage,
            "/dev/orders/",
            true,
        ),
        (
            "a BOM before the JSON",
            post(&format!("\u{feff}{GOOD}")),
            "/orders/",
            false,
        ),
        (
            "a BOM inside a base64 body",
            base64_post(&bom_in_base64),
            "/orders/",
            false,
        ),
    ];
    for (what, event, location, v2) in cases {
        let h = harness();
        let reply = send(&h.api, event).await;
        assert_eq!(reply.status, 201, "{what}: {reply:?}");
        assert_order(&reply.body, "created");
        let id = reply.body["orderId"].as_str().expect("id");
        assert_eq!(
            reply.headers["location"],
            format!("{location}{id}"),
            "{what}"
        );
        if v2 {
            assert!(
                reply.raw.get("cookies").is_some(),
                "{what}: v2 responses carry cookies"
            );
        } else {
            assert_eq!(reply.raw["isBase64Encoded"], false, "{what}");
        }
        assert_eq!(h.repo.len(), 1, "{what}");
    }
}

#[tokio::test]
async fn an_event_that_is_not_from_api_gateway_fails_the_invocation() {
    let h = harness();
    let err = h
        .api
        .handle_event(json!({"source": "orders.api", "detail": {}}), "inv", None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not an API Gateway proxy event"),
        "{err}"
    );
}

/// (name, event, status, problem type slug, field named in `errors`)
fn bad_inputs() -> Vec<(&'static str, Value, u16, &'static str, Option<&'static str>)> {
    let item = |product: Value, quantity: Value| {
        json!({"customerId": "C", "items": [{"productId": product, "quantity": quantity}]})
            .to_string()
    };
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"productId": format!("P{i}"), "quantity": 1}))
        .collect();
    let huge = format!(
        r#"{{"customerId":"C","items":[{{"productId":"P","quantity":1}}],"pad":"{}"}}"#,
        "x".repeat(65 * 1024)
    );
    let unknown_order = "ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R";
    vec![
        ("truncated json", post(r#"{"customerId":"#), 400, "malformed-json", None),
        ("trailing garbage", post(r#"{"customerId":"C"} x"#), 400, "malformed-json", None),
        ("not json at all", post("customerId=C"), 400, "malformed-json", None),
        ("empty body", post(""), 400, "malformed-json", None),
        ("no body", rest("POST", "/orders", None), 400, "malformed-json", None),
        ("invalid utf-8", base64_post(b"{\"customerId\":\"\xff\"}"), 400, "malformed-json", None),
        ("bad base64", {
            let mut e = post("not base64 at all!");
            e["isBase64Encoded"] = json!(true);
            e
        }, 400, "malformed-base64", None),
        ("array body", post("[]"), 422, "invalid-fields", Some("body")),
        ("string body", post(r#""order""#), 422, "invalid-fields", Some("body")),
        ("null body", post("null"), 422, "invalid-fields", Some("body")),
        ("customer is a number", post(r#"{"customerId":7,"items":[{"productId":"A","quantity":1}]}"#), 422, "invalid-fields", Some("customerId")),
        ("customer missing", post(r#"{"items":[{"productId":"A","quantity":1}]}"#), 422, "invalid-fields", Some("customerId")),
        ("items missing", post(r#"{"customerId":"C"}"#), 422, "invalid-fields", Some("items")),
        ("items an object", post(r#"{"customerId":"C","items":{}}"#), 422, "invalid-fields", Some("items")),
        ("items empty", post(r#"{"customerId":"C","items":[]}"#), 422, "invalid-fields", Some("items")),
        ("item not an object", post(r#"{"customerId":"C","items":[1]}"#), 422, "invalid-fields", Some("items[0]")),
        ("quantity a string", post(&item(json!("A"), json!("2"))), 422, "invalid-fields", Some("items[0].quantity")),
        ("quantity a fraction", post(&item(json!("A"), json!(2.5))), 422, "invalid-fields", Some("items[0].quantity")),
        ("quantity 0", post(&item(json!("A"), json!(0))), 422, "invalid-fields", Some("items[0].quantity")),
        ("quantity -1", post(&item(json!("A"), json!(-1))), 422, "invalid-fields", Some("items[0].quantity")),
        ("quantity 10001", post(&item(json!("A"), json!(10_001))), 422, "invalid-fields", Some("items[0].quantity")),
        ("quantity beyond i64", post(&item(json!("A"), json!(u64::MAX))), 422, "invalid-fields", Some("items[0].quantity")),
        ("quantity missing", post(r#"{"customerId":"C","items":[{"productId":"A"}]}"#), 422, "invalid-fields", Some("items[0].quantity")),
        ("product null", post(&item(Value::Null, json!(1))), 422, "invalid-fields", Some("items[0].productId")),
        ("product with control char", post(&item(json!("A\u{1}"), json!(1))), 422, "invalid-fields", Some("items[0].productId")),
        ("101 items", post(&json!({"customerId": "C", "items": many}).to_string()), 422, "invalid-fields", Some("items")),
        ("duplicate product", post(r#"{"customerId":"C","items":[{"productId":"A","quantity":1},{"productId":"A","quantity":2}]}"#), 422, "invalid-fields", Some("items")),
        ("customer with #", post(r#"{"customerId":"C#1","items":[{"productId":"A","quantity":1}]}"#), 422, "invalid-fields", Some("customerId")),
        ("customer with /", post(r#"{"customerId":"C/1","items":[{"productId":"A","quantity":1}]}"#), 422, "invalid-fields", Some("customerId")),
        ("customer of 65 chars", post(&json!({"customerId": "c".repeat(65), "items": [{"productId": "A", "quantity": 1}]}).to_string()), 422, "invalid-fields", Some("customerId")),
        ("unknown top-level field", post(r#"{"customerId":"C","items":[{"productId":"A","quantity":1}],"discount":5}"#), 422, "invalid-fields", Some("discount")),
        ("unknown item field", post(r#"{"customerId":"C","items":[{"productId":"A","quantity":1,"price":3}]}"#), 422, "invalid-fields", Some("items[0].price")),
        ("bad idempotency key", with_header(post(GOOD), "Idempotency-Key", "a b#c"), 422, "invalid-fields", Some("Idempotency-Key")),
        ("text/plain body", with_header(post(GOOD), "Content-Type", "text/plain"), 415, "unsupported-media-type", None),
        ("form body", with_header(post(GOOD), "Content-Type", "application/x-www-form-urlencoded"), 415, "unsupported-media-type", None),
        ("65 KiB body", post(&huge), 413, "payload-too-large", None),
        ("65 KiB base64 body", base64_post(huge.as_bytes()), 413, "payload-too-large", None),
        ("unknown route", rest("GET", "/", None), 404, "route-not-found", None),
        ("unknown nested route", rest("GET", "/orders/x/y/z", None), 404, "route-not-found", None),
        ("wrong method on /orders", rest("GET", "/orders", None), 405, "method-not-allowed", None),
        ("wrong method on an order", rest("DELETE", &format!("/orders/{unknown_order}"), None), 405, "method-not-allowed", None),
        ("malformed order id (the SAM tutorial's test)", rest("GET", "/orders/DOESNOTEXIST", None), 404, "order-not-found", None),
        ("order id with #", rest("GET", "/orders/ORD-%2301JDQ8N4ZC6B7X2Y3W5V9T0S1", None), 404, "order-not-found", None),
        ("order id with a space", rest("GET", "/orders/ORD 1", None), 404, "order-not-found", None),
        ("unknown order", rest("GET", &format!("/orders/{unknown_order}"), None), 404, "order-not-found", None),
        ("cancel an unknown order", rest("POST", &format!("/orders/{unknown_order}/cancel"), None), 404, "order-not-found", None),
        ("malformed customer in path", rest("GET", "/customers/C%231/orders", None), 400, "bad-parameter", None),
        ("limit 0", rest("GET", "/customers/C/orders?limit=0", None), 400, "bad-parameter", None),
        ("limit 101", rest("GET", "/customers/C/orders?limit=101", None), 400, "bad-parameter", None),
        ("limit not a number", rest("GET", "/customers/C/orders?limit=ten", None), 400, "bad-parameter", None),
        ("garbage cursor", rest("GET", "/customers/C/orders?cursor=%25%25", None), 400, "bad-parameter", None),
    ]
}

/// Query strings in the table are written into the path for readability;
/// API Gateway sends them apart, so move them where it would.
fn as_gateway_sends(mut event: Value) -> Value {
    let path = event["path"].as_str().unwrap_or_default().to_owned();
    if let Some((path, query)) = path.split_once('?') {
        let params: serde_json::Map<String, Value> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| {
                let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                (k.to_owned(), json!(v))
            })
            .collect();
        event["path"] = json!(path);
        event["queryStringParameters"] = Value::Object(params);
    }
    event
}

#[tokio::test]
async fn every_bad_input_gets_its_status_and_a_problem_and_stores_nothing() {
    let cases = bad_inputs();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    for (name, event, status, slug, field) in cases {
        let h = harness();
        let reply = send(&h.api, as_gateway_sends(event)).await;
        assert_eq!(reply.status, status, "{name}: {reply:?}");
        assert_eq!(
            reply.headers["content-type"], "application/problem+json",
            "{name}"
        );
        assert_eq!(
            reply.body["type"],
            format!("urn:orders:problem:{slug}"),
            "{name}"
        );
        assert_eq!(reply.body["status"], status, "{name}");
        assert_eq!(reply.body["requestId"], "invocation-1", "{name}");
        assert!(
            reply.body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}"
        );
        assert!(
            reply.body["detail"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}"
        );
        if let Some(field) = field {
            let errors = reply.body["errors"].as_array().expect("errors listed");
            assert!(
                errors
                    .iter()
                    .any(|e| e["field"] == field && e["message"].is_string()),
                "{name}: {field} not in {errors:?}"
            );
        }
        assert_eq!(h.repo.len(), 0, "{name}: something was stored");
        assert!(
            h.events.published().is_empty(),
            "{name}: something was published"
        );
    }
}

#[tokio::test]
async fn a_body_of_empty_items_is_refused_by_its_count_in_a_small_problem() {
    // 64 KiB of `{}` lines: the count is checked first, in one entry.
    let lines = vec!["{}"; (crate::names::MAX_BODY_BYTES - 40) / 3];
    let body = format!(r#"{{"customerId":"C","items":[{}]}}"#, lines.join(","));
    assert!(body.len() <= crate::names::MAX_BODY_BYTES, "{}", body.len());
    let h = harness();
    let reply = send(&h.api, post(&body)).await;
    assert_eq!(reply.status, 422);
    let text = reply.body.to_string();
    assert!(text.len() < 8 * 1024, "{} bytes", text.len());
    assert_eq!(reply.body["errors"][0]["field"], "items");
    let message = reply.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("must hold 1 to 100 lines, not "),
        "{message}"
    );
}

#[tokio::test]
async fn a_problem_lists_twenty_invalid_fields_then_counts_the_rest() {
    // 100 lines, each with two bad fields: 200 errors, 20 listed.
    let lines: Vec<String> = (0..100)
        .map(|i| format!(r#"{{"productId":"P#{i}","quantity":0}}"#))
        .collect();
    let body = format!(r#"{{"customerId":"C","items":[{}]}}"#, lines.join(","));
    let h = harness();
    let reply = send(&h.api, post(&body)).await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.body["detail"], "200 field(s) are invalid");
    let errors = reply.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), crate::problem::MAX_LISTED + 1);
    assert_eq!(errors[20]["field"], "*");
    assert_eq!(
        errors[20]["message"],
        "and 180 more invalid field(s), not listed"
    );
}

#[tokio::test]
async fn a_wrong_method_names_the_allowed_ones() {
    let h = harness();
    let reply = send(&h.api, rest("GET", "/orders", None)).await;
    assert_eq!(reply.headers["allow"], "POST");
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once() {
    let h = harness();
    let body = r#"{"customerId":"C#","items":[{"productId":"A","quantity":0},{"productId":"B/","quantity":"x"}],"x":1}"#;
    let reply = send(&h.api, post(body)).await;
    assert_eq!(reply.status, 422);
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["x", "items[1].quantity"],
        "shape errors come first, alone"
    );
    let reply = send(
        &h.api,
        post(r#"{"customerId":"C#","items":[{"productId":"A","quantity":0},{"productId":"B/","quantity":1}]}"#),
    )
    .await;
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["customerId", "items[0].quantity", "items[1].productId"]
    );
}

#[tokio::test]
async fn cancelling_again_answers_the_cancelled_order_and_publishes_once() {
    let h = harness();
    let created = send(&h.api, post(GOOD)).await;
    let id = created.body["orderId"].as_str().expect("id").to_owned();
    let cancelled = send(&h.api, rest("POST", &format!("/orders/{id}/cancel"), None)).await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    assert_eq!(cancelled.body["status"], "cancelled");
    // The audit trail: who cancelled (the staff member's sub) and when.
    assert_eq!(
        cancelled.body["cancelledBy"],
        json!({"kind": "staff", "id": "staff-1"})
    );
    assert_eq!(cancelled.body["cancelledAt"], cancelled.body["updatedAt"]);
    let read = send(&h.api, rest("GET", &format!("/orders/{id}"), None)).await;
    assert_eq!(read.body["cancelledBy"], cancelled.body["cancelledBy"]);
    assert!(created.body.get("cancelledBy").is_none(), "{created:?}");
    // Cancel is idempotent: a client retrying a cancel whose answer it
    // lost gets the order, not a 409.
    let again = send(&h.api, rest("POST", &format!("/orders/{id}/cancel"), None)).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body, cancelled.body);
    let kinds: Vec<_> = h
        .events
        .published()
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds, ["OrderPlaced", "OrderCancelled"]);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_order_and_refuses_another_body() {
    let h = harness();
    let first = send(&h.api, with_header(post(GOOD), "Idempotency-Key", "key-1")).await;
    assert_eq!(first.status, 201);
    let again = send(&h.api, with_header(post(GOOD), "Idempotency-Key", "key-1")).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let other = r#"{"customerId":"CUST-001","items":[{"productId":"PROD-B","quantity":1}]}"#;
    let refused = send(&h.api, with_header(post(other), "Idempotency-Key", "key-1")).await;
    assert_eq!(refused.status, 409);
    assert_eq!(h.repo.len(), 1);
    assert_eq!(h.events.published().len(), 1);
}

#[tokio::test]
async fn listing_pages_through_a_customers_orders_newest_first() {
    let h = harness();
    let mut ids = Vec::new();
    for _ in 0..5 {
        let reply = send(&h.api, post(GOOD)).await;
        ids.push(reply.body["orderId"].as_str().expect("id").to_owned());
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    for expected_len in [2, 2, 1] {
        let reply = send(
            &h.api,
            as_gateway_sends(rest(
                "GET",
                &format!("/customers/CUST-001/orders?{query}"),
                None,
            )),
        )
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let items = reply.body["items"].as_array().expect("items");
        assert_eq!(items.len(), expected_len);
        seen.extend(
            items
                .iter()
                .map(|o| o["orderId"].as_str().expect("id").to_owned()),
        );
        match reply.body["nextCursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => assert_eq!(expected_len, 1),
        }
    }
    assert_eq!(seen, ids);
}

// Who may do what: the rules of `domain::Caller` at the edge, with the
// caller read from the authorizer's claims (REST and HTTP API forms).

#[tokio::test]
async fn an_event_without_authorizer_claims_is_a_401_and_reaches_no_use_case() {
    let h = harness();
    for event in [
        post(GOOD),
        // Malformed too (a body marked base64 that is not): the missing
        // caller is what it is told.
        {
            let mut event = post("%%% not base64");
            event["isBase64Encoded"] = json!(true);
            event
        },
        rest("GET", "/orders/ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R", None),
        rest("GET", "/customers/CUST-001/orders", None),
        rest(
            "POST",
            "/orders/ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R/cancel",
            None,
        ),
        rest("GET", "/nowhere", None),
    ] {
        let reply = send_raw(&h.api, event).await;
        assert_eq!(reply.status, 401, "{reply:?}");
        assert_eq!(reply.body["type"], "urn:orders:problem:unauthenticated");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
    }
    assert_eq!(h.repo.len(), 0);
}

#[tokio::test]
async fn claims_naming_no_one_are_a_403() {
    let h = harness();
    let reply = send(
        &h.api,
        as_caller(
            post(GOOD),
            json!({"sub": "x", "cognito:groups": "admin", "token_use": "id", "iss": ISSUER, "aud": CLIENT}),
        ),
    )
    .await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert_eq!(h.repo.len(), 0);
}

/// Anyone who may invoke the function directly can write an event: staff
/// claims of another pool, for another client, or of an access token are
/// a 401 problem, and nothing is done.
#[tokio::test]
async fn staff_claims_of_another_pool_client_or_token_kind_are_a_401() {
    let h = harness();
    for (key, value) in [
        (
            "iss",
            json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_evil"),
        ),
        ("aud", json!("someoneelsesclient")),
        ("token_use", json!("access")),
    ] {
        let mut claims = staff_claims();
        claims[key] = value;
        let reply = send(&h.api, as_caller(post(GOOD), claims)).await;
        assert_eq!(reply.status, 401, "{key}: {reply:?}");
        assert_eq!(reply.body["type"], "urn:orders:problem:unauthenticated");
    }
    assert_eq!(h.repo.len(), 0);
    let reply = send(&h.api, as_caller(post(GOOD), staff_claims())).await;
    assert_eq!(reply.status, 201, "{reply:?}");
}

#[tokio::test]
async fn a_customer_places_for_itself_and_is_refused_another_customer() {
    let h = harness();
    let own = send(
        &h.api,
        as_caller(
            post(r#"{"items":[{"productId":"PROD-A","quantity":1}]}"#),
            customer_claims("CUST-A"),
        ),
    )
    .await;
    assert_eq!(own.status, 201, "{own:?}");
    assert_eq!(own.body["customerId"], "CUST-A");
    let other = send(&h.api, as_caller(post(GOOD), customer_claims("CUST-A"))).await;
    assert_eq!(other.status, 403, "{other:?}");
    assert_eq!(other.body["type"], "urn:orders:problem:forbidden");
    assert_eq!(h.repo.len(), 1);
    // Staff place for the customer the body names, and must name one.
    let staff = send(&h.api, post(GOOD)).await;
    assert_eq!(staff.status, 201);
    assert_eq!(staff.body["customerId"], "CUST-001");
    let unnamed = send(
        &h.api,
        post(r#"{"items":[{"productId":"PROD-A","quantity":1}]}"#),
    )
    .await;
    assert_eq!(unnamed.status, 422);
    assert_eq!(unnamed.body["errors"][0]["field"], "customerId");
    assert_eq!(unnamed.body["errors"][0]["message"], "is required");
}

#[tokio::test]
async fn another_customers_order_is_a_404_like_a_missing_one_and_staff_may_act_on_it() {
    let h = harness();
    let placed = send(&h.api, as_caller(post(GOOD), customer_claims("CUST-001"))).await;
    let id = placed.body["orderId"].as_str().expect("id").to_owned();
    let get = rest("GET", &format!("/orders/{id}"), None);
    let cancel = rest("POST", &format!("/orders/{id}/cancel"), None);
    let missing = send(
        &h.api,
        as_caller(
            rest("GET", "/orders/ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R", None),
            customer_claims("CUST-002"),
        ),
    )
    .await;
    for event in [get.clone(), cancel.clone()] {
        let reply = send(&h.api, as_caller(event, customer_claims("CUST-002"))).await;
        assert_eq!(reply.status, 404, "{reply:?}");
        // The same answer as for an id no order has, request id aside.
        for field in ["type", "title", "detail"] {
            assert_eq!(reply.body[field], missing.body[field], "{field}");
        }
    }
    let mine = send(&h.api, as_caller(get.clone(), customer_claims("CUST-001"))).await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.body["status"], "created");
    // HTTP API (JWT authorizer) claims work alike.
    let mut v2 = sample("http-create-order.json");
    v2["requestContext"]["authorizer"] =
        json!({"jwt": {"claims": customer_claims("CUST-002"), "scopes": null}});
    v2["rawPath"] = json!(format!("/orders/{id}"));
    v2["routeKey"] = json!("GET /orders/{orderId}");
    v2["requestContext"]["http"]["method"] = json!("GET");
    v2["requestContext"]["http"]["path"] = json!(format!("/orders/{id}"));
    v2["body"] = Value::Null;
    let v2 = send(&h.api, v2).await;
    assert_eq!(v2.status, 404, "{v2:?}");
    let staff_get = send(&h.api, get).await;
    assert_eq!(staff_get.status, 200);
    let staff_cancel = send(&h.api, cancel).await;
    assert_eq!(staff_cancel.status, 200);
    assert_eq!(staff_cancel.body["status"], "cancelled");
}

#[tokio::test]
async fn a_customer_lists_only_its_own_orders() {
    let h = harness();
    send(&h.api, post(GOOD)).await;
    let list = |who: &str| {
        as_caller(
            as_gateway_sends(rest("GET", "/customers/CUST-001/orders", None)),
            customer_claims(who),
        )
    };
    let own = send(&h.api, list("CUST-001")).await;
    assert_eq!(own.status, 200);
    assert_eq!(own.body["items"].as_array().map(Vec::len), Some(1));
    let other = send(&h.api, list("CUST-002")).await;
    assert_eq!(other.status, 403, "{other:?}");
    assert_eq!(other.body["type"], "urn:orders:problem:forbidden");
}

#[tokio::test]
async fn a_cursor_is_refused_to_another_caller_and_when_changed() {
    let h = harness();
    for _ in 0..3 {
        send(&h.api, as_caller(post(GOOD), customer_claims("CUST-001"))).await;
    }
    let page = |who: Value, customer: &str, query: &str| {
        as_caller(
            as_gateway_sends(rest(
                "GET",
                &format!("/customers/{customer}/orders?{query}"),
                None,
            )),
            who,
        )
    };
    let first = send(
        &h.api,
        page(customer_claims("CUST-001"), "CUST-001", "limit=1"),
    )
    .await;
    let cursor = first.body["nextCursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let next = send(
        &h.api,
        page(
            customer_claims("CUST-001"),
            "CUST-001",
            &format!("cursor={cursor}"),
        ),
    )
    .await;
    assert_eq!(next.status, 200, "{next:?}");
    let foreign = send(
        &h.api,
        page(
            customer_claims("CUST-002"),
            "CUST-002",
            &format!("cursor={cursor}"),
        ),
    )
    .await;
    assert_eq!(foreign.status, 400, "{foreign:?}");
    assert_eq!(
        foreign.body["detail"],
        "cursor: the cursor was issued for another caller or another list"
    );
    // Staff may list CUST-001, but not with a cursor issued to the customer.
    let staff = send(
        &h.api,
        page(staff_claims(), "CUST-001", &format!("cursor={cursor}")),
    )
    .await;
    assert_eq!(staff.status, 400, "{staff:?}");
    let mut changed = cursor.into_bytes();
    changed[3] = if changed[3] == b'x' { b'y' } else { b'x' };
    let changed = String::from_utf8(changed).expect("ascii");
    let tampered = send(
        &h.api,
        page(
            customer_claims("CUST-001"),
            "CUST-001",
            &format!("cursor={changed}"),
        ),
    )
    .await;
    assert_eq!(tampered.status, 400, "{tampered:?}");
    assert_eq!(
        tampered.body["detail"],
        "cursor: the cursor is not one this service issued"
    );
}

#[tokio::test]
async fn one_idempotency_key_from_two_customers_is_two_orders() {
    let h = harness();
    let body = r#"{"items":[{"productId":"PROD-A","quantity":1}]}"#;
    let mut ids = Vec::new();
    for who in ["CUST-A", "CUST-B", "CUST-A"] {
        let reply = send(
            &h.api,
            as_caller(
                with_header(post(body), "Idempotency-Key", "shared-key"),
                customer_claims(who),
            ),
        )
        .await;
        assert_eq!(reply.status, 201, "{reply:?}");
        assert_eq!(reply.body["customerId"], who);
        ids.push(reply.body["orderId"].as_str().expect("id").to_owned());
    }
    assert_ne!(ids[0], ids[1]);
    // CUST-A's retry replays CUST-A's order, not CUST-B's.
    assert_eq!(ids[0], ids[2]);
    assert_eq!(h.repo.len(), 2);
}

fn failing_repo(err: fn() -> RepositoryError) -> Arc<MockOrderRepository> {
    let mut repo = MockOrderRepository::new();
    repo.expect_create().returning(move |_, _| Err(err()));
    repo.expect_get().returning(move |_| Err(err()));
    Arc::new(repo)
}

const SECRET: &str =
    "ProvisionedThroughputExceededException on table dev-orders at arn:aws:dynamodb";

#[tokio::test]
async fn an_unavailable_store_is_a_503_with_retry_after_and_no_internals() {
    let api = api_over(
        failing_repo(|| RepositoryError::Unavailable(SECRET.into())),
        Arc::new(InMemoryEventPublisher::new()),
    );
    for event in [
        post(GOOD),
        rest("GET", "/orders/ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R", None),
    ] {
        let reply = send(&api, event).await;
        assert_eq!(reply.status, 503);
        assert_eq!(reply.headers["retry-after"], "1");
        let text = reply.raw["body"].as_str().expect("body");
        for secret in ["dev-orders", "Provisioned", "arn:", "dynamodb"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
}

#[tokio::test]
async fn an_unexpected_failure_is_a_bare_500() {
    let api = api_over(
        failing_repo(|| RepositoryError::Unexpected(SECRET.into())),
        Arc::new(InMemoryEventPublisher::new()),
    );
    let reply = send(&api, post(GOOD)).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body["detail"], "internal error");
    assert_eq!(reply.body["requestId"], "invocation-1");
    assert!(
        !reply.raw["body"]
            .as_str()
            .expect("body")
            .contains("dev-orders")
    );
}

#[tokio::test]
async fn a_failing_bus_still_acknowledges_the_order() {
    let h = harness();
    h.events.set_failing(true);
    let reply = send(&h.api, post(GOOD)).await;
    assert_eq!(reply.status, 201);
    assert_eq!(h.repo.marks().len(), 1, "the outbox keeps the event");
}

/// A dependency that never answers (a connection the network swallowed).
struct Stalled;

#[async_trait::async_trait]
impl domain::EventPublisher for Stalled {
    async fn publish(&self, _: &[domain::OrderEvent]) -> Result<(), domain::PublishError> {
        std::future::pending().await
    }
}

#[async_trait::async_trait]
impl OrderRepository for Stalled {
    async fn create(
        &self,
        _: &domain::Order,
        _: Option<domain::IdempotencyRecord>,
    ) -> Result<domain::CreateOutcome, RepositoryError> {
        std::future::pending().await
    }
    async fn get(&self, _: &OrderId) -> Result<Option<domain::Order>, RepositoryError> {
        std::future::pending().await
    }
    async fn update(
        &self,
        _: &domain::Order,
        _: domain::Version,
        _: Option<domain::EventKind>,
    ) -> Result<(), RepositoryError> {
        std::future::pending().await
    }
    async fn list_by_customer(
        &self,
        _: &domain::CustomerId,
        _: domain::PageLimit,
        _: Option<domain::ListPosition>,
    ) -> Result<domain::OrderPage, RepositoryError> {
        std::future::pending().await
    }
    async fn pending_events(
        &self,
        _: Timestamp,
        _: usize,
    ) -> Result<domain::PendingEvents, RepositoryError> {
        std::future::pending().await
    }
    async fn clear_mark(&self, _: &OrderId, _: domain::EventKind) -> Result<(), RepositoryError> {
        std::future::pending().await
    }
}

/// An invocation that has `left` before Lambda stops it.
async fn send_with_time_left(api: &Api, event: Value, left: std::time::Duration) -> Value {
    api.handle_event(
        as_caller(event, staff_claims()),
        "invocation-1",
        Some(std::time::Instant::now() + left),
    )
    .await
    .expect("an API Gateway event")
}

/// Lambda stops a function at its deadline, and API Gateway answers a
/// stopped function 502 whatever it stored. A bus that does not answer
/// must not take the request there: publishing stops `ANSWER_MARGIN`
/// before the deadline, the order is acknowledged, its mark stays.
#[tokio::test]
async fn a_bus_that_does_not_answer_is_given_up_before_the_deadline_and_the_order_acknowledged() {
    let repo = Arc::new(InMemoryOrderRepository::new());
    let api = api_over(repo.clone(), Arc::new(Stalled));
    let left = crate::ANSWER_MARGIN + std::time::Duration::from_millis(200);
    let raw = send_with_time_left(&api, post(GOOD), left).await;
    assert_eq!(raw["statusCode"], 201, "{raw}");
    assert_eq!(repo.marks().len(), 1, "the outbox keeps the event");
}

/// A store that does not answer: a 503 with Retry-After before the
/// deadline, rather than Lambda's cut-off.
#[tokio::test]
async fn a_store_that_does_not_answer_is_a_503_before_the_deadline() {
    let api = api_over(Arc::new(Stalled), Arc::new(InMemoryEventPublisher::new()));
    let left = crate::ANSWER_MARGIN + std::time::Duration::from_millis(200);
    // Both wait out their deadline at once: the test takes one deadline.
    let (placed, read) = tokio::join!(
        send_with_time_left(&api, post(GOOD), left),
        send_with_time_left(
            &api,
            rest("GET", "/orders/ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R", None),
            left
        ),
    );
    for raw in [placed, read] {
        assert_eq!(raw["statusCode"], 503, "{raw}");
        assert_eq!(raw["headers"]["retry-after"], "1", "{raw}");
    }
}

#[tokio::test]
async fn api_gateways_request_id_is_reported_when_present() {
    let h = harness();
    let mut event = sample("sam-aws-proxy-create-order.json");
    event["body"] = json!(STANDARD.encode("{"));
    let reply = send(&h.api, event).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body["requestId"],
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    );
}

#[tokio::test]
async fn the_generated_rest_samples_reach_their_use_cases() {
    let h = harness();
    let created = send(&h.api, sample("rest-create-order.json")).await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["orderId"].as_str().expect("id");
    assert_eq!(created.headers["location"], format!("/dev/orders/{id}"));
    // The sample asks for a fixed id that this fresh store does not hold.
    let missing = send(&h.api, sample("rest-get-order.json")).await;
    assert_eq!(missing.status, 404, "{missing:?}");
    assert_eq!(
        missing.body["requestId"],
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    );
}

#[tokio::test]
async fn a_header_http_cannot_carry_is_dropped_not_fatal() {
    let h = harness();
    let mut event = post(GOOD);
    event["headers"]["X-Bad"] = json!("a\u{0}b");
    event["headers"]["Bad Name"] = json!("x");
    event["multiValueHeaders"] = json!({"X-Bad": ["\u{1}"], "X-Good": ["yes"]});
    let reply = send(&h.api, event).await;
    assert_eq!(reply.status, 201, "{reply:?}");
}
