//! The one error type of the HTTP edge, and its one mapping to a status and
//! an RFC 9457 problem-details body.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use domain::OrderError;

/// Everything a request can fail with. Each variant's doc names its status.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the body is not well-formed JSON.
    MalformedJson(String),
    /// 400: `isBase64Encoded` is set but the body is not base64.
    MalformedBase64,
    /// 400: a path parameter, query parameter or header is malformed.
    BadParameter { name: &'static str, message: String },
    /// 401 with `WWW-Authenticate: Bearer`: the event carries no
    /// authorizer claims (a route deployed without the authorizer).
    Unauthenticated,
    /// 403: the caller asked for what is not theirs, or its token names
    /// no one this API serves.
    Forbidden(String),
    /// 404: no route has this path (inside the function; the gateway
    /// answers 403 before that).
    RouteNotFound,
    /// 404: no order has this id.
    OrderNotFound,
    /// 404: the id is not an order id at all, so it names no order (the
    /// SAM tutorial's own test reads `GET /orders/DOESNOTEXIST` and wants
    /// a 404); the detail says what order ids look like.
    MalformedOrderId(String),
    /// 405: the path exists, but not for this method.
    MethodNotAllowed { allowed: Vec<http::Method> },
    /// 409: the order's state does not allow the change, or the
    /// idempotency key was used with another request, or the order kept
    /// changing concurrently.
    Conflict(String),
    /// 413: the body is larger than `MAX_BODY_BYTES`.
    PayloadTooLarge,
    /// 415: the body is declared as something other than JSON.
    UnsupportedMediaType(String),
    /// 422: well-formed JSON with invalid fields, each listed.
    Invalid(Vec<(String, String)>),
    /// 503 with `Retry-After`: the store is unavailable; the cause is logged.
    Unavailable(domain::BoxError),
    /// 500: anything else; the cause is logged, never shown.
    Internal(domain::BoxError),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail())
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unavailable(source) | Self::Internal(source) => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// The most invalid fields a 422 lists one by one.
pub(crate) const MAX_LISTED: usize = 20;

/// Seconds a client should wait after a 503.
const RETRY_AFTER_SECONDS: &str = "1";

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(rename = "requestId")]
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<FieldProblem<'a>>>,
}

#[derive(Serialize)]
struct FieldProblem<'a> {
    field: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) | Self::MalformedBase64 | Self::BadParameter { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::RouteNotFound | Self::OrderNotFound | Self::MalformedOrderId(_) => {
                StatusCode::NOT_FOUND
            }
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem type's last segment.
    fn slug(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "malformed-json",
            Self::MalformedBase64 => "malformed-base64",
            Self::BadParameter { .. } => "bad-parameter",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::RouteNotFound => "route-not-found",
            Self::OrderNotFound | Self::MalformedOrderId(_) => "order-not-found",
            Self::MethodNotAllowed { .. } => "method-not-allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::Invalid(_) => "invalid-fields",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// What the client is told. For 5xx this is fixed text: the cause is
    /// for the log only.
    fn detail(&self) -> String {
        match self {
            Self::MalformedJson(why) => format!("the body is not valid JSON: {why}"),
            Self::MalformedBase64 => {
                "the body is marked base64-encoded but is not valid base64".into()
            }
            Self::BadParameter { name, message } => format!("{name}: {message}"),
            Self::Unauthenticated => {
                "the request carries no caller: send an id token as Authorization: Bearer TOKEN"
                    .into()
            }
            Self::Forbidden(why) => why.clone(),
            Self::RouteNotFound => "no route has this path".into(),
            Self::OrderNotFound => "no order has this id".into(),
            Self::MalformedOrderId(why) => format!("no order has this id: {why}"),
            Self::MethodNotAllowed { allowed } => {
                let names: Vec<&str> = allowed.iter().map(http::Method::as_str).collect();
                format!("this path allows {}", names.join(", "))
            }
            Self::Conflict(why) => why.clone(),
            Self::PayloadTooLarge => format!(
                "the body is larger than {} bytes",
                crate::names::MAX_BODY_BYTES
            ),
            Self::UnsupportedMediaType(given) => {
                format!("the body must be application/json, not {given}")
            }
            Self::Invalid(errors) => format!("{} field(s) are invalid", errors.len()),
            Self::Unavailable(_) => "the service is unavailable; retry later".into(),
            Self::Internal(_) => "internal error".into(),
        }
    }

    fn title(&self) -> &'static str {
        self.status().canonical_reason().unwrap_or("error")
    }

    /// The response: problem+json with the request id.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let status = self.status();
        if status.is_server_error() {
            // The cause, with its chain, goes to the log; the body stays bare.
            let mut chain = String::new();
            let mut source = std::error::Error::source(&self);
            while let Some(err) = source {
                chain.push_str(": ");
                chain.push_str(&err.to_string());
                source = err.source();
            }
            tracing::error!(request_id, status = status.as_u16(), cause = %chain, "request failed");
        }
        let more;
        let errors = match &self {
            Self::Invalid(errors) => {
                // At most MAX_LISTED fields, then one entry that counts the
                // rest: a body of 64 KiB must not give a problem of megabytes.
                let mut listed: Vec<FieldProblem<'_>> = errors
                    .iter()
                    .take(MAX_LISTED)
                    .map(|(field, message)| FieldProblem { field, message })
                    .collect();
                if errors.len() > MAX_LISTED {
                    more = format!(
                        "and {} more invalid field(s), not listed",
                        errors.len() - MAX_LISTED
                    );
                    listed.push(FieldProblem {
                        field: "*",
                        message: &more,
                    });
                }
                Some(listed)
            }
            _ => None,
        };
        let problem = Problem {
            kind: format!("urn:orders:problem:{}", self.slug()),
            title: self.title(),
            status: status.as_u16(),
            detail: self.detail(),
            request_id,
            errors,
        };
        let body = serde_json::to_string(&problem)
            .unwrap_or_else(|_| r#"{"title":"internal error","status":500}"#.to_owned());
        let mut response = Response::new(Body::Text(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Self::MethodNotAllowed { allowed } = &self {
            let names: Vec<&str> = allowed.iter().map(http::Method::as_str).collect();
            if let Ok(value) = HeaderValue::from_str(&names.join(", ")) {
                headers.insert(header::ALLOW, value);
            }
        }
        if matches!(self, Self::Unauthenticated) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(self, Self::Unavailable(_)) {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

impl From<OrderError> for ApiError {
    fn from(err: OrderError) -> Self {
        match err {
            OrderError::Invalid(errors) => Self::Invalid(
                errors
                    .into_iter()
                    .map(|e| (crate::names::field_name(e.field), e.error.to_string()))
                    .collect(),
            ),
            OrderError::NotFound => Self::OrderNotFound,
            OrderError::Forbidden(why) => Self::Forbidden(why.to_string()),
            OrderError::Transition(t) => Self::Conflict(t.to_string()),
            OrderError::IdempotencyKeyReused => Self::Conflict(
                "the Idempotency-Key was already used with a different request body".into(),
            ),
            OrderError::Conflict => {
                Self::Conflict("the order was changed concurrently; try again".into())
            }
            OrderError::InvalidCursor(e) => Self::BadParameter {
                name: "cursor",
                message: e.to_string(),
            },
            OrderError::Unavailable(source) => Self::Unavailable(source),
            OrderError::Unexpected(source) => Self::Internal(source),
        }
    }
}
