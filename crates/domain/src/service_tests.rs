//! The use cases against mockall doubles: what is stored and published, and
//! what is not when validation or a port fails. A double with no expectation
//! set panics when called, so "not called" is asserted by omission.

use std::sync::Arc;
use std::time::Duration;

use mockall::predicate::eq;

use super::*;
use crate::cursor::{CursorError, ListPosition};
use crate::order::{OrderStatus, Version};
use crate::ports::{
    MockClock, MockEventPublisher, MockIdGenerator, MockOrderRepository, PendingEvent,
    PendingEvents, RejectedEvent,
};
use crate::time::Timestamp;
use crate::values::ValueError;

const ID: &str = "ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R";
const NOW: i64 = 1_751_455_444_213;

fn now() -> Timestamp {
    Timestamp::from_unix_millis(NOW).unwrap()
}

fn order_id() -> OrderId {
    OrderId::parse(ID).unwrap()
}

struct Doubles {
    repo: MockOrderRepository,
    events: MockEventPublisher,
    clock: MockClock,
    ids: MockIdGenerator,
}

impl Doubles {
    fn new() -> Self {
        Self {
            repo: MockOrderRepository::new(),
            events: MockEventPublisher::new(),
            clock: MockClock::new(),
            ids: MockIdGenerator::new(),
        }
    }

    /// The clock and id generator answer as often as asked.
    fn with_time_and_ids(mut self) -> Self {
        self.clock.expect_now().return_const(now());
        self.ids.expect_next_order_id().returning(order_id);
        self
    }

    fn service(self) -> OrderService {
        OrderService::new(
            Arc::new(self.repo),
            Arc::new(self.events),
            Arc::new(self.clock),
            Arc::new(self.ids),
            config(),
        )
    }
}

fn key() -> CursorKey {
    CursorKey::new(b"the service tests' cursor key!!!").unwrap()
}

fn config() -> ServiceConfig {
    ServiceConfig::new(key())
}

/// A member of staff: acts on any order (the rules of `Caller` have
/// their own tests below; the other tests act as staff).
fn staff() -> Caller {
    Caller::Staff(crate::caller::StaffId::parse("staff-1").unwrap())
}

fn customer(id: &str) -> Caller {
    Caller::Customer(CustomerId::parse(id).unwrap())
}

fn request(customer: &str, items: &[(&str, i64)], key: Option<&str>) -> PlaceOrder {
    PlaceOrder {
        customer_id: Some(customer.to_owned()),
        items: items
            .iter()
            .map(|(p, q)| LineItemInput {
                product_id: (*p).to_owned(),
                quantity: *q,
            })
            .collect(),
        idempotency_key: key.map(str::to_owned),
    }
}

fn stored_order(status: OrderStatus) -> Order {
    let mut order = Order::place(
        order_id(),
        CustomerId::parse("CUST-001").unwrap(),
        LineItems::parse(vec![LineItem::new(
            ProductId::parse("PROD-A").unwrap(),
            Quantity::parse(2).unwrap(),
        )])
        .unwrap(),
        Timestamp::from_unix_millis(NOW - 60_000).unwrap(),
    );
    let earlier = Timestamp::from_unix_millis(NOW - 30_000).unwrap();
    match status {
        OrderStatus::Created => {}
        OrderStatus::Confirmed => {
            order.confirm(earlier).unwrap();
        }
        OrderStatus::Cancelled => order.cancel(&staff(), earlier).unwrap(),
    }
    order
}

fn invalid_fields(err: OrderError) -> Vec<(Field, ValueError)> {
    match err {
        OrderError::Invalid(errors) => errors.into_iter().map(|e| (e.field, e.error)).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn placing_an_order_stores_it_publishes_order_placed_and_clears_the_mark() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo
        .expect_create()
        .withf(|order, record| {
            order.id().as_str() == ID
                && order.customer_id().as_str() == "CUST-001"
                && order.items().len() == 2
                && order.status() == OrderStatus::Created
                && order.created_at() == now()
                && record.is_none()
        })
        .times(1)
        .returning(|_, _| Ok(CreateOutcome::Created));
    d.events
        .expect_publish()
        .withf(|events| {
            events.len() == 1
                && events[0].kind == EventKind::OrderPlaced
                && events[0].order_id.as_str() == ID
                && events[0].items.len() == 2
        })
        .times(1)
        .returning(|_| Ok(()));
    d.repo
        .expect_clear_mark()
        .with(eq(order_id()), eq(EventKind::OrderPlaced))
        .times(1)
        .returning(|_, _| Ok(()));

    let placed = d
        .service()
        .place(
            &staff(),
            request("CUST-001", &[("PROD-A", 2), ("PROD-B", 1)], None),
        )
        .await
        .unwrap();

    assert!(!placed.replayed);
    assert!(matches!(placed.delivery, Delivery::Published));
    assert_eq!(placed.order.id().as_str(), ID);
}

#[tokio::test]
async fn an_invalid_request_is_reported_field_by_field_and_nothing_is_stored_or_published() {
    // No expectations: any call to a port fails the test.
    let service = Doubles::new().service();
    let err = service
        .place(
            &staff(),
            request(
                "CUST#1",
                &[("PROD-A", 0), ("a/b", 10_001), ("PROD-C", 1)],
                Some("bad key"),
            ),
        )
        .await
        .unwrap_err();
    let fields: Vec<Field> = invalid_fields(err).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            Field::CustomerId,
            Field::IdempotencyKey,
            Field::ItemQuantity(0),
            Field::ItemProductId(1),
            Field::ItemQuantity(1),
        ]
    );
}

#[tokio::test]
async fn list_rules_are_checked_and_nothing_is_stored() {
    let service = Doubles::new().service();
    let count = ValueError::ItemCount { min: 1, max: 100 };
    let many: Vec<(String, i64)> = (0..101).map(|i| (format!("P{i}"), 1)).collect();
    let many: Vec<(&str, i64)> = many.iter().map(|(p, q)| (p.as_str(), *q)).collect();
    let mut many_and_bad = many.clone();
    many_and_bad[0].1 = 0;
    for (items, expected) in [
        (vec![], vec![(Field::Items, count.clone())]),
        (many, vec![(Field::Items, count.clone())]),
        (
            many_and_bad,
            vec![
                (
                    Field::ItemQuantity(0),
                    ValueError::OutOfRange {
                        min: 1,
                        max: 10_000,
                    },
                ),
                (Field::Items, count.clone()),
            ],
        ),
        (
            vec![("A", 1), ("B", 1), ("A", 2)],
            vec![(Field::Items, ValueError::DuplicateProduct("A".into()))],
        ),
    ] {
        let err = service
            .place(&staff(), request("C", &items, None))
            .await
            .unwrap_err();
        assert_eq!(invalid_fields(err), expected);
    }
}

#[tokio::test]
async fn a_failing_store_fails_the_request_and_nothing_is_published() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo
        .expect_create()
        .times(1)
        .returning(|_, _| Err(RepositoryError::Unavailable("throttled".into())));
    let err = d
        .service()
        .place(&staff(), request("C", &[("A", 1)], None))
        .await
        .unwrap_err();
    assert!(matches!(err, OrderError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_failing_bus_still_acknowledges_the_order_and_keeps_its_mark() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo
        .expect_create()
        .times(1)
        .returning(|_, _| Ok(CreateOutcome::Created));
    d.events
        .expect_publish()
        .times(1)
        .returning(|_| Err(PublishError::Unavailable("bus down".into())));
    // No clear_mark expectation: the mark must stay for the relay.
    let placed = d
        .service()
        .place(&staff(), request("C", &[("A", 1)], None))
        .await
        .unwrap();
    assert!(matches!(
        placed.delivery,
        Delivery::Deferred(DeliveryError::Publish(PublishError::Unavailable(_)))
    ));
    assert_eq!(placed.order.status(), OrderStatus::Created);
}

/// A bus that never answers (a connection the network swallowed).
struct Stalled;

#[async_trait::async_trait]
impl EventPublisher for Stalled {
    async fn publish(&self, _events: &[OrderEvent]) -> Result<(), PublishError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn publishing_stops_at_the_deadline_and_the_order_is_acknowledged_with_its_mark() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo
        .expect_create()
        .times(1)
        .returning(|_, _| Ok(CreateOutcome::Created));
    // No clear_mark expectation: the mark must stay for the relay.
    let service = OrderService::new(
        Arc::new(d.repo),
        Arc::new(Stalled),
        Arc::new(d.clock),
        Arc::new(d.ids),
        config(),
    );
    // A deadline already passed when publishing starts.
    let placed = service
        .place_by(
            &staff(),
            request("C", &[("A", 1)], None),
            std::future::ready(()),
        )
        .await
        .unwrap();
    assert!(
        matches!(
            placed.delivery,
            Delivery::Deferred(DeliveryError::OutOfTime)
        ),
        "{:?}",
        placed.delivery
    );
    assert_eq!(placed.order.status(), OrderStatus::Created);
}

#[tokio::test]
async fn an_idempotency_key_is_stored_with_the_request_hash_and_expiry() {
    let mut d = Doubles::new().with_time_and_ids();
    let hash = RequestHash::of_order_request(
        &CustomerId::parse("C").unwrap(),
        &LineItems::parse(vec![LineItem::new(
            ProductId::parse("A").unwrap(),
            Quantity::parse(1).unwrap(),
        )])
        .unwrap(),
    );
    d.repo
        .expect_create()
        .withf(move |_, record| {
            record.as_ref().is_some_and(|r| {
                r.key.as_str() == "key-1"
                    && r.scope == "staff:staff-1"
                    && r.request_hash == hash
                    && r.expires_at == now().plus(Duration::from_secs(86_400))
            })
        })
        .times(1)
        .returning(|_, _| Ok(CreateOutcome::Created));
    d.events.expect_publish().times(1).returning(|_| Ok(()));
    d.repo.expect_clear_mark().times(1).returning(|_, _| Ok(()));
    d.service()
        .place(&staff(), request("C", &[("A", 1)], Some("key-1")))
        .await
        .unwrap();
}

#[tokio::test]
async fn placing_again_with_the_same_key_returns_the_first_order_and_publishes_nothing() {
    let mut d = Doubles::new().with_time_and_ids();
    let original = stored_order(OrderStatus::Confirmed);
    let returned = original.clone();
    d.repo
        .expect_create()
        .times(1)
        .returning(move |_, _| Ok(CreateOutcome::Replayed(returned.clone())));
    let placed = d
        .service()
        .place(
            &staff(),
            request("CUST-001", &[("PROD-A", 2)], Some("key-1")),
        )
        .await
        .unwrap();
    assert!(placed.replayed);
    assert_eq!(placed.order, original);
    assert!(matches!(placed.delivery, Delivery::Unchanged));
}

#[tokio::test]
async fn the_same_key_with_another_request_is_refused() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo
        .expect_create()
        .returning(|_, _| Err(RepositoryError::IdempotencyKeyReused));
    let err = d
        .service()
        .place(&staff(), request("C", &[("A", 1)], Some("key-1")))
        .await
        .unwrap_err();
    assert!(matches!(err, OrderError::IdempotencyKeyReused));
}

#[tokio::test]
async fn cancelling_stores_the_new_version_with_a_mark_and_publishes_order_cancelled() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo
        .expect_get()
        .with(eq(order_id()))
        .returning(|_| Ok(Some(stored_order(OrderStatus::Confirmed))));
    d.repo
        .expect_update()
        .withf(|order, expected, mark| {
            order.status() == OrderStatus::Cancelled
                && order.version() == Version::new(3).unwrap()
                && *expected == Version::new(2).unwrap()
                && *mark == Some(EventKind::OrderCancelled)
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    d.events
        .expect_publish()
        .withf(|events| events.len() == 1 && events[0].kind == EventKind::OrderCancelled)
        .times(1)
        .returning(|_| Ok(()));
    d.repo
        .expect_clear_mark()
        .with(eq(order_id()), eq(EventKind::OrderCancelled))
        .times(1)
        .returning(|_, _| Ok(()));
    let (order, delivery) = d.service().cancel(&staff(), &order_id()).await.unwrap();
    assert_eq!(order.status(), OrderStatus::Cancelled);
    assert!(matches!(delivery, Delivery::Published));
}

#[tokio::test]
async fn cancelling_a_cancelled_order_returns_it_and_writes_and_publishes_nothing() {
    // No update, clear_mark or publish is expected: the doubles fail the
    // test on any.
    let mut d = Doubles::new().with_time_and_ids();
    d.repo
        .expect_get()
        .returning(|_| Ok(Some(stored_order(OrderStatus::Cancelled))));
    let (order, delivery) = d.service().cancel(&staff(), &order_id()).await.unwrap();
    assert_eq!(order.status(), OrderStatus::Cancelled);
    assert!(matches!(delivery, Delivery::Unchanged));
}

#[tokio::test]
async fn cancelling_an_unknown_order_is_not_found() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo.expect_get().returning(|_| Ok(None));
    let err = d.service().cancel(&staff(), &order_id()).await.unwrap_err();
    assert!(matches!(err, OrderError::NotFound));
}

#[tokio::test]
async fn a_concurrent_change_is_retried_from_a_fresh_read() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo
        .expect_get()
        .times(2)
        .returning(|_| Ok(Some(stored_order(OrderStatus::Created))));
    let mut calls = 0;
    d.repo.expect_update().times(2).returning(move |_, _, _| {
        calls += 1;
        if calls == 1 {
            Err(RepositoryError::VersionConflict)
        } else {
            Ok(())
        }
    });
    d.events.expect_publish().times(1).returning(|_| Ok(()));
    d.repo.expect_clear_mark().times(1).returning(|_, _| Ok(()));
    let (order, _) = d.service().cancel(&staff(), &order_id()).await.unwrap();
    assert_eq!(order.status(), OrderStatus::Cancelled);
}

#[tokio::test]
async fn a_change_that_keeps_conflicting_gives_up_with_a_conflict() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo
        .expect_get()
        .times(3)
        .returning(|_| Ok(Some(stored_order(OrderStatus::Created))));
    d.repo
        .expect_update()
        .times(3)
        .returning(|_, _, _| Err(RepositoryError::VersionConflict));
    let err = d.service().cancel(&staff(), &order_id()).await.unwrap_err();
    assert!(matches!(err, OrderError::Conflict));
}

#[tokio::test]
async fn confirming_a_created_order_stores_it_without_a_mark_or_an_event() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo
        .expect_get()
        .returning(|_| Ok(Some(stored_order(OrderStatus::Created))));
    d.repo
        .expect_update()
        .withf(|order, expected, mark| {
            order.status() == OrderStatus::Confirmed
                && *expected == Version::INITIAL
                && mark.is_none()
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let (order, outcome) = d.service().confirm(&order_id()).await.unwrap();
    assert_eq!(outcome, Confirmation::Confirmed);
    assert_eq!(order.status(), OrderStatus::Confirmed);
}

#[tokio::test]
async fn confirming_again_writes_nothing() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo
        .expect_get()
        .returning(|_| Ok(Some(stored_order(OrderStatus::Confirmed))));
    let (_, outcome) = d.service().confirm(&order_id()).await.unwrap();
    assert_eq!(outcome, Confirmation::AlreadyConfirmed);
}

/// An `OrderPlaced` of version 1 for an order since cancelled (version 2):
/// older than what was applied, so ignored; nothing is written.
#[tokio::test]
async fn an_order_placed_older_than_the_stored_order_is_superseded_and_writes_nothing() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo
        .expect_get()
        .returning(|_| Ok(Some(stored_order(OrderStatus::Cancelled))));
    let (order, outcome) = d
        .service()
        .confirm_placed(&order_id(), Some(Version::INITIAL))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Confirmation::Superseded {
            applied: order.version()
        }
    );
    assert!(order.version() > Version::INITIAL);
}

#[tokio::test]
async fn an_order_placed_of_the_stored_version_confirms_and_a_repeat_is_already_confirmed() {
    for (status, expected) in [
        (OrderStatus::Created, Confirmation::Confirmed),
        (OrderStatus::Confirmed, Confirmation::AlreadyConfirmed),
    ] {
        let mut d = Doubles::new().with_time_and_ids();
        d.repo
            .expect_get()
            .returning(move |_| Ok(Some(stored_order(status))));
        d.repo.expect_update().returning(|_, _, _| Ok(()));
        let (_, outcome) = d
            .service()
            .confirm_placed(&order_id(), Some(Version::INITIAL))
            .await
            .unwrap();
        assert_eq!(outcome, expected, "{status:?}");
    }
}

#[tokio::test]
async fn listing_decodes_the_cursor_and_encodes_the_next_one() {
    let mut d = Doubles::new().with_time_and_ids();
    let customer = CustomerId::parse("CUST-001").unwrap();
    let position = ListPosition {
        created_at: now(),
        order_id: order_id(),
    };
    let cursor = ListCursor::encode(&key(), &staff(), &customer, &position);
    let expected = position.clone();
    d.repo
        .expect_list_by_customer()
        .withf(move |c, limit, after| {
            c.as_str() == "CUST-001" && limit.get() == 5 && after.as_ref() == Some(&expected)
        })
        .times(1)
        .returning(move |_, _, after| {
            Ok(OrderPage {
                orders: vec![stored_order(OrderStatus::Created)],
                next: after,
            })
        });
    let (orders, next) = d
        .service()
        .list(
            &staff(),
            &customer,
            PageLimit::parse(5).unwrap(),
            Some(&cursor),
        )
        .await
        .unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(next.as_deref(), Some(cursor.as_str()));
}

#[tokio::test]
async fn a_cursor_of_another_customer_is_refused_before_the_store_is_asked() {
    let service = Doubles::new().service();
    let cursor = ListCursor::encode(
        &key(),
        &customer("OTHER"),
        &CustomerId::parse("OTHER").unwrap(),
        &ListPosition {
            created_at: now(),
            order_id: order_id(),
        },
    );
    let err = service
        .list(
            &customer("ME"),
            &CustomerId::parse("ME").unwrap(),
            PageLimit::DEFAULT,
            Some(&cursor),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, OrderError::InvalidCursor(_)));
}

fn pending(kind: EventKind) -> PendingEvent {
    PendingEvent {
        order: stored_order(OrderStatus::Created),
        kind,
        marked_at: Timestamp::from_unix_millis(NOW - 60_000).unwrap(),
    }
}

#[tokio::test]
async fn the_relay_clears_only_the_marks_of_accepted_events() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo
        .expect_pending_events()
        .withf(|cutoff, limit| *cutoff == now().minus(Duration::from_secs(30)) && *limit == 50)
        .returning(|_, _| {
            Ok(PendingEvents {
                events: vec![
                    pending(EventKind::OrderPlaced),
                    pending(EventKind::OrderCancelled),
                ],
                corrupt: vec![],
            })
        });
    d.events.expect_publish().times(1).returning(|events| {
        assert_eq!(events.len(), 2);
        Err(PublishError::Rejected {
            failed: vec![RejectedEvent {
                index: 1,
                reason: "InternalFailure".into(),
            }],
        })
    });
    d.repo
        .expect_clear_mark()
        .with(eq(order_id()), eq(EventKind::OrderPlaced))
        .times(1)
        .returning(|_, _| Ok(()));
    let report = d
        .service()
        .relay(Duration::from_secs(30), 50)
        .await
        .unwrap();
    assert_eq!(
        report,
        RelayReport {
            published: 1,
            failed: 1,
            corrupt: vec![],
            oldest_mark_age: Some(Duration::from_secs(60)),
        }
    );
}

#[tokio::test]
async fn the_relay_keeps_every_mark_when_the_bus_is_down_and_reports_damaged_entries() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo.expect_pending_events().returning(|_, _| {
        Ok(PendingEvents {
            events: vec![pending(EventKind::OrderPlaced)],
            corrupt: vec!["item X: damaged".into()],
        })
    });
    d.events
        .expect_publish()
        .returning(|_| Err(PublishError::Unavailable("down".into())));
    let report = d.service().relay(Duration::ZERO, 10).await.unwrap();
    assert_eq!(
        report,
        RelayReport {
            published: 0,
            failed: 1,
            corrupt: vec!["item X: damaged".into()],
            oldest_mark_age: Some(Duration::from_secs(60)),
        }
    );
}

#[tokio::test]
async fn the_relay_with_nothing_marked_publishes_nothing() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo
        .expect_pending_events()
        .returning(|_, _| Ok(PendingEvents::default()));
    let report = d.service().relay(Duration::ZERO, 10).await.unwrap();
    assert_eq!(report, RelayReport::default());
}

// Who may do what (`Caller`): one table per use case. The order the
// doubles hold belongs to CUST-001.

/// What a rule expects of a use case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Allowed,
    NotFound,
    Forbidden,
    Invalid,
}

fn outcome<T: std::fmt::Debug>(result: Result<T, OrderError>) -> Expect {
    match result {
        Ok(_) => Expect::Allowed,
        Err(OrderError::NotFound) => Expect::NotFound,
        Err(OrderError::Forbidden(_)) => Expect::Forbidden,
        Err(OrderError::Invalid(_)) => Expect::Invalid,
        Err(other) => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn who_may_place_an_order_for_whom() {
    // (caller, body customerId, expected, the customer the order is for)
    let cases: [(Caller, Option<&str>, Expect, Option<&str>); 6] = [
        (
            customer("CUST-001"),
            None,
            Expect::Allowed,
            Some("CUST-001"),
        ),
        (
            customer("CUST-001"),
            Some("CUST-001"),
            Expect::Allowed,
            Some("CUST-001"),
        ),
        (
            customer("CUST-001"),
            Some("CUST-002"),
            Expect::Forbidden,
            None,
        ),
        (staff(), Some("CUST-002"), Expect::Allowed, Some("CUST-002")),
        (staff(), None, Expect::Invalid, None),
        (customer("CUST-001"), Some("C#1"), Expect::Invalid, None),
    ];
    for (caller, named, expected, stored_for) in cases {
        let mut d = Doubles::new().with_time_and_ids();
        if let Some(owner) = stored_for {
            let owner = owner.to_owned();
            d.repo
                .expect_create()
                .withf(move |order, _| order.customer_id().as_str() == owner)
                .times(1)
                .returning(|_, _| Ok(CreateOutcome::Created));
            d.events.expect_publish().returning(|_| Ok(()));
            d.repo.expect_clear_mark().returning(|_, _| Ok(()));
        }
        let mut body = request("X", &[("A", 1)], None);
        body.customer_id = named.map(str::to_owned);
        let got = outcome(d.service().place(&caller, body).await);
        assert_eq!(got, expected, "{caller} places for {named:?}");
    }
}

#[tokio::test]
async fn who_may_read_and_cancel_an_order() {
    let cases = [
        (customer("CUST-001"), Expect::Allowed),
        (customer("CUST-002"), Expect::NotFound),
        (staff(), Expect::Allowed),
    ];
    for (caller, expected) in cases {
        let mut d = Doubles::new().with_time_and_ids();
        d.repo
            .expect_get()
            .returning(|_| Ok(Some(stored_order(OrderStatus::Created))));
        if expected == Expect::Allowed {
            d.repo.expect_update().times(1).returning(|_, _, _| Ok(()));
            d.events.expect_publish().times(1).returning(|_| Ok(()));
            d.repo.expect_clear_mark().times(1).returning(|_, _| Ok(()));
        }
        let service = d.service();
        assert_eq!(
            outcome(service.get(&caller, &order_id()).await),
            expected,
            "{caller} reads"
        );
        // Another customer's cancel changes nothing: no update is expected.
        assert_eq!(
            outcome(service.cancel(&caller, &order_id()).await),
            expected,
            "{caller} cancels"
        );
    }
}

#[tokio::test]
async fn a_missing_order_and_another_customers_order_are_the_same_answer() {
    let mut d = Doubles::new().with_time_and_ids();
    d.repo.expect_get().returning(|_| Ok(None));
    let service = d.service();
    let missing = service
        .get(&customer("CUST-002"), &order_id())
        .await
        .unwrap_err();
    assert_eq!(missing.to_string(), OrderError::NotFound.to_string());
}

/// Doubles whose store answers one (empty) listing when `asked`, and
/// none otherwise (an unexpected call panics).
fn lists_once_if(asked: bool) -> Doubles {
    let mut d = Doubles::new();
    if asked {
        d.repo
            .expect_list_by_customer()
            .times(1)
            .returning(|_, _, _| {
                Ok(OrderPage {
                    orders: vec![],
                    next: None,
                })
            });
    }
    d
}

#[tokio::test]
async fn who_may_list_whose_orders() {
    let cases = [
        (customer("CUST-001"), "CUST-001", Expect::Allowed),
        (customer("CUST-002"), "CUST-001", Expect::Forbidden),
        (staff(), "CUST-001", Expect::Allowed),
        (staff(), "CUST-002", Expect::Allowed),
    ];
    for (caller, list, expected) in cases {
        let d = lists_once_if(expected == Expect::Allowed);
        let list = CustomerId::parse(list).unwrap();
        let got = outcome(
            d.service()
                .list(&caller, &list, PageLimit::DEFAULT, None)
                .await,
        );
        assert_eq!(got, expected, "{caller} lists {list}");
    }
}

#[tokio::test]
async fn a_cursor_is_good_only_for_the_caller_it_was_issued_to() {
    let list = CustomerId::parse("CUST-001").unwrap();
    let position = ListPosition {
        created_at: now(),
        order_id: order_id(),
    };
    let issued_to_customer = ListCursor::encode(&key(), &customer("CUST-001"), &list, &position);
    let issued_to_staff = ListCursor::encode(&key(), &staff(), &list, &position);
    let other_staff = Caller::Staff(crate::caller::StaffId::parse("staff-2").unwrap());
    let cases = [
        (customer("CUST-001"), &issued_to_customer, true),
        (staff(), &issued_to_customer, false),
        (staff(), &issued_to_staff, true),
        (other_staff, &issued_to_staff, false),
        (customer("CUST-001"), &issued_to_staff, false),
    ];
    for (caller, cursor, accepted) in cases {
        let d = lists_once_if(accepted);
        let result = d
            .service()
            .list(&caller, &list, PageLimit::DEFAULT, Some(cursor))
            .await;
        match (accepted, result) {
            (true, Ok(_)) => {}
            (false, Err(OrderError::InvalidCursor(CursorError::OtherCaller))) => {}
            (_, other) => panic!("{caller}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn idempotency_records_are_scoped_to_the_caller() {
    for (caller, scope) in [
        (customer("CUST-001"), "customer:CUST-001"),
        (customer("CUST-002"), "customer:CUST-002"),
        (staff(), "staff:staff-1"),
    ] {
        let mut d = Doubles::new().with_time_and_ids();
        d.repo
            .expect_create()
            .withf(move |_, record| record.as_ref().is_some_and(|r| r.scope == scope))
            .times(1)
            .returning(|_, _| Ok(CreateOutcome::Created));
        d.events.expect_publish().returning(|_| Ok(()));
        d.repo.expect_clear_mark().returning(|_, _| Ok(()));
        let mut body = request("X", &[("A", 1)], Some("same-key"));
        body.customer_id = match &caller {
            Caller::Customer(_) => None,
            Caller::Staff(_) => Some("CUST-001".into()),
        };
        d.service().place(&caller, body).await.unwrap();
    }
}
