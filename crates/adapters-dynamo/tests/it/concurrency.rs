//! Many places at once through the use case, on DynamoDB Local: distinct
//! orders stay distinct, and one idempotency key makes one order.

use std::collections::HashSet;
use std::sync::Arc;

use adapters_memory::InMemoryEventPublisher;
use domain::{OrderService, PageLimit, PlaceOrder};
use tokio::task::JoinSet;

fn request(customer: &str, key: Option<&str>) -> PlaceOrder {
    testkit::orders::place_request(customer, 2, key)
}

async fn service() -> (OrderService, Arc<InMemoryEventPublisher>) {
    let events = Arc::new(InMemoryEventPublisher::new());
    let repo = testkit::dynamodb::fresh_repository().await;
    (testkit::orders::service(repo, events.clone()), events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_places_store_a_hundred_distinct_orders() {
    let (service, events) = service().await;
    let mut tasks = JoinSet::new();
    for _ in 0..100 {
        let service = service.clone();
        tasks.spawn(async move {
            service
                .place(&testkit::orders::staff(), request("CUST-MANY", None))
                .await
        });
    }
    let mut ids = HashSet::new();
    while let Some(joined) = tasks.join_next().await {
        let placed = joined.expect("task").expect("place");
        assert!(!placed.replayed);
        ids.insert(placed.order.id().clone());
    }
    assert_eq!(ids.len(), 100);
    let (listed, _) = service
        .list(
            &testkit::orders::staff(),
            &domain::CustomerId::parse("CUST-MANY").expect("id"),
            PageLimit::parse(100).expect("100"),
            None,
        )
        .await
        .expect("list");
    let stored: HashSet<_> = listed.iter().map(|o| o.id().clone()).collect();
    assert_eq!(stored, ids);
    assert_eq!(events.published().len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_places_with_one_key_store_one_order() {
    let (service, events) = service().await;
    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let service = service.clone();
        tasks.spawn(async move {
            service
                .place(
                    &testkit::orders::staff(),
                    request("CUST-ONE", Some("same-key")),
                )
                .await
        });
    }
    let mut ids = HashSet::new();
    let mut fresh = 0;
    while let Some(joined) = tasks.join_next().await {
        let placed = joined.expect("task").expect("place");
        fresh += usize::from(!placed.replayed);
        ids.insert(placed.order.id().clone());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(fresh, 1);
    let (listed, _) = service
        .list(
            &testkit::orders::staff(),
            &domain::CustomerId::parse("CUST-ONE").expect("id"),
            PageLimit::DEFAULT,
            None,
        )
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(events.published().len(), 1);
}
