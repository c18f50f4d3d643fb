//! One matcher of a field's array, and how a leaf value meets it.

use std::fmt;
use std::net::IpAddr;

use serde_json::Value;

use crate::error::PatternError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Text {
    Exact(String),
    IgnoreCase(String),
}

impl Text {
    fn parse(value: &Value, path: &str, op: &str) -> Result<Self, PatternError> {
        match value {
            Value::String(s) => Ok(Self::Exact(s.clone())),
            Value::Object(o) if o.len() == 1 => match o.get("equals-ignore-case") {
                Some(Value::String(s)) => Ok(Self::IgnoreCase(s.clone())),
                _ => Err(PatternError::invalid(
                    path,
                    format!("`{op}` takes a string or {{\"equals-ignore-case\": string}}"),
                )),
            },
            _ => Err(PatternError::invalid(
                path,
                format!("`{op}` takes a string or {{\"equals-ignore-case\": string}}"),
            )),
        }
    }

    fn starts(&self, value: &str) -> bool {
        match self {
            Self::Exact(p) => value.starts_with(p.as_str()),
            Self::IgnoreCase(p) => lower(value).starts_with(&lower(p)),
        }
    }

    fn ends(&self, value: &str) -> bool {
        match self {
            Self::Exact(s) => value.ends_with(s.as_str()),
            Self::IgnoreCase(s) => lower(value).ends_with(&lower(s)),
        }
    }
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Comparison {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Matcher {
    /// An exact JSON value: string, number, boolean or null.
    Exact(Value),
    Prefix(Text),
    Suffix(Text),
    EqualsIgnoreCase(String),
    /// Matches a present leaf value that none of the inner matchers match.
    AnythingBut(Vec<Matcher>),
    Numeric(Vec<(Comparison, f64)>),
    Exists(bool),
    Wildcard(String),
    Cidr {
        network: IpAddr,
        prefix: u8,
    },
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(v) => write!(f, "{v}"),
            Self::Prefix(Text::Exact(p)) => write!(f, "prefix {p:?}"),
            Self::Prefix(Text::IgnoreCase(p)) => write!(f, "prefix {p:?} ignoring case"),
            Self::Suffix(Text::Exact(s)) => write!(f, "suffix {s:?}"),
            Self::Suffix(Text::IgnoreCase(s)) => write!(f, "suffix {s:?} ignoring case"),
            Self::EqualsIgnoreCase(s) => write!(f, "{s:?} ignoring case"),
            Self::AnythingBut(inner) => {
                let inner: Vec<String> = inner.iter().map(ToString::to_string).collect();
                write!(f, "anything but [{}]", inner.join(", "))
            }
            Self::Numeric(conditions) => {
                let parts: Vec<String> = conditions
                    .iter()
                    .map(|(c, n)| {
                        let op = match c {
                            Comparison::Lt => "<",
                            Comparison::Le => "<=",
                            Comparison::Eq => "=",
                            Comparison::Ge => ">=",
                            Comparison::Gt => ">",
                        };
                        format!("{op} {n}")
                    })
                    .collect();
                write!(f, "a number {}", parts.join(" and "))
            }
            Self::Exists(true) => f.write_str("present"),
            Self::Exists(false) => f.write_str("absent"),
            Self::Wildcard(w) => write!(f, "wildcard {w:?}"),
            Self::Cidr { network, prefix } => write!(f, "an address in {network}/{prefix}"),
        }
    }
}

impl Matcher {
    pub(crate) fn parse(value: &Value, path: &str) -> Result<Self, PatternError> {
        match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => {
                Ok(Self::Exact(value.clone()))
            }
            Value::Array(_) => Err(PatternError::invalid(path, "a matcher cannot be an array")),
            Value::Object(o) => {
                if o.len() != 1 {
                    return Err(PatternError::invalid(
                        path,
                        "a matcher object has exactly one operator",
                    ));
                }
                let (op, arg) = o
                    .iter()
                    .next()
                    .ok_or_else(|| PatternError::invalid(path, "empty matcher"))?;
                match op.as_str() {
                    "prefix" => Ok(Self::Prefix(Text::parse(arg, path, op)?)),
                    "suffix" => Ok(Self::Suffix(Text::parse(arg, path, op)?)),
                    "equals-ignore-case" => match arg {
                        Value::String(s) => Ok(Self::EqualsIgnoreCase(s.clone())),
                        _ => Err(PatternError::invalid(
                            path,
                            "`equals-ignore-case` takes a string",
                        )),
                    },
                    "anything-but" => Self::anything_but(arg, path),
                    "numeric" => Self::numeric(arg, path),
                    "exists" => match arg {
                        Value::Bool(b) => Ok(Self::Exists(*b)),
                        _ => Err(PatternError::invalid(path, "`exists` takes true or false")),
                    },
                    "wildcard" => match arg {
                        Value::String(s) => Ok(Self::Wildcard(check_wildcard(s, path)?)),
                        _ => Err(PatternError::invalid(path, "`wildcard` takes a string")),
                    },
                    "cidr" => match arg {
                        Value::String(s) => parse_cidr(s, path),
                        _ => Err(PatternError::invalid(
                            path,
                            "`cidr` takes a string such as \"10.0.0.0/24\"",
                        )),
                    },
                    other => Err(PatternError::invalid(
                        path,
                        format!("unknown operator `{other}`"),
                    )),
                }
            }
        }
    }

    fn anything_but(arg: &Value, path: &str) -> Result<Self, PatternError> {
        // "Anything-but works with single string and numeric values or
        // lists, which have to contain entirely strings or entirely
        // numerics" (aws/event-ruler README, Anything-but matching).
        let scalar = |v: &Value| match v {
            Value::String(_) => Ok(Self::Exact(v.clone())),
            Value::Number(_) => {
                check_numeric_range(v, path, "`anything-but`")?;
                Ok(Self::Exact(v.clone()))
            }
            _ => Err(PatternError::invalid(
                path,
                format!("`anything-but` takes strings or numbers, not {v}"),
            )),
        };
        let inner = match arg {
            Value::Array(values) if values.is_empty() => {
                return Err(PatternError::invalid(
                    path,
                    "`anything-but` needs at least one value",
                ));
            }
            Value::Array(values) => {
                let strings = values.iter().filter(|v| v.is_string()).count();
                if strings != 0 && strings != values.len() {
                    return Err(PatternError::invalid(
                        path,
                        "an `anything-but` list holds only strings or only numbers",
                    ));
                }
                values.iter().map(scalar).collect::<Result<_, _>>()?
            }
            Value::Object(o) if o.len() == 1 => {
                let (op, inner) = o
                    .iter()
                    .next()
                    .ok_or_else(|| PatternError::invalid(path, "empty"))?;
                match (op.as_str(), inner) {
                    ("prefix", Value::String(p)) => vec![Self::Prefix(Text::Exact(p.clone()))],
                    ("suffix", Value::String(s)) => vec![Self::Suffix(Text::Exact(s.clone()))],
                    ("wildcard", Value::String(w)) => {
                        vec![Self::Wildcard(check_wildcard(w, path)?)]
                    }
                    ("equals-ignore-case", Value::String(s)) => {
                        vec![Self::EqualsIgnoreCase(s.clone())]
                    }
                    ("equals-ignore-case", Value::Array(values)) if !values.is_empty() => values
                        .iter()
                        .map(|v| match v {
                            Value::String(s) => Ok(Self::EqualsIgnoreCase(s.clone())),
                            _ => Err(PatternError::invalid(
                                path,
                                "`equals-ignore-case` takes strings",
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => {
                        return Err(PatternError::invalid(
                            path,
                            "`anything-but` takes a value, a list, or one of prefix, suffix, wildcard, equals-ignore-case",
                        ));
                    }
                }
            }
            other => vec![scalar(other)?],
        };
        Ok(Self::AnythingBut(inner))
    }

    fn numeric(arg: &Value, path: &str) -> Result<Self, PatternError> {
        let Value::Array(parts) = arg else {
            return Err(PatternError::invalid(
                path,
                "`numeric` takes a list such as [\">\", 0, \"<=\", 5]",
            ));
        };
        if parts.is_empty() || parts.len() % 2 != 0 || parts.len() > 4 {
            return Err(PatternError::invalid(
                path,
                "`numeric` takes one or two (operator, number) pairs",
            ));
        }
        let mut conditions = Vec::new();
        for pair in parts.chunks(2) {
            let op = match pair[0].as_str() {
                Some("<") => Comparison::Lt,
                Some("<=") => Comparison::Le,
                Some("=") => Comparison::Eq,
                Some(">=") => Comparison::Ge,
                Some(">") => Comparison::Gt,
                _ => {
                    return Err(PatternError::invalid(
                        path,
                        format!("`numeric`: {} is not <, <=, =, >= or >", pair[0]),
                    ));
                }
            };
            let n = check_numeric_range(&pair[1], path, "`numeric`")?;
            conditions.push((op, n));
        }
        if conditions.len() == 2 {
            if conditions.iter().any(|(c, _)| *c == Comparison::Eq) {
                return Err(PatternError::invalid(path, "`numeric`: `=` stands alone"));
            }
            // A range: one lower bound and one upper bound.
            let lower = conditions
                .iter()
                .filter(|(c, _)| matches!(c, Comparison::Gt | Comparison::Ge))
                .count();
            if lower != 1 {
                return Err(PatternError::invalid(
                    path,
                    "`numeric` takes at most one lower bound (> or >=) and one upper bound (< or <=)",
                ));
            }
        }
        Ok(Self::Numeric(conditions))
    }

    /// Whether a present leaf value (never an array) matches.
    pub(crate) fn matches(&self, value: &Value) -> bool {
        match self {
            Self::Exact(expected) => match (expected, value) {
                (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
                _ => expected == value,
            },
            Self::Prefix(text) => value.as_str().is_some_and(|s| text.starts(s)),
            Self::Suffix(text) => value.as_str().is_some_and(|s| text.ends(s)),
            Self::EqualsIgnoreCase(expected) => {
                value.as_str().is_some_and(|s| lower(s) == lower(expected))
            }
            Self::AnythingBut(inner) => {
                !value.is_object() && !inner.iter().any(|m| m.matches(value))
            }
            Self::Numeric(conditions) => value
                .as_f64()
                .filter(|n| in_numeric_range(*n))
                .is_some_and(|n| {
                    conditions.iter().all(|(c, bound)| match c {
                        Comparison::Lt => n < *bound,
                        Comparison::Le => n <= *bound,
                        Comparison::Eq => n == *bound,
                        Comparison::Ge => n >= *bound,
                        Comparison::Gt => n > *bound,
                    })
                }),
            // Only leaves exist: an object in the event's place is not one,
            // so `exists: false` matches it ("Exists match only works on the
            // leaf nodes", aws/event-ruler README, Exists matching).
            Self::Exists(wanted) => *wanted != value.is_object(),
            Self::Wildcard(pattern) => value.as_str().is_some_and(|s| wildcard(pattern, s)),
            Self::Cidr { network, prefix } => value
                .as_str()
                .and_then(|s| s.parse::<IpAddr>().ok())
                .is_some_and(|ip| in_network(ip, *network, *prefix)),
        }
    }
}

/// "Consecutive wildcard characters are not allowed", and "a backslash
/// escaping any character other than asterisk or backslash is not allowed"
/// (aws/event-ruler README, Wildcard matching); a trailing lone backslash
/// escapes nothing and is refused too.
fn check_wildcard(pattern: &str, path: &str) -> Result<String, PatternError> {
    let mut chars = pattern.chars();
    let mut star_before = false;
    while let Some(c) = chars.next() {
        match c {
            '*' if star_before => {
                return Err(PatternError::invalid(
                    path,
                    "`wildcard` cannot hold consecutive `*`",
                ));
            }
            '*' => star_before = true,
            '\\' => {
                match chars.next() {
                    Some('*' | '\\') => {}
                    Some(other) => {
                        return Err(PatternError::invalid(
                            path,
                            format!(
                                "`wildcard`: `\\{other}` escapes nothing; only `\\*` and `\\\\` are escapes"
                            ),
                        ));
                    }
                    None => {
                        return Err(PatternError::invalid(
                            path,
                            "`wildcard` ends with a lone `\\`",
                        ));
                    }
                }
                star_before = false;
            }
            _ => star_before = false,
        }
    }
    Ok(pattern.to_owned())
}

/// "Numeric matching is limited to value between -5.0e9 and +5.0e9
/// inclusive" (aws/event-ruler README, Numeric matching).
const NUMERIC_LIMIT: f64 = 5.0e9;

fn in_numeric_range(n: f64) -> bool {
    (-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(&n)
}

/// A pattern's number, refused outside the range EventBridge compares.
fn check_numeric_range(value: &Value, path: &str, op: &str) -> Result<f64, PatternError> {
    let n = value
        .as_f64()
        .ok_or_else(|| PatternError::invalid(path, format!("{op}: {value} is not a number")))?;
    if !in_numeric_range(n) {
        return Err(PatternError::invalid(
            path,
            format!("{op}: {value} is outside -5.0e9 to 5.0e9, the range EventBridge compares"),
        ));
    }
    Ok(n)
}

/// `*` matches any run of characters; `\*` a literal star, `\\` a backslash.
fn wildcard(pattern: &str, text: &str) -> bool {
    enum Token {
        Star,
        Char(char),
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => tokens.push(Token::Star),
            '\\' => tokens.push(Token::Char(chars.next().unwrap_or('\\'))),
            c => tokens.push(Token::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Iterative matching with one backtrack point: linear for one star,
    // at most quadratic overall, never exponential.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Token::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(Token::Star) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|t| matches!(t, Token::Star))
}

fn parse_cidr(raw: &str, path: &str) -> Result<Matcher, PatternError> {
    let bad = || PatternError::invalid(path, format!("`cidr`: {raw:?} is not an address/prefix"));
    let (address, prefix) = raw.split_once('/').ok_or_else(bad)?;
    let network: IpAddr = address.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let max = if network.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(bad());
    }
    Ok(Matcher::Cidr { network, prefix })
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}
