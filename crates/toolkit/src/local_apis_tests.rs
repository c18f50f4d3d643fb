//! The gateway as each kind of API answers, over real HTTP: HTTP API
//! payload 2.0 events and answers, CORS from the template, binary media
//! types, body limits, and listeners that hold up to slow clients. The
//! behaviours held are those `gateway`, `http_api` and `cors` name, with
//! their AWS sources.

use serde_json::json;

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

async fn serve(template: PathBuf) -> LocalServer {
    start(LocalOptions {
        template,
        ..options(0)
    })
    .await
    .expect("started")
}

/// http-api-develop-integrations-lambda: the 2.0 event's shape, and a
/// JSON answer without `statusCode` read as a 200 `application/json`;
/// aws/aws-lambda-dotnet#1909: HTTP API's 404 for an undeclared route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_api_route_gets_a_payload_2_event_and_an_undeclared_route_404() {
    let server = serve(fixture("http-api-only.yaml")).await;
    let reply = call_to(
        server.address(),
        "GET",
        "/ping?size=2&tag=a&tag=b%20c",
        "Cookie: theme=dark; session=abc\r\nX-Trace: one\r\nUser-Agent: test-agent\r\n",
        b"",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    let event = &reply.json()["event"];
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /ping");
    assert_eq!(event["rawPath"], "/ping");
    assert_eq!(event["rawQueryString"], "size=2&tag=a&tag=b%20c");
    assert_eq!(
        event["queryStringParameters"],
        json!({"size": "2", "tag": "a,b c"})
    );
    assert_eq!(event["cookies"], json!(["theme=dark", "session=abc"]));
    assert_eq!(event["headers"]["x-trace"], "one");
    assert!(event["headers"].get("cookie").is_none(), "{event}");
    assert_eq!(event["requestContext"]["http"]["method"], "GET");
    assert_eq!(event["requestContext"]["http"]["path"], "/ping");
    assert_eq!(event["requestContext"]["http"]["userAgent"], "test-agent");
    assert_eq!(event["requestContext"]["routeKey"], "GET /ping");
    // SAM's HttpApi without StageName serves the `$default` stage.
    assert_eq!(event["requestContext"]["stage"], "$default");
    assert_eq!(event["isBase64Encoded"], false);
    assert!(event.get("httpMethod").is_none(), "a 1.0 field: {event}");
    assert!(event.get("body").is_none(), "{event}");
    // `event apigw-http` builds the same shape for the same route.
    let template = crate::template::Template::load(&fixture("http-api-only.yaml")).expect("load");
    let sample: Value = serde_json::from_str(
        &crate::events::generate(
            "apigw-http",
            &[
                "--method".into(),
                "GET".into(),
                "--path".into(),
                "/ping".into(),
            ],
            Some(&template),
        )
        .expect("sample"),
    )
    .expect("json");
    let keys = |v: &Value| {
        let mut keys: Vec<String> = v
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.retain(|k| k != "cookies" && k != "queryStringParameters");
        keys.sort();
        keys
    };
    assert_eq!(keys(&sample), keys(event));
    assert_eq!(
        keys(&sample["requestContext"]),
        keys(&event["requestContext"])
    );
    assert_eq!(
        keys(&sample["requestContext"]["http"]),
        keys(&event["requestContext"]["http"])
    );
    assert_eq!(sample["routeKey"], event["routeKey"]);

    // Without CorsConfiguration an HTTP API routes OPTIONS like any
    // method: this template has no route for it.
    for (method, path) in [("GET", "/nowhere"), ("POST", "/ping"), ("OPTIONS", "/ping")] {
        let missing = call_to(server.address(), method, path, "", b"").await;
        assert_eq!(missing.status, 404, "{method} {path}: {}", missing.body);
        assert_eq!(missing.json(), json!({"message": "Not Found"}));
    }
    server.stop().await;
}

/// A `$default` route takes every request no other route takes, and an
/// `ANY` route every method.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_route_takes_what_no_route_takes() {
    let template = std::fs::read_to_string(fixture("http-api-only.yaml")).expect("fixture");
    let template = format!(
        "{template}        Default:\n          Type: HttpApi\n        AnyOrder:\n          Type: HttpApi\n          Properties:\n            Path: /orders/{{id}}\n            Method: ANY\n"
    );
    let path = std::env::temp_dir().join(format!(
        "http-api-default-{}.yaml",
        crate::runtime::request_id()
    ));
    std::fs::write(&path, with_workspace_code(&template)).expect("write");
    let server = serve(path).await;
    let anything = call_to(server.address(), "DELETE", "/some/where", "", b"").await;
    assert_eq!(anything.status, 200, "{}", anything.body);
    assert_eq!(anything.json()["event"]["routeKey"], "$default");
    let any = call_to(
        server.address(),
        "PATCH",
        "/orders/42",
        "Content-Type: application/json\r\n",
        br#"{"a":1}"#,
    )
    .await;
    let event = &any.json()["event"];
    assert_eq!(event["routeKey"], "ANY /orders/{id}");
    assert_eq!(event["pathParameters"], json!({"id": "42"}));
    assert_eq!(event["body"], r#"{"a":1}"#);
    let ping = call_to(server.address(), "GET", "/ping", "", b"").await;
    assert_eq!(ping.json()["event"]["routeKey"], "GET /ping");
    server.stop().await;
}

/// http-api-cors: the gateway answers every preflight, routed or not,
/// adds the configured headers for an allowed origin, none for another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_apis_cors_configuration_answers_preflights_and_marks_responses() {
    let server = serve(fixture("apis.yaml")).await;
    let preflight = "Origin: https://shop.example\r\nAccess-Control-Request-Method: POST\r\n";
    for path in ["/items/1", "/not/routed"] {
        let reply = call_to(server.address(), "OPTIONS", path, preflight, b"").await;
        assert_eq!(reply.status, 204, "{path}: {}", reply.body);
        assert_eq!(
            reply.header("access-control-allow-origin").as_deref(),
            Some("https://shop.example")
        );
        assert_eq!(
            reply.header("access-control-allow-methods").as_deref(),
            Some("GET,POST")
        );
        assert_eq!(
            reply.header("access-control-allow-headers").as_deref(),
            Some("content-type,authorization")
        );
        assert_eq!(
            reply.header("access-control-max-age").as_deref(),
            Some("600")
        );
    }
    let stranger = call_to(
        server.address(),
        "OPTIONS",
        "/items/1",
        "Origin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n",
        b"",
    )
    .await;
    assert_eq!(stranger.status, 204);
    assert_eq!(stranger.header("access-control-allow-origin"), None);

    let get = call_to(
        server.address(),
        "GET",
        "/items/7",
        "Origin: https://shop.example\r\n",
        b"",
    )
    .await;
    assert_eq!(get.status, 200, "{}", get.body);
    assert_eq!(
        get.header("access-control-allow-origin").as_deref(),
        Some("https://shop.example")
    );
    assert_eq!(
        get.header("access-control-expose-headers").as_deref(),
        Some("x-request-id")
    );
    assert_eq!(get.json()["event"]["pathParameters"], json!({"id": "7"}));
    server.stop().await;
}

/// SAM's `Cors` on a REST API: a MOCK `OPTIONS` per path with the quoted
/// values unquoted and the path's methods; proxy responses untouched
/// (apigateway how-to-cors).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_apis_cors_is_a_mock_options_with_sams_headers() {
    let server = serve(fixture("apis.yaml")).await;
    let reply = call_to(
        server.address(),
        "OPTIONS",
        "/admin/hello",
        "Origin: https://admin.example\r\nAccess-Control-Request-Method: GET\r\n",
        b"",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some("https://admin.example")
    );
    assert_eq!(
        reply.header("access-control-allow-headers").as_deref(),
        Some("content-type,x-api-key")
    );
    assert_eq!(
        reply.header("access-control-allow-methods").as_deref(),
        Some("GET,OPTIONS")
    );
    assert_eq!(
        reply.header("access-control-max-age").as_deref(),
        Some("300")
    );
    let get = call_to(
        server.address(),
        "GET",
        "/admin/hello",
        "Origin: https://admin.example\r\n",
        b"",
    )
    .await;
    assert_eq!(get.status, 200, "{}", get.body);
    assert_eq!(get.json()["word"], "hello");
    assert_eq!(get.header("access-control-allow-origin"), None);
    server.stop().await;
}

const PNG_BYTES: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe,
];

/// api-gateway-payload-encodings: a REST API base64-encodes a body of a
/// binary media type and decodes a base64 answer when the first `Accept`
/// is one; else the answer stays base64 text. An HTTP API encodes any
/// non-text body and decodes any base64 answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_bodies_go_base64_to_the_function_and_come_back_as_bytes() {
    let server = serve(fixture("apis.yaml")).await;
    let png = "Content-Type: image/png\r\nAccept: image/png\r\n";
    let rest = call_to(server.address(), "POST", "/admin/bytes", png, PNG_BYTES).await;
    assert_eq!(rest.status, 200, "{}", rest.body);
    assert_eq!(rest.bytes, PNG_BYTES);
    let as_text = call_to(
        server.address(),
        "POST",
        "/admin/bytes",
        "Content-Type: image/png\r\nAccept: application/json\r\n",
        PNG_BYTES,
    )
    .await;
    assert_eq!(as_text.body, STANDARD.encode(PNG_BYTES));
    let text = call_to(
        server.address(),
        "POST",
        "/admin/bytes",
        "Content-Type: text/plain\r\nAccept: image/png\r\n",
        b"plain words",
    )
    .await;
    assert_eq!(text.body, "plain words");

    let http = call_to(
        server.address(),
        "POST",
        "/bytes",
        "Content-Type: application/octet-stream\r\n",
        PNG_BYTES,
    )
    .await;
    assert_eq!(http.status, 200, "{}", http.body);
    assert_eq!(http.bytes, PNG_BYTES);
    server.stop().await;
}

/// API Gateway refuses a body over 10 MB before any function runs; Lambda
/// refuses an event over 6 MB, which a REST API answers 413 `Request Too
/// Long` (koki-develop/lgtm-generator#10 shows both answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_gateways_and_lambdas_limits_are_refused() {
    let server = start(options(0)).await.expect("started");
    // Only the head is sent: the answer comes before any of the body.
    let head = format!(
        "POST /orders HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        crate::gateway::MAX_PAYLOAD + 1
    );
    let address = server.address();
    let declared = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).expect("connect");
        stream.write_all(head.as_bytes()).expect("head");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut answer = vec![0u8; 4096];
        let n = stream.read(&mut answer).expect("an answer");
        String::from_utf8_lossy(&answer[..n]).into_owned()
    })
    .await
    .expect("client");
    assert!(declared.starts_with("HTTP/1.1 413"), "{declared}");
    assert!(
        declared.ends_with("HTTP content length exceeded 10485760 bytes."),
        "{declared}"
    );

    let mut seven_mb = br#"{"customerId":"CUST-1","items":[],"pad":""#.to_vec();
    seven_mb.resize(7 * 1024 * 1024, b'x');
    seven_mb.extend_from_slice(br#""}"#);
    let too_long = call(&server, "POST", "/orders", &seven_mb, "application/json").await;
    assert_eq!(too_long.status, 413, "{}", too_long.body);
    assert_eq!(too_long.json(), json!({"message": "Request Too Long"}));
    assert_eq!(
        too_long.header("x-amzn-errortype").as_deref(),
        Some("BadRequestException")
    );
    assert!(server.published().is_empty(), "no order was placed");
    server.stop().await;
}

/// Reads from `stream` until the server closes it; how long that took.
fn time_until_closed(mut stream: TcpStream, started: Instant) -> Duration {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut buffer = [0u8; 256];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return started.elapsed(),
            Ok(_) => {}
        }
    }
}

/// A client that never sends its headers and one that sends them a byte
/// at a time are both cut off at the header read timeout, while a normal
/// request on another connection is answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_and_a_silent_one_are_cut_off_while_others_are_served() {
    let limit = Duration::from_millis(400);
    let server = start(LocalOptions {
        limits: Limits {
            header_read_timeout: limit,
            max_connections: 8,
        },
        ..options(0)
    })
    .await
    .expect("started");
    let address = server.address();
    let started = Instant::now();
    let silent = TcpStream::connect(address).expect("connect");
    let silent = std::thread::spawn(move || time_until_closed(silent, started));
    let slow = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(address).expect("connect");
        let head = b"GET /orders/ORD-1 HTTP/1.1\r\nHost: local\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        let mut sent = 0;
        for byte in head {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        (sent, time_until_closed(stream, started))
    });
    let served = call(&server, "GET", "/nowhere", b"", "application/json").await;
    let answered_after = started.elapsed();
    assert_eq!(served.status, 403, "{}", served.body);
    let silent_closed = silent.join().expect("silent client");
    let (sent, slow_closed) = slow.join().expect("slow client");
    assert!(
        answered_after < silent_closed && answered_after < slow_closed,
        "a normal request was answered only after {answered_after:?}"
    );
    for (who, closed) in [("silent", silent_closed), ("slow", slow_closed)] {
        assert!(
            closed >= limit && closed < limit * 4,
            "the {who} client was closed after {closed:?}"
        );
    }
    assert!(
        sent < 100,
        "the slow client sent all {sent} bytes of its head"
    );
    server.stop().await;
}

/// `--debug FUNCTION`: the local cloud starts no process for it; a
/// process the user starts against the printed Runtime API (here the
/// fixture's binary, as a debugger would start it) answers its route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debugged_function_is_served_by_the_process_the_user_starts() {
    let debug_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let server = start(LocalOptions {
        template: template_with_echo(),
        debug: Some("EchoFunction".to_owned()),
        debug_port,
        ..options(0)
    })
    .await
    .expect("started");
    let binary = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
            PathBuf::from,
        )
        .join("debug/fixture-echo");
    let mut user = tokio::process::Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{debug_port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "EchoFunction")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("GREETING", "from the debugger")
        .kill_on_drop(true)
        .spawn()
        .expect("the user's process");
    let echoed = call(&server, "GET", "/echo/hi", b"", "text/plain").await;
    assert_eq!(echoed.status, 200, "{}", echoed.body);
    assert_eq!(echoed.json()["greeting"], "from the debugger");
    let _ = user.kill().await;
    server.stop().await;
}

#[test]
fn debug_names_a_function_and_does_not_go_with_watch() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let parse = |args: &[&str]| {
        parse_options(
            &args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
            &root,
        )
    };
    let parsed = parse(&["--debug", "EchoFunction", "--debug-port", "9100"])
        .expect("valid")
        .expect("options");
    assert_eq!(parsed.debug.as_deref(), Some("EchoFunction"));
    assert_eq!(parsed.debug_port, 9100);
    assert!(parse(&["--debug", "X", "--watch"]).is_err());
    assert!(parse(&["--debug-port", "0"]).is_err());
}

/// The template's authorizers, with the local user pool's tokens: no
/// token, an expired one and one signed by another key get 401
/// `{"message":"Unauthorized"}` (supported-gateway-response-types) and no
/// function runs; a valid one passes its claims as each kind of API
/// passes them; `Authorizer: NONE` opts a route out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorizers_refuse_bad_tokens_before_the_function_and_pass_claims() {
    let auth_dir = crate::auth::test_pool_dir("authorized-apis");
    let server = start(LocalOptions {
        template: fixture("authorized-apis.yaml"),
        auth_dir: auth_dir.clone(),
        ..options(0)
    })
    .await
    .expect("started");
    let pool = crate::auth::LocalPool::open(&auth_dir).expect("the server's pool");
    let customer = crate::auth::Who::Customer("CUST-001".into());
    let valid = pool
        .mint(&customer, Duration::from_secs(300))
        .expect("token");
    let expired = pool.mint(&customer, Duration::ZERO).expect("token");
    let foreign = crate::auth::LocalPool::open(&crate::auth::test_pool_dir("foreign"))
        .and_then(|p| p.mint(&customer, Duration::from_secs(300)))
        .expect("token");
    let bearer = |token: &str| format!("Authorization: Bearer {token}\r\n");
    for (what, headers) in [
        ("no token", String::new()),
        ("an expired token", bearer(&expired)),
        ("another key's token", bearer(&foreign)),
        ("not a token", bearer("abc.def.ghi")),
    ] {
        let reply = call_to(server.address(), "GET", "/me/hi", &headers, b"").await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.body);
        assert_eq!(reply.json(), json!({"message": "Unauthorized"}), "{what}");
        let v2 = call_to(server.address(), "GET", "/v2/me", &headers, b"").await;
        assert_eq!(v2.status, 401, "{what}: {}", v2.body);
        assert_eq!(v2.header("www-authenticate").as_deref(), Some("Bearer"));
    }
    assert_eq!(
        server.invocations("EchoFunction"),
        Some(0),
        "a function ran"
    );

    let me = call_to(server.address(), "GET", "/me/hi", &bearer(&valid), b"").await;
    assert_eq!(me.status, 200, "{}", me.body);
    let claims = &me.json()["claims"];
    assert_eq!(claims["custom:customerId"], "CUST-001");
    assert_eq!(claims["token_use"], "id");
    let exp = claims["exp"].as_str().unwrap_or_default();
    assert!(
        chrono::NaiveDateTime::parse_from_str(exp, "%a %b %d %H:%M:%S UTC %Y").is_ok(),
        "exp {exp:?} is not in Cognito's claim form"
    );
    let staff = pool
        .mint(&crate::auth::Who::Staff, Duration::from_secs(300))
        .expect("token");
    let as_staff = call_to(server.address(), "GET", "/me/hi", &bearer(&staff), b"").await;
    assert_eq!(as_staff.json()["claims"]["cognito:groups"], "staff");
    let open = call_to(server.address(), "GET", "/open/hi", "", b"").await;
    assert_eq!(open.status, 200, "{}", open.body);
    assert!(open.json().get("claims").is_none());
    let v2 = call_to(server.address(), "GET", "/v2/me", &bearer(&valid), b"").await;
    assert_eq!(v2.status, 200, "{}", v2.body);
    assert_eq!(
        v2.json()["event"]["requestContext"]["authorizer"]["jwt"]["claims"]["custom:customerId"],
        "CUST-001"
    );
    assert_eq!(server.invocations("EchoFunction"), Some(4));
    server.stop().await;
}
