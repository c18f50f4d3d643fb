//! The pattern matcher on the sample OrderPlaced event: the template's
//! rule (exact matches), and a pattern that uses most operators.

use criterion::{Criterion, criterion_group, criterion_main};
use event_pattern::Pattern;
use serde_json::Value;

fn order_placed() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/eventbridge/order-placed.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn pattern(text: &str) -> Pattern {
    Pattern::parse_str(text).unwrap_or_else(|e| panic!("{e}"))
}

fn matcher(c: &mut Criterion) {
    let event = order_placed();
    let rule = pattern(r#"{"source": ["orders.api"], "detail-type": ["OrderPlaced"]}"#);
    let rich = pattern(
        r#"{
            "source": [{"prefix": "orders."}],
            "detail-type": [{"anything-but": ["OrderCancelled", "OrderShipped"]}],
            "detail": {
                "orderId": [{"wildcard": "ORD-*"}],
                "customerId": [{"equals-ignore-case": "cust-001"}, {"prefix": "CUST-"}],
                "items": {"quantity": [{"numeric": [">", 0, "<=", 10000]}]},
                "createdAt": [{"exists": true}]
            },
            "$or": [{"region": ["us-east-1"]}, {"account": [{"suffix": "9012"}]}]
        }"#,
    );
    let miss = pattern(r#"{"source": ["orders.api"], "detail-type": ["OrderCancelled"]}"#);
    assert!(rule.matches(&event).is_ok());
    assert!(rich.matches(&event).is_ok(), "{:?}", rich.matches(&event));
    assert!(miss.matches(&event).is_err());

    c.bench_function("pattern-order-placed-rule", |b| {
        b.iter(|| rule.matches(&event))
    });
    c.bench_function("pattern-every-operator", |b| {
        b.iter(|| rich.matches(&event))
    });
    c.bench_function("pattern-mismatch-named", |b| {
        b.iter(|| miss.matches(&event))
    });
}

criterion_group!(benches, matcher);
criterion_main!(benches);
