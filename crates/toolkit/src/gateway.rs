//! `gateway`: API Gateway in front of the functions. A request is matched
//! against the template's routes (`{name}` one segment, `{name+}` the
//! rest; a method's own route before the path's `ANY`; an HTTP API's
//! `$default` last) and becomes the event of its route's API: a REST API
//! (`Type: Api`) sends a payload 1.0 proxy event built from
//! `aws_lambda_events` types, an HTTP API (`Type: HttpApi`) a payload 2.0
//! event (`http_api`). The function's answer becomes the HTTP response as
//! that kind of API makes it. CORS is the template's (`cors`).
//!
//! API Gateway's own answers are kept, per kind (services-apigateway-errors,
//! http-api-develop-integrations-lambda):
//!
//! | situation | REST | HTTP API |
//! |---|---|---|
//! | undeclared route | 403 `Missing Authentication Token` | 404 `Not Found` |
//! | function error, bad answer | 502 `Internal server error` | 500 `Internal Server Error` |
//! | past the integration timeout | 504 `Endpoint request timed out` | 503 `Service Unavailable` |
//! | body over 10 MB | 413 | 413 |
//! | event over Lambda's 6 MB | 413 `Request Too Long` | 413 |

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

use crate::auth::LocalPool;
use crate::functions::{HTTP_API_INTEGRATION_TIMEOUT, INTEGRATION_TIMEOUT, LocalFunction, Payload};
use crate::model::{ACCOUNT, Api, ApiKind, Authorizer, AuthorizerKind};
use crate::runtime::{Answer, RuntimeError};

/// API Gateway's largest request payload (10 MB, both kinds).
pub const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// What a matched request runs.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) method: String,
    pub(crate) template: String,
    pub(crate) function: Arc<LocalFunction>,
    pub(crate) api: Arc<Api>,
    /// The authorizer this route applies (its event's, else its API's
    /// default).
    pub(crate) authorizer: Option<Authorizer>,
}

impl Route {
    fn kind(&self) -> ApiKind {
        self.api.kind
    }
}

/// What every request needs: the routes, their APIs and the stage.
pub(crate) struct Context {
    pub(crate) routes: Vec<Route>,
    pub(crate) stage: String,
    pub(crate) stage_variables: QueryMap,
    /// The local user pool, when a route has an authorizer.
    pub(crate) pool: Option<Arc<LocalPool>>,
}

pub(crate) fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}

/// The gateway's own answers, as each kind of API words them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NoRoute,
    Unauthorized,
    FunctionFailed,
    TimedOut,
    BodyTooLarge,
    EventTooLarge,
}

fn refuse(kind: ApiKind, refusal: Refusal) -> Response<Full<Bytes>> {
    const JSON: &str = "application/json";
    let mut response = match (kind, refusal) {
        (ApiKind::Rest, Refusal::NoRoute) => text(
            StatusCode::FORBIDDEN,
            JSON,
            r#"{"message":"Missing Authentication Token"}"#,
        ),
        (ApiKind::Http, Refusal::NoRoute) => {
            text(StatusCode::NOT_FOUND, JSON, r#"{"message":"Not Found"}"#)
        }
        // supported-gateway-response-types: UNAUTHORIZED.
        (_, Refusal::Unauthorized) => text(
            StatusCode::UNAUTHORIZED,
            JSON,
            r#"{"message":"Unauthorized"}"#,
        ),
        (ApiKind::Rest, Refusal::FunctionFailed) => text(
            StatusCode::BAD_GATEWAY,
            JSON,
            r#"{"message": "Internal server error"}"#,
        ),
        (ApiKind::Http, Refusal::FunctionFailed) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            JSON,
            r#"{"message":"Internal Server Error"}"#,
        ),
        (ApiKind::Rest, Refusal::TimedOut) => text(
            StatusCode::GATEWAY_TIMEOUT,
            JSON,
            r#"{"message": "Endpoint request timed out"}"#,
        ),
        (ApiKind::Http, Refusal::TimedOut) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            JSON,
            r#"{"message":"Service Unavailable"}"#,
        ),
        // Both kinds refuse a body over 10 MB before routing, in plain
        // text (as observed in koki-develop/lgtm-generator#10).
        (_, Refusal::BodyTooLarge) => text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain; charset=utf-8",
            format!("HTTP content length exceeded {MAX_PAYLOAD} bytes."),
        ),
        // Lambda's RequestTooLargeException through a REST API (the same
        // issue shows the body and the error type).
        (ApiKind::Rest, Refusal::EventTooLarge) => text(
            StatusCode::PAYLOAD_TOO_LARGE,
            JSON,
            r#"{"message": "Request Too Long"}"#,
        ),
        (ApiKind::Http, Refusal::EventTooLarge) => text(
            StatusCode::PAYLOAD_TOO_LARGE,
            JSON,
            r#"{"message":"Request Entity Too Large"}"#,
        ),
    };
    let error_type = match (kind, refusal) {
        (ApiKind::Rest, Refusal::NoRoute) => Some("MissingAuthenticationTokenException"),
        (ApiKind::Rest, Refusal::EventTooLarge) => Some("BadRequestException"),
        _ => None,
    };
    if let Some(error_type) = error_type {
        response
            .headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    }
    if (kind, refusal) == (ApiKind::Http, Refusal::Unauthorized) {
        // http-api-troubleshooting-jwt: the challenge comes with the 401.
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// The claims of the caller `authorizer` lets in; `None` when it refuses
/// (logged with the reason: the gateway answers 401 and no function runs).
fn authorize(
    context: &Context,
    authorizer: &Authorizer,
    headers: &HeaderMap,
    what: &str,
) -> Option<serde_json::Map<String, Value>> {
    let value = headers
        .get(authorizer.header.as_str())
        .and_then(|v| v.to_str().ok());
    let verified = match &context.pool {
        Some(pool) => pool.verify(&authorizer.header, value),
        None => Err(crate::auth::Refusal::Invalid(
            "no local user pool".to_owned(),
        )),
    };
    verified
        .map_err(|why| tracing::warn!("authorizer {} refused {what}: {why}", authorizer.name))
        .ok()
}

/// Matches a path against a template route: `{name}` takes one segment,
/// `{name+}` the rest; `$default` takes any path.
pub(crate) fn match_route(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    if template == "$default" {
        return Some(Vec::new());
    }
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

pub(crate) fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// A query string's pairs, decoded, in order.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

fn query_maps(query: Option<&str>) -> (QueryMap, QueryMap) {
    let mut multi: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for (k, v) in query_pairs(query) {
        multi.entry(k).or_default().push(v);
    }
    if multi.is_empty() {
        return (QueryMap::default(), QueryMap::default());
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

/// The kind of API that answers for a path no route takes: an HTTP API
/// when the template has only those, else a REST API.
fn kind_without_route(context: &Context) -> ApiKind {
    if !context.routes.is_empty() && context.routes.iter().all(|r| r.kind() == ApiKind::Http) {
        ApiKind::Http
    } else {
        ApiKind::Rest
    }
}

/// SAM's MOCK `OPTIONS` on a REST API with `Cors`, for a path of its that
/// declares no `OPTIONS` of its own.
fn rest_cors_mock(
    context: &Context,
    path: &str,
    headers: &HeaderMap,
) -> Option<Response<Full<Bytes>>> {
    let first = context.routes.iter().find(|r| {
        r.kind() == ApiKind::Rest
            && r.api.cors.is_some()
            && match_route(&r.template, path).is_some()
    })?;
    let same_path: Vec<&Route> = context
        .routes
        .iter()
        .filter(|r| Arc::ptr_eq(&r.api, &first.api) && r.template == first.template)
        .collect();
    if same_path.iter().any(|r| r.method == "OPTIONS") {
        return None;
    }
    let methods: Vec<String> = same_path.iter().map(|r| r.method.clone()).collect();
    // SAM puts the default authorizer on the preflight too, unless
    // AddDefaultAuthorizerToCorsPreflight is false.
    if first.api.authorize_preflight
        && let Some(authorizer) = first
            .api
            .default_authorizer
            .as_ref()
            .and_then(|name| first.api.authorizers.get(name))
        && authorize(context, authorizer, headers, &format!("OPTIONS {path}")).is_none()
    {
        return Some(refuse(ApiKind::Rest, Refusal::Unauthorized));
    }
    first
        .api
        .cors
        .as_ref()
        .map(|cors| crate::cors::rest_preflight(cors, &methods))
}

/// The HTTP API with CORS that answers a preflight for `path`: one with a
/// route for the path, else (when no REST route takes it) any.
fn http_cors_api<'a>(context: &'a Context, path: &str) -> Option<&'a Arc<Api>> {
    let with_cors = |r: &&Route| r.kind() == ApiKind::Http && r.api.cors.is_some();
    context
        .routes
        .iter()
        .filter(with_cors)
        .find(|r| match_route(&r.template, path).is_some())
        .or_else(|| {
            let rest_takes_it = context
                .routes
                .iter()
                .any(|r| r.kind() == ApiKind::Rest && match_route(&r.template, path).is_some());
            (!rest_takes_it)
                .then(|| context.routes.iter().find(with_cors))
                .flatten()
        })
        .map(|r| &r.api)
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

async fn route_and_invoke(context: &Context, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if declared_length(request.headers()).is_some_and(|n| n > MAX_PAYLOAD) {
        return refuse(kind_without_route(context), Refusal::BodyTooLarge);
    }
    if method == http::Method::OPTIONS
        && let Some(answer) = rest_cors_mock(context, &path, request.headers())
    {
        return answer;
    }
    if crate::cors::is_preflight(&method, request.headers())
        && let Some(cors) = http_cors_api(context, &path).and_then(|api| api.cors.as_ref())
    {
        return crate::cors::http_preflight(cors, request.headers());
    }
    let found = context.routes.iter().find_map(|route| {
        let method_ok = route.method == "ANY" || route.method == method.as_str();
        match_route(&route.template, &path)
            .filter(|_| method_ok)
            .map(|params| (route, params))
    });
    let Some((route, params)) = found else {
        return refuse(kind_without_route(context), Refusal::NoRoute);
    };
    let kind = route.kind();
    let claims = match &route.authorizer {
        Some(authorizer) => {
            match authorize(
                context,
                authorizer,
                request.headers(),
                &format!("{method} {path}"),
            ) {
                Some(claims) => Some((authorizer.kind, claims)),
                None => return refuse(kind, Refusal::Unauthorized),
            }
        }
        None => None,
    };
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_PAYLOAD).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return refuse(kind, Refusal::BodyTooLarge),
    };
    let request_id = crate::local::fresh_id();
    let event = match kind {
        ApiKind::Rest => proxy_event(context, route, &params, &parts, &body, &request_id),
        ApiKind::Http => crate::http_api::event(&crate::http_api::EventParts {
            route_key: &route_key(route),
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            path_parameters: &params,
            stage: route.api.stage.as_deref().unwrap_or("$default"),
            stage_variables: context
                .stage_variables
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            request_id: &request_id,
            api_id: "local",
            domain_name: parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost"),
            time: chrono::Utc::now(),
            body: &body,
        }),
    };
    let mut event = event;
    if let Some((authorizer_kind, claims)) = claims {
        event["requestContext"]["authorizer"] = match authorizer_kind {
            AuthorizerKind::CognitoUserPool => crate::auth::rest_authorizer(&claims),
            AuthorizerKind::Jwt => crate::auth::jwt_authorizer(&claims),
        };
    }
    let function = &route.function;
    let integration_timeout = match kind {
        ApiKind::Rest => INTEGRATION_TIMEOUT,
        ApiKind::Http => HTTP_API_INTEGRATION_TIMEOUT,
    };
    let invoked = tokio::time::timeout(
        integration_timeout,
        function.invoke(Payload::Json(event), false),
    )
    .await;
    let reply = match invoked {
        Ok(Ok(invocation)) => match invocation.answer {
            Answer::Response(reply) => reply,
            failed => {
                return failed_integration(
                    kind,
                    &format!(
                        "{}: {}",
                        function.spec().id,
                        failed.payload(&invocation.request_id)
                    ),
                );
            }
        },
        Ok(Err(e @ RuntimeError::RequestTooLarge { .. })) => {
            tracing::error!("integration refused: {e}");
            return refuse(kind, Refusal::EventTooLarge);
        }
        Ok(Err(e)) => return failed_integration(kind, &format!("{}: {e}", function.spec().id)),
        Err(_) => {
            tracing::error!(
                "integration timed out: {} did not answer within {} s",
                function.spec().id,
                integration_timeout.as_secs()
            );
            return refuse(kind, Refusal::TimedOut);
        }
    };
    match kind {
        ApiKind::Rest => proxy_response(reply, &route.api, &parts.headers),
        ApiKind::Http => match crate::http_api::response(reply) {
            Ok(mut response) => {
                if let Some(cors) = &route.api.cors {
                    crate::cors::apply_http(cors, &parts.headers, response.headers_mut());
                }
                response
            }
            Err(why) => failed_integration(kind, &format!("{}: {why}", function.spec().id)),
        },
    }
}

/// An HTTP API route's key: `METHOD /path`, or `$default`.
fn route_key(route: &Route) -> String {
    if route.template == "$default" {
        "$default".to_owned()
    } else {
        format!("{} {}", route.method, route.template)
    }
}

/// API Gateway's answer when the integration fails.
fn failed_integration(kind: ApiKind, why: &str) -> Response<Full<Bytes>> {
    tracing::error!("integration failed: {why}");
    refuse(kind, Refusal::FunctionFailed)
}

/// Whether `content_type` is one of the API's binary media types
/// (`type/subtype`, `type/*` or `*/*`).
fn is_binary(api: &Api, content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return false;
    };
    let wanted = crate::http_api::essence(content_type);
    let (kind, _) = wanted.split_once('/').unwrap_or((&wanted, ""));
    api.binary_media_types.iter().any(|t| {
        t == "*/*" || *t == wanted || t.strip_suffix("/*").is_some_and(|prefix| prefix == kind)
    })
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
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    // A REST API passes a body base64-encoded only when its type is one of
    // the API's binary media types (api-gateway-payload-encodings); any
    // other body is text, invalid UTF-8 replaced as API Gateway does.
    let (text_body, is_base64) = if body.is_empty() {
        (None, false)
    } else if is_binary(&route.api, content_type) {
        (Some(STANDARD.encode(body)), true)
    } else {
        (Some(String::from_utf8_lossy(body).into_owned()), false)
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

/// A REST API's response from the function's proxy response. A base64
/// body is decoded when the request's first `Accept` type is one of the
/// API's binary media types, and passed on as the base64 text otherwise
/// (api-gateway-payload-encodings).
fn proxy_response(reply: Value, api: &Api, request: &HeaderMap) -> Response<Full<Bytes>> {
    let parsed: ApiGatewayProxyResponse = match serde_json::from_value(reply) {
        Ok(parsed) => parsed,
        Err(e) => {
            return failed_integration(
                ApiKind::Rest,
                &format!("the function's response is not a proxy response: {e}"),
            );
        }
    };
    let status = u16::try_from(parsed.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let first_accept = request
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim);
    let body = match parsed.body {
        None => Bytes::new(),
        Some(lambda_http::Body::Text(text))
            if parsed.is_base64_encoded && is_binary(api, first_accept) =>
        {
            match STANDARD.decode(text.as_bytes()) {
                Ok(bytes) => Bytes::from(bytes),
                Err(_) => {
                    return failed_integration(
                        ApiKind::Rest,
                        "the function's base64 body does not decode",
                    );
                }
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
