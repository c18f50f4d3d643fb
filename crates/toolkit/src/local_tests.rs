//! The local API over real HTTP on 127.0.0.1, with the in-memory store.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;

fn options(port: u16) -> LocalOptions {
    LocalOptions {
        host: "127.0.0.1".to_owned(),
        port,
        stage: "dev".to_owned(),
        store: Store::Memory,
        template: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml"),
        table: "local-orders".to_owned(),
        events: Events::Local,
        record_events: true,
    }
}

struct Reply {
    status: u16,
    headers: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// One HTTP/1.1 request with `Connection: close`; blocking, on a thread.
async fn call(
    server: &LocalServer,
    method: &str,
    path: &str,
    body: &[u8],
    content_type: &str,
) -> Reply {
    let address = server.address();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let body = body.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).expect("connect");
        stream.write_all(head.as_bytes()).expect("write head");
        stream.write_all(&body).expect("write body");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read");
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        Reply {
            status,
            headers: head.to_owned(),
            body: body.to_owned(),
        }
    })
    .await
    .expect("request thread")
}

const ORDER: &[u8] = br#"{"customerId":"CUST-001","items":[{"productId":"PROD-A","quantity":2}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_created_read_and_confirmed_through_the_template_routes() {
    let server = start(options(0)).await.expect("started");
    let created = call(&server, "POST", "/orders", ORDER, "application/json").await;
    assert_eq!(created.status, 201, "{}", created.body);
    let order = created.json();
    let id = order["orderId"].as_str().expect("id").to_owned();
    assert_eq!(created.header("location"), Some(format!("/orders/{id}")));

    // OrderPlaced goes through OrderPlacedRule to fn-events, which confirms.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = call(
            &server,
            "GET",
            &format!("/orders/{id}"),
            b"",
            "application/json",
        )
        .await;
        assert_eq!(got.status, 200, "{}", got.body);
        if got.json()["status"] == "confirmed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not confirmed within 5 s: {}",
            got.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let listed = call(
        &server,
        "GET",
        "/customers/CUST-001/orders?limit=5",
        b"",
        "application/json",
    )
    .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["items"][0]["orderId"], id.as_str());
    assert_eq!(
        server.published(),
        vec![(domain::EventKind::OrderPlaced, id.clone(), 1)]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_paths_get_api_gateways_403_and_other_methods_a_405() {
    let server = start(options(0)).await.expect("started");
    for (method, path) in [("GET", "/"), ("GET", "/orders/a/b/c"), ("POST", "/order")] {
        let reply = call(&server, method, path, b"", "application/json").await;
        assert_eq!(reply.status, 403, "{method} {path}");
        assert_eq!(reply.body, r#"{"message":"Missing Authentication Token"}"#);
    }
    // The template's `ANY` routes hand other methods to the function.
    for (method, path, allow) in [
        ("GET", "/orders", "POST"),
        ("DELETE", "/orders/ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R", "GET"),
        (
            "TRACE",
            "/orders/ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R/cancel",
            "POST",
        ),
        ("PUT", "/customers/C/orders", "GET"),
    ] {
        let reply = call(&server, method, path, b"", "application/json").await;
        assert_eq!(reply.status, 405, "{method} {path}: {}", reply.body);
        assert_eq!(
            reply.header("allow").as_deref(),
            Some(allow),
            "{method} {path}"
        );
        assert_eq!(reply.json()["status"], 405);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_errors_pass_through_as_the_function_answered() {
    let server = start(options(0)).await.expect("started");
    let bad = call(&server, "POST", "/orders", b"{", "application/json").await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    let binary = call(&server, "POST", "/orders", b"\xff\xfe{", "application/json").await;
    assert_eq!(
        binary.status, 400,
        "a non-UTF-8 body arrives base64-encoded and is refused"
    );
    let missing = call(
        &server,
        "GET",
        "/orders/ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R",
        b"",
        "application/json",
    )
    .await;
    assert_eq!(missing.status, 404);
    let query = call(
        &server,
        "GET",
        "/customers/C/orders?limit=0",
        b"",
        "application/json",
    )
    .await;
    assert_eq!(
        query.status, 400,
        "query parameters reach the function: {}",
        query.body
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_named_in_the_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    match start(options(port)).await {
        Err(LocalError::PortInUse { port: named, .. }) => assert_eq!(named, port),
        Err(other) => panic!("expected PortInUse, got {other}"),
        Ok(_) => panic!("bound a port that is in use"),
    }
}

#[test]
fn template_paths_match_like_api_gateway() {
    let params = |template, path| match_route(template, path);
    assert_eq!(params("/orders", "/orders"), Some(vec![]));
    assert_eq!(params("/orders", "/orders/"), None);
    assert_eq!(
        params("/orders/{orderId}", "/orders/ORD%2D1"),
        Some(vec![("orderId".to_owned(), "ORD-1".to_owned())])
    );
    assert_eq!(params("/orders/{orderId}", "/orders/"), None);
    assert_eq!(params("/orders/{orderId}", "/orders/a/b"), None);
    assert_eq!(
        params("/files/{proxy+}", "/files/a/b/c"),
        Some(vec![("proxy".to_owned(), "a/b/c".to_owned())])
    );
    assert_eq!(params("/files/{proxy+}", "/files/"), None);
}

#[test]
fn query_strings_become_both_maps() {
    let (single, multi) = query_maps(Some("limit=2&tag=a&tag=b+c&cursor=x%3Dy"));
    assert_eq!(single.first("limit"), Some("2"));
    assert_eq!(single.first("tag"), Some("b c"));
    assert_eq!(multi.all("tag"), Some(vec!["a", "b c"]));
    assert_eq!(single.first("cursor"), Some("x=y"));
}

#[test]
fn stores_parse_from_the_flag() {
    assert_eq!(Store::parse("memory"), Ok(Store::Memory));
    assert_eq!(Store::parse("local"), Ok(Store::DynamoDbLocal));
    assert_eq!(
        Store::parse("http://127.0.0.1:8000"),
        Ok(Store::Endpoint("http://127.0.0.1:8000".into()))
    );
    assert!(Store::parse("dynamo").is_err());
}

#[test]
fn events_go_to_an_eventbridge_endpoint_when_one_is_named() {
    let root = Path::new("/project");
    let parsed = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        parse_options(&args, root)
    };
    let local = parsed(&[]).expect("parsed").expect("options");
    assert_eq!(local.events, Events::Local);
    let moto = parsed(&[
        "--eventbridge",
        "http://127.0.0.1:5000",
        "--event-bus",
        "dev-orders",
    ])
    .expect("parsed")
    .expect("options");
    assert_eq!(
        moto.events,
        Events::EventBridge {
            endpoint: "http://127.0.0.1:5000".into(),
            bus: "dev-orders".into()
        }
    );
    let error = parsed(&["--eventbridge", "127.0.0.1:5000"]).expect_err("no scheme");
    assert!(error.contains("--eventbridge"), "{error}");
    assert!(parsed(&["--event-bus", ""]).is_err());
}

/// A log sink for a test's own subscriber.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut held) = self.0.lock() {
            held.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread: the subscriber set here is the one the server's tasks see.
#[tokio::test(flavor = "current_thread")]
async fn logs_at_info_carry_no_request_bodies() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let server = start(options(0)).await.expect("started");
    let marker = "BODYMARKER7731";
    let bodies = [
        // Placed: 201.
        format!(
            r#"{{"customerId":"{marker}","items":[{{"productId":"P-{marker}","quantity":1}}]}}"#
        ),
        // Not JSON: 400.
        format!(r#"{{"customerId":"{marker}","#),
        // Invalid fields: 422.
        format!(r#"{{"customerId":"{marker}!","items":[],"note":"{marker}"}}"#),
    ];
    let mut statuses = Vec::new();
    for body in &bodies {
        statuses.push(
            call(
                &server,
                "POST",
                "/orders",
                body.as_bytes(),
                "application/json",
            )
            .await
            .status,
        );
    }
    assert_eq!(statuses, [201, 400, 422]);
    // Let the routed OrderPlaced be handled and logged.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.stop().await;
    let logs = String::from_utf8_lossy(&captured.0.lock().expect("logs")).into_owned();
    assert!(logs.contains("POST /orders 201"), "{logs}");
    assert!(logs.contains("POST /orders 422"), "{logs}");
    assert!(
        !logs.contains(marker),
        "a request body reached the logs:\n{logs}"
    );
}
