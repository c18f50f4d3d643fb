//! Property tests of the HTTP edge: whatever arrives (bytes, JSON, paths,
//! headers, base64 flags), the function answers with a status below 500,
//! never panics, and a 4xx is a problem document with the request id.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};

use adapters_memory::{InMemoryEventPublisher, InMemoryOrderRepository};
use domain::{OrderService, ServiceConfig};
use fakes::{Counter, FixedClock};

use crate::Api;

/// The in-crate stand-ins for the system clock and ids (adapters-system is
/// not a dependency of this crate).
mod fakes {
    use std::sync::atomic::{AtomicU64, Ordering};

    use domain::{Clock, IdGenerator, OrderId, Timestamp};

    pub(super) struct FixedClock;

    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            Timestamp::from_unix_millis(1_782_991_444_213).unwrap_or_else(|| unreachable!())
        }
    }

    #[derive(Default)]
    pub(super) struct Counter(AtomicU64);

    impl IdGenerator for Counter {
        fn next_order_id(&self) -> OrderId {
            let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
            OrderId::parse(&format!("ORD-{n:026}")).unwrap_or_else(|_| unreachable!())
        }
    }
}

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_props";

fn api() -> Api {
    Api::new(
        OrderService::new(
            Arc::new(InMemoryOrderRepository::new()),
            Arc::new(InMemoryEventPublisher::new()),
            Arc::new(FixedClock),
            Arc::new(Counter::default()),
            ServiceConfig::new(domain::CursorKey::new(&[9; 32]).expect("key")),
        ),
        crate::TokenPolicy::new(ISSUER, "propsclient"),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// Sends `event` and checks the invariants of every answer.
fn check(api: &Api, runtime: &tokio::runtime::Runtime, event: Value) -> Result<u16, TestCaseError> {
    let reply = runtime
        .block_on(api.handle_event(event, "prop-1", None))
        .map_err(|e| TestCaseError::fail(format!("not taken as an API Gateway event: {e}")))?;
    let status = reply["statusCode"].as_u64().unwrap_or(0);
    prop_assert!((200..500).contains(&status), "status {status}: {reply}");
    if status >= 400 {
        let body: Value = serde_json::from_str(reply["body"].as_str().unwrap_or_default())
            .map_err(|e| TestCaseError::fail(format!("problem body is not JSON: {e}")))?;
        prop_assert_eq!(&body["status"], &json!(status));
        prop_assert!(body["requestId"].as_str().is_some_and(|id| !id.is_empty()));
    }
    Ok(u16::try_from(status).unwrap_or(0))
}

/// A REST event from a member of staff, who may reach every use case.
fn event(method: &str, path: &str, body: Option<String>, base64: bool, headers: Value) -> Value {
    json!({
        "httpMethod": method,
        "path": path,
        "headers": headers,
        "body": body,
        "isBase64Encoded": base64,
        "requestContext": {"authorizer": {"claims": {"sub": "staff-1", "cognito:groups": "staff", "token_use": "id", "iss": ISSUER, "aud": "propsclient"}}},
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("customerId".to_owned()),
                    Just("items".to_owned()),
                    Just("productId".to_owned()),
                    Just("quantity".to_owned()),
                    "[a-z]{1,8}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_as_a_body_never_give_a_5xx(bytes in prop::collection::vec(any::<u8>(), 0..300), base64 in any::<bool>()) {
        let api = api();
        let rt = runtime();
        let body = if base64 {
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes)
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        check(&api, &rt, event("POST", "/orders", Some(body), base64, json!({"Content-Type": "application/json"})))?;
    }

    #[test]
    fn arbitrary_json_as_a_body_never_gives_a_5xx(value in json_value()) {
        let api = api();
        let rt = runtime();
        check(&api, &rt, event("POST", "/orders", Some(value.to_string()), false, json!({})))?;
    }

    #[test]
    fn arbitrary_paths_and_methods_never_give_a_5xx(
        segments in prop::collection::vec("[^/?#]{0,12}", 0..5),
        method in prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE"), Just("PATCH"), Just("OPTIONS")],
    ) {
        let api = api();
        let rt = runtime();
        let path = format!("/{}", segments.join("/"));
        check(&api, &rt, event(method, &path, None, false, json!({})))?;
    }

    #[test]
    fn arbitrary_headers_never_give_a_5xx(
        content_type in ".{0,40}",
        key in ".{0,140}",
        extra_name in "[A-Za-z-]{1,20}",
        extra_value in "[ -~]{0,40}",
    ) {
        let api = api();
        let rt = runtime();
        let headers = json!({"Content-Type": content_type, "Idempotency-Key": key, extra_name: extra_value});
        let body = r#"{"customerId":"C","items":[{"productId":"A","quantity":1}]}"#.to_owned();
        check(&api, &rt, event("POST", "/orders", Some(body), false, headers))?;
    }

    #[test]
    fn arbitrary_query_strings_never_give_a_5xx(limit in ".{0,12}", cursor in ".{0,60}") {
        let api = api();
        let rt = runtime();
        let mut e = event("GET", "/customers/C1/orders", None, false, json!({}));
        e["queryStringParameters"] = json!({"limit": limit, "cursor": cursor});
        check(&api, &rt, e)?;
    }
}
