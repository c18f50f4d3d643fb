//! Warm handler cost: one API Gateway event through `adapters_http::Api`,
//! the domain and the in-memory adapters, as a warm fn-api pays it
//! (without the Runtime API's HTTP hop). Events are the samples in
//! `events/apigw`.

use std::sync::Arc;

use adapters_http::{Api, TokenPolicy};
use adapters_memory::{InMemoryEventPublisher, InMemoryOrderRepository};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::Value;

fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/apigw")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The API believing the local user pool's tokens, whose claims the
/// sample events carry.
fn api() -> Api {
    Api::new(
        testkit::orders::service(
            Arc::new(InMemoryOrderRepository::new()),
            Arc::new(InMemoryEventPublisher::new()),
        ),
        TokenPolicy::new(
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_local",
            "localclient0000000000000000",
        ),
    )
}

fn handler(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let place = sample("rest-create-order.json");
    let api = api();

    c.bench_function("place-order", |b| {
        b.to_async(&runtime).iter(|| async {
            let reply = api
                .handle_event(place.clone(), "bench", None)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(reply["statusCode"], 201);
            reply
        });
    });

    // One stored order, read again and again.
    let created = runtime
        .block_on(api.handle_event(place.clone(), "bench", None))
        .unwrap_or_else(|e| panic!("{e}"));
    let body: Value = serde_json::from_str(created["body"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    let id = body["orderId"].as_str().unwrap_or_default().to_owned();
    let mut get = sample("rest-get-order.json");
    get["pathParameters"]["orderId"] = Value::from(id.clone());
    get["path"] = Value::from(format!("/orders/{id}"));
    c.bench_function("get-order", |b| {
        b.to_async(&runtime).iter(|| async {
            let reply = api
                .handle_event(get.clone(), "bench", None)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(reply["statusCode"], 200);
            reply
        });
    });
}

criterion_group!(benches, handler);
criterion_main!(benches);
