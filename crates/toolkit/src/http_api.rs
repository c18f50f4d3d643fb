//! `http_api`: an HTTP API's payload format 2.0, both ways
//! (http-api-develop-integrations-lambda). The gateway and `event
//! apigw-http` build the event here, so the two cannot drift apart.
//!
//! The event: `version` "2.0", `routeKey` (`GET /items/{id}` or
//! `$default`), `rawPath`, `rawQueryString`, `cookies` (taken out of the
//! `Cookie` header), `headers` with lower-case names and repeated values
//! joined by commas, `queryStringParameters` likewise, `pathParameters`,
//! `stageVariables`, `requestContext` (with `http.method`, `http.path`,
//! `http.sourceIp`, `time`, `timeEpoch`), `body` and `isBase64Encoded`:
//! a body whose type is not text arrives base64-encoded (HTTP APIs have
//! no binary media type list). Empty maps and a missing body are left out,
//! as the service leaves them out.
//!
//! The response: an object with `statusCode` is read as a response
//! (`headers`, `cookies` as `Set-Cookie`, `body`, `isBase64Encoded`, which
//! is decoded); any other JSON value is a 200 `application/json` whose
//! body is the value (a string as itself).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::{Map, Value, json};

use crate::model::ACCOUNT;

/// What a payload 2.0 event is made of.
#[derive(Debug)]
pub struct EventParts<'a> {
    pub route_key: &'a str,
    pub method: &'a str,
    /// The path as requested (not decoded).
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub path_parameters: &'a [(String, String)],
    pub stage: &'a str,
    pub stage_variables: BTreeMap<String, String>,
    pub request_id: &'a str,
    pub api_id: &'a str,
    pub domain_name: &'a str,
    pub time: DateTime<Utc>,
    pub body: &'a [u8],
}

/// A `Content-Type`'s `type/subtype`, lower case, without parameters.
pub(crate) fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether a body of `content_type` reaches the function as text.
fn is_text(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return true;
    };
    let essence = essence(content_type);
    essence.starts_with("text/")
        || essence.ends_with("/json")
        || essence.ends_with("+json")
        || essence.ends_with("/xml")
        || essence.ends_with("+xml")
        || essence == "application/javascript"
        || essence == "application/x-www-form-urlencoded"
        || essence == "application/graphql"
}

/// The payload 2.0 event for a request.
pub fn event(parts: &EventParts<'_>) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for name in parts.headers.keys() {
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if name == http::header::COOKIE {
            cookies.extend(
                values
                    .iter()
                    .flat_map(|v| v.split(';'))
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            );
            continue;
        }
        headers.insert(name.as_str().to_owned(), Value::String(values.join(",")));
    }
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in crate::gateway::query_pairs(Some(parts.query)) {
        query.entry(k).or_default().push(v);
    }
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let text = (is_text(content_type))
        .then(|| std::str::from_utf8(parts.body).ok())
        .flatten();
    let (body, is_base64) = match text {
        _ if parts.body.is_empty() => (None, false),
        Some(text) => (Some(text.to_owned()), false),
        None => (Some(STANDARD.encode(parts.body)), true),
    };
    let user_agent = parts
        .headers
        .get(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": parts.route_key,
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": parts.api_id,
            "domainName": parts.domain_name,
            "domainPrefix": parts.domain_name.split('.').next().unwrap_or_default(),
            "http": {
                "method": parts.method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": user_agent,
            },
            "requestId": parts.request_id,
            "routeKey": parts.route_key,
            "stage": parts.stage,
            "time": parts.time.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": parts.time.timestamp_millis(),
        },
        "isBase64Encoded": is_base64,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        let joined: Map<String, Value> = query
            .into_iter()
            .map(|(k, vs)| (k, Value::String(vs.join(","))))
            .collect();
        event["queryStringParameters"] = Value::Object(joined);
    }
    if !parts.path_parameters.is_empty() {
        event["pathParameters"] = parts
            .path_parameters
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>()
            .into();
    }
    if !parts.stage_variables.is_empty() {
        event["stageVariables"] = json!(parts.stage_variables);
    }
    if let Some(body) = body {
        event["body"] = Value::String(body);
    }
    event
}

/// The HTTP response for a function's payload 2.0 answer; `Err` says why
/// the answer is not one (the gateway then answers 500).
pub fn response(reply: Value) -> Result<Response<Full<Bytes>>, String> {
    let Some(object) = reply.as_object().filter(|o| o.contains_key("statusCode")) else {
        // Valid JSON without `statusCode`: a 200 with the value as body.
        let body = match reply {
            Value::String(text) => text,
            other => other.to_string(),
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(response);
    };
    let status = object["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| format!("statusCode {} is not an HTTP status", object["statusCode"]))?;
    let base64 = object
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let body = match object.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(text)) if base64 => Bytes::from(
            STANDARD
                .decode(text.as_bytes())
                .map_err(|e| format!("the base64 body does not decode: {e}"))?,
        ),
        Some(Value::String(text)) => Bytes::from(text.clone()),
        Some(other) => return Err(format!("body {other} is not a string")),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(map) = object.get("headers").and_then(Value::as_object) {
        for (name, value) in map {
            let value = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) else {
                return Err(format!("header {name}: {value} is not a valid header"));
            };
            headers.insert(name, value);
        }
    }
    for cookie in object
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let value =
            HeaderValue::from_str(cookie).map_err(|_| format!("cookie {cookie:?} is not valid"))?;
        headers.append(http::header::SET_COOKIE, value);
    }
    Ok(response)
}
