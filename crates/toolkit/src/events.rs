//! `event KIND`: sample events, as the services send them.
//!
//! Each kind is written as the service's documented JSON, read into its
//! `aws_lambda_events` type and printed from that type, so every sample
//! parses back into the type a handler would use. Output is deterministic
//! (fixed ids and times), so samples in `events/` can be regenerated and
//! compared.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::SqsEvent;

use crate::template::Template;

pub const KINDS: [&str; 7] = [
    "apigw-rest",
    "apigw-http",
    "eventbridge",
    "scheduled",
    "sqs",
    "s3-put",
    "dynamodb-stream",
];

pub const USAGE: &str = "\
event: print a sample event on standard output

Usage:
  event apigw-rest [--method POST] [--path /orders] [--body JSON] [--stage dev]
                   [--customer ID | --staff]
  event apigw-http [--method POST] [--path /orders] [--body JSON] [--stage $default]
                   [--customer ID | --staff]
  event eventbridge [--source orders.api] [--detail-type OrderPlaced] [--detail JSON]
  event scheduled [--rule NAME]
  event sqs [--body TEXT]
  event s3-put [--bucket NAME] [--key KEY]
  event dynamodb-stream [--order-id ORD-…]

apigw-rest resolves path parameters from the template's routes, and
apigw-http its route key and path parameters from the template's HttpApi
routes (a $default event when it has none); an undeclared route is an
error, as at the gateway. apigw-http is built as the local gateway builds
its payload 2.0 events. --customer ID and --staff add the claims of a
local id token of that caller (what `cargo xtask token` mints), as the
REST API's Cognito authorizer and the HTTP API's JWT authorizer put them
in the event; without either, the event has no caller, and the orders
API answers it 401. Ids and times are fixed, so the output is the same
each time.
";

const TIME: &str = "2026-07-02T11:24:04Z";
const EPOCH_MS: i64 = 1_782_991_444_000;
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const REQUEST_ID: &str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef";
const ORDER_ID: &str = "ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R";

fn sample_order_body() -> String {
    r#"{"customerId": "CUST-001", "items": [{"productId": "PROD-A", "quantity": 2}]}"#.to_owned()
}

fn sample_detail() -> Value {
    json!({
        "eventId": format!("{ORDER_ID}-v1"),
        "orderId": ORDER_ID,
        "customerId": "CUST-001",
        "items": [{"productId": "PROD-A", "quantity": 2}],
        "createdAt": "2026-07-02T11:24:04.213Z",
        "version": 1,
        "occurredAt": "2026-07-02T11:24:04.213Z"
    })
}

/// Flags as (name, value); each flag may appear once.
struct Flags(Vec<(String, String)>);

impl Flags {
    fn parse(args: &[String], allowed: &[&str]) -> Result<Self, String> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            let name = flag
                .strip_prefix("--")
                .filter(|n| allowed.contains(n))
                .ok_or_else(|| {
                    format!("unknown option {flag}; this kind takes {}", list(allowed))
                })?;
            let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
            if pairs.iter().any(|(n, _)| n == name) {
                return Err(format!("{flag} is given twice"));
            }
            pairs.push((name.to_owned(), value.clone()));
        }
        Ok(Self(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or(default).to_owned()
    }
}

fn list(allowed: &[&str]) -> String {
    if allowed.is_empty() {
        "no options".to_owned()
    } else {
        allowed
            .iter()
            .map(|a| format!("--{a}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Reads `value` into `T` and writes `T` back: the sample is exactly what
/// the type holds.
fn through<T: DeserializeOwned + Serialize>(value: Value, kind: &str) -> Result<Value, String> {
    let typed: T = serde_json::from_value(value).map_err(|e| format!("{kind}: {e}"))?;
    serde_json::to_value(&typed).map_err(|e| format!("{kind}: {e}"))
}

/// The event for `kind` with `args`, as pretty JSON.
pub fn generate(
    kind: &str,
    args: &[String],
    template: Option<&Template>,
) -> Result<String, String> {
    let (who, args) = caller_flags(kind, args)?;
    let args = &args[..];
    let value = match kind {
        "apigw-rest" => {
            let flags = Flags::parse(args, &["method", "path", "body", "stage"])?;
            let mut event = rest(&flags, template)?;
            if let Some(who) = &who {
                event["requestContext"]["authorizer"] =
                    crate::auth::rest_authorizer(&sample_claims(who));
            }
            through::<ApiGatewayProxyRequest>(event, kind)?
        }
        "apigw-http" => {
            let flags = Flags::parse(args, &["method", "path", "body", "stage"])?;
            let mut event = http(&flags, template)?;
            if let Some(who) = &who {
                event["requestContext"]["authorizer"] =
                    crate::auth::jwt_authorizer(&sample_claims(who));
            }
            // Printed as built (the type would add payload 1.0 fields such
            // as `httpMethod`), after checking that it reads as the type.
            through::<ApiGatewayV2httpRequest>(event.clone(), kind)?;
            event
        }
        "eventbridge" => {
            let flags = Flags::parse(args, &["source", "detail-type", "detail"])?;
            let detail = match flags.get("detail") {
                Some(text) => {
                    serde_json::from_str(text).map_err(|e| format!("--detail is not JSON: {e}"))?
                }
                None => sample_detail(),
            };
            through::<EventBridgeEvent>(
                envelope(
                    &flags.or("source", "orders.api"),
                    &flags.or("detail-type", domain::EventKind::OrderPlaced.as_str()),
                    detail,
                    &[],
                ),
                kind,
            )?
        }
        "scheduled" => {
            let flags = Flags::parse(args, &["rule"])?;
            let rule = format!(
                "arn:aws:events:{REGION}:{ACCOUNT}:rule/{}",
                flags.or("rule", "OutboxRelay")
            );
            through::<EventBridgeEvent>(
                envelope("aws.events", "Scheduled Event", json!({}), &[rule]),
                kind,
            )?
        }
        "sqs" => {
            let flags = Flags::parse(args, &["body"])?;
            through::<SqsEvent>(sqs(&flags.or("body", "Hello from SQS!")), kind)?
        }
        "s3-put" => {
            let flags = Flags::parse(args, &["bucket", "key"])?;
            through::<S3Event>(
                s3_put(
                    &flags.or("bucket", "orders-exports"),
                    &flags.or("key", "orders/data.json"),
                ),
                kind,
            )?
        }
        "dynamodb-stream" => {
            let flags = Flags::parse(args, &["order-id"])?;
            through::<DynamoDbEvent>(stream(&flags.or("order-id", ORDER_ID)), kind)?
        }
        other => {
            return Err(format!(
                "unknown kind {other:?}; kinds: {}",
                KINDS.join(", ")
            ));
        }
    };
    serde_json::to_string_pretty(&value).map_err(|e| e.to_string())
}

/// `--customer ID` / `--staff` (API Gateway kinds only), and the other
/// arguments.
fn caller_flags(
    kind: &str,
    args: &[String],
) -> Result<(Option<crate::auth::Who>, Vec<String>), String> {
    let mut who = None;
    let mut rest = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let found = match arg.as_str() {
            "--staff" => crate::auth::Who::Staff,
            "--customer" => crate::auth::Who::Customer(
                args.next()
                    .filter(|id| !id.starts_with("--"))
                    .ok_or("--customer needs a customer id")?
                    .clone(),
            ),
            _ => {
                rest.push(arg.clone());
                continue;
            }
        };
        if !kind.starts_with("apigw-") {
            return Err(format!(
                "{arg} is for apigw-rest and apigw-http, not {kind}"
            ));
        }
        if who.is_some() {
            return Err("give one caller: --customer ID or --staff".to_owned());
        }
        who = Some(found);
    }
    Ok((who, rest))
}

/// The claims of a local id token of `who`, issued at the samples' fixed
/// time for an hour.
fn sample_claims(who: &crate::auth::Who) -> serde_json::Map<String, Value> {
    let iat = u64::try_from(EPOCH_MS / 1000).unwrap_or_default();
    crate::auth::id_token_claims(who, &crate::auth::local_issuer(), iat, iat + 3600)
}

fn envelope(source: &str, detail_type: &str, detail: Value, resources: &[String]) -> Value {
    json!({
        "version": "0",
        "id": "5f6c1b52-2a3e-4c87-9a43-0f3c2d8e7b11",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": TIME,
        "region": REGION,
        "resources": resources,
        "detail": detail
    })
}

fn split_path(raw: &str) -> (String, Vec<(String, String)>) {
    match raw.split_once('?') {
        None => (raw.to_owned(), Vec::new()),
        Some((path, query)) => (
            path.to_owned(),
            query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (k.to_owned(), v.to_owned())
                })
                .collect(),
        ),
    }
}

fn rest(flags: &Flags, template: Option<&Template>) -> Result<Value, String> {
    let method = flags.or("method", "POST").to_ascii_uppercase();
    let (path, query) = split_path(&flags.or("path", "/orders"));
    let stage = flags.or("stage", "dev");
    let body = flags
        .get("body")
        .map(str::to_owned)
        .or_else(|| (method == "POST" && path == "/orders").then(sample_order_body));
    // The route decides `resource` and `pathParameters`, as at the gateway.
    let (resource, params) = match template {
        None => (path.clone(), Vec::new()),
        Some(template) => template
            .api_routes()
            .iter()
            .filter(|r| r.method == method || r.method == "ANY")
            .find_map(|r| crate::gateway::match_route(&r.path, &path).map(|p| (r.path.clone(), p)))
            .ok_or_else(|| {
                format!(
                    "{method} {path} is not a route of {}",
                    template.path().display()
                )
            })?,
    };
    let params: serde_json::Map<String, Value> =
        params.into_iter().map(|(k, v)| (k, json!(v))).collect();
    let single: serde_json::Map<String, Value> =
        query.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let multi: serde_json::Map<String, Value> =
        query.iter().map(|(k, v)| (k.clone(), json!([v]))).collect();
    let stage_variables = template.map(|t| {
        t.stage_variables(&stage)
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect::<serde_json::Map<_, _>>()
    });
    Ok(json!({
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "Host": "1234567890.execute-api.us-east-1.amazonaws.com",
            "X-Forwarded-Proto": "https"
        },
        "multiValueHeaders": {
            "Accept": ["application/json"],
            "Content-Type": ["application/json"],
            "Host": ["1234567890.execute-api.us-east-1.amazonaws.com"],
            "X-Forwarded-Proto": ["https"]
        },
        "queryStringParameters": if single.is_empty() { Value::Null } else { Value::Object(single) },
        "multiValueQueryStringParameters": if multi.is_empty() { Value::Null } else { Value::Object(multi) },
        "pathParameters": if params.is_empty() { Value::Null } else { Value::Object(params) },
        "stageVariables": match stage_variables { Some(v) if !v.is_empty() => Value::Object(v), _ => Value::Null },
        "requestContext": {
            "accountId": ACCOUNT,
            "resourceId": "abc123",
            "stage": stage,
            "requestId": REQUEST_ID,
            "requestTimeEpoch": EPOCH_MS,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "orders-toolkit"},
            "path": format!("/{stage}{path}"),
            "resourcePath": resource,
            "httpMethod": method,
            "apiId": "1234567890",
            "protocol": "HTTP/1.1"
        },
        "body": body,
        "isBase64Encoded": false
    }))
}

/// An HTTP API event, built as the gateway builds it
/// (`http_api::event`). With a template that declares HTTP API routes,
/// the route decides `routeKey` and `pathParameters` (an undeclared route
/// is an error); with none, the event is a `$default` route's.
fn http(flags: &Flags, template: Option<&Template>) -> Result<Value, String> {
    let method = flags.or("method", "POST").to_ascii_uppercase();
    let raw = flags.or("path", "/orders");
    let (path, query) = raw.split_once('?').unwrap_or((raw.as_str(), ""));
    let stage = flags.or("stage", "$default");
    let raw_path = if stage == "$default" {
        path.to_owned()
    } else {
        format!("/{stage}{path}")
    };
    let body = flags
        .get("body")
        .map(str::to_owned)
        .or_else(|| (method == "POST" && path == "/orders").then(sample_order_body));
    let routes = template.map(Template::http_api_routes).unwrap_or_default();
    let (route_key, params) = if routes.is_empty() {
        ("$default".to_owned(), Vec::new())
    } else {
        routes
            .iter()
            .filter(|r| r.method == method || r.method == "ANY")
            .find_map(|r| {
                crate::gateway::match_route(&r.path, path).map(|p| {
                    let key = if r.path == "$default" {
                        r.path.clone()
                    } else {
                        format!("{} {}", r.method, r.path)
                    };
                    (key, p)
                })
            })
            .ok_or_else(|| {
                format!(
                    "{method} {path} is not an HTTP API route of {}",
                    template.map_or_else(String::new, |t| t.path().display().to_string())
                )
            })?
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::HOST,
        http::HeaderValue::from_static("abcdef1234.execute-api.us-east-1.amazonaws.com"),
    );
    headers.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static("orders-toolkit"),
    );
    let time = chrono::DateTime::from_timestamp_millis(EPOCH_MS).unwrap_or_default();
    Ok(crate::http_api::event(&crate::http_api::EventParts {
        route_key: &route_key,
        method: &method,
        path: &raw_path,
        query,
        headers: &headers,
        path_parameters: &params,
        stage: &stage,
        stage_variables: std::collections::BTreeMap::new(),
        request_id: "JKJaXmPLvHcESHA=",
        api_id: "abcdef1234",
        domain_name: "abcdef1234.execute-api.us-east-1.amazonaws.com",
        time,
        body: body.as_deref().unwrap_or_default().as_bytes(),
    }))
}

fn sqs(body: &str) -> Value {
    json!({"Records": [{
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": EPOCH_MS.to_string(),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": EPOCH_MS.to_string()
        },
        "messageAttributes": {},
        "md5OfBody": "098f6bcd4621d373cade4e832627b4f6",
        "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:orders-queue"),
        "awsRegion": REGION
    }]})
}

fn s3_put(bucket: &str, key: &str) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2026-07-02T11:24:04.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "EXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "EXAMPLE123456789", "x-amz-id-2": "EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "testConfigRule",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": key, "size": 1024, "eTag": "0123456789abcdef0123456789abcdef", "sequencer": "0A1B2C3D4E5F678901"}
        }
    }]})
}

fn stream(order_id: &str) -> Value {
    let mut keys = serde_json::Map::new();
    for (name, value) in adapters_dynamo::keys::order_key(order_id) {
        keys.insert(name.to_owned(), json!({ "S": value }));
    }
    // The order's item as the table holds it: its key, then its attributes.
    let mut image = keys.clone();
    image.insert("orderId".to_owned(), json!({"S": order_id}));
    image.insert("customerId".to_owned(), json!({"S": "CUST-001"}));
    image.insert("status".to_owned(), json!({"S": "created"}));
    image.insert("version".to_owned(), json!({"N": "1"}));
    json!({"Records": [{
        "eventID": "c4ca4238a0b923820dcc509a6f75849b",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": {
            "ApproximateCreationDateTime": 1_782_991_444,
            "Keys": Value::Object(keys),
            "NewImage": Value::Object(image),
            "SequenceNumber": "4421584500000000017450439091",
            "SizeBytes": 212,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        },
        "eventSourceARN": format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/dev-orders/stream/2026-07-02T00:00:00.000")
    }]})
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn template() -> Template {
        Template::load(&root().join("infra/template.yaml")).expect("template")
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| (*a).to_owned()).collect()
    }

    /// The samples in `events/` that this command writes, and how.
    const SAMPLES: [(&str, &str, &[&str]); 8] = [
        (
            "events/apigw/rest-create-order.json",
            "apigw-rest",
            &["--customer", "CUST-001"],
        ),
        (
            "events/apigw/rest-get-order.json",
            "apigw-rest",
            &[
                "--method",
                "GET",
                "--path",
                "/orders/ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R",
                "--staff",
            ],
        ),
        (
            "events/apigw/http-create-order.json",
            "apigw-http",
            &["--customer", "CUST-001"],
        ),
        ("events/eventbridge/order-placed.json", "eventbridge", &[]),
        ("events/eventbridge/scheduled.json", "scheduled", &[]),
        ("events/sqs/message.json", "sqs", &[]),
        ("events/s3/put.json", "s3-put", &[]),
        ("events/dynamodb/stream-insert.json", "dynamodb-stream", &[]),
    ];

    #[test]
    fn every_sample_in_events_is_what_the_command_writes_and_parses_back() {
        let template = template();
        for (file, kind, flags) in SAMPLES {
            let fresh = generate(kind, &args(flags), Some(&template)).expect(file);
            let stored = std::fs::read_to_string(root().join(file)).unwrap_or_else(|e| {
                panic!(
                    "{file}: {e}; write it with `cargo xtask event {kind} {}`",
                    flags.join(" ")
                )
            });
            let value: Value = serde_json::from_str(&stored).expect(file);
            // Compared as JSON: key order depends on serde_json's features.
            let fresh: Value = serde_json::from_str(&fresh).expect(file);
            assert_eq!(
                value,
                fresh,
                "{file} differs from `cargo xtask event {kind} {}`",
                flags.join(" ")
            );
            let parsed = match kind {
                "apigw-rest" => serde_json::from_value::<ApiGatewayProxyRequest>(value).map(|_| ()),
                "apigw-http" => {
                    serde_json::from_value::<ApiGatewayV2httpRequest>(value).map(|_| ())
                }
                "eventbridge" | "scheduled" => {
                    serde_json::from_value::<EventBridgeEvent>(value).map(|_| ())
                }
                "sqs" => serde_json::from_value::<SqsEvent>(value).map(|_| ()),
                "s3-put" => serde_json::from_value::<S3Event>(value).map(|_| ()),
                _ => serde_json::from_value::<DynamoDbEvent>(value).map(|_| ()),
            };
            assert!(parsed.is_ok(), "{file}: {parsed:?}");
        }
    }

    #[test]
    fn rest_events_take_path_parameters_from_the_template() {
        let event: Value = serde_json::from_str(
            &generate(
                "apigw-rest",
                &args(&[
                    "--method",
                    "POST",
                    "--path",
                    "/orders/ORD-1/cancel",
                    "--stage",
                    "prod",
                ]),
                Some(&template()),
            )
            .expect("event"),
        )
        .expect("JSON");
        assert_eq!(event["resource"], "/orders/{orderId}/cancel");
        assert_eq!(event["pathParameters"], json!({"orderId": "ORD-1"}));
        assert_eq!(event["requestContext"]["stage"], "prod");
        assert_eq!(event["stageVariables"], json!({"stage": "prod"}));
        assert_eq!(event["body"], Value::Null);
        let listed: Value = serde_json::from_str(
            &generate(
                "apigw-rest",
                &args(&["--method", "GET", "--path", "/customers/C1/orders?limit=2"]),
                Some(&template()),
            )
            .expect("event"),
        )
        .expect("JSON");
        assert_eq!(listed["queryStringParameters"], json!({"limit": "2"}));
    }

    #[test]
    fn callers_are_added_as_each_authorizer_passes_them_and_bad_caller_flags_are_errors() {
        let t = template();
        let rest: Value = serde_json::from_str(
            &generate("apigw-rest", &args(&["--staff"]), Some(&t)).expect("rest"),
        )
        .expect("JSON");
        let claims = &rest["requestContext"]["authorizer"]["claims"];
        assert_eq!(claims["cognito:groups"], "staff");
        assert_eq!(claims["token_use"], "id");
        assert_eq!(claims["exp"], "Thu Jul 02 12:24:04 UTC 2026");
        let http: Value = serde_json::from_str(
            &generate("apigw-http", &args(&["--customer", "CUST-9"]), Some(&t)).expect("http"),
        )
        .expect("JSON");
        let claims = &http["requestContext"]["authorizer"]["jwt"]["claims"];
        assert_eq!(claims["custom:customerId"], "CUST-9");
        assert_eq!(claims["aud"], crate::auth::LOCAL_CLIENT_ID);
        let none: Value =
            serde_json::from_str(&generate("apigw-rest", &[], Some(&t)).expect("rest"))
                .expect("JSON");
        assert!(
            none["requestContext"]
                .get("authorizer")
                .is_none_or(Value::is_null)
        );
        for (kind, flags, said) in [
            ("sqs", &["--staff"][..], "is for apigw-rest and apigw-http"),
            (
                "apigw-rest",
                &["--customer"][..],
                "--customer needs a customer id",
            ),
            (
                "apigw-rest",
                &["--customer", "--staff"][..],
                "--customer needs a customer id",
            ),
            (
                "apigw-rest",
                &["--staff", "--customer", "C"][..],
                "give one caller",
            ),
        ] {
            let err = generate(kind, &args(flags), Some(&t)).unwrap_err();
            assert!(err.contains(said), "{kind} {flags:?}: {err}");
        }
    }

    #[test]
    fn an_undeclared_route_or_bad_flag_is_an_error() {
        let t = template();
        let err = generate(
            "apigw-rest",
            &args(&["--method", "DELETE", "--path", "/order"]),
            Some(&t),
        )
        .unwrap_err();
        assert!(err.contains("is not a route"), "{err}");
        assert!(
            generate("sqs", &args(&["--bucket", "b"]), Some(&t))
                .unwrap_err()
                .contains("unknown option --bucket")
        );
        assert!(
            generate("sqs", &args(&["--body"]), Some(&t))
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            generate("sqs", &args(&["--body", "a", "--body", "b"]), Some(&t))
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            generate("eventbridge", &args(&["--detail", "{"]), Some(&t))
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            generate("kinesis", &[], Some(&t))
                .unwrap_err()
                .contains("unknown kind")
        );
    }

    #[test]
    fn generated_events_reach_the_functions() {
        // The REST sample is what fn-api accepts; the EventBridge sample
        // matches OrderPlacedRule.
        let rule = template().rule_pattern("OrderPlacedRule").expect("rule");
        let pattern = event_pattern::Pattern::parse(&rule).expect("pattern");
        let event: Value =
            serde_json::from_str(&generate("eventbridge", &[], None).expect("event"))
                .expect("JSON");
        assert!(pattern.matches(&event).is_ok());
        let scheduled: Value =
            serde_json::from_str(&generate("scheduled", &[], None).expect("event")).expect("JSON");
        assert!(pattern.matches(&scheduled).is_err());
    }
}
