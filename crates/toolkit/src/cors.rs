//! `cors`: what API Gateway does with CORS, from the template's settings
//! (`model::Cors`), for the two kinds of API.
//!
//! - REST API with SAM's `Cors`: SAM adds an `OPTIONS` method with a MOCK
//!   integration to every path of the API that has no `OPTIONS` of its
//!   own; it answers 200 with `Access-Control-Allow-Origin`, and
//!   `-Allow-Headers`, `-Allow-Methods` (default: the path's methods and
//!   OPTIONS, every method for `ANY`), `-Max-Age`, `-Allow-Credentials`
//!   when set (sam-property-api-corsconfiguration). Proxy responses get no
//!   CORS headers from the gateway: the function sends its own
//!   (apigateway how-to-cors), so a REST function's responses are passed
//!   on as it sent them.
//! - HTTP API with `CorsConfiguration`: the gateway answers every preflight
//!   (`OPTIONS` with `Origin` and `Access-Control-Request-Method`), with or
//!   without a route, adds the configured headers to the integration's
//!   response to a request with an allowed `Origin`, and drops the
//!   backend's own CORS headers (apigateway http-api-cors).

use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;

use crate::model::Cors;

/// The methods `ANY` stands for in a REST preflight's default list.
const ALL_METHODS: &str = "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT";

fn header(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

/// The REST API's MOCK answer to `OPTIONS` on a path whose routes use
/// `methods`.
pub(crate) fn rest_preflight(cors: &Cors, methods: &[String]) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(origin) = cors.allow_origins.first().and_then(|o| header(o)) {
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    if !cors.allow_headers.is_empty()
        && let Some(value) = header(&cors.allow_headers.join(","))
    {
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, value);
    }
    let methods = match &cors.allow_methods {
        Some(configured) => configured.join(","),
        None if methods.iter().any(|m| m == "ANY") => ALL_METHODS.to_owned(),
        None => {
            let mut list: Vec<&str> = methods.iter().map(String::as_str).collect();
            list.push("OPTIONS");
            list.sort_unstable();
            list.dedup();
            list.join(",")
        }
    };
    if let Some(value) = header(&methods) {
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_METHODS, value);
    }
    age_and_credentials(cors, headers);
    response
}

/// `Access-Control-Max-Age` and `-Allow-Credentials`, when configured.
fn age_and_credentials(cors: &Cors, headers: &mut HeaderMap) {
    if let Some(age) = cors.max_age {
        headers.insert(http::header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
    }
    if cors.allow_credentials {
        headers.insert(
            http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

/// The `Access-Control-Allow-Origin` an HTTP API gives `origin`: `*` when
/// every origin is allowed, the origin itself when it is listed, none
/// otherwise.
fn allowed_origin(cors: &Cors, origin: &str) -> Option<HeaderValue> {
    if cors.allow_origins.iter().any(|o| o == "*") {
        // With credentials a browser refuses `*`: the origin is echoed.
        return if cors.allow_credentials {
            header(origin)
        } else {
            Some(HeaderValue::from_static("*"))
        };
    }
    cors.allow_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
        .then(|| header(origin))
        .flatten()
}

/// Whether `request` is a CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`.
pub(crate) fn is_preflight(method: &http::Method, headers: &HeaderMap) -> bool {
    method == http::Method::OPTIONS
        && headers.contains_key(http::header::ORIGIN)
        && headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// An HTTP API's answer to a preflight: 204 with the configured headers
/// when the origin is allowed, without them when it is not (the browser
/// then refuses the request).
pub(crate) fn http_preflight(cors: &Cors, headers: &HeaderMap) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    let origin = headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(allowed) = allowed_origin(cors, origin) else {
        return response;
    };
    let out = response.headers_mut();
    out.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
    if cors.allow_origins.iter().all(|o| o != "*") || cors.allow_credentials {
        out.insert(http::header::VARY, HeaderValue::from_static("Origin"));
    }
    let methods = cors.allow_methods.clone().unwrap_or_default();
    if !methods.is_empty()
        && let Some(value) = header(&methods.join(","))
    {
        out.insert(http::header::ACCESS_CONTROL_ALLOW_METHODS, value);
    }
    if !cors.allow_headers.is_empty()
        && let Some(value) = header(&cors.allow_headers.join(","))
    {
        out.insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, value);
    }
    age_and_credentials(cors, out);
    response
}

/// An HTTP API's CORS headers on the integration's response: the
/// backend's own `Access-Control-*` headers are dropped, and for a request
/// with an allowed `Origin` the configured ones are set.
pub(crate) fn apply_http(cors: &Cors, request: &HeaderMap, response: &mut HeaderMap) {
    let backend: Vec<http::HeaderName> = response
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for name in backend {
        response.remove(name);
    }
    let Some(origin) = request
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let Some(allowed) = allowed_origin(cors, origin) else {
        return;
    };
    response.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
    if !cors.expose_headers.is_empty()
        && let Some(value) = header(&cors.expose_headers.join(","))
    {
        response.insert(http::header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
    }
    if cors.allow_credentials {
        response.insert(
            http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}
