//! The SAM template, read as data: its EventBridge rules' patterns.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml::Value;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid YAML: {source}")]
    Yaml {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("{path} has no `Resources` mapping")]
    NoResources { path: PathBuf },
    #[error("no rule named {name} in {path}; rules: {known}")]
    NoSuchRule {
        name: String,
        path: PathBuf,
        known: String,
    },
    #[error("rule {name} has no event pattern")]
    NoPattern { name: String },
    #[error("rule {name}'s pattern cannot be read: {reason}")]
    BadPattern { name: String, reason: String },
    #[error("parameter {name}: {reason}")]
    BadParameter { name: String, reason: String },
}

/// A loaded template.
#[derive(Debug, Clone)]
pub struct Template {
    path: PathBuf,
    document: Value,
}

/// Function event types whose `Pattern` is an EventBridge pattern.
const PATTERN_EVENT_TYPES: [&str; 2] = ["EventBridgeRule", "CloudWatchEvent"];

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, TemplateError> {
        let document: Value = serde_yaml::from_str(text).map_err(|source| TemplateError::Yaml {
            path: path.to_owned(),
            source,
        })?;
        if !document["Resources"].is_mapping() {
            return Err(TemplateError::NoResources {
                path: path.to_owned(),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            document,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole document, as YAML.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Every resource, by logical id, as YAML.
    pub fn resources_raw(&self) -> Vec<(&str, &Value)> {
        self.resources().collect()
    }

    fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.document["Resources"]
            .as_mapping()
            .into_iter()
            .flat_map(|m| m.iter())
            .filter_map(|(k, v)| k.as_str().map(|k| (k, v)))
    }

    /// Every rule with a pattern: `AWS::Events::Rule` resources by logical
    /// id, and functions' `EventBridgeRule`/`CloudWatchEvent` events by
    /// event name. Each with its raw pattern.
    fn rules(&self) -> Vec<(String, Option<&Value>)> {
        let mut rules = Vec::new();
        for (id, resource) in self.resources() {
            match resource["Type"].as_str() {
                Some("AWS::Events::Rule") => {
                    let pattern = resource["Properties"].get("EventPattern");
                    // Schedule-only rules have no pattern and are not listed.
                    if pattern.is_some() {
                        rules.push((id.to_owned(), pattern));
                    }
                }
                Some("AWS::Serverless::Function") => {
                    if let Some(events) = resource["Properties"]["Events"].as_mapping() {
                        for (name, event) in events {
                            let is_rule = event["Type"]
                                .as_str()
                                .is_some_and(|t| PATTERN_EVENT_TYPES.contains(&t));
                            if let (Some(name), true) = (name.as_str(), is_rule) {
                                rules.push((name.to_owned(), event["Properties"].get("Pattern")));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        rules.sort_by(|a, b| a.0.cmp(&b.0));
        rules
    }

    /// The function resource's binary (`Metadata.BuildProperties.Binary`),
    /// or its logical id when none is named.
    pub fn function_binary(&self, id: &str) -> Option<String> {
        let resource = self.resources().find(|(name, _)| *name == id)?.1;
        (resource["Type"] == "AWS::Serverless::Function").then(|| {
            resource["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or(id)
                .to_owned()
        })
    }

    /// Every API route: function events of type `Api`, as (method, path
    /// template, function logical id), by path, each path's `ANY` last.
    /// The method is upper case, `ANY` for any.
    pub fn api_routes(&self) -> Vec<ApiRoute> {
        let mut routes: Vec<ApiRoute> = self
            .function_events("Api")
            .filter_map(|(function, _, event)| {
                let properties = &event["Properties"];
                Some(ApiRoute {
                    method: properties["Method"].as_str()?.to_ascii_uppercase(),
                    path: properties["Path"].as_str()?.to_owned(),
                    function: function.to_owned(),
                })
            })
            .collect();
        // A method's own route before the path's `ANY`, as API Gateway
        // picks them.
        routes.sort_by(|a, b| {
            (&a.path, a.method == "ANY", &a.method).cmp(&(&b.path, b.method == "ANY", &b.method))
        });
        routes
    }

    /// Every HTTP API route: function events of type `HttpApi`, in the
    /// order the gateway tries them (a method's own before `ANY`,
    /// `$default` last; an event without `Path` is the `$default` route).
    pub fn http_api_routes(&self) -> Vec<ApiRoute> {
        let mut routes: Vec<ApiRoute> = self
            .function_events("HttpApi")
            .map(|(function, _, event)| {
                let properties = &event["Properties"];
                ApiRoute {
                    method: properties["Method"]
                        .as_str()
                        .unwrap_or("ANY")
                        .to_ascii_uppercase(),
                    path: properties["Path"].as_str().unwrap_or("$default").to_owned(),
                    function: function.to_owned(),
                }
            })
            .collect();
        routes.sort_by(|a, b| {
            let key = |r: &ApiRoute| (r.path == "$default", r.path.clone(), r.method == "ANY");
            (key(a), &a.method).cmp(&(key(b), &b.method))
        });
        routes
    }

    /// The events of every `AWS::Serverless::Function` whose `Type` is
    /// `kind`, as (function logical id, event name, event).
    fn function_events<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str, &'a Value)> {
        self.resources()
            .filter(|(_, resource)| resource["Type"] == "AWS::Serverless::Function")
            .flat_map(|(id, resource)| {
                resource["Properties"]["Events"]
                    .as_mapping()
                    .into_iter()
                    .flat_map(|events| events.iter())
                    .filter_map(move |(name, event)| Some((id, name.as_str()?, event)))
            })
            .filter(move |(_, _, event)| event["Type"] == kind)
    }

    /// The API's stage variables for `stage`: `Variables` of the
    /// `AWS::Serverless::Api`, with `!Ref Stage` resolved.
    pub fn stage_variables(&self, stage: &str) -> Vec<(String, String)> {
        let mut variables = Vec::new();
        for (_, resource) in self.resources() {
            if resource["Type"] != "AWS::Serverless::Api" {
                continue;
            }
            if let Some(map) = resource["Properties"]["Variables"].as_mapping() {
                for (k, v) in map {
                    if let Some(k) = k.as_str() {
                        variables.push((k.to_owned(), resolve_scalar(v, stage)));
                    }
                }
            }
        }
        variables
    }

    /// Rules with a pattern and the functions they target, as (rule name,
    /// pattern, target function logical ids).
    pub fn routed_rules(&self) -> Result<Vec<(String, Json, Vec<String>)>, TemplateError> {
        let mut out = Vec::new();
        for (id, resource) in self.resources() {
            if resource["Type"] != "AWS::Events::Rule"
                || resource["Properties"].get("EventPattern").is_none()
            {
                continue;
            }
            let targets = resource["Properties"]["Targets"]
                .as_sequence()
                .map(|targets| {
                    targets
                        .iter()
                        .filter_map(|t| getatt_resource(&t["Arn"]))
                        .collect()
                })
                .unwrap_or_default();
            out.push((id.to_owned(), self.rule_pattern(id)?, targets));
        }
        Ok(out)
    }

    /// Scheduled function events, as (function logical id, period).
    pub fn schedules(&self) -> Vec<(String, std::time::Duration)> {
        self.function_events("Schedule")
            .filter_map(|(function, _, event)| {
                let period = event["Properties"]["Schedule"]
                    .as_str()
                    .and_then(parse_rate)?;
                Some((function.to_owned(), period))
            })
            .collect()
    }

    /// The logical id of the `AWS::Events::Rule` a rule is deployed as:
    /// the resource's own, or for a function's `EventBridgeRule` event the
    /// one SAM generates (function id, then event name).
    pub fn rule_resource_id(&self, name: &str) -> Option<String> {
        for (id, resource) in self.resources() {
            match resource["Type"].as_str() {
                Some("AWS::Events::Rule") if id == name => return Some(id.to_owned()),
                Some("AWS::Serverless::Function") => {
                    let is_rule = resource["Properties"]["Events"][name]["Type"]
                        .as_str()
                        .is_some_and(|t| PATTERN_EVENT_TYPES.contains(&t));
                    if is_rule {
                        return Some(format!("{id}{name}"));
                    }
                }
                _ => {}
            }
        }
        None
    }

    pub fn rule_names(&self) -> Vec<String> {
        self.rules().into_iter().map(|(name, _)| name).collect()
    }

    /// The rule's event pattern as JSON. CloudFormation accepts it as a
    /// mapping or as a JSON string; both are read.
    pub fn rule_pattern(&self, name: &str) -> Result<Json, TemplateError> {
        let rules = self.rules();
        let Some((_, pattern)) = rules.iter().find(|(n, _)| n == name) else {
            let known = self.rule_names();
            return Err(TemplateError::NoSuchRule {
                name: name.to_owned(),
                path: self.path.clone(),
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            });
        };
        pattern_json(name, *pattern)
    }
}

/// A rule's pattern as JSON: CloudFormation takes a mapping or a JSON
/// string.
pub(crate) fn pattern_json(name: &str, pattern: Option<&Value>) -> Result<Json, TemplateError> {
    let bad = |reason: String| TemplateError::BadPattern {
        name: name.to_owned(),
        reason,
    };
    match pattern {
        None => Err(TemplateError::NoPattern {
            name: name.to_owned(),
        }),
        Some(Value::String(text)) => serde_json::from_str(text).map_err(|e| bad(e.to_string())),
        Some(other) => serde_json::to_value(other).map_err(|e| bad(e.to_string())),
    }
}

/// A route of the API as the template declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRoute {
    pub method: String,
    pub path: String,
    pub function: String,
}

/// A scalar, with `!Ref Stage` and `!Sub` of `${Stage}` resolved.
fn resolve_scalar(value: &Value, stage: &str) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Tagged(tagged) if tagged.tag == "Ref" && tagged.value == "Stage" => stage.to_owned(),
        Value::Tagged(tagged) if tagged.tag == "Sub" => tagged
            .value
            .as_str()
            .map(|s| s.replace("${Stage}", stage))
            .unwrap_or_default(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

/// The resource of `!GetAtt Name.Arn` (or `Fn::GetAtt: [Name, Arn]`).
pub(crate) fn getatt_resource(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => match &tagged.value {
            Value::String(s) => s.split('.').next().map(str::to_owned),
            Value::Sequence(parts) => parts.first().and_then(Value::as_str).map(str::to_owned),
            _ => None,
        },
        Value::Mapping(m) => m
            .get("Fn::GetAtt")
            .and_then(Value::as_sequence)
            .and_then(|parts| parts.first())
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

/// `rate(1 minute)`, `rate(5 minutes)`, `rate(1 hour)`, `rate(2 days)`.
pub fn parse_rate(expression: &str) -> Option<std::time::Duration> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (count, unit) = inner.trim().split_once(' ')?;
    let count: u64 = count.parse().ok().filter(|n| *n > 0)?;
    let seconds = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3_600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(count.checked_mul(seconds)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Resources:
  Bus:
    Type: AWS::Events::EventBus
  OrderPlacedRule:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: !Ref Bus
      EventPattern:
        source: [orders.api]
        detail-type: [OrderPlaced]
  AsString:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: '{"source": ["a"]}'
  Nightly:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(1 day)
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Big:
          Type: EventBridgeRule
          Properties:
            Pattern:
              detail:
                quantity: [{numeric: [">", 100]}]
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
"#;

    fn template() -> Template {
        Template::parse(Path::new("t.yaml"), TEMPLATE).unwrap()
    }

    #[test]
    fn rules_are_found_as_resources_and_as_function_events() {
        assert_eq!(
            template().rule_names(),
            ["AsString", "Big", "OrderPlacedRule"]
        );
        let ids: Vec<Option<String>> = ["OrderPlacedRule", "Big", "Nope"]
            .iter()
            .map(|r| template().rule_resource_id(r))
            .collect();
        assert_eq!(ids[0].as_deref(), Some("OrderPlacedRule"));
        assert!(
            ids[1]
                .as_deref()
                .is_some_and(|id| id.ends_with("Big") && id.len() > 3),
            "{ids:?}"
        );
        assert_eq!(ids[2], None);
    }

    #[test]
    fn patterns_read_as_mappings_or_json_strings() {
        let t = template();
        assert_eq!(
            t.rule_pattern("OrderPlacedRule").unwrap(),
            serde_json::json!({"source": ["orders.api"], "detail-type": ["OrderPlaced"]})
        );
        assert_eq!(
            t.rule_pattern("AsString").unwrap(),
            serde_json::json!({"source": ["a"]})
        );
        assert_eq!(
            t.rule_pattern("Big").unwrap(),
            serde_json::json!({"detail": {"quantity": [{"numeric": [">", 100]}]}})
        );
    }

    #[test]
    fn an_unknown_rule_names_the_known_ones() {
        let err = template().rule_pattern("Nope").unwrap_err().to_string();
        assert!(err.contains("AsString, Big, OrderPlacedRule"), "{err}");
    }

    #[test]
    fn the_project_template_declares_the_routes_rules_and_schedule() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
        let t = Template::load(&path).unwrap();
        let routes: Vec<String> = t
            .api_routes()
            .into_iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(
            routes,
            [
                "GET /customers/{customerId}/orders",
                "ANY /customers/{customerId}/orders",
                "POST /orders",
                "ANY /orders",
                "GET /orders/{orderId}",
                "ANY /orders/{orderId}",
                "POST /orders/{orderId}/cancel",
                "ANY /orders/{orderId}/cancel",
            ]
        );
        // Each function's binary is one the composition root composes.
        for id in ["ApiFunction", "EventsFunction"] {
            let binary = t.function_binary(id).unwrap();
            assert!(app::binaries().any(|b| b == binary), "{id}: {binary}");
        }
        assert_eq!(
            t.function_binary("ApiFunction").as_deref(),
            Some(app::HTTP_API_BINARY)
        );
        let rules = t.routed_rules().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].0, "OrderPlacedRule");
        assert_eq!(rules[0].2, ["EventsFunction"]);
        assert_eq!(
            t.schedules(),
            [(
                "EventsFunction".to_owned(),
                std::time::Duration::from_secs(60)
            )]
        );
        assert_eq!(
            t.stage_variables("dev"),
            [("stage".to_owned(), "dev".to_owned())]
        );
    }

    #[test]
    fn rates_parse_and_nonsense_does_not() {
        assert_eq!(
            parse_rate("rate(1 minute)"),
            Some(std::time::Duration::from_secs(60))
        );
        assert_eq!(
            parse_rate("rate(5 minutes)"),
            Some(std::time::Duration::from_secs(300))
        );
        assert_eq!(
            parse_rate("rate(2 hours)"),
            Some(std::time::Duration::from_secs(7_200))
        );
        assert_eq!(parse_rate("rate(0 minutes)"), None);
        assert_eq!(parse_rate("cron(0 12 * * ? *)"), None);
        assert_eq!(parse_rate("rate(1 fortnight)"), None);
    }

    #[test]
    fn a_template_without_resources_is_refused() {
        assert!(matches!(
            Template::parse(Path::new("t.yaml"), "Parameters: {}"),
            Err(TemplateError::NoResources { .. })
        ));
        assert!(matches!(
            Template::parse(Path::new("t.yaml"), "a: [unclosed"),
            Err(TemplateError::Yaml { .. })
        ));
    }
}
