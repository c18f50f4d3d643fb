//! Pattern/event cases, both outcomes for every operator; many follow the
//! examples of EventBridge's content-filtering documentation.

use serde_json::{Value, json};

use crate::Pattern;

/// An event in the documentation's shape.
fn event(detail: Value) -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "111122223333",
        "time": "2017-12-22T18:43:48Z",
        "region": "us-west-1",
        "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
        "detail": detail
    })
}

/// `None`: must match. `Some(field)`: must fail, naming `field`.
fn check(pattern: Value, event: &Value, failing_field: Option<&str>) {
    let parsed = Pattern::parse(&pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    match (parsed.matches(event), failing_field) {
        (Ok(()), None) => {}
        (Err(m), Some(field)) => assert_eq!(m.field, field, "{pattern} on {event}: {m}"),
        (Ok(()), Some(field)) => panic!("{pattern} matched, expected a failure at {field}"),
        (Err(m), None) => panic!("{pattern} did not match: {m}"),
    }
}

fn yes(pattern: Value, event: &Value) {
    check(pattern, event, None);
}

fn no(pattern: Value, event: &Value, field: &str) {
    check(pattern, event, Some(field));
}

fn order_placed() -> Value {
    json!({
        "version": "0",
        "id": "1",
        "detail-type": "OrderPlaced",
        "source": "orders.api",
        "account": "123456789012",
        "time": "2026-07-02T11:24:04Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "orderId": "ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R",
            "customerId": "CUST-001",
            "items": [{"productId": "PROD-A", "quantity": 2}, {"productId": "PROD-B", "quantity": 50}],
            "createdAt": "2026-07-02T11:24:04.213Z"
        }
    })
}

#[test]
fn the_order_placed_rule() {
    let rule = json!({"source": ["orders.api"], "detail-type": ["OrderPlaced"]});
    yes(rule.clone(), &order_placed());
    let mut cancelled = order_placed();
    cancelled["detail-type"] = json!("OrderCancelled");
    no(rule.clone(), &cancelled, "detail-type");
    let mut elsewhere = order_placed();
    elsewhere["source"] = json!("orders.admin");
    no(rule, &elsewhere, "source");
}

#[test]
fn exact_values() {
    let e = event(json!({"state": "running", "count": 5, "flag": true, "gone": null}));
    yes(json!({"detail": {"state": ["running"]}}), &e);
    yes(json!({"detail": {"state": ["pending", "running"]}}), &e);
    no(
        json!({"detail": {"state": ["stopped"]}}),
        &e,
        "detail.state",
    );
    no(
        json!({"detail": {"state": ["Running"]}}),
        &e,
        "detail.state",
    );
    yes(json!({"detail": {"count": [5]}}), &e);
    yes(json!({"detail": {"count": [5.0]}}), &e);
    no(json!({"detail": {"count": ["5"]}}), &e, "detail.count");
    yes(json!({"detail": {"flag": [true]}}), &e);
    no(json!({"detail": {"flag": [false]}}), &e, "detail.flag");
    yes(json!({"detail": {"gone": [null]}}), &e);
    no(json!({"detail": {"missing": [null]}}), &e, "detail.missing");
}

#[test]
fn a_pattern_is_an_and_over_its_fields() {
    let e = event(json!({"state": "running"}));
    yes(
        json!({"source": ["aws.ec2"], "detail": {"state": ["running"]}}),
        &e,
    );
    no(
        json!({"source": ["aws.ec2"], "detail": {"state": ["stopped"]}}),
        &e,
        "detail.state",
    );
    no(
        json!({"source": ["aws.s3"], "detail": {"state": ["running"]}}),
        &e,
        "source",
    );
}

#[test]
fn arrays_in_the_event_match_when_any_element_does() {
    let e = event(json!({}));
    yes(
        json!({"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0", "other"]}),
        &e,
    );
    no(
        json!({"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-0"]}),
        &e,
        "resources",
    );
    let items = order_placed();
    yes(
        json!({"detail": {"items": {"productId": ["PROD-B"]}}}),
        &items,
    );
    // Both fields must come from the same element.
    yes(
        json!({"detail": {"items": {"productId": ["PROD-B"], "quantity": [50]}}}),
        &items,
    );
    no(
        json!({"detail": {"items": {"productId": ["PROD-A"], "quantity": [50]}}}),
        &items,
        "detail.items.quantity",
    );
}

#[test]
fn prefix_and_suffix() {
    let e = event(json!({"bucket": "orders-archive", "key": "2026/07/report.PNG"}));
    yes(json!({"detail": {"bucket": [{"prefix": "orders-"}]}}), &e);
    no(
        json!({"detail": {"bucket": [{"prefix": "invoices-"}]}}),
        &e,
        "detail.bucket",
    );
    yes(json!({"detail": {"key": [{"suffix": ".PNG"}]}}), &e);
    no(
        json!({"detail": {"key": [{"suffix": ".png"}]}}),
        &e,
        "detail.key",
    );
    yes(
        json!({"detail": {"key": [{"suffix": {"equals-ignore-case": ".png"}}]}}),
        &e,
    );
    yes(
        json!({"detail": {"bucket": [{"prefix": {"equals-ignore-case": "ORDERS"}}]}}),
        &e,
    );
    no(
        json!({"detail": {"bucket": [{"prefix": {"equals-ignore-case": "ARCHIVE"}}]}}),
        &e,
        "detail.bucket",
    );
    // Prefixes apply to strings only.
    no(
        json!({"detail": {"n": [{"prefix": "1"}]}}),
        &event(json!({"n": 12})),
        "detail.n",
    );
}

#[test]
fn equals_ignore_case() {
    let e = event(json!({"name": "Alice"}));
    yes(
        json!({"detail": {"name": [{"equals-ignore-case": "alice"}]}}),
        &e,
    );
    yes(
        json!({"detail": {"name": [{"equals-ignore-case": "ALICE"}]}}),
        &e,
    );
    no(
        json!({"detail": {"name": [{"equals-ignore-case": "alicia"}]}}),
        &e,
        "detail.name",
    );
}

#[test]
fn anything_but() {
    let e = event(json!({"state": "running", "code": 404, "region": "eu-west-1"}));
    yes(
        json!({"detail": {"state": [{"anything-but": "initializing"}]}}),
        &e,
    );
    no(
        json!({"detail": {"state": [{"anything-but": "running"}]}}),
        &e,
        "detail.state",
    );
    yes(
        json!({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}),
        &e,
    );
    no(
        json!({"detail": {"state": [{"anything-but": ["stopped", "running"]}]}}),
        &e,
        "detail.state",
    );
    yes(
        json!({"detail": {"code": [{"anything-but": [100, 200, 300]}]}}),
        &e,
    );
    no(
        json!({"detail": {"code": [{"anything-but": [404]}]}}),
        &e,
        "detail.code",
    );
    yes(
        json!({"detail": {"region": [{"anything-but": {"prefix": "us-"}}]}}),
        &e,
    );
    no(
        json!({"detail": {"region": [{"anything-but": {"prefix": "eu-"}}]}}),
        &e,
        "detail.region",
    );
    yes(
        json!({"detail": {"region": [{"anything-but": {"suffix": "-2"}}]}}),
        &e,
    );
    no(
        json!({"detail": {"region": [{"anything-but": {"suffix": "-1"}}]}}),
        &e,
        "detail.region",
    );
    yes(
        json!({"detail": {"state": [{"anything-but": {"equals-ignore-case": ["STOPPED"]}}]}}),
        &e,
    );
    no(
        json!({"detail": {"state": [{"anything-but": {"equals-ignore-case": "RUNNING"}}]}}),
        &e,
        "detail.state",
    );
    yes(
        json!({"detail": {"region": [{"anything-but": {"wildcard": "us-*"}}]}}),
        &e,
    );
    no(
        json!({"detail": {"region": [{"anything-but": {"wildcard": "eu-*"}}]}}),
        &e,
        "detail.region",
    );
    // A missing field is not "anything but": it is nothing.
    no(
        json!({"detail": {"absent": [{"anything-but": "x"}]}}),
        &e,
        "detail.absent",
    );
}

#[test]
fn numeric() {
    let e = event(json!({"c-count": 5, "d-count": 0.5, "x-limit": 301.8, "text": "5"}));
    yes(
        json!({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}),
        &e,
    );
    no(
        json!({"detail": {"c-count": [{"numeric": [">", 5]}]}}),
        &e,
        "detail.c-count",
    );
    yes(json!({"detail": {"d-count": [{"numeric": ["<", 10]}]}}), &e);
    no(
        json!({"detail": {"d-count": [{"numeric": [">=", 1]}]}}),
        &e,
        "detail.d-count",
    );
    yes(
        json!({"detail": {"x-limit": [{"numeric": ["=", 301.8]}]}}),
        &e,
    );
    no(
        json!({"detail": {"x-limit": [{"numeric": ["=", 301]}]}}),
        &e,
        "detail.x-limit",
    );
    // Numeric matching works on JSON numbers only.
    no(
        json!({"detail": {"text": [{"numeric": ["=", 5]}]}}),
        &e,
        "detail.text",
    );
    yes(
        json!({"detail": {"items": {"quantity": [{"numeric": [">=", 50]}]}}}),
        &order_placed(),
    );
    no(
        json!({"detail": {"items": {"quantity": [{"numeric": [">", 100]}]}}}),
        &order_placed(),
        "detail.items.quantity",
    );
}

#[test]
fn exists() {
    let e = event(json!({"state": "running", "nested": {"a": 1}, "nothing": null}));
    yes(json!({"detail": {"state": [{"exists": true}]}}), &e);
    no(
        json!({"detail": {"state": [{"exists": false}]}}),
        &e,
        "detail.state",
    );
    yes(json!({"detail": {"absent": [{"exists": false}]}}), &e);
    no(
        json!({"detail": {"absent": [{"exists": true}]}}),
        &e,
        "detail.absent",
    );
    // Only leaves exist; an object is not a leaf, so `exists: false`
    // matches a field that holds one (aws/event-ruler README, Exists
    // matching: its `c-count: {"c1": 100}` example).
    no(
        json!({"detail": {"nested": [{"exists": true}]}}),
        &e,
        "detail.nested",
    );
    yes(json!({"detail": {"nested": [{"exists": false}]}}), &e);
    yes(json!({"detail": {"nothing": [{"exists": true}]}}), &e);
}

#[test]
fn wildcard() {
    let e =
        event(json!({"eventSourceARN": "arn:aws:s3:::bucket/dir/dir2/*", "file": "dir/file.png"}));
    yes(json!({"detail": {"file": [{"wildcard": "dir/*.png"}]}}), &e);
    no(
        json!({"detail": {"file": [{"wildcard": "dir/*.jpg"}]}}),
        &e,
        "detail.file",
    );
    yes(json!({"detail": {"file": [{"wildcard": "*/file.*"}]}}), &e);
    no(
        json!({"detail": {"file": [{"wildcard": "file*"}]}}),
        &e,
        "detail.file",
    );
    // An escaped star is a literal star.
    yes(
        json!({"detail": {"eventSourceARN": [{"wildcard": "arn:aws:s3:::bucket/*/\\*"}]}}),
        &e,
    );
    no(
        json!({"detail": {"file": [{"wildcard": "dir/\\*"}]}}),
        &e,
        "detail.file",
    );
}

#[test]
fn cidr() {
    let e = event(json!({"sourceIPAddress": "10.0.0.255", "v6": "2001:db8::7"}));
    yes(
        json!({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}),
        &e,
    );
    no(
        json!({"detail": {"sourceIPAddress": [{"cidr": "10.0.1.0/24"}]}}),
        &e,
        "detail.sourceIPAddress",
    );
    yes(
        json!({"detail": {"sourceIPAddress": [{"cidr": "0.0.0.0/0"}]}}),
        &e,
    );
    yes(json!({"detail": {"v6": [{"cidr": "2001:db8::/32"}]}}), &e);
    no(
        json!({"detail": {"v6": [{"cidr": "2001:db9::/32"}]}}),
        &e,
        "detail.v6",
    );
    no(
        json!({"detail": {"v6": [{"cidr": "10.0.0.0/8"}]}}),
        &e,
        "detail.v6",
    );
}

#[test]
fn or_over_sub_patterns() {
    let e = event(json!({"c-count": 3, "d-count": 12, "state": "running"}));
    let either = json!({"detail": {"$or": [
        {"c-count": [{"numeric": [">", 5]}]},
        {"d-count": [{"numeric": ["<", 15]}]}
    ]}});
    yes(either, &e);
    let neither = json!({"detail": {"$or": [
        {"c-count": [{"numeric": [">", 5]}]},
        {"d-count": [{"numeric": ["<", 10]}]}
    ]}});
    no(neither, &e, "detail.c-count");
    let top = json!({"source": ["aws.ec2"], "$or": [
        {"detail-type": ["Other"]},
        {"detail": {"state": ["running"]}}
    ]});
    yes(top, &e);
}

#[test]
fn missing_fields_and_wrong_shapes_fail_cleanly() {
    let e = event(json!("a string detail"));
    no(
        json!({"detail": {"state": ["running"]}}),
        &e,
        "detail.state",
    );
    no(
        json!({"nosuch": {"deeper": ["x"]}}),
        &event(json!({})),
        "nosuch.deeper",
    );
    no(
        json!({"detail": {"list": ["a"]}}),
        &event(json!({"list": [["a"]]})),
        "detail.list",
    );
    no(json!({"source": ["aws.ec2"]}), &json!(null), "source");
}

#[test]
fn mismatches_say_what_was_expected_and_found() {
    let pattern = Pattern::parse(&json!({"detail-type": ["OrderPlaced"]})).unwrap();
    let mut cancelled = order_placed();
    cancelled["detail-type"] = json!("OrderCancelled");
    let m = pattern.matches(&cancelled).unwrap_err();
    assert_eq!(
        m.to_string(),
        r#"detail-type: expected "OrderPlaced", found "OrderCancelled""#
    );
    let m = Pattern::parse(&json!({"detail": {"x": ["a", {"prefix": "b"}]}}))
        .unwrap()
        .matches(&event(json!({})))
        .unwrap_err();
    assert_eq!(
        m.to_string(),
        r#"detail.x: expected one of ["a", prefix "b"], but the field is missing"#
    );
}

#[test]
fn invalid_patterns_are_refused_with_the_place_and_reason() {
    for (pattern, path) in [
        (json!([]), "the top"),
        (json!({}), "the top"),
        (json!({"source": "orders.api"}), "source"),
        (json!({"source": []}), "source"),
        (json!({"detail": {}}), "detail"),
        (json!({"source": [{"prefix": 1}]}), "source"),
        (json!({"source": [{"nope": "x"}]}), "source"),
        (
            json!({"source": [{"prefix": "a", "suffix": "b"}]}),
            "source",
        ),
        (json!({"n": [{"numeric": [">"]}]}), "n"),
        (json!({"n": [{"numeric": ["~", 1]}]}), "n"),
        (json!({"n": [{"numeric": ["=", 1, "<", 2]}]}), "n"),
        (json!({"n": [{"exists": "yes"}]}), "n"),
        (json!({"n": [{"cidr": "10.0.0.0/33"}]}), "n"),
        (json!({"n": [{"cidr": "banana"}]}), "n"),
        (json!({"n": [{"wildcard": "a**b"}]}), "n"),
        (json!({"n": [{"anything-but": []}]}), "n"),
        (json!({"n": [{"anything-but": {"numeric": [">", 1]}}]}), "n"),
        // aws/event-ruler README, Anything-but matching: strings or
        // numbers, a list entirely of one or the other.
        (json!({"n": [{"anything-but": true}]}), "n"),
        (json!({"n": [{"anything-but": null}]}), "n"),
        (json!({"n": [{"anything-but": ["a", 1]}]}), "n"),
        (json!({"n": [{"anything-but": [false]}]}), "n"),
        // Numeric matching: -5.0e9 to +5.0e9, one lower and one upper bound.
        (json!({"n": [{"numeric": [">", 5.000_000_001e9]}]}), "n"),
        (json!({"n": [{"numeric": ["<", -6e9]}]}), "n"),
        (json!({"n": [{"numeric": [">", 0, ">", 5]}]}), "n"),
        (json!({"n": [{"numeric": ["<", 9, "<=", 5]}]}), "n"),
        // Wildcard matching: only `\*` and `\\` are escapes.
        (json!({"n": [{"wildcard": "a\\b"}]}), "n"),
        (json!({"n": [{"wildcard": "a\\"}]}), "n"),
        (json!({"n": [{"anything-but": {"wildcard": "x\\y"}}]}), "n"),
        (json!({"$or": [{"a": ["x"]}]}), "$or"),
        (json!({"n": [["nested"]]}), "n"),
    ] {
        let err = Pattern::parse(&pattern).expect_err(&pattern.to_string());
        assert_eq!(err.path, path, "{pattern}: {err}");
    }
    assert!(Pattern::parse_str("{not json").is_err());
}

/// The forms EventBridge accepts at the edges of those rules.
#[test]
fn the_edges_of_the_rules_are_accepted() {
    for pattern in [
        json!({"n": [{"numeric": [">=", -5e9, "<=", 5e9]}]}),
        json!({"n": [{"numeric": ["<", 10, ">", 0]}]}),
        json!({"n": [{"anything-but": [1, 2.5]}]}),
        json!({"n": [{"anything-but": "x"}]}),
        json!({"n": [{"wildcard": "a\\*b\\\\c*"}]}),
    ] {
        assert!(Pattern::parse(&pattern).is_ok(), "{pattern}");
    }
}

/// A number outside the range EventBridge compares matches no `numeric`.
#[test]
fn numbers_outside_the_compared_range_match_no_numeric_matcher() {
    let e = event(json!({"big": 6e9, "small": -7e9}));
    no(
        json!({"detail": {"big": [{"numeric": [">", 0]}]}}),
        &e,
        "detail.big",
    );
    no(
        json!({"detail": {"small": [{"numeric": ["<", 0]}]}}),
        &e,
        "detail.small",
    );
}

#[test]
fn wildcards_do_not_blow_up_on_long_inputs() {
    let e = event(json!({"s": "a".repeat(10_000)}));
    no(
        json!({"detail": {"s": [{"wildcard": "*a*a*a*a*a*a*a*a*b"}]}}),
        &e,
        "detail.s",
    );
    yes(
        json!({"detail": {"s": [{"wildcard": "*a*a*a*a*a*a*a*a*"}]}}),
        &e,
    );
}
