//! `gateway`: API Gateway in front of the functions. A request is matched
//! against the template's routes (`{name}` one segment, `{name+}` the
//! rest; a method's own route before the path's `ANY`), becomes a REST API
//! (payload 1.0) proxy event built from `aws_lambda_events` types, and the
//! function's proxy response becomes the HTTP response. API Gateway's own
//! answers are kept (services-apigateway-errors): 403 `Missing
//! Authentication Token` for an undeclared route, 502 `Internal server
//! error` when the function fails or answers something that is not a
//! proxy response, 504 `Endpoint request timed out` past the integration
//! timeout, 413 over the 10 MB payload limit.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyRequestContext, ApiGatewayProxyResponse,
};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use serde_json::Value;

use crate::functions::{INTEGRATION_TIMEOUT, LocalFunction, Payload};
use crate::model::ACCOUNT;
use crate::runtime::Answer;

/// API Gateway's largest request payload.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// What a matched request runs.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) method: String,
    pub(crate) template: String,
    pub(crate) function: Arc<LocalFunction>,
}

/// What every request needs: the routes and the stage.
pub(crate) struct Context {
    pub(crate) routes: Vec<Route>,
    pub(crate) stage: String,
    pub(crate) stage_variables: QueryMap,
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}

/// API Gateway's answer to a method and path it does not declare.
fn missing_authentication_token() -> Response<Full<Bytes>> {
    let mut response = text(
        StatusCode::FORBIDDEN,
        "application/json",
        r#"{"message":"Missing Authentication Token"}"#.to_owned(),
    );
    response.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("MissingAuthenticationTokenException"),
    );
    response
}

/// Matches a path against a template route: `{name}` takes one segment,
/// `{name+}` the rest.
pub(crate) fn match_route(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let wanted: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let given: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut params = Vec::new();
    for (i, w) in wanted.iter().enumerate() {
        if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix("+}")) {
            let rest = given.get(i..)?.join("/");
            if rest.is_empty() {
                return None;
            }
            params.push((name.to_owned(), percent_decode(&rest)));
            return Some(params);
        }
        let g = given.get(i)?;
        if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            if g.is_empty() {
                return None;
            }
            params.push((name.to_owned(), percent_decode(g)));
        } else if w != g {
            return None;
        }
    }
    (wanted.len() == given.len()).then_some(params)
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn query_maps(query: Option<&str>) -> (QueryMap, QueryMap) {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return (QueryMap::default(), QueryMap::default());
    };
    let mut multi: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        multi
            .entry(percent_decode(&k.replace('+', " ")))
            .or_default()
            .push(percent_decode(&v.replace('+', " ")));
    }
    // API Gateway's single-value map holds the last value of each name.
    let single: std::collections::HashMap<String, String> = multi
        .iter()
        .filter_map(|(k, vs)| vs.last().map(|v| (k.clone(), v.clone())))
        .collect();
    (single.into(), multi.into())
}

pub(crate) async fn handle(context: &Context, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = route_and_invoke(context, request).await;
    tracing::info!(
        "{method} {path} {} {:.1} ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
}

async fn route_and_invoke(context: &Context, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let found = context.routes.iter().find_map(|route| {
        let method_ok = route.method == "ANY" || route.method == method;
        match_route(&route.template, &path)
            .filter(|_| method_ok)
            .map(|params| (route, params))
    });
    let Some((route, params)) = found else {
        return missing_authentication_token();
    };
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_PAYLOAD).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "application/json",
                r#"{"message":"Request Too Long"}"#.to_owned(),
            );
        }
    };
    let request_id = crate::local::fresh_id();
    let event = proxy_event(context, route, &params, &parts, &body, &request_id);
    let function = &route.function;
    let invoked = tokio::time::timeout(
        INTEGRATION_TIMEOUT,
        function.invoke(Payload::Json(event), false),
    )
    .await;
    match invoked {
        Ok(Ok(invocation)) => match invocation.answer {
            Answer::Response(reply) => proxy_response(reply),
            failed => bad_gateway(&format!(
                "{}: {}",
                function.spec().id,
                failed.payload(&invocation.request_id)
            )),
        },
        Ok(Err(e)) => bad_gateway(&format!("{}: {e}", function.spec().id)),
        Err(_) => {
            tracing::error!(
                "integration timed out: {} did not answer within {} s",
                function.spec().id,
                INTEGRATION_TIMEOUT.as_secs()
            );
            text(
                StatusCode::GATEWAY_TIMEOUT,
                "application/json",
                r#"{"message": "Endpoint request timed out"}"#.to_owned(),
            )
        }
    }
}

/// API Gateway's answer when the integration fails.
fn bad_gateway(why: &str) -> Response<Full<Bytes>> {
    tracing::error!("integration failed: {why}");
    text(
        StatusCode::BAD_GATEWAY,
        "application/json",
        r#"{"message": "Internal server error"}"#.to_owned(),
    )
}

fn proxy_event(
    context: &Context,
    route: &Route,
    params: &[(String, String)],
    parts: &http::request::Parts,
    body: &Bytes,
    request_id: &str,
) -> Value {
    let (single, multi) = query_maps(parts.uri.query());
    let mut request_context = ApiGatewayProxyRequestContext::default();
    request_context.account_id = Some(ACCOUNT.to_owned());
    request_context.resource_id = Some("local".to_owned());
    request_context.stage = Some(context.stage.clone());
    request_context.request_id = Some(request_id.to_owned());
    request_context.resource_path = Some(route.template.clone());
    // Locally the stage is not part of the URL, so the public path is the
    // request's path (and `Location` headers point here, not at /stage).
    request_context.path = Some(parts.uri.path().to_owned());
    request_context.http_method = parts.method.clone();
    request_context.apiid = Some("local".to_owned());
    request_context.protocol = Some("HTTP/1.1".to_owned());
    request_context.identity.source_ip = Some("127.0.0.1".to_owned());
    let (text_body, is_base64) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (None, false),
        Ok(text) => (Some(text.to_owned()), false),
        Err(_) => (Some(STANDARD.encode(body)), true),
    };
    let mut event = ApiGatewayProxyRequest::default();
    event.resource = Some(route.template.clone());
    event.path = Some(parts.uri.path().to_owned());
    event.http_method = parts.method.clone();
    event.headers = parts.headers.clone();
    event.multi_value_headers = parts.headers.clone();
    event.query_string_parameters = single;
    event.multi_value_query_string_parameters = multi;
    event.path_parameters = params.iter().cloned().collect();
    event.stage_variables = context
        .stage_variables
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    event.request_context = request_context;
    event.body = text_body;
    event.is_base64_encoded = is_base64;
    serde_json::to_value(event).unwrap_or(Value::Null)
}

fn proxy_response(reply: Value) -> Response<Full<Bytes>> {
    let parsed: ApiGatewayProxyResponse = match serde_json::from_value(reply) {
        Ok(parsed) => parsed,
        Err(e) => {
            return bad_gateway(&format!(
                "the function's response is not a proxy response: {e}"
            ));
        }
    };
    let status = u16::try_from(parsed.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let body = match parsed.body {
        None => Bytes::new(),
        Some(lambda_http::Body::Text(text)) if parsed.is_base64_encoded => {
            match STANDARD.decode(text.as_bytes()) {
                Ok(bytes) => Bytes::from(bytes),
                Err(_) => return bad_gateway("the function's base64 body does not decode"),
            }
        }
        Some(lambda_http::Body::Text(text)) => Bytes::from(text),
        Some(lambda_http::Body::Binary(bytes)) => Bytes::from(bytes),
        Some(_) => Bytes::new(),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let mut headers = HeaderMap::new();
    headers.extend(parsed.multi_value_headers);
    headers.extend(parsed.headers);
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
#[path = "gateway_tests.rs"]
mod tests;
