//! The tutorial's flows, over HTTP, against `API_URL`.

use std::time::{Duration, Instant};

use e2e::{api_url, client, get_json, order_body, unique_customer};
use serde_json::Value;

async fn place(customer: &str) -> Value {
    let response = client()
        .post(format!("{}/orders", api_url()))
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
    let first = get_json(&url, &[("limit", "2")]).await;
    let cursor = first["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = get_json(&url, &[("limit", "2"), ("cursor", cursor.as_str())]).await;
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
    let id = place(&unique_customer("cancel")).await["orderId"]
        .as_str()
        .expect("id")
        .to_owned();
    let url = format!("{}/orders/{id}/cancel", api_url());
    let first = client().post(&url).send().await.expect("POST");
    assert_eq!(first.status(), 200);
    let order: Value = first.json().await.expect("JSON");
    assert_eq!(order["status"], "cancelled");
    // Idempotent, so a client may retry a cancel whose answer it lost.
    let second = client().post(&url).send().await.expect("POST");
    assert_eq!(second.status(), 200);
    let again: Value = second.json().await.expect("JSON");
    assert_eq!(again, order);
}

#[tokio::test]
async fn a_placed_order_becomes_confirmed_through_its_event() {
    // Where the run says where the bus is, its OrderPlaced is awaited first
    // (the event reached the bus), then the confirmation.
    let mut listener = e2e::listener(serde_json::json!({"detail-type": ["OrderPlaced"]})).await;
    let id = place(&unique_customer("async")).await["orderId"]
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
        let order = get_json(&format!("{}/orders/{id}", api_url()), &[]).await;
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
