//! API Gateway events to `lambda_http::Request`, and responses back.
//!
//! This crate converts events itself rather than through `lambda_http::run`,
//! for three reasons the tests pin down: a body marked base64 that is not
//! base64 must be a 400, not a panic in the runtime; the tutorial's minimal
//! event (no `requestContext`) must work; and the routed path must be the
//! path without the stage, with the stage prefix kept for `Location`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, Method};
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest,
    ApiGatewayV2httpResponse,
};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::Value;

use crate::names::MAX_BODY_BYTES;
use crate::problem::ApiError;

/// Which kind of event a request came in, and so which response shape
/// goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// REST API, payload format 1.0 (also `sam local`'s events).
    RestV1,
    /// HTTP API, payload format 2.0.
    HttpV2,
}

/// The event is not an API Gateway proxy event at all: the function was
/// wired to the wrong source. This fails the invocation.
#[derive(Debug, thiserror::Error)]
#[error("not an API Gateway proxy event: {0}")]
pub struct EventError(String);

/// The public path prefix before the routed path (the stage, or a custom
/// domain's base path), used to build `Location`.
#[derive(Debug, Clone, Default)]
pub(crate) struct BasePath(pub(crate) String);

/// The request id to report: API Gateway's, or the invocation's.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

pub(crate) struct Incoming {
    pub(crate) origin: Origin,
    pub(crate) request: Request,
}

/// A request that could not even be built; it is answered right away.
pub(crate) struct Early {
    pub(crate) origin: Origin,
    pub(crate) request_id: String,
    pub(crate) error: ApiError,
}

/// Characters a URI path cannot hold as they are.
const PATH_UNSAFE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

pub(crate) fn origin_of(event: &Value) -> Option<Origin> {
    let is_v2 = event.get("version").and_then(Value::as_str) == Some("2.0")
        || event.pointer("/requestContext/http").is_some();
    if is_v2 {
        Some(Origin::HttpV2)
    } else if event.get("httpMethod").is_some() {
        Some(Origin::RestV1)
    } else {
        None
    }
}

pub(crate) fn into_request(
    mut event: Value,
    fallback_request_id: &str,
) -> Result<Result<Incoming, Early>, EventError> {
    let origin = origin_of(&event).ok_or_else(|| {
        EventError("it has neither `httpMethod` nor `requestContext.http`".into())
    })?;
    // The tutorial's hand-written events carry no requestContext; API
    // Gateway always sends one. Both are accepted.
    // Its context also names the method; a minimal one is filled in.
    if let Some(object) = event.as_object_mut() {
        let method = object.get("httpMethod").cloned();
        let context = object.entry("requestContext").or_insert(Value::Null);
        if context.is_null() {
            *context = Value::Object(serde_json::Map::new());
        }
        if let (Some(context), Some(method)) = (context.as_object_mut(), method) {
            context.entry("httpMethod").or_insert(method);
        }
    }
    drop_invalid_headers(&mut event);
    let parts = match origin {
        Origin::RestV1 => {
            let ag: ApiGatewayProxyRequest =
                serde_json::from_value(event).map_err(|e| EventError(e.to_string()))?;
            rest_v1(ag, fallback_request_id)
        }
        Origin::HttpV2 => {
            let ag: ApiGatewayV2httpRequest =
                serde_json::from_value(event).map_err(|e| EventError(e.to_string()))?;
            http_v2(ag, fallback_request_id)
        }
    };
    let (parts, body) = parts;
    let request_id = parts.request_id.clone();
    Ok(match body.and_then(|body| build(parts, body)) {
        Ok(request) => Ok(Incoming { origin, request }),
        Err(error) => Err(Early {
            origin,
            request_id,
            error,
        }),
    })
}

/// Removes headers that HTTP cannot carry (a name or value with control
/// characters, a value that is not a string). API Gateway does not pass
/// such headers on; a hand-made event may hold them, and one bad header
/// must not make the whole request unreadable.
fn drop_invalid_headers(event: &mut Value) {
    let valid_name = |name: &str| http::HeaderName::from_bytes(name.as_bytes()).is_ok();
    let valid_value = |value: &Value| {
        value
            .as_str()
            .is_some_and(|v| http::HeaderValue::from_str(v).is_ok())
    };
    if let Some(headers) = event.get_mut("headers").and_then(Value::as_object_mut) {
        headers.retain(|name, value| {
            let keep = valid_name(name) && valid_value(value);
            if !keep {
                tracing::debug!(header = %name.escape_debug(), "dropped a header HTTP cannot carry");
            }
            keep
        });
    }
    if let Some(headers) = event
        .get_mut("multiValueHeaders")
        .and_then(Value::as_object_mut)
    {
        headers.retain(|name, _| valid_name(name));
        for values in headers.values_mut() {
            if let Some(list) = values.as_array_mut() {
                list.retain(valid_value);
            }
        }
        headers.retain(|_, values| values.as_array().is_some_and(|l| !l.is_empty()));
    }
}

/// What both payload formats reduce to before the request is built.
struct Parts {
    method: Method,
    path: String,
    base_path: String,
    headers: HeaderMap,
    query: QueryMap,
    path_parameters: QueryMap,
    stage_variables: QueryMap,
    context: RequestContext,
    request_id: String,
}

fn rest_v1(ag: ApiGatewayProxyRequest, fallback: &str) -> (Parts, Result<Body, ApiError>) {
    let path = ag.path.clone().unwrap_or_else(|| "/".into());
    // requestContext.path is the public path ("/dev/orders"); what precedes
    // the routed path is the stage or base path.
    let base_path = ag
        .request_context
        .path
        .as_deref()
        .and_then(|public| public.strip_suffix(path.as_str()))
        .unwrap_or_default()
        .to_owned();
    let request_id = ag
        .request_context
        .request_id
        .clone()
        .unwrap_or_else(|| fallback.to_owned());
    let mut headers = ag.multi_value_headers;
    headers.extend(ag.headers);
    let query = if ag.multi_value_query_string_parameters.is_empty() {
        ag.query_string_parameters
    } else {
        ag.multi_value_query_string_parameters
    };
    let body = decode_body(ag.body.as_deref(), ag.is_base64_encoded);
    let parts = Parts {
        method: ag.http_method,
        path,
        base_path,
        headers,
        query,
        path_parameters: QueryMap::from(ag.path_parameters),
        stage_variables: QueryMap::from(ag.stage_variables),
        context: RequestContext::ApiGatewayV1(ag.request_context),
        request_id,
    };
    (parts, body)
}

fn http_v2(ag: ApiGatewayV2httpRequest, fallback: &str) -> (Parts, Result<Body, ApiError>) {
    let raw_path = ag.raw_path.clone().unwrap_or_else(|| "/".into());
    // A named stage appears in rawPath; `$default` does not.
    let (base_path, path) = match ag.request_context.stage.as_deref() {
        Some(stage) if stage != "$default" => {
            let prefix = format!("/{stage}");
            match raw_path.strip_prefix(&prefix) {
                Some(rest) if rest.starts_with('/') => (prefix, rest.to_owned()),
                Some("") => (prefix, "/".to_owned()),
                _ => (String::new(), raw_path),
            }
        }
        _ => (String::new(), raw_path),
    };
    let request_id = ag
        .request_context
        .request_id
        .clone()
        .unwrap_or_else(|| fallback.to_owned());
    let query = match ag.raw_query_string.as_deref() {
        Some(raw) if !raw.is_empty() => raw.parse().unwrap_or_default(),
        _ => ag.query_string_parameters,
    };
    let body = decode_body(ag.body.as_deref(), ag.is_base64_encoded);
    let parts = Parts {
        method: ag.request_context.http.method.clone(),
        path,
        base_path,
        headers: ag.headers,
        query,
        path_parameters: QueryMap::from(ag.path_parameters),
        stage_variables: QueryMap::from(ag.stage_variables),
        context: RequestContext::ApiGatewayV2(ag.request_context),
        request_id,
    };
    (parts, body)
}

fn decode_body(body: Option<&str>, base64: bool) -> Result<Body, ApiError> {
    match body {
        None => Ok(Body::Empty),
        Some(text) if !base64 => Ok(Body::Text(text.to_owned())),
        Some(encoded) => {
            // Refuse an oversized body before spending time decoding it.
            if encoded.len() > MAX_BODY_BYTES.div_ceil(3) * 4 {
                return Err(ApiError::PayloadTooLarge);
            }
            STANDARD
                .decode(encoded.trim())
                .map(Body::Binary)
                .map_err(|_| ApiError::MalformedBase64)
        }
    }
}

fn build(parts: Parts, body: Body) -> Result<Request, ApiError> {
    let uri = utf8_percent_encode(&parts.path, PATH_UNSAFE).to_string();
    let mut request = http::Request::builder()
        .method(parts.method)
        .uri(uri.as_str())
        .body(body)
        .map_err(|e| ApiError::BadParameter {
            name: "path",
            message: format!("not a valid request path: {e}"),
        })?;
    *request.headers_mut() = parts.headers;
    request.extensions_mut().insert(BasePath(parts.base_path));
    request.extensions_mut().insert(RequestId(parts.request_id));
    Ok(request
        .with_raw_http_path(parts.path)
        .with_query_string_parameters(parts.query)
        .with_path_parameters(parts.path_parameters)
        .with_stage_variables(parts.stage_variables)
        .with_request_context(parts.context))
}

/// The response, in the shape the event's origin expects.
pub(crate) fn into_event_response(origin: Origin, response: Response<Body>) -> Value {
    let (parts, body) = response.into_parts();
    let (body, is_base64_encoded) = match body {
        Body::Empty => (None, false),
        Body::Text(text) => (Some(Body::Text(text)), false),
        Body::Binary(bytes) => (Some(Body::Text(STANDARD.encode(bytes))), true),
        // `Body` is non-exhaustive; nothing here makes another kind.
        _ => (None, false),
    };
    let status_code = i64::from(parts.status.as_u16());
    let serialized = match origin {
        Origin::RestV1 => {
            let mut out = ApiGatewayProxyResponse::default();
            out.status_code = status_code;
            out.headers = parts.headers;
            out.body = body;
            out.is_base64_encoded = is_base64_encoded;
            serde_json::to_value(out)
        }
        Origin::HttpV2 => {
            let mut out = ApiGatewayV2httpResponse::default();
            out.status_code = status_code;
            out.headers = parts.headers;
            out.body = body;
            out.is_base64_encoded = is_base64_encoded;
            serde_json::to_value(out)
        }
    };
    // Serializing these plain structs to a Value cannot fail; a bare 500
    // keeps the contract if it ever did.
    serialized.unwrap_or_else(|_| serde_json::json!({"statusCode": 500}))
}
