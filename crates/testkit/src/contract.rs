//! The `OrderRepository` contract suite: one set of cases that every
//! adapter must pass, so the in-memory fake and DynamoDB behave alike.
//!
//! Use it through `repository_contract!`, which makes one `#[tokio::test]`
//! per case; the expression it is given makes a fresh, empty repository
//! for each case (a fresh table, for DynamoDB).

use std::sync::Arc;
use std::time::Duration;

use domain::{
    CreateOutcome, EventKind, IdempotencyKey, IdempotencyRecord, ListPosition, Order,
    OrderRepository, OrderStatus, PageLimit, RepositoryError, RequestHash, Version,
};
use tokio::task::JoinSet;

use crate::orders::{as_customer, at, customer, items, order_id, placed, staff};

pub type Repo = Arc<dyn OrderRepository>;

/// Expands to one test per contract case. `$make` is an async expression
/// evaluating to an `Arc<dyn OrderRepository>` that is fresh and empty.
#[macro_export]
macro_rules! repository_contract {
    ($make:expr) => {
        $crate::repository_contract!(@cases $make;
            create_then_get_returns_the_same_order,
            get_of_an_unknown_id_is_none,
            creating_an_existing_id_is_refused,
            an_update_with_the_stored_version_is_stored,
            an_update_with_a_stale_version_is_a_conflict_and_changes_nothing,
            a_cancellation_is_stored_with_who_cancelled_and_when,
            an_update_of_an_unknown_order_is_not_found,
            of_concurrent_updates_from_one_version_exactly_one_wins,
            a_used_key_replays_refuses_or_makes_a_new_order,
            concurrent_places_with_one_key_store_one_order,
            concurrent_places_store_every_order,
            listing_is_newest_first_and_pages_without_gaps_or_repeats,
            listing_shows_only_the_customers_orders,
            cancel_and_confirm_transitions_are_stored,
            placing_sets_a_mark_and_clearing_it_keeps_the_version,
            an_update_can_add_a_mark,
            pending_events_respect_the_cutoff_order_and_limit,
            clearing_a_missing_mark_succeeds,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let repo: $crate::contract::Repo = $make;
                $crate::contract::$case(repo).await;
            }
        )+
    };
}

/// A record in the scope of the order's own customer.
fn record(key: &str, order: &Order, ttl: Duration) -> IdempotencyRecord {
    IdempotencyRecord {
        scope: format!("customer:{}", order.customer_id()),
        key: IdempotencyKey::parse(key).unwrap_or_else(|e| panic!("{key:?}: {e}")),
        request_hash: RequestHash::of_order_request(order.customer_id(), order.items()),
        expires_at: order.created_at().plus(ttl),
    }
}

const DAY: Duration = Duration::from_secs(86_400);

/// A unique idempotency key, so cases can share a table safely.
fn unique_key(name: &str) -> String {
    format!("{name}-{}", order_id().as_str())
}

async fn create(repo: &Repo, order: &Order) {
    match repo.create(order, None).await {
        Ok(CreateOutcome::Created) => {}
        other => panic!("create {}: {other:?}", order.id()),
    }
}

async fn stored(repo: &Repo, order: &Order) -> Order {
    repo.get(order.id())
        .await
        .unwrap_or_else(|e| panic!("get {}: {e:?}", order.id()))
        .unwrap_or_else(|| panic!("{} is not stored", order.id()))
}

pub async fn create_then_get_returns_the_same_order(repo: Repo) {
    let order = placed("C-get", 0);
    create(&repo, &order).await;
    assert_eq!(stored(&repo, &order).await, order);
}

pub async fn get_of_an_unknown_id_is_none(repo: Repo) {
    assert_eq!(repo.get(&order_id()).await.ok(), Some(None));
}

pub async fn creating_an_existing_id_is_refused(repo: Repo) {
    let order = placed("C-dup", 0);
    create(&repo, &order).await;
    let twin = Order::place(
        order.id().clone(),
        customer("C-other"),
        items(&[("X", 1)]),
        at(5),
    );
    let result = repo.create(&twin, None).await;
    assert!(
        matches!(result, Err(RepositoryError::AlreadyExists)),
        "{result:?}"
    );
    assert_eq!(stored(&repo, &order).await, order);
}

pub async fn an_update_with_the_stored_version_is_stored(repo: Repo) {
    let mut order = placed("C-upd", 0);
    create(&repo, &order).await;
    order.confirm(at(10)).expect("created orders confirm");
    repo.update(&order, Version::INITIAL, None)
        .await
        .expect("update with the stored version");
    let now = stored(&repo, &order).await;
    assert_eq!(now, order);
    assert_eq!(now.version().get(), 2);
}

/// MUST store who cancelled an order and when with it (the audit trail),
/// for staff and customers alike.
pub async fn a_cancellation_is_stored_with_who_cancelled_and_when(repo: Repo) {
    for (tag, who) in [
        ("C-audit-s", staff()),
        ("C-audit-c", as_customer("C-audit-c")),
    ] {
        let order = placed(tag, 0);
        create(&repo, &order).await;
        let mut cancelled = order.clone();
        cancelled.cancel(&who, at(30)).expect("cancel");
        repo.update(
            &cancelled,
            Version::INITIAL,
            Some(EventKind::OrderCancelled),
        )
        .await
        .expect("update");
        let read = stored(&repo, &order).await;
        let trail = read.cancellation().expect("a cancellation");
        assert_eq!((&trail.by, trail.at), (&who, at(30)));
        assert_eq!(read, cancelled);
    }
}

pub async fn an_update_with_a_stale_version_is_a_conflict_and_changes_nothing(repo: Repo) {
    let original = placed("C-stale", 0);
    create(&repo, &original).await;
    let mut first = original.clone();
    first.confirm(at(10)).expect("confirm");
    repo.update(&first, Version::INITIAL, None)
        .await
        .expect("first update");
    let mut second = original.clone();
    second.cancel(&staff(), at(20)).expect("cancel");
    let result = repo
        .update(&second, Version::INITIAL, Some(EventKind::OrderCancelled))
        .await;
    assert!(
        matches!(result, Err(RepositoryError::VersionConflict)),
        "{result:?}"
    );
    assert_eq!(stored(&repo, &original).await, first);
    let marks = repo
        .pending_events(at(1_000), 100)
        .await
        .expect("pending")
        .events;
    assert!(
        marks.iter().all(|p| p.kind != EventKind::OrderCancelled),
        "a refused update left a mark: {marks:?}"
    );
}

pub async fn an_update_of_an_unknown_order_is_not_found(repo: Repo) {
    let mut order = placed("C-none", 0);
    order.confirm(at(1)).expect("confirm");
    let result = repo.update(&order, Version::INITIAL, None).await;
    assert!(
        matches!(result, Err(RepositoryError::NotFound)),
        "{result:?}"
    );
    assert_eq!(repo.get(order.id()).await.ok(), Some(None));
}

pub async fn of_concurrent_updates_from_one_version_exactly_one_wins(repo: Repo) {
    let order = placed("C-race", 0);
    create(&repo, &order).await;
    let mut tasks = JoinSet::new();
    for i in 0..10 {
        let repo = repo.clone();
        let mut mine = order.clone();
        tasks.spawn(async move {
            if i % 2 == 0 {
                mine.confirm(at(10 + i)).expect("confirm");
            } else {
                mine.cancel(&staff(), at(10 + i)).expect("cancel");
            }
            repo.update(&mine, Version::INITIAL, None)
                .await
                .map(|()| mine)
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task") {
            Ok(order) => winners.push(order),
            Err(RepositoryError::VersionConflict) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(stored(&repo, &order).await, winners[0]);
}

/// What a second place with a used idempotency key gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecondUse {
    /// The first order, and nothing stored for the second.
    Replayed,
    /// `IdempotencyKeyReused`, and nothing stored for the second.
    Refused,
    /// A new order, stored beside the first.
    Created,
}

/// One row of [`a_used_key_replays_refuses_or_makes_a_new_order`].
struct KeyUsedAgain {
    what: &'static str,
    /// Whether the second order's items differ from the first's.
    differs: bool,
    /// The first's and the second's scopes; `None`: the customer's.
    scopes: Option<(&'static str, &'static str)>,
    /// How long the first record lives.
    lifetime: Duration,
    /// When the second comes, in ms after the first.
    later: i64,
    expected: SecondUse,
}

/// A key used again: the same request replays the first order, another
/// request is refused, and the same request in another caller's scope or
/// after the key expired is a new order.
pub async fn a_used_key_replays_refuses_or_makes_a_new_order(repo: Repo) {
    let same = |what, expected| KeyUsedAgain {
        what,
        differs: false,
        scopes: None,
        lifetime: DAY,
        later: 500,
        expected,
    };
    let cases = [
        same("the same request", SecondUse::Replayed),
        KeyUsedAgain {
            differs: true,
            ..same("another request", SecondUse::Refused)
        },
        KeyUsedAgain {
            scopes: Some(("staff:one", "staff:two")),
            ..same(
                "the same request from another member of staff",
                SecondUse::Created,
            )
        },
        KeyUsedAgain {
            differs: true,
            lifetime: Duration::from_secs(1),
            later: 2_000,
            ..same("another request after the key expired", SecondUse::Created)
        },
    ];
    for KeyUsedAgain {
        what,
        differs,
        scopes,
        lifetime,
        later,
        expected,
    } in cases
    {
        let key = unique_key("again");
        let first = placed("C-idem", 0);
        // The second carries a new id and time, as a new request would.
        let items = if differs {
            items(&[("PROD-Z", 9)])
        } else {
            first.items().clone()
        };
        let second = Order::place(order_id(), first.customer_id().clone(), items, at(later));
        let scoped = |record: IdempotencyRecord, scope: Option<&str>| IdempotencyRecord {
            scope: scope.map_or(record.scope.clone(), str::to_owned),
            ..record
        };
        let outcome = repo
            .create(
                &first,
                Some(scoped(record(&key, &first, lifetime), scopes.map(|s| s.0))),
            )
            .await;
        assert!(
            matches!(outcome, Ok(CreateOutcome::Created)),
            "{what}: {outcome:?}"
        );
        let outcome = repo
            .create(
                &second,
                Some(scoped(record(&key, &second, DAY), scopes.map(|s| s.1))),
            )
            .await;
        match (expected, outcome) {
            (SecondUse::Replayed, Ok(CreateOutcome::Replayed(original))) => {
                assert_eq!(original, first, "{what}");
            }
            (SecondUse::Refused, Err(RepositoryError::IdempotencyKeyReused))
            | (SecondUse::Created, Ok(CreateOutcome::Created)) => {}
            (expected, other) => panic!("{what}: expected {expected:?}, got {other:?}"),
        }
        assert_eq!(stored(&repo, &first).await, first, "{what}");
        if expected == SecondUse::Created {
            assert_eq!(stored(&repo, &second).await, second, "{what}");
        } else {
            assert_eq!(repo.get(second.id()).await.ok(), Some(None), "{what}");
        }
    }
}

pub async fn concurrent_places_with_one_key_store_one_order(repo: Repo) {
    let key = unique_key("burst");
    let owner = format!("C-burst-{}", &order_id().as_str()[4..14]);
    let mut tasks = JoinSet::new();
    for i in 0..20 {
        let repo = repo.clone();
        let key = key.clone();
        let owner = owner.clone();
        tasks.spawn(async move {
            let order = Order::place(order_id(), customer(&owner), items(&[("PROD-A", 1)]), at(i));
            let outcome = repo.create(&order, Some(record(&key, &order, DAY))).await;
            (order, outcome)
        });
    }
    let mut created = Vec::new();
    let mut replayed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task") {
            (order, Ok(CreateOutcome::Created)) => created.push(order),
            (_, Ok(CreateOutcome::Replayed(original))) => replayed.push(original),
            (_, Err(err)) => panic!("a place with a shared key failed: {err:?}"),
        }
    }
    assert_eq!(created.len(), 1, "created: {created:?}");
    assert_eq!(replayed.len(), 19);
    assert!(replayed.iter().all(|o| o == &created[0]));
    let listed = list_all(&repo, &owner, 100).await;
    assert_eq!(listed, created);
}

pub async fn concurrent_places_store_every_order(repo: Repo) {
    let owner = format!("C-many-{}", &order_id().as_str()[4..14]);
    let mut tasks = JoinSet::new();
    for i in 0..100 {
        let repo = repo.clone();
        let owner = owner.clone();
        tasks.spawn(async move {
            let order = placed(&owner, i);
            repo.create(&order, None).await.map(|_| order.id().clone())
        });
    }
    let mut ids = std::collections::HashSet::new();
    while let Some(joined) = tasks.join_next().await {
        ids.insert(joined.expect("task").expect("create"));
    }
    assert_eq!(ids.len(), 100);
    let listed = list_all(&repo, &owner, 100).await;
    assert_eq!(listed.len(), 100);
    assert!(listed.iter().all(|o| ids.contains(o.id())));
}

async fn list_all(repo: &Repo, owner: &str, page_size: i64) -> Vec<Order> {
    let limit = PageLimit::parse(page_size).expect("page size");
    let mut all = Vec::new();
    let mut after: Option<ListPosition> = None;
    for _ in 0..1_000 {
        let page = repo
            .list_by_customer(&customer(owner), limit, after.clone())
            .await
            .expect("list");
        assert!(page.orders.len() <= usize::try_from(limit.get()).unwrap_or(usize::MAX));
        all.extend(page.orders);
        match page.next {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
    panic!("listing did not end");
}

pub async fn listing_is_newest_first_and_pages_without_gaps_or_repeats(repo: Repo) {
    let owner = format!("C-page-{}", &order_id().as_str()[4..14]);
    let mut orders = Vec::new();
    for i in 0..25 {
        // Two orders share each millisecond: the id breaks the tie.
        let order = placed(&owner, i / 2);
        create(&repo, &order).await;
        orders.push(order);
    }
    orders.sort_by(|a, b| (b.created_at(), b.id()).cmp(&(a.created_at(), a.id())));
    let listed = list_all(&repo, &owner, 10).await;
    assert_eq!(listed, orders);
    let first = repo
        .list_by_customer(&customer(&owner), PageLimit::parse(10).expect("10"), None)
        .await
        .expect("first page");
    assert_eq!(first.orders.len(), 10);
    assert!(first.next.is_some());
    let everything = repo
        .list_by_customer(&customer(&owner), PageLimit::parse(100).expect("100"), None)
        .await
        .expect("one page");
    assert_eq!(everything.orders.len(), 25);
    assert!(everything.next.is_none());
}

pub async fn listing_shows_only_the_customers_orders(repo: Repo) {
    let mine = placed("C-mine", 0);
    let theirs = placed("C-theirs", 1);
    let prefix = placed("C-mine2", 2);
    for order in [&mine, &theirs, &prefix] {
        create(&repo, order).await;
    }
    let page = repo
        .list_by_customer(&customer("C-mine"), PageLimit::DEFAULT, None)
        .await
        .expect("list");
    assert!(page.orders.contains(&mine));
    assert!(
        page.orders
            .iter()
            .all(|o| o.customer_id().as_str() == "C-mine")
    );
    let empty = repo
        .list_by_customer(&customer("C-nobody"), PageLimit::DEFAULT, None)
        .await
        .expect("list");
    assert!(empty.orders.is_empty());
    assert!(empty.next.is_none());
}

pub async fn cancel_and_confirm_transitions_are_stored(repo: Repo) {
    let mut order = placed("C-flow", 0);
    create(&repo, &order).await;
    order.confirm(at(10)).expect("confirm");
    repo.update(&order, Version::INITIAL, None)
        .await
        .expect("confirm stored");
    assert_eq!(stored(&repo, &order).await.status(), OrderStatus::Confirmed);
    let before = order.version();
    order.cancel(&staff(), at(20)).expect("cancel");
    repo.update(&order, before, Some(EventKind::OrderCancelled))
        .await
        .expect("cancel stored");
    let now = stored(&repo, &order).await;
    assert_eq!(now.status(), OrderStatus::Cancelled);
    assert_eq!(now.updated_at(), at(20));
    assert_eq!(now.version().get(), 3);
}

pub async fn placing_sets_a_mark_and_clearing_it_keeps_the_version(repo: Repo) {
    let order = placed("C-mark", 0);
    create(&repo, &order).await;
    let pending = repo
        .pending_events(at(0), 100)
        .await
        .expect("pending")
        .events;
    let mine: Vec<_> = pending
        .iter()
        .filter(|p| p.order.id() == order.id())
        .collect();
    assert_eq!(mine.len(), 1, "{pending:?}");
    assert_eq!(mine[0].kind, EventKind::OrderPlaced);
    assert_eq!(mine[0].marked_at, order.created_at());
    assert_eq!(mine[0].order, order);
    repo.clear_mark(order.id(), EventKind::OrderPlaced)
        .await
        .expect("clear");
    let pending = repo
        .pending_events(at(1_000), 100)
        .await
        .expect("pending")
        .events;
    assert!(
        pending.iter().all(|p| p.order.id() != order.id()),
        "{pending:?}"
    );
    assert_eq!(stored(&repo, &order).await.version(), Version::INITIAL);
}

pub async fn an_update_can_add_a_mark(repo: Repo) {
    let mut order = placed("C-mark2", 0);
    create(&repo, &order).await;
    repo.clear_mark(order.id(), EventKind::OrderPlaced)
        .await
        .expect("clear");
    order.cancel(&staff(), at(50)).expect("cancel");
    repo.update(&order, Version::INITIAL, Some(EventKind::OrderCancelled))
        .await
        .expect("update");
    let pending = repo
        .pending_events(at(50), 100)
        .await
        .expect("pending")
        .events;
    let mine: Vec<_> = pending
        .iter()
        .filter(|p| p.order.id() == order.id())
        .collect();
    assert_eq!(mine.len(), 1, "{pending:?}");
    assert_eq!(mine[0].kind, EventKind::OrderCancelled);
    assert_eq!(mine[0].marked_at, at(50));
    assert_eq!(mine[0].order.status(), OrderStatus::Cancelled);
}

pub async fn pending_events_respect_the_cutoff_order_and_limit(repo: Repo) {
    let owner = format!("C-due-{}", &order_id().as_str()[4..14]);
    let early = placed(&owner, -3_000);
    let middle = placed(&owner, -2_000);
    let late = placed(&owner, 60_000);
    for order in [&late, &middle, &early] {
        create(&repo, order).await;
    }
    let mine = |pending: Vec<domain::PendingEvent>| -> Vec<Order> {
        pending
            .into_iter()
            .filter(|p| p.order.customer_id().as_str() == owner)
            .map(|p| p.order)
            .collect()
    };
    let due = mine(
        repo.pending_events(at(0), 100)
            .await
            .expect("pending")
            .events,
    );
    assert_eq!(due, vec![early.clone(), middle.clone()]);
    let one = repo.pending_events(at(0), 1).await.expect("pending").events;
    assert_eq!(one.len(), 1);
    assert!(one[0].marked_at <= at(-3_000));
}

pub async fn clearing_a_missing_mark_succeeds(repo: Repo) {
    repo.clear_mark(&order_id(), EventKind::OrderPlaced)
        .await
        .expect("clearing a mark of an unknown order");
    let order = placed("C-clear", 0);
    create(&repo, &order).await;
    for _ in 0..2 {
        repo.clear_mark(order.id(), EventKind::OrderCancelled)
            .await
            .expect("clearing an absent kind");
        repo.clear_mark(order.id(), EventKind::OrderPlaced)
            .await
            .expect("clearing twice");
    }
}
