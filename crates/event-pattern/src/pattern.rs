//! A parsed pattern, and matching an event against it.

use std::fmt;

use serde_json::{Map, Value};

use crate::error::PatternError;
use crate::matcher::Matcher;

/// Why an event does not match: the first field that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Dotted path of the field, e.g. `detail.items.quantity`.
    pub field: String,
    /// What the pattern wanted there.
    pub expected: String,
    /// What the event held there; `None` when the field is missing.
    pub actual: Option<Value>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.actual {
            Some(actual) => write!(
                f,
                "{}: expected {}, found {actual}",
                self.field, self.expected
            ),
            None => write!(
                f,
                "{}: expected {}, but the field is missing",
                self.field, self.expected
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Field name to a nested node, all of which must match; plus `$or`
    /// groups, each of which needs one alternative to match.
    Object {
        fields: Vec<(String, Node)>,
        any_of: Vec<Vec<Node>>,
    },
    /// Any one matcher.
    Leaf(Vec<Matcher>),
}

/// A parsed EventBridge event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    root: Node,
}

impl Pattern {
    pub fn parse(value: &Value) -> Result<Self, PatternError> {
        match value {
            Value::Object(object) if !object.is_empty() => Ok(Self {
                root: parse_object(object, "")?,
            }),
            Value::Object(_) => Err(PatternError::invalid(
                "",
                "a pattern needs at least one field",
            )),
            _ => Err(PatternError::invalid("", "a pattern is a JSON object")),
        }
    }

    pub fn parse_str(text: &str) -> Result<Self, PatternError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| PatternError::invalid("", format!("not JSON: {e}")))?;
        Self::parse(&value)
    }

    /// `Ok` when the event matches; otherwise the first field that failed.
    pub fn matches(&self, event: &Value) -> Result<(), Mismatch> {
        match_node(&self.root, Some(event), "")
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn parse_object(object: &Map<String, Value>, path: &str) -> Result<Node, PatternError> {
    let mut fields = Vec::new();
    let mut any_of = Vec::new();
    for (key, value) in object {
        let here = join(path, key);
        if key == "$or" {
            let Value::Array(alternatives) = value else {
                return Err(PatternError::invalid(
                    &here,
                    "`$or` takes a list of patterns",
                ));
            };
            if alternatives.len() < 2 {
                return Err(PatternError::invalid(
                    &here,
                    "`$or` needs at least two patterns",
                ));
            }
            let group = alternatives
                .iter()
                .map(|alt| match alt {
                    Value::Object(o) if !o.is_empty() => parse_object(o, path),
                    _ => Err(PatternError::invalid(
                        &here,
                        "each `$or` alternative is a non-empty object",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            any_of.push(group);
            continue;
        }
        let node = match value {
            Value::Object(o) if o.is_empty() => {
                return Err(PatternError::invalid(
                    &here,
                    "an empty object matches nothing",
                ));
            }
            Value::Object(o) => parse_object(o, &here)?,
            Value::Array(matchers) if matchers.is_empty() => {
                return Err(PatternError::invalid(
                    &here,
                    "an empty list matches nothing",
                ));
            }
            Value::Array(matchers) => Node::Leaf(
                matchers
                    .iter()
                    .map(|m| Matcher::parse(m, &here))
                    .collect::<Result<_, _>>()?,
            ),
            _ => {
                return Err(PatternError::invalid(
                    &here,
                    "a field maps to a list of matchers or to a nested pattern",
                ));
            }
        };
        fields.push((key.clone(), node));
    }
    Ok(Node::Object { fields, any_of })
}

fn match_node(node: &Node, value: Option<&Value>, path: &str) -> Result<(), Mismatch> {
    match node {
        Node::Leaf(matchers) => match_leaf(matchers, value, path),
        Node::Object { fields, any_of } => match value {
            // An array of objects: one element must match the whole node.
            Some(Value::Array(elements)) => {
                let mut first = None;
                for element in elements {
                    match match_node(node, Some(element), path) {
                        Ok(()) => return Ok(()),
                        Err(m) => {
                            first.get_or_insert(m);
                        }
                    }
                }
                Err(first.unwrap_or_else(|| Mismatch {
                    field: path.to_owned(),
                    expected: "an object".to_owned(),
                    actual: value.cloned(),
                }))
            }
            _ => {
                let object = value.and_then(Value::as_object);
                for (key, child) in fields {
                    let here = join(path, key);
                    match_node(child, object.and_then(|o| o.get(key)), &here)?;
                }
                for group in any_of {
                    let mut first = None;
                    let mut matched = false;
                    for alternative in group {
                        match match_node(alternative, value, path) {
                            Ok(()) => {
                                matched = true;
                                break;
                            }
                            Err(m) => {
                                first.get_or_insert(m);
                            }
                        }
                    }
                    if !matched {
                        let m = first.unwrap_or_else(|| Mismatch {
                            field: path.to_owned(),
                            expected: "one of the $or patterns".to_owned(),
                            actual: value.cloned(),
                        });
                        return Err(Mismatch {
                            expected: format!("{} (no `$or` alternative matched)", m.expected),
                            ..m
                        });
                    }
                }
                Ok(())
            }
        },
    }
}

fn describe(matchers: &[Matcher]) -> String {
    let parts: Vec<String> = matchers.iter().map(ToString::to_string).collect();
    if parts.len() == 1 {
        parts.into_iter().next().unwrap_or_default()
    } else {
        format!("one of [{}]", parts.join(", "))
    }
}

fn match_leaf(matchers: &[Matcher], value: Option<&Value>, path: &str) -> Result<(), Mismatch> {
    let ok = match value {
        None => matchers.contains(&Matcher::Exists(false)),
        Some(Value::Array(elements)) => elements
            .iter()
            .any(|element| !element.is_array() && matchers.iter().any(|m| m.matches(element))),
        Some(leaf) => matchers.iter().any(|m| m.matches(leaf)),
    };
    if ok {
        Ok(())
    } else {
        Err(Mismatch {
            field: path.to_owned(),
            expected: describe(matchers),
            actual: value.cloned(),
        })
    }
}
