//! `Api`: routes a request to its use case and renders the outcome.

use std::time::{Duration, Instant};

use http::{HeaderValue, StatusCode, header};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::Value;

use domain::{Caller, CustomerId, OrderId, OrderService, PageLimit};

use crate::caller::{self, CallerError, Identity, TokenPolicy};
use crate::gateway::{self, BasePath, EventError, RequestId};
use crate::problem::ApiError;
use crate::routes::{self, Operation, RouteMatch};
use crate::wire::{self, OrderBody, PageBody};

/// When the invocation must have answered by: Lambda's deadline for it
/// (`Context::deadline`). A request extension; without it, no bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(pub Instant);

/// The token subject (`sub`) a request came with, for the request log (a
/// request extension; empty without claims).
#[derive(Debug, Clone)]
struct Subject(String);

/// Time kept before the deadline to answer: publishing stops this long
/// before it (what is left stays marked for the relay), and a request still
/// running half this long before it is answered 503, not cut off by Lambda
/// (which API Gateway would answer 502, whatever was stored).
pub const ANSWER_MARGIN: Duration = Duration::from_secs(1);

/// A future that completes `margin` before the request's deadline, or
/// never when it has none.
fn before_deadline(request: &Request, margin: Duration) -> impl Future<Output = ()> + Send + use<> {
    let at = request
        .extensions()
        .get::<Deadline>()
        .map(|d| d.0.checked_sub(margin).unwrap_or(d.0));
    async move {
        match at {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => std::future::pending().await,
        }
    }
}

/// The order API over one `OrderService`. Build it once, outside the
/// handler, and share it between invocations.
#[derive(Debug, Clone)]
pub struct Api {
    service: OrderService,
    tokens: TokenPolicy,
}

impl Api {
    /// The API over `service`, believing the claims of tokens `tokens`
    /// describes.
    pub fn new(service: OrderService, tokens: TokenPolicy) -> Self {
        Self { service, tokens }
    }

    /// Handles one API Gateway proxy event (REST v1 or HTTP API v2) and
    /// returns the matching proxy response. `invocation_id` is the Lambda
    /// request id, reported when the event carries none of its own.
    ///
    /// Fails only when the event is not an API Gateway event at all.
    /// `deadline` is when the invocation must have answered by.
    pub async fn handle_event(
        &self,
        event: Value,
        invocation_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Value, EventError> {
        let identity = Identity(caller::from_event(&event, &self.tokens));
        let subject = Subject(caller::subject(&event).unwrap_or_default());
        if let Err(CallerError::Untrusted(why)) = &identity.0 {
            tracing::warn!("claims refused: {why}");
        }
        match gateway::into_request(event, invocation_id)? {
            Ok(mut incoming) => {
                incoming.request.extensions_mut().insert(identity);
                incoming.request.extensions_mut().insert(subject);
                if let Some(at) = deadline {
                    incoming.request.extensions_mut().insert(Deadline(at));
                }
                let response = self.handle(incoming.request).await;
                Ok(gateway::into_event_response(incoming.origin, response))
            }
            Err(early) => {
                // A request with no usable caller is told that first,
                // whatever else is wrong with it.
                let error = match identity.0 {
                    Ok(_) => early.error,
                    Err(err) => err.into(),
                };
                tracing::info!(
                    request_id = %early.request_id,
                    status = error.status().as_u16(),
                    "request refused before routing"
                );
                let response = error.into_response(&early.request_id);
                Ok(gateway::into_event_response(early.origin, response))
            }
        }
    }

    /// Handles one request. Never panics; every failure is a problem
    /// response. The caller is the one `handle_event` read from the event's
    /// authorizer claims; a request without one is answered 401.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        let request_id = request_id(&request);
        let out_of_time = before_deadline(&request, ANSWER_MARGIN / 2);
        let outcome = tokio::select! {
            outcome = self.dispatch(&request) => outcome,
            () = out_of_time => Err(ApiError::Unavailable(
                "no answer from the store within the invocation's time".into(),
            )),
        };
        let response = match outcome {
            Ok(response) => response,
            Err(error) => error.into_response(&request_id),
        };
        let sub = request
            .extensions()
            .get::<Subject>()
            .map_or("", |s| s.0.as_str());
        tracing::info!(
            request_id = %request_id,
            sub = %sub,
            method = %request.method(),
            path = %request.uri().path(),
            status = response.status().as_u16(),
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "request"
        );
        response
    }

    async fn dispatch(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let caller = match request.extensions().get::<Identity>() {
            Some(Identity(Ok(caller))) => caller.clone(),
            Some(Identity(Err(err))) => return Err(err.clone().into()),
            None => return Err(CallerError::NoClaims.into()),
        };
        let caller = &caller;
        let (operation, params) = match routes::route(request.method(), request.uri().path()) {
            RouteMatch::Found { operation, params } => (operation, params),
            RouteMatch::MethodNotAllowed { allowed } => {
                return Err(ApiError::MethodNotAllowed { allowed });
            }
            RouteMatch::NotFound => return Err(ApiError::RouteNotFound),
        };
        let param = |name: &str| {
            params
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_default()
        };
        match operation {
            Operation::PlaceOrder => self.place(caller, request).await,
            Operation::GetOrder => {
                let id = order_id(param("orderId"))?;
                let order = self.service.get(caller, &id).await?;
                Ok(json(StatusCode::OK, &OrderBody::from(&order)))
            }
            Operation::ListCustomerOrders => {
                let customer =
                    CustomerId::parse(param("customerId")).map_err(|e| ApiError::BadParameter {
                        name: "customerId",
                        message: e.to_string(),
                    })?;
                let query = query(request);
                let limit = limit(&query)?;
                let cursor = single(&query, "cursor")?.filter(|c| !c.is_empty());
                let (orders, next_cursor) =
                    self.service.list(caller, &customer, limit, cursor).await?;
                let page = PageBody {
                    items: orders.iter().map(OrderBody::from).collect(),
                    next_cursor,
                };
                Ok(json(StatusCode::OK, &page))
            }
            Operation::CancelOrder => {
                let id = order_id(param("orderId"))?;
                let (order, delivery) = self
                    .service
                    .cancel_by(caller, &id, before_deadline(request, ANSWER_MARGIN))
                    .await?;
                log_delivery(request, &order, &delivery);
                Ok(json(StatusCode::OK, &OrderBody::from(&order)))
            }
        }
    }

    async fn place(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, ApiError> {
        let body: &[u8] = request.body().as_ref();
        if body.len() > crate::names::MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        check_json_content_type(request)?;
        let value = wire::parse_json(body)?;
        let key = request
            .headers()
            .get("idempotency-key")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let command = wire::place_order(&value, key)?;
        let placed = self
            .service
            .place_by(caller, command, before_deadline(request, ANSWER_MARGIN))
            .await?;
        log_delivery(request, &placed.order, &placed.delivery);
        let mut response = json(StatusCode::CREATED, &OrderBody::from(&placed.order));
        let base = request
            .extensions()
            .get::<BasePath>()
            .map(|b| b.0.as_str())
            .unwrap_or_default();
        let location = format!("{base}/orders/{}", placed.order.id());
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        if placed.replayed {
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        Ok(response)
    }
}

fn log_delivery(request: &Request, order: &domain::Order, delivery: &domain::Delivery) {
    if let domain::Delivery::Deferred(reason) = delivery {
        tracing::warn!(
            request_id = %request_id(request),
            order_id = %order.id(),
            reason = %reason,
            "event left for the outbox relay"
        );
    }
}

/// A malformed id names no order: 404, as for an id no order has.
fn order_id(raw: &str) -> Result<OrderId, ApiError> {
    OrderId::parse(raw).map_err(|e| ApiError::MalformedOrderId(e.to_string()))
}

/// The query parameters: from the event when there was one, else the URI.
fn query(request: &Request) -> QueryMap {
    match request.query_string_parameters_ref() {
        Some(map) if !map.is_empty() => map.clone(),
        _ => request
            .uri()
            .query()
            .and_then(|q| q.parse().ok())
            .unwrap_or_default(),
    }
}

/// One query parameter that may appear at most once.
fn single<'a>(query: &'a QueryMap, name: &'static str) -> Result<Option<&'a str>, ApiError> {
    match query.all(name) {
        None => Ok(None),
        Some(values) if values.len() == 1 => Ok(values.first().copied()),
        Some(_) => Err(ApiError::BadParameter {
            name,
            message: "must be given at most once".into(),
        }),
    }
}

fn limit(query: &QueryMap) -> Result<PageLimit, ApiError> {
    let Some(raw) = single(query, "limit")? else {
        return Ok(PageLimit::DEFAULT);
    };
    raw.parse::<i64>()
        .ok()
        .and_then(PageLimit::parse)
        .ok_or(ApiError::BadParameter {
            name: "limit",
            message: format!("must be an integer from 1 to {}", PageLimit::MAX),
        })
}

/// A missing Content-Type is taken as JSON (the tutorial's own unit-test
/// events have no headers); a declared one must be JSON.
fn check_json_content_type(request: &Request) -> Result<(), ApiError> {
    let Some(value) = request.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let raw = String::from_utf8_lossy(value.as_bytes());
    let essence = raw
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(raw.into_owned()))
    }
}

fn request_id(request: &Request) -> String {
    if let Some(RequestId(id)) = request.extensions().get::<RequestId>() {
        return id.clone();
    }
    let from_context = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    from_context
        .or_else(|| request.lambda_context_ref().map(|c| c.request_id.clone()))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    match serde_json::to_string(body) {
        Ok(text) => {
            let mut response = Response::new(Body::Text(text));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => ApiError::Internal(Box::new(e)).into_response("unknown"),
    }
}
