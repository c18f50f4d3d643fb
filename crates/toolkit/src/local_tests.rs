//! The local API over real HTTP on 127.0.0.1, with the in-memory store.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;

fn options(port: u16) -> LocalOptions {
    let options = LocalOptions {
        port,
        lambda_port: None,
        record_events: true,
        build: false,
        store: Store::Memory,
        // Unit tests reach no network: no moto to install.
        messaging: Messaging::Off,
        ..LocalOptions::new(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
    };
    build_fixture_binaries();
    options
}

/// Builds the fixture templates' process binaries (`fixture-echo`) once
/// per test run, instead of a `cargo build` by every server a test
/// starts: nextest runs each test in a process of its own, and those
/// builds, each taking cargo's lock in turn, were most of the suite's
/// wall time. The run is nextest's `NEXTEST_RUN_ID` (one process runs
/// every test under `cargo test`); a lock file orders the processes.
fn build_fixture_binaries() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
            PathBuf::from,
        );
        let target = target.as_path();
        std::fs::create_dir_all(target).expect("the target directory");
        let lock = std::fs::File::create(target.join("toolkit-test-fixtures.lock")).expect("lock");
        lock.lock().expect("locked");
        let stamp = target.join("toolkit-test-fixtures.run");
        let run = std::env::var("NEXTEST_RUN_ID").unwrap_or_default();
        if !run.is_empty() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(run.as_str())
        {
            return;
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let (_, mut command) = build_command(&["fixture-echo".to_owned()], Some(&root));
        let status = command
            .as_std_mut()
            .stdin(std::process::Stdio::null())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build --bin fixture-echo: {status}");
        std::fs::write(&stamp, run).expect("stamp");
    });
}

struct Reply {
    status: u16,
    headers: String,
    body: String,
    /// The body as it came, for binary answers.
    bytes: Vec<u8>,
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

/// A token of the local user pool (the one `options` names) for `who`,
/// valid for `lifetime`.
fn token_for(who: &crate::auth::Who, lifetime: Duration) -> String {
    crate::auth::LocalPool::open(&options(0).auth_dir)
        .and_then(|pool| pool.mint(who, lifetime))
        .expect("a local token")
}

/// A ten-minute token for `who`, minted once per test process (reading
/// the pool's private key is the slow part).
fn cached_token(who: crate::auth::Who) -> String {
    static TOKENS: std::sync::Mutex<Vec<(crate::auth::Who, String)>> =
        std::sync::Mutex::new(Vec::new());
    let mut tokens = TOKENS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, token)) = tokens.iter().find(|(w, _)| *w == who) {
        return token.clone();
    }
    let token = token_for(&who, Duration::from_secs(600));
    tokens.push((who, token.clone()));
    token
}

fn staff_token() -> String {
    cached_token(crate::auth::Who::Staff)
}

fn customer_token(id: &str) -> String {
    cached_token(crate::auth::Who::Customer(id.to_owned()))
}

/// One HTTP/1.1 request with `Connection: close`, as a member of staff
/// (the template's authorizer wants a token); blocking, on a thread.
async fn call(
    server: &LocalServer,
    method: &str,
    path: &str,
    body: &[u8],
    content_type: &str,
) -> Reply {
    let headers = format!(
        "Content-Type: {content_type}\r\nAuthorization: Bearer {}\r\n",
        staff_token()
    );
    call_to(server.address(), method, path, &headers, body).await
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
    // The function's request line names who made the request (the
    // token's sub), for the audit trail.
    let sub = crate::auth::id_token_claims(&crate::auth::Who::Staff, "i", 0, 1)["sub"]
        .as_str()
        .expect("a sub")
        .to_owned();
    assert!(
        logs.lines()
            .any(|l| l.contains(&format!("sub={sub}")) && l.contains("method=POST")),
        "{logs}"
    );
}

/// `infra/template.yaml` with the resources of `fixtures/echo-function.yaml`
/// added: a third function, `fixture-echo`, with a route and a rule.
fn template_with_echo() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let template =
        std::fs::read_to_string(root.join("../../infra/template.yaml")).expect("template");
    let extra = std::fs::read_to_string(root.join("fixtures/echo-function.yaml")).expect("fixture");
    let (resources, outputs) = template
        .split_once("\nOutputs:")
        .expect("an Outputs section");
    let path = std::env::temp_dir().join(format!(
        "template-with-echo-{}.yaml",
        crate::runtime::request_id()
    ));
    std::fs::write(
        &path,
        with_workspace_code(&format!("{resources}\n{extra}\nOutputs:{outputs}")),
    )
    .expect("write");
    path
}

/// `text` with every relative `CodeUri` naming this workspace's root, for
/// a template written outside it (the build runs in the `CodeUri`
/// folder's workspace).
fn with_workspace_code(text: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root");
    text.lines()
        .map(|line| match line.split_once("CodeUri: ") {
            Some((indent, uri)) if uri.starts_with('.') => {
                format!("{indent}CodeUri: {}\n", root.display())
            }
            _ => format!("{line}\n"),
        })
        .collect()
}

/// A raw request to `address` with extra header lines (each ending in
/// CRLF), `Connection: close`; blocking, on a thread.
async fn call_to(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> Reply {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let body = body.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).expect("connect");
        stream.write_all(head.as_bytes()).expect("write head");
        stream.write_all(&body).expect("write body");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read");
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let bytes = raw[split + 4..].to_vec();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        Reply {
            status,
            headers: head,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    })
    .await
    .expect("request thread")
}

fn control_address(server: &LocalServer) -> std::net::SocketAddr {
    server
        .lambda_url()
        .and_then(|u| u.trim_start_matches("http://").parse().ok())
        .expect("a control port")
}

/// The issue's first proof: a function the toolkit has never heard of,
/// added as a crate and a template resource, runs by route, by rule and by
/// the Invoke API, as its own binary; fn-api still runs in-process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_added_only_to_the_template_runs_by_route_rule_and_invoke() {
    let server = start(LocalOptions {
        template: template_with_echo(),
        lambda_port: Some(0),
        retry_delays: vec![Duration::from_millis(20)],
        ..options(0)
    })
    .await
    .expect("started");
    let echoed = call(&server, "GET", "/echo/hello", b"", "text/plain").await;
    assert_eq!(echoed.status, 200, "{}", echoed.body);
    // The route is on OrdersApi, whose authorizer passed the staff claims.
    let mut echoed = echoed.json();
    let claims = echoed
        .as_object_mut()
        .and_then(|o| o.remove("claims"))
        .expect("claims");
    assert_eq!(claims["cognito:groups"], "staff");
    assert_eq!(
        echoed,
        serde_json::json!({"function": "EchoFunction", "path": "/echo/hello", "word": "hello", "greeting": "hello from dev"})
    );
    let created = call(&server, "POST", "/orders", ORDER, "application/json").await;
    assert_eq!(created.status, 201, "{}", created.body);

    // Lambda Invoke API, RequestResponse, with the log tail.
    let control = control_address(&server);
    let invoked = call_to(
        control,
        "POST",
        "/2015-03-31/functions/EchoFunction/invocations",
        "X-Amz-Log-Type: Tail\r\n",
        br#"{"ping": 1}"#,
    )
    .await;
    assert_eq!(invoked.status, 200, "{}", invoked.body);
    assert_eq!(invoked.json()["outcome"], "echoed");
    assert_eq!(invoked.header("x-amz-function-error"), None);
    let tail = invoked.header("x-amz-log-result").expect("a log tail");
    let tail = String::from_utf8(STANDARD.decode(tail).expect("base64")).expect("utf-8");
    assert!(tail.contains("REPORT RequestId: "), "{tail}");

    // PutEvents routes through EchoRule; the fixture fails on request, so
    // Lambda's two retries run, then the event is a dead letter.
    let put = call_to(
        control,
        "POST",
        "/",
        "X-Amz-Target: AWSEvents.PutEvents\r\nContent-Type: application/x-amz-json-1.1\r\n",
        br#"{"Entries":[{"Source":"fixture.echo","DetailType":"Echo","Detail":"{\"fail\":true}","EventBusName":"dev-orders"}]}"#,
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json()["FailedEntryCount"], 0);
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.dead_letters().is_empty() {
        assert!(Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let letters = call_to(control, "GET", "/dead-letters", "", b"")
        .await
        .json();
    let record = &letters[0];
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestPayload"]["source"], "fixture.echo");
    // The queue has no QueueName: the name CloudFormation would give it.
    assert_eq!(
        record["destination"],
        format!(
            "arn:aws:sqs:us-east-1:123456789012:{}",
            crate::model::generated_name(LOCAL_STACK, "EchoFailures", "AWS::SQS::Queue", false)
        )
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_port_answers_as_lambdas_invoke_api() {
    let server = start(LocalOptions {
        lambda_port: Some(0),
        ..options(0)
    })
    .await
    .expect("started");
    let control = control_address(&server);
    let check = |reply: &Reply, status: u16, error_type: Option<&str>| {
        assert_eq!(reply.status, status, "{}", reply.body);
        assert_eq!(
            reply.header("x-amzn-errortype").as_deref(),
            error_type,
            "{}",
            reply.body
        );
    };
    // Unknown function -> 404 ResourceNotFoundException (API_Invoke).
    let missing = call_to(
        control,
        "POST",
        "/2015-03-31/functions/Nope/invocations",
        "",
        b"{}",
    )
    .await;
    check(&missing, 404, Some("ResourceNotFoundException"));
    assert_eq!(
        missing.json()["Message"],
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:Nope"
    );
    // Non-JSON body -> 400 InvalidRequestContentException.
    let id = "ApiFunction";
    let bad = call_to(
        control,
        "POST",
        &format!("/2015-03-31/functions/{id}/invocations"),
        "",
        b"{not json",
    )
    .await;
    check(&bad, 400, Some("InvalidRequestContentException"));
    // DryRun -> 204; Event -> 202 with an empty body.
    let dry = call_to(
        control,
        "POST",
        &format!("/2015-03-31/functions/{id}/invocations"),
        "X-Amz-Invocation-Type: DryRun\r\n",
        b"{}",
    )
    .await;
    check(&dry, 204, None);
    let event = call_to(
        control,
        "POST",
        &format!("/2015-03-31/functions/{id}/invocations"),
        "X-Amz-Invocation-Type: Event\r\n",
        b"{}",
    )
    .await;
    check(&event, 202, None);
    assert!(event.body.is_empty());
    // A function error -> 200 with X-Amz-Function-Error: Unhandled.
    let failed = call_to(
        control,
        "POST",
        &format!("/2015-03-31/functions/{id}/invocations"),
        "",
        b"[1,2]",
    )
    .await;
    check(&failed, 200, None);
    assert_eq!(
        failed.header("x-amz-function-error").as_deref(),
        Some("Unhandled")
    );
    // A proxy event, by ARN (URL-encoded, as SDKs send it) -> the 201,
    // with the claims of a local pool's token (fn-api believes no other
    // pool's).
    let event = |iss: &str| {
        serde_json::json!({
            "resource": "/orders", "path": "/orders", "httpMethod": "POST",
            "headers": {"content-type": "application/json"},
            "requestContext": {"requestId": "r1", "stage": "dev", "resourcePath": "/orders", "httpMethod": "POST",
                "authorizer": {"claims": {"sub": "s-1", "cognito:groups": "staff", "token_use": "id",
                    "iss": iss, "aud": crate::auth::LOCAL_CLIENT_ID}}},
            "body": std::str::from_utf8(ORDER).unwrap(), "isBase64Encoded": false
        })
    };
    let foreign = call_to(
        control,
        "POST",
        "/2015-03-31/functions/ApiFunction/invocations",
        "",
        event("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other")
            .to_string()
            .as_bytes(),
    )
    .await;
    check(&foreign, 200, None);
    assert_eq!(foreign.json()["statusCode"], 401, "{}", foreign.body);
    let event = event(&crate::auth::local_issuer());
    let placed = call_to(
        control,
        "POST",
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3AApiFunction/invocations",
        "",
        event.to_string().as_bytes(),
    )
    .await;
    check(&placed, 200, None);
    assert_eq!(placed.json()["statusCode"], 201, "{}", placed.body);
    // Over 6 MB -> 413 RequestTooLargeException.
    let big = vec![b' '; crate::runtime::MAX_REQUEST_BYTES + 1];
    let large = call_to(
        control,
        "POST",
        &format!("/2015-03-31/functions/{id}/invocations"),
        "",
        &big,
    )
    .await;
    check(&large, 413, Some("RequestTooLargeException"));
    server.stop().await;
}

/// `aws events put-events` with an OrderPlaced entry confirms that order:
/// the in-process fn-api publishes to a bus that refuses its events (the
/// control port itself, naming a bus the template does not have), so the
/// order stays `created` until the entry arrives through the control port,
/// the rule routes it, and fn-events confirms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_events_through_the_control_port_confirms_the_order_it_names() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let control_port = free.local_addr().expect("address").port();
    drop(free);
    let server = start(LocalOptions {
        lambda_port: Some(control_port),
        events: Events::EventBridge {
            endpoint: format!("http://127.0.0.1:{control_port}"),
            bus: "no-such-bus".into(),
        },
        ..options(0)
    })
    .await
    .expect("started");
    let created = call(&server, "POST", "/orders", ORDER, "application/json").await;
    assert_eq!(created.status, 201, "{}", created.body);
    let order = created.json();
    let id = order["orderId"].as_str().expect("id").to_owned();
    let status = |reply: Reply| {
        reply.json()["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        status(call(&server, "GET", &format!("/orders/{id}"), b"", "text/plain").await),
        "created"
    );

    let detail = serde_json::json!({
        "orderId": id, "customerId": order["customerId"], "items": order["items"], "createdAt": order["createdAt"]
    });
    let request = serde_json::json!({"Entries": [{
        "Source": "orders.api", "DetailType": "OrderPlaced", "EventBusName": "dev-orders", "Detail": detail.to_string()
    }]});
    let put = call_to(
        control_address(&server),
        "POST",
        "/",
        "X-Amz-Target: AWSEvents.PutEvents\r\nContent-Type: application/x-amz-json-1.1\r\n",
        request.to_string().as_bytes(),
    )
    .await;
    assert_eq!(put.json()["FailedEntryCount"], 0, "{}", put.body);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(call(&server, "GET", &format!("/orders/{id}"), b"", "text/plain").await)
        != "confirmed"
    {
        assert!(Instant::now() < deadline, "{id} not confirmed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_binary_is_named() {
    let err = start(LocalOptions {
        template: template_with_echo(),
        binary_dir: Some(std::env::temp_dir().join("no-binaries-here")),
        build: false,
        ..options(0)
    })
    .await
    .expect_err("refused");
    let text = err.to_string();
    assert!(matches!(err, LocalError::NoBinary { .. }), "{text}");
    assert!(text.starts_with("EchoFunction: no binary at "), "{text}");
}

#[path = "local_apis_tests.rs"]
mod apis;

/// `method path` with `token` (none when `None`) and a JSON body.
async fn call_as(
    server: &LocalServer,
    token: Option<&str>,
    method: &str,
    path: &str,
    extra: &str,
    body: &[u8],
) -> Reply {
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    let headers = format!("Content-Type: application/json\r\n{auth}{extra}");
    call_to(server.address(), method, path, &headers, body).await
}

/// Who may do what, through the template's Cognito authorizer and fn-api
/// (in-process): the issue's proof against the local cloud. API Gateway
/// answers a missing, expired or foreign-signed token 401
/// `{"message":"Unauthorized"}` before any function runs (apigateway
/// gateway-response types, UNAUTHORIZED); the rest is the orders API's
/// own rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_orders_api_confines_each_caller_to_what_is_theirs() {
    let server = start(options(0)).await.expect("started");
    let a = customer_token("CUST-A");
    let b = customer_token("CUST-B");
    let staff = staff_token();
    let expired = token_for(
        &crate::auth::Who::Customer("CUST-A".to_owned()),
        Duration::ZERO,
    );
    let foreign = crate::auth::LocalPool::open(&crate::auth::test_pool_dir("foreign"))
        .and_then(|pool| {
            pool.mint(
                &crate::auth::Who::Customer("CUST-A".to_owned()),
                Duration::from_secs(600),
            )
        })
        .expect("a token of another pool");
    let order = br#"{"items":[{"productId":"PROD-A","quantity":1}]}"#;

    for token in [None, Some(expired.as_str()), Some(foreign.as_str())] {
        let refused = call_as(&server, token, "POST", "/orders", "", order).await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert_eq!(
            refused.json(),
            serde_json::json!({"message": "Unauthorized"})
        );
    }
    assert_eq!(server.invocations("ApiFunction"), Some(0));

    let placed = call_as(&server, Some(&a), "POST", "/orders", "", order).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    assert_eq!(placed.json()["customerId"], "CUST-A");
    let id = placed.json()["orderId"].as_str().expect("id").to_owned();
    let other_body = br#"{"customerId":"CUST-A","items":[{"productId":"PROD-A","quantity":1}]}"#;
    let for_a = call_as(&server, Some(&b), "POST", "/orders", "", other_body).await;
    assert_eq!(for_a.status, 403, "{}", for_a.body);

    let get = format!("/orders/{id}");
    let cancel = format!("/orders/{id}/cancel");
    assert_eq!(
        call_as(&server, Some(&b), "GET", &get, "", b"")
            .await
            .status,
        404
    );
    assert_eq!(
        call_as(&server, Some(&b), "POST", &cancel, "", b"")
            .await
            .status,
        404
    );
    let list_a = "/customers/CUST-A/orders";
    assert_eq!(
        call_as(&server, Some(&b), "GET", list_a, "", b"")
            .await
            .status,
        403
    );

    // A's cursor: fine for A, 400 for B on B's list, 400 once changed.
    call_as(&server, Some(&a), "POST", "/orders", "", order).await;
    let page = call_as(
        &server,
        Some(&a),
        "GET",
        &format!("{list_a}?limit=1"),
        "",
        b"",
    )
    .await;
    let cursor = page.json()["nextCursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let next = call_as(
        &server,
        Some(&a),
        "GET",
        &format!("{list_a}?cursor={cursor}"),
        "",
        b"",
    )
    .await;
    assert_eq!(next.status, 200, "{}", next.body);
    let foreign_cursor = call_as(
        &server,
        Some(&b),
        "GET",
        &format!("/customers/CUST-B/orders?cursor={cursor}"),
        "",
        b"",
    )
    .await;
    assert_eq!(foreign_cursor.status, 400, "{}", foreign_cursor.body);
    let mut changed = cursor.clone().into_bytes();
    changed[5] = if changed[5] == b'Q' { b'R' } else { b'Q' };
    let changed = String::from_utf8(changed).expect("ascii");
    let tampered = call_as(
        &server,
        Some(&a),
        "GET",
        &format!("{list_a}?cursor={changed}"),
        "",
        b"",
    )
    .await;
    assert_eq!(tampered.status, 400, "{}", tampered.body);

    // Staff read and cancel A's order.
    let read = call_as(&server, Some(&staff), "GET", &get, "", b"").await;
    assert_eq!(read.status, 200, "{}", read.body);
    let cancelled = call_as(&server, Some(&staff), "POST", &cancel, "", b"").await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.json()["status"], "cancelled");

    // One idempotency key, two customers: two orders; A's retry is A's.
    let key = "Idempotency-Key: shared-key-1\r\n";
    let first_a = call_as(&server, Some(&a), "POST", "/orders", key, order).await;
    let first_b = call_as(&server, Some(&b), "POST", "/orders", key, order).await;
    let again_a = call_as(&server, Some(&a), "POST", "/orders", key, order).await;
    assert_eq!(
        (first_a.status, first_b.status, again_a.status),
        (201, 201, 201)
    );
    assert_ne!(first_a.json()["orderId"], first_b.json()["orderId"]);
    assert_eq!(first_b.json()["customerId"], "CUST-B");
    assert_eq!(again_a.json()["orderId"], first_a.json()["orderId"]);
    assert_eq!(
        again_a.header("idempotent-replayed").as_deref(),
        Some("true")
    );
}

/// `invoke` starts from this: the template's environment for the
/// function, its secret given a local value that stays the same between
/// runs (cursors signed in one run open in the next).
#[test]
fn a_functions_template_environment_has_local_secrets() {
    let api = function_environment(&options(0), "fn-api").expect("template");
    let key = api.get("CURSOR_SIGNING_KEY").expect("the cursor key");
    assert_eq!(key.len(), 64, "{key}");
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    assert_eq!(
        api.get("TABLE_NAME").map(String::as_str),
        Some("dev-orders")
    );
    let again = function_environment(&options(0), "ApiFunction").expect("template");
    assert_eq!(again.get("CURSOR_SIGNING_KEY"), Some(key));
    let events = function_environment(&options(0), "fn-events").expect("template");
    assert!(!events.contains_key("CURSOR_SIGNING_KEY"));
    assert!(
        function_environment(&options(0), "fn-nothing")
            .expect("template")
            .is_empty()
    );
}

#[test]
fn an_api_url_output_names_the_local_gateway() {
    let api = |id: &str, kind| crate::model::Api {
        id: id.to_owned(),
        kind,
        cors: None,
        binary_media_types: Vec::new(),
        stage: None,
        authorizers: BTreeMap::new(),
        default_authorizer: None,
        authorize_preflight: true,
    };
    let apis = [
        api("MyApi", ApiKind::Rest),
        api("ServerlessHttpApi", ApiKind::Http),
    ];
    let local = "http://127.0.0.1:3000";
    let check = |value: &str, expected: &str| {
        assert_eq!(local_api_url(value, &apis, local), expected, "{value}");
    };
    check(
        "https://MyApi.execute-api.us-east-1.amazonaws.com/dev/",
        "http://127.0.0.1:3000/",
    );
    check(
        "https://MyApi.execute-api.us-east-1.amazonaws.com/dev/items",
        "http://127.0.0.1:3000/items",
    );
    check(
        "https://ServerlessHttpApi.execute-api.eu-west-1.amazonaws.com/",
        "http://127.0.0.1:3000/",
    );
    check(
        "https://Other.execute-api.us-east-1.amazonaws.com/dev/",
        "https://Other.execute-api.us-east-1.amazonaws.com/dev/",
    );
    check("dev-orders", "dev-orders");
}

/// A raw request `head` (its own Host line included) with `body`, to
/// `address`: (status, body).
async fn raw_to(address: std::net::SocketAddr, head: String, body: &'static [u8]) -> (u16, String) {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).expect("connect");
        stream
            .write_all(
                format!(
                    "{head}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )
            .and_then(|()| stream.write_all(body))
            .expect("request");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("reply");
        let status = reply[9..12].parse().expect("status");
        (
            status,
            reply
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_owned())
                .unwrap_or_default(),
        )
    })
    .await
    .expect("joined")
}

/// The control port acts (it invokes functions with whatever claims an
/// event carries), so a page in the developer's browser must not drive
/// it: a cross-origin `text/plain` POST needs no preflight, and DNS
/// rebinding reaches 127.0.0.1 under the attacker's name. API_Invoke
/// documents 415 UnsupportedMediaTypeException for a body that is not
/// JSON. The AWS CLI and SDKs send neither an Origin nor a foreign Host,
/// and sign their requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_port_refuses_what_a_web_page_sends_and_takes_what_the_cli_sends() {
    let server = start(LocalOptions {
        template: template_with_echo(),
        lambda_port: Some(0),
        allowed_origins: vec!["http://localhost:5173".to_owned()],
        ..options(0)
    })
    .await
    .expect("started");
    let control = control_address(&server);
    let path = "POST /2015-03-31/functions/EchoFunction/invocations HTTP/1.1\r\n";
    let local = format!("Host: {control}\r\n");
    let refused = [
        // A page of another origin, text/plain: no preflight in a browser.
        (
            format!("{path}{local}Origin: https://evil.example\r\nContent-Type: text/plain\r\n"),
            403,
        ),
        // The same with a JSON content type (a preflight, which is refused too).
        (
            format!(
                "{path}{local}Origin: https://evil.example\r\nContent-Type: application/json\r\n"
            ),
            403,
        ),
        // DNS rebinding: the attacker's name for 127.0.0.1.
        (
            format!("{path}Host: evil.example:{}\r\n", control.port()),
            403,
        ),
        // No Origin, but a body only a form or a plain fetch sends, unsigned.
        (format!("{path}{local}Content-Type: text/plain\r\n"), 415),
        (
            format!("{path}{local}Content-Type: application/x-www-form-urlencoded\r\n"),
            415,
        ),
    ];
    for (head, status) in refused {
        let (got, body) = raw_to(control, head.clone(), br#"{"ping":1}"#).await;
        assert_eq!(got, status, "{head}{body}");
    }
    assert_eq!(
        server.invocations("EchoFunction"),
        Some(0),
        "nothing was invoked"
    );
    let signed = "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261205/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00\r\n";
    let taken = [
        format!("{path}{local}Content-Type: application/json\r\n"),
        format!("{path}Host: localhost:{}\r\n", control.port()),
        format!("{path}{local}{signed}Content-Type: text/plain\r\n"),
        format!("{path}{local}Origin: http://localhost:5173\r\n"),
    ];
    for head in taken {
        let (got, body) = raw_to(control, head.clone(), br#"{"ping":1}"#).await;
        assert_eq!(got, 200, "{head}{body}");
    }
    assert_eq!(server.invocations("EchoFunction"), Some(4));
    server.stop().await;
}
