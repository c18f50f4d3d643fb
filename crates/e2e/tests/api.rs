//! The tutorial's flows, over HTTP, against `API_URL`, each as the caller
//! an id token names (`e2e::token`), and who may do what.

use std::time::{Duration, Instant};

use e2e::{api_url, client, customer_token, get_json, order_body, staff_token, unique_customer};
use serde_json::Value;

async fn place(customer: &str) -> Value {
    let response = client()
        .post(format!("{}/orders", api_url()))
        .bearer_auth(customer_token(customer).await)
        .json(&order_body(customer))
        .send()
        .await
        .expect("POST /orders");
    assert_eq!(response.status(), 201);
    response.json().await.expect("order JSON")
}

#[tokio::test]
async fn create_then_get_returns_the_same_order() {
    let customer = unique_customer("get");
    let created = place(&customer).await;
    let id = created["orderId"].as_str().expect("orderId");
    assert!(id.starts_with("ORD-"));
    assert_eq!(created["status"], "created");
    let response = client()
        .get(format!("{}/orders/{id}", api_url()))
        .bearer_auth(customer_token(&customer).await)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    let got: Value = response.json().await.expect("JSON");
    assert_eq!(got["orderId"], id);
    assert_eq!(got["customerId"], customer.as_str());
    assert_eq!(got["items"], created["items"]);
}

/// The SAM tutorial's own check: `GET /orders/DOESNOTEXIST` is a 404.
#[tokio::test]
async fn a_missing_order_is_a_404_problem() {
    let response = client()
        .get(format!("{}/orders/DOESNOTEXIST", api_url()))
        .bearer_auth(staff_token().await)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("header"),
        "application/problem+json"
    );
    let problem: Value = response.json().await.expect("JSON");
    assert_eq!(problem["status"], 404);
    assert!(
        problem["requestId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
}

#[tokio::test]
async fn an_undeclared_route_is_api_gateways_403() {
    for path in ["/", "/order", "/nothing/here"] {
        let response = client()
            .get(format!("{}{path}", api_url()))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 403, "{path}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["message"], "Missing Authentication Token", "{path}");
    }
}

#[tokio::test]
async fn another_method_on_a_route_is_a_405_naming_the_allowed_ones() {
    let response = client()
        .get(format!("{}/orders", api_url()))
        .bearer_auth(staff_token().await)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 405);
    assert_eq!(
        response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    let problem: Value = response.json().await.expect("JSON");
    assert_eq!(problem["status"], 405);
    assert!(
        problem["requestId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
}

#[tokio::test]
async fn invalid_fields_are_a_422_listing_each() {
    let response = client()
        .post(format!("{}/orders", api_url()))
        .bearer_auth(staff_token().await)
        .json(
            &serde_json::json!({"customerId": "C#1", "items": [{"productId": "A", "quantity": 0}]}),
        )
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.expect("JSON");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["customerId", "items[0].quantity"]);
}

#[tokio::test]
async fn a_customers_orders_page_newest_first() {
    let customer = unique_customer("list");
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            place(&customer).await["orderId"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    ids.reverse();
    let url = format!("{}/customers/{customer}/orders", api_url());
    let token = customer_token(&customer).await;
    let first = get_json(&url, &token, &[("limit", "2")]).await;
    let cursor = first["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = get_json(&url, &token, &[("limit", "2"), ("cursor", cursor.as_str())]).await;
    let seen: Vec<&str> = first["items"]
        .as_array()
        .into_iter()
        .chain(second["items"].as_array())
        .flatten()
        .filter_map(|o| o["orderId"].as_str())
        .collect();
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn cancelling_twice_answers_the_cancelled_order_both_times() {
    let customer = unique_customer("cancel");
    let token = customer_token(&customer).await;
    let id = place(&customer).await["orderId"]
        .as_str()
        .expect("id")
        .to_owned();
    let url = format!("{}/orders/{id}/cancel", api_url());
    let first = client()
        .post(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("POST");
    assert_eq!(first.status(), 200);
    let order: Value = first.json().await.expect("JSON");
    assert_eq!(order["status"], "cancelled");
    // Idempotent, so a client may retry a cancel whose answer it lost.
    let second = client()
        .post(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("POST");
    assert_eq!(second.status(), 200);
    let again: Value = second.json().await.expect("JSON");
    assert_eq!(again, order);
}

#[tokio::test]
async fn a_placed_order_becomes_confirmed_through_its_event() {
    // Where the run says where the bus is, its OrderPlaced is awaited first
    // (the event reached the bus), then the confirmation.
    let mut listener = e2e::listener(serde_json::json!({"detail-type": ["OrderPlaced"]})).await;
    let customer = unique_customer("async");
    let token = customer_token(&customer).await;
    let id = place(&customer).await["orderId"]
        .as_str()
        .expect("id")
        .to_owned();
    if let Some(listener) = listener.as_mut() {
        let event = listener
            .wait_for(Duration::from_secs(30), |e| {
                e["detail"]["orderId"] == id.as_str()
            })
            .await
            .unwrap_or_else(|e| panic!("listening: {e}"));
        assert!(
            event.is_some(),
            "no OrderPlaced for {id} on the bus within 30 s"
        );
    }
    if let Some(listener) = listener {
        listener.close().await.unwrap_or_else(|e| panic!("{e}"));
    }
    // Delivery through the bus is asynchronous: poll, with a deadline.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let order = get_json(&format!("{}/orders/{id}", api_url()), &token, &[]).await;
        if order["status"] == "confirmed" {
            break;
        }
        assert_eq!(order["status"], "created", "{order}");
        assert!(
            Instant::now() < deadline,
            "{id} was not confirmed within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// API Gateway's Cognito authorizer answers a request without a valid id
/// token 401 `{"message":"Unauthorized"}` (gateway response UNAUTHORIZED)
/// before the function runs: every operation of `infra/openapi.yaml`,
/// without a token and with a damaged one.
#[tokio::test]
async fn every_operation_refuses_a_request_without_a_valid_token() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("infra/openapi.yaml")).expect("openapi.yaml");
    let spec: serde_json::Value = serde_yaml::from_str(&text).expect("openapi.yaml is YAML");
    let paths = spec["paths"].as_object().expect("paths");
    let mut damaged = staff_token().await;
    damaged.push('x');
    let mut checked = 0;
    for (template, operations) in paths {
        let path = template
            .replace("{orderId}", "ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R")
            .replace("{customerId}", "CUST-001");
        for method in operations.as_object().expect("operations").keys() {
            let method: reqwest::Method = method.to_uppercase().parse().expect("a method");
            for token in [None, Some(damaged.as_str())] {
                let mut request = client()
                    .request(method.clone(), format!("{}{path}", api_url()))
                    .json(&order_body("CUST-001"));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await.expect("request");
                assert_eq!(response.status(), 401, "{method} {path} with {token:?}");
                let body: Value = response.json().await.expect("JSON");
                assert_eq!(body, serde_json::json!({"message": "Unauthorized"}));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 4, "the four operations of openapi.yaml");
}

/// Who may do what, as a client sees it: another customer's order is a
/// 404 (read and cancel), its list a 403, its name on an order a 403, a
/// cursor of its list a 400; staff read and cancel any order.
#[tokio::test]
async fn customers_are_confined_to_their_own_orders_and_staff_are_not() {
    let (a, b) = (unique_customer("owner"), unique_customer("other"));
    let (token_a, token_b, staff) = (
        customer_token(&a).await,
        customer_token(&b).await,
        staff_token().await,
    );
    let id = place(&a).await["orderId"].as_str().expect("id").to_owned();
    place(&a).await;
    let base = api_url();
    let status = |r: reqwest::Response| r.status().as_u16();
    let get = format!("{base}/orders/{id}");
    let cancel = format!("{base}/orders/{id}/cancel");
    let list_a = format!("{base}/customers/{a}/orders");
    let http = client();
    assert_eq!(
        status(
            http.get(&get)
                .bearer_auth(&token_b)
                .send()
                .await
                .expect("GET")
        ),
        404
    );
    assert_eq!(
        status(
            http.post(&cancel)
                .bearer_auth(&token_b)
                .send()
                .await
                .expect("POST")
        ),
        404
    );
    assert_eq!(
        status(
            http.get(&list_a)
                .bearer_auth(&token_b)
                .send()
                .await
                .expect("GET")
        ),
        403
    );
    let in_a_name = http
        .post(format!("{base}/orders"))
        .bearer_auth(&token_b)
        .json(&order_body(&a))
        .send()
        .await
        .expect("POST");
    assert_eq!(status(in_a_name), 403);
    let page = get_json(&list_a, &token_a, &[("limit", "1")]).await;
    let cursor = page["nextCursor"].as_str().expect("a cursor").to_owned();
    let foreign = get_json(
        &format!("{base}/customers/{b}/orders"),
        &token_b,
        &[("cursor", cursor.as_str())],
    )
    .await;
    assert_eq!(foreign["status"], 400, "{foreign}");
    let read = get_json(&get, &staff, &[]).await;
    assert_eq!(read["orderId"], id.as_str());
    let cancelled = http
        .post(&cancel)
        .bearer_auth(&staff)
        .send()
        .await
        .expect("POST");
    assert_eq!(cancelled.status(), 200);
    let order: Value = cancelled.json().await.expect("JSON");
    assert_eq!(order["status"], "cancelled");
}

/// Idempotency keys are the caller's own: one key from two customers is
/// two orders.
#[tokio::test]
async fn one_idempotency_key_from_two_customers_places_two_orders() {
    let key = format!("e2e-shared-{}", unique_customer("key"));
    let mut ids = Vec::new();
    for customer in [unique_customer("key-a"), unique_customer("key-b")] {
        let response = client()
            .post(format!("{}/orders", api_url()))
            .bearer_auth(customer_token(&customer).await)
            .header("Idempotency-Key", &key)
            .json(&serde_json::json!({"items": [{"productId": "PROD-A", "quantity": 1}]}))
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 201);
        let order: Value = response.json().await.expect("JSON");
        assert_eq!(order["customerId"], customer.as_str());
        ids.push(order["orderId"].clone());
    }
    assert_ne!(ids[0], ids[1]);
}
