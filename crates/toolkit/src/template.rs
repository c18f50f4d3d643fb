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
        let pattern = pattern.ok_or_else(|| TemplateError::NoPattern {
            name: name.to_owned(),
        })?;
        let bad = |reason: String| TemplateError::BadPattern {
            name: name.to_owned(),
            reason,
        };
        match pattern {
            Value::String(text) => serde_json::from_str(text).map_err(|e| bad(e.to_string())),
            other => serde_json::to_value(other).map_err(|e| bad(e.to_string())),
        }
    }
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
