//! Checks that hold `infra/template.yaml` to the code: the routes the
//! function serves, the events it publishes, and least privilege. Used by
//! `doctor` and by tests.

use serde_yaml::Value;

use crate::template::Template;

/// Routes declared in the template but not served, and served but not
/// declared, as "METHOD /path" lines. An `ANY` route is served when its
/// path is one of the function's: the function answers the methods it
/// does not serve there with 405 and an `Allow` header.
pub fn route_drift(template: &Template) -> (Vec<String>, Vec<String>) {
    let fn_api: Vec<_> = template
        .api_routes()
        .into_iter()
        .filter(|r| template.function_binary(&r.function).as_deref() == Some(app::HTTP_API_BINARY))
        .collect();
    let declared: Vec<String> = fn_api
        .iter()
        .filter(|r| r.method != "ANY")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let served: Vec<String> = adapters_http::ROUTES
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let any_not_served = fn_api
        .iter()
        .filter(|r| r.method == "ANY" && !adapters_http::ROUTES.iter().any(|s| s.path == r.path))
        .map(|r| format!("ANY {}", r.path));
    let not_served = declared
        .iter()
        .filter(|d| !served.contains(d))
        .cloned()
        .chain(any_not_served)
        .collect();
    let not_declared = served
        .iter()
        .filter(|s| !declared.contains(s))
        .cloned()
        .collect();
    (not_served, not_declared)
}

/// Every IAM statement in the template that grants `*` (or a `service:*`
/// wildcard) in an action or resource, as "Resource.Policy: what".
/// Routes to the HTTP API's binary that no authorizer guards, as
/// `METHOD /path`: each would reach the function with no caller. The
/// function answers those 401 itself, but a route meant to be served
/// would then be closed to everyone.
pub fn unguarded_routes(model: &crate::model::Model) -> Vec<String> {
    model
        .routes
        .iter()
        .filter(|route| {
            model
                .functions
                .iter()
                .any(|f| f.id == route.function && f.binary == app::HTTP_API_BINARY)
        })
        .filter(|route| {
            let api = model.apis.iter().find(|a| a.id == route.api);
            let named = match route.authorizer.as_deref() {
                Some("NONE") => None,
                Some(name) => Some(name),
                None => api.and_then(|a| a.default_authorizer.as_deref()),
            };
            named.is_none_or(|name| api.is_none_or(|a| !a.authorizers.contains_key(name)))
        })
        .map(|route| format!("{} {}", route.method, route.path))
        .collect()
}

pub fn wildcard_grants(template: &Template) -> Vec<String> {
    let mut found = Vec::new();
    for (id, resource) in template.resources_raw() {
        let policies = &resource["Properties"]["Policies"];
        let mut statements: Vec<&Value> = Vec::new();
        for policy in policies.as_sequence().into_iter().flatten() {
            // SAM inline policies: `- Statement: [...]`; IAM roles:
            // `- PolicyDocument: {Statement: [...]}`.
            for holder in [&policy["Statement"], &policy["PolicyDocument"]["Statement"]] {
                statements.extend(holder.as_sequence().into_iter().flatten());
            }
        }
        // `AWS::IAM::Policy` and queue policies hold one document.
        statements.extend(
            resource["Properties"]["PolicyDocument"]["Statement"]
                .as_sequence()
                .into_iter()
                .flatten(),
        );
        for statement in statements {
            if statement["Effect"] != "Allow" {
                continue;
            }
            for key in ["Action", "Resource"] {
                for value in strings(&statement[key]) {
                    if value == "*" || (key == "Action" && value.ends_with(":*")) {
                        found.push(format!("{id}: {key} {value}"));
                    }
                }
            }
        }
    }
    found
}

/// The plain strings of a scalar or a list (intrinsics are not strings and
/// name a specific resource).
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use adapters_eventbridge::{DETAIL_SOURCE, OrderEventDetail};
    use domain::{EventKind, OrderEvent};
    use event_pattern::Pattern;
    use serde_json::json;

    use super::*;

    fn project_template() -> Template {
        Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml"))
            .expect("infra/template.yaml")
    }

    #[test]
    fn the_route_table_and_the_templates_api_events_agree() {
        let (not_served, not_declared) = route_drift(&project_template());
        assert!(
            not_served.is_empty(),
            "declared but not served: {not_served:?}"
        );
        assert!(
            not_declared.is_empty(),
            "served but not declared: {not_declared:?}"
        );
    }

    #[test]
    fn a_removed_route_is_drift() {
        let text = std::fs::read_to_string(project_template().path()).expect("template");
        let cut = text.replace(
            "            Path: /orders/{orderId}/cancel\n",
            "            Path: /orders/{orderId}/void\n",
        );
        let template = Template::parse(Path::new("t.yaml"), &cut).expect("still a template");
        let (not_served, not_declared) = route_drift(&template);
        assert_eq!(
            not_served,
            ["POST /orders/{orderId}/void", "ANY /orders/{orderId}/void"]
        );
        assert_eq!(not_declared, ["POST /orders/{orderId}/cancel"]);
    }

    #[test]
    fn the_order_placed_rule_matches_what_fn_api_publishes_and_nothing_else() {
        let template = project_template();
        let pattern = Pattern::parse(&template.rule_pattern("OrderPlacedRule").expect("rule"))
            .expect("pattern");
        let order = domain::Order::place(
            domain::OrderId::parse("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R").expect("id"),
            domain::CustomerId::parse("CUST-001").expect("customer"),
            domain::LineItems::parse(vec![domain::LineItem::new(
                domain::ProductId::parse("PROD-A").expect("product"),
                domain::Quantity::parse(2).expect("quantity"),
            )])
            .expect("items"),
            domain::Timestamp::from_unix_millis(1_782_991_444_213).expect("time"),
        );
        // The envelope EventBridge builds from the publisher's entry.
        let envelope = |kind: EventKind| {
            json!({
                "version": "0", "id": "1", "account": "123456789012", "region": "us-east-1",
                "time": "2026-07-02T11:24:04Z", "resources": [],
                "source": DETAIL_SOURCE,
                "detail-type": kind.as_str(),
                "detail": OrderEventDetail::from(&OrderEvent::of(kind, &order)),
            })
        };
        assert!(pattern.matches(&envelope(EventKind::OrderPlaced)).is_ok());
        let cancelled = pattern
            .matches(&envelope(EventKind::OrderCancelled))
            .unwrap_err();
        assert_eq!(cancelled.field, "detail-type");
    }

    fn model_of(template: &Template) -> crate::model::Model {
        crate::model::load(
            template,
            &crate::model::Context {
                region: "us-east-1".to_owned(),
                stack: "local".to_owned(),
                overrides: std::collections::BTreeMap::new(),
                table: None,
                ..Default::default()
            },
        )
        .expect("model")
    }

    #[test]
    fn every_route_to_the_api_function_has_an_authorizer() {
        let unguarded = unguarded_routes(&model_of(&project_template()));
        assert!(unguarded.is_empty(), "unguarded: {unguarded:?}");
    }

    #[test]
    fn a_route_opted_out_or_an_api_without_a_default_authorizer_is_unguarded() {
        let text = std::fs::read_to_string(project_template().path()).expect("template");
        let opted_out = text.replace(
            "            Path: /orders/{orderId}/cancel\n            Method: post\n",
            "            Path: /orders/{orderId}/cancel\n            Method: post\n            Auth:\n              Authorizer: NONE\n",
        );
        assert_ne!(opted_out, text);
        let template = Template::parse(Path::new("t.yaml"), &opted_out).expect("template");
        assert_eq!(
            unguarded_routes(&model_of(&template)),
            ["POST /orders/{orderId}/cancel"]
        );
        let no_default = text.replace("        DefaultAuthorizer: OrdersUsers\n", "");
        assert_ne!(no_default, text);
        let template = Template::parse(Path::new("t.yaml"), &no_default).expect("template");
        assert_eq!(unguarded_routes(&model_of(&template)).len(), 8);
    }

    #[test]
    fn the_template_grants_no_wildcards() {
        let found = wildcard_grants(&project_template());
        assert!(found.is_empty(), "wildcard grants: {found:?}");
    }

    #[test]
    fn a_wildcard_grant_is_found() {
        let text = r#"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: dynamodb:*
              Resource: !GetAtt Table.Arn
            - Effect: Allow
              Action: [events:PutEvents]
              Resource: "*"
  Role:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: "*"
                Resource: !Ref Thing
"#;
        let template = Template::parse(Path::new("t.yaml"), text).expect("template");
        assert_eq!(
            wildcard_grants(&template),
            ["Fn: Action dynamodb:*", "Fn: Resource *", "Role: Action *"]
        );
    }
}

/// The (METHOD, path) pairs `infra/openapi.yaml` describes.
pub fn openapi_routes(root: &std::path::Path) -> Result<Vec<String>, String> {
    let path = root.join("infra/openapi.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let spec: Value =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut routes = Vec::new();
    for (route, operations) in spec["paths"].as_mapping().into_iter().flatten() {
        let Some(route) = route.as_str() else {
            continue;
        };
        for method in operations
            .as_mapping()
            .into_iter()
            .flatten()
            .filter_map(|(m, _)| m.as_str())
        {
            routes.push(format!("{} {route}", method.to_ascii_uppercase()));
        }
    }
    routes.sort();
    Ok(routes)
}

#[cfg(test)]
mod openapi_tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_openapi_spec_describes_exactly_the_route_table() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let described = openapi_routes(&root).expect("infra/openapi.yaml");
        let mut served: Vec<String> = adapters_http::ROUTES
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        served.sort();
        assert_eq!(described, served);
    }

    #[test]
    fn every_status_the_edge_can_give_is_in_the_spec() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let text = std::fs::read_to_string(root.join("infra/openapi.yaml")).expect("spec");
        let spec: Value = serde_yaml::from_str(&text).expect("YAML");
        let statuses = |path: &str, method: &str| -> Vec<String> {
            spec["paths"][path][method]["responses"]
                .as_mapping()
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| k.as_str().map(str::to_owned))
                .collect()
        };
        for (path, method, expected) in [
            (
                "/orders",
                "post",
                &["201", "400", "409", "413", "415", "422", "503"][..],
            ),
            (
                "/orders/{orderId}",
                "get",
                // A malformed id names no order: 404, not 400.
                &["200", "404", "503"][..],
            ),
            (
                "/orders/{orderId}/cancel",
                "post",
                &["200", "404", "409", "503"][..],
            ),
            (
                "/customers/{customerId}/orders",
                "get",
                &["200", "400", "503"][..],
            ),
        ] {
            let found = statuses(path, method);
            for status in expected {
                assert!(
                    found.iter().any(|s| s == status),
                    "{method} {path} lacks {status}: {found:?}"
                );
            }
        }
    }
}
