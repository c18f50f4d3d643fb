//! `local`: the API on 127.0.0.1, routed exactly as API Gateway routes the
//! template, with the functions in-process and warm.
//!
//! Each HTTP request becomes a REST API (payload 1.0) proxy event, built
//! from `aws_lambda_events` types: the route's resource and path
//! parameters, the stage's variables, a request context. A method and path
//! the template does not declare gets API Gateway's own answer, 403
//! `{"message":"Missing Authentication Token"}`. Published events go
//! through the template's rules (`event-pattern`) to the events function,
//! and the template's schedule runs the outbox relay, so an order becomes
//! `confirmed` shortly after it is placed, as in the cloud.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyRequestContext, ApiGatewayProxyResponse,
};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use adapters_eventbridge::{Consumer, DETAIL_SOURCE, OrderEventDetail};
use adapters_http::Api;
use domain::{
    EventPublisher, OrderEvent, OrderRepository, OrderService, PublishError, ServiceConfig,
};
use event_pattern::Pattern;

use crate::template::{ApiRoute, Template};

/// API Gateway's largest request payload.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;
const ACCOUNT: &str = "123456789012";

/// Where orders are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// In memory: nothing to install, gone when the server stops.
    Memory,
    /// DynamoDB Local, found or started by the testkit providers.
    DynamoDbLocal,
    /// A DynamoDB endpoint that is already running.
    Endpoint(String),
}

impl Store {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "memory" => Ok(Self::Memory),
            "local" => Ok(Self::DynamoDbLocal),
            url if url.starts_with("http://") || url.starts_with("https://") => {
                Ok(Self::Endpoint(url.to_owned()))
            }
            other => Err(format!(
                "--dynamodb takes memory, local or an http(s):// URL, not {other:?}"
            )),
        }
    }
}

/// Where the API's events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Events {
    /// Through the template's rules to fn-events, in-process.
    Local,
    /// To an EventBridge API (moto, or a bus in an account) as fn-api
    /// sends them; nothing consumes them locally.
    EventBridge { endpoint: String, bus: String },
}

#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub host: String,
    pub port: u16,
    pub stage: String,
    pub store: Store,
    pub template: PathBuf,
    /// The table for `local` and URL stores.
    pub table: String,
    pub events: Events,
    /// Keep a tally of published events, for [`LocalServer::published`].
    pub record_events: bool,
}

/// How many times each event was published, by kind and order id.
#[derive(Debug, Default)]
pub struct PublishedEvents {
    counts: std::sync::Mutex<std::collections::HashMap<(domain::EventKind, String), u32>>,
}

impl PublishedEvents {
    fn record(&self, events: &[OrderEvent]) {
        if let Ok(mut counts) = self.counts.lock() {
            for event in events {
                *counts
                    .entry((event.kind, event.order_id.to_string()))
                    .or_default() += 1;
            }
        }
    }

    /// Each published (kind, order id) and how many times it was published.
    pub fn snapshot(&self) -> Vec<(domain::EventKind, String, u32)> {
        self.counts
            .lock()
            .map(|counts| {
                counts
                    .iter()
                    .map(|((kind, id), n)| (*kind, id.clone(), *n))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Records what the inner publisher accepted.
struct Recording {
    inner: Arc<dyn EventPublisher>,
    log: Option<Arc<PublishedEvents>>,
}

#[async_trait]
impl EventPublisher for Recording {
    async fn publish(&self, events: &[OrderEvent]) -> Result<(), PublishError> {
        let result = self.inner.publish(events).await;
        if let (Ok(()), Some(log)) = (&result, &self.log) {
            log.record(events);
        }
        result
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("port {port} on {host} is in use; stop what holds it or pass --port")]
    PortInUse { host: String, port: u16 },
    #[error("cannot listen on {host}:{port}: {source}")]
    Listen {
        host: String,
        port: u16,
        source: std::io::Error,
    },
    #[error(transparent)]
    Template(#[from] crate::template::TemplateError),
    #[error("{0}")]
    Setup(String),
}

/// What a matched request runs.
#[derive(Clone)]
struct Route {
    method: String,
    template: String,
    function: String,
}

/// The functions of the template that run in-process, by binary name.
#[derive(Clone)]
struct Functions {
    api: Api,
    events: Consumer,
}

/// An `EventPublisher` that hands each event to the rules of the template
/// whose pattern matches it, like the stage's bus.
struct LocalBus {
    rules: Vec<(String, Pattern, Vec<String>)>,
    binaries: Vec<(String, String)>,
    consumer: OnceLock<Consumer>,
    region: String,
}

impl LocalBus {
    fn envelope(&self, event: &OrderEvent) -> Value {
        json!({
            "version": "0",
            "id": fresh_id(),
            "detail-type": event.kind.as_str(),
            "source": DETAIL_SOURCE,
            "account": ACCOUNT,
            "time": now_rfc3339(),
            "region": self.region,
            "resources": [],
            "detail": OrderEventDetail::from(event),
        })
    }

    fn binary<'a>(&'a self, function: &'a str) -> &'a str {
        self.binaries
            .iter()
            .find(|(id, _)| id == function)
            .map_or(function, |(_, binary)| binary.as_str())
    }
}

#[async_trait]
impl EventPublisher for LocalBus {
    async fn publish(&self, events: &[OrderEvent]) -> Result<(), PublishError> {
        for event in events {
            let envelope = self.envelope(event);
            let mut routed = false;
            for (rule, pattern, targets) in &self.rules {
                if pattern.matches(&envelope).is_err() {
                    continue;
                }
                for target in targets {
                    routed = true;
                    let binary = self.binary(target).to_owned();
                    let Some(consumer) = self
                        .consumer
                        .get()
                        .cloned()
                        .filter(|_| binary == "fn-events")
                    else {
                        tracing::warn!(
                            rule,
                            target,
                            "event matched, but {binary} does not run locally"
                        );
                        continue;
                    };
                    let envelope = envelope.clone();
                    let rule = rule.clone();
                    let order = event.order_id.to_string();
                    let kind = event.kind;
                    // Delivery is asynchronous, as on a real bus.
                    tokio::spawn(async move {
                        let started = Instant::now();
                        let result = consumer.handle_invocation(envelope).await;
                        let verdict = match &result {
                            Ok(reply) => reply["outcome"].as_str().unwrap_or("handled").to_owned(),
                            Err(e) => format!("failed: {e}"),
                        };
                        tracing::info!(
                            "event {kind} {order} -> {rule} -> {binary}: {verdict} ({:.1} ms)",
                            started.elapsed().as_secs_f64() * 1000.0
                        );
                    });
                }
            }
            if !routed {
                tracing::info!("event {} {}: no rule matched", event.kind, event.order_id);
            }
        }
        Ok(())
    }
}

fn fresh_id() -> String {
    use domain::IdGenerator as _;
    static IDS: OnceLock<adapters_system::UlidIdGenerator> = OnceLock::new();
    let id = IDS
        .get_or_init(adapters_system::UlidIdGenerator::new)
        .next_order_id();
    id.as_str()[4..].to_ascii_lowercase()
}

fn now_rfc3339() -> String {
    use domain::Clock as _;
    adapters_system::SystemClock.now().to_rfc3339()
}

/// Keeps a started DynamoDB Local alive as long as the server.
enum StoreGuard {
    None,
    DynamoDb(#[allow(dead_code)] testkit::dynamodb::DynamoDbLocal),
}

/// Keeps whatever a store needs alive (a started DynamoDB Local).
pub struct StoreHold(StoreGuard);

impl std::fmt::Debug for StoreHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.0 {
            StoreGuard::None => "nothing",
            StoreGuard::DynamoDb(_) => "a DynamoDB Local",
        };
        f.debug_tuple("StoreHold").field(&what).finish()
    }
}

/// A DynamoDB endpoint for `store` (not `Memory`), with `table` created
/// when missing, and what keeps a started DynamoDB Local alive.
pub async fn dynamodb_endpoint(
    store: &Store,
    table: &str,
) -> Result<(String, StoreHold), LocalError> {
    let (endpoint, guard) = match store {
        Store::Memory => {
            return Err(LocalError::Setup(
                "an in-memory store has no endpoint".into(),
            ));
        }
        Store::Endpoint(url) => (url.clone(), StoreGuard::None),
        Store::DynamoDbLocal => {
            let config = testkit::dynamodb::ProviderConfig::from_env();
            let local = tokio::task::spawn_blocking(move || {
                testkit::dynamodb::DynamoDbLocal::start(&config)
            })
            .await
            .map_err(|e| LocalError::Setup(e.to_string()))?
            .map_err(LocalError::Setup)?;
            (local.endpoint().to_owned(), StoreGuard::DynamoDb(local))
        }
    };
    let client = testkit::dynamodb::client_for(&endpoint);
    let exists = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok();
    if !exists {
        adapters_dynamo::create_table(&client, table)
            .await
            .map_err(|e| {
                LocalError::Setup(format!(
                    "cannot create table {table} at {endpoint}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                ))
            })?;
    }
    Ok((endpoint, StoreHold(guard)))
}

async fn repository(
    options: &LocalOptions,
) -> Result<(Arc<dyn OrderRepository>, StoreGuard, String), LocalError> {
    if options.store == Store::Memory {
        return Ok((
            Arc::new(adapters_memory::InMemoryOrderRepository::new()),
            StoreGuard::None,
            "memory".to_owned(),
        ));
    }
    let (endpoint, StoreHold(guard)) = dynamodb_endpoint(&options.store, &options.table).await?;
    // The function's own timeouts and retries, so that a DynamoDB that does
    // not answer gives what fn-api would give: a 503 within its timeout.
    let client = aws_sdk_dynamodb::Client::from_conf(
        testkit::dynamodb::client_for(&endpoint)
            .config()
            .to_builder()
            .timeout_config(adapters_dynamo::client_timeouts())
            .retry_config(adapters_dynamo::client_retries())
            .build(),
    );
    let description = format!("DynamoDB at {endpoint}, table {}", options.table);
    Ok((
        Arc::new(adapters_dynamo::DynamoOrderRepository::new(
            client,
            options.table.clone(),
        )),
        guard,
        description,
    ))
}

/// A running local API.
#[derive(Debug)]
pub struct LocalServer {
    address: SocketAddr,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
    published: Arc<PublishedEvents>,
}

impl LocalServer {
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The events published so far (empty unless
    /// [`LocalOptions::record_events`] is set).
    pub fn published(&self) -> Vec<(domain::EventKind, String, u32)> {
        self.published.snapshot()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops accepting, lets requests in flight finish, then returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
}

/// Binds, builds the functions, and serves in the background.
pub async fn start(options: LocalOptions) -> Result<LocalServer, LocalError> {
    let template = Template::load(&options.template)?;
    let api_routes = template.api_routes();
    let routes: Vec<Route> = api_routes
        .iter()
        .map(
            |ApiRoute {
                 method,
                 path,
                 function,
             }| Route {
                method: method.clone(),
                template: path.clone(),
                function: template
                    .function_binary(function)
                    .unwrap_or_else(|| function.clone()),
            },
        )
        .collect();
    let mut rules = Vec::new();
    for (name, pattern, targets) in template.routed_rules()? {
        let pattern =
            Pattern::parse(&pattern).map_err(|e| LocalError::Setup(format!("rule {name}: {e}")))?;
        rules.push((name, pattern, targets));
    }
    let binaries: Vec<(String, String)> = rules
        .iter()
        .flat_map(|(_, _, targets)| targets.iter())
        .chain(template.schedules().iter().map(|(f, _)| f))
        .filter_map(|id| template.function_binary(id).map(|b| (id.clone(), b)))
        .collect();
    let listener = match TcpListener::bind((options.host.as_str(), options.port)).await {
        Ok(listener) => listener,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            return Err(LocalError::PortInUse {
                host: options.host.clone(),
                port: options.port,
            });
        }
        Err(source) => {
            return Err(LocalError::Listen {
                host: options.host.clone(),
                port: options.port,
                source,
            });
        }
    };
    let address = listener
        .local_addr()
        .map_err(|e| LocalError::Setup(e.to_string()))?;
    let (repo, guard, store_text) = repository(&options).await?;
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
    let bus = Arc::new(LocalBus {
        rules,
        binaries,
        consumer: OnceLock::new(),
        region: region.clone(),
    });
    let published = Arc::new(PublishedEvents::default());
    let (publisher, events_text): (Arc<dyn EventPublisher>, String) = match &options.events {
        Events::Local => (
            bus.clone(),
            "events through the template's rules".to_owned(),
        ),
        Events::EventBridge { endpoint, bus } => (
            Arc::new(adapters_eventbridge::EventBridgePublisher::new(
                eventbridge_client(endpoint, &region),
                bus.clone(),
            )),
            format!("events to bus {bus} at {endpoint}, not consumed here"),
        ),
    };
    let publisher = Arc::new(Recording {
        inner: publisher,
        log: options.record_events.then(|| published.clone()),
    });
    let service = OrderService::new(
        repo,
        publisher,
        Arc::new(adapters_system::SystemClock),
        Arc::new(adapters_system::UlidIdGenerator::new()),
        ServiceConfig::default(),
    );
    let consumer = Consumer::new(service.clone());
    let _ = bus.consumer.set(consumer.clone());
    let functions = Functions {
        api: Api::new(service),
        events: consumer,
    };
    let stage_variables: QueryMap = template
        .stage_variables(&options.stage)
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>()
        .into();
    tracing::info!(
        "Orders API on http://{address} (stage {}; {store_text}; {events_text})",
        options.stage
    );
    for route in &routes {
        tracing::info!(
            "  {:<5} {} -> {}",
            route.method,
            route.template,
            route.function
        );
    }
    let (stop, stopped) = watch::channel(false);
    let context = Arc::new(Context {
        routes,
        functions,
        stage: options.stage.clone(),
        stage_variables,
    });
    let schedules: Vec<Duration> = template
        .schedules()
        .into_iter()
        .filter(|(id, _)| template.function_binary(id).as_deref() == Some("fn-events"))
        .map(|(_, period)| period)
        .collect();
    let done = tokio::spawn(serve(listener, context, stopped, schedules, guard));
    Ok(LocalServer {
        address,
        stop,
        done,
        published,
    })
}

/// An EventBridge client for `endpoint` with the function's timeouts and
/// retries; credentials from the environment, or fixed local ones.
fn eventbridge_client(endpoint: &str, region: &str) -> aws_sdk_eventbridge::Client {
    use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
    let credentials = match (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Ok(id), Ok(secret)) => Credentials::new(
            id,
            secret,
            std::env::var("AWS_SESSION_TOKEN").ok(),
            None,
            "environment",
        ),
        _ => Credentials::new("local", "local", None, None, "local"),
    };
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .timeout_config(adapters_eventbridge::client_timeouts())
        .retry_config(adapters_eventbridge::client_retries())
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

struct Context {
    routes: Vec<Route>,
    functions: Functions,
    stage: String,
    stage_variables: QueryMap,
}

async fn serve(
    listener: TcpListener,
    context: Arc<Context>,
    mut stopped: watch::Receiver<bool>,
    schedules: Vec<Duration>,
    guard: StoreGuard,
) {
    let mut tickers = tokio::task::JoinSet::new();
    for period in schedules {
        let consumer = context.functions.events.clone();
        tickers.spawn(async move {
            let mut every = tokio::time::interval(period);
            every.tick().await;
            loop {
                every.tick().await;
                let event = json!({
                    "version": "0", "id": fresh_id(), "detail-type": "Scheduled Event",
                    "source": "aws.events", "account": ACCOUNT, "time": now_rfc3339(),
                    "region": "us-east-1", "resources": [], "detail": {}
                });
                match consumer.handle_invocation(event).await {
                    Ok(reply) => tracing::info!(
                        "schedule -> fn-events: {}",
                        reply["outcome"].as_str().unwrap_or("handled")
                    ),
                    Err(e) => tracing::warn!("schedule -> fn-events failed: {e}"),
                }
            }
        });
    }
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let context = context.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let context = context.clone();
                        async move { Ok::<_, Infallible>(handle(&context, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
    tickers.abort_all();
    // Requests in flight get a moment to finish; idle keep-alive
    // connections do not hold the shutdown up.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
    drop(guard);
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

async fn handle(context: &Context, request: Request<Incoming>) -> Response<Full<Bytes>> {
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
    let request_id = fresh_id();
    let event = proxy_event(context, route, &params, &parts, &body, &request_id);
    match route.function.as_str() {
        "fn-api" => match context.functions.api.handle_event(event, &request_id).await {
            Ok(reply) => proxy_response(reply),
            Err(e) => bad_gateway(&e.to_string()),
        },
        other => bad_gateway(&format!("{other} does not run in-process")),
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

pub const USAGE: &str = "\
local: the API on this machine, routed as API Gateway routes infra/template.yaml

Usage:
  local [--port 3000] [--host 127.0.0.1] [--stage dev]
        [--dynamodb memory|local|URL] [--table local-orders] [--template FILE]
        [--eventbridge URL [--event-bus orders-bus]]

  --port      the port to listen on (default 3000; 0 picks a free one)
  --host      the address to listen on (default 127.0.0.1)
  --stage     the stage whose variables the events carry (default dev)
  --dynamodb  memory (default): in memory, nothing to install;
              local: DynamoDB Local, found or started (DYNAMODB_ENDPOINT,
              Docker, or Java with the jar under target/dynamodb-local);
              URL: a running DynamoDB endpoint
  --table     the table for local and URL stores (created when missing)
  --template  the SAM template (default: infra/template.yaml)
  --eventbridge  publish events to this EventBridge endpoint (moto, say)
              on the bus --event-bus names, as fn-api does, instead of
              routing them through the template's rules to fn-events here

Undeclared routes get 403 {\"message\":\"Missing Authentication Token\"}, as from
API Gateway. Ctrl-C stops the server.
";

/// Reads `local`'s flags; `root` locates the default template.
pub fn parse_options(
    args: &[String],
    root: &std::path::Path,
) -> Result<Option<LocalOptions>, String> {
    let mut options = LocalOptions {
        host: "127.0.0.1".to_owned(),
        port: 3000,
        stage: "dev".to_owned(),
        store: Store::Memory,
        template: root.join("infra/template.yaml"),
        table: "local-orders".to_owned(),
        events: Events::Local,
        record_events: false,
    };
    let mut eventbridge = None;
    let mut event_bus = "orders-bus".to_owned();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = rest
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .clone();
        match flag.as_str() {
            "--port" => {
                options.port = value
                    .parse()
                    .map_err(|_| format!("--port takes a number from 0 to 65535, not {value:?}"))?;
            }
            "--host" => options.host = value,
            "--stage" => {
                if value.is_empty()
                    || !value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(format!(
                        "--stage takes letters, digits, '-' and '_', not {value:?}"
                    ));
                }
                options.stage = value;
            }
            "--dynamodb" => options.store = Store::parse(&value)?,
            "--table" => options.table = value,
            "--template" => options.template = PathBuf::from(value),
            "--eventbridge" => {
                if !(value.starts_with("http://") || value.starts_with("https://")) {
                    return Err(format!(
                        "--eventbridge takes an http(s):// URL, not {value:?}"
                    ));
                }
                eventbridge = Some(value);
            }
            "--event-bus" => {
                if value.is_empty() {
                    return Err("--event-bus takes a bus name".to_owned());
                }
                event_bus = value;
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    if let Some(endpoint) = eventbridge {
        options.events = Events::EventBridge {
            endpoint,
            bus: event_bus,
        };
    }
    Ok(Some(options))
}

/// Runs until `shutdown` resolves (Ctrl-C from the command line).
pub async fn run(
    options: LocalOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), LocalError> {
    let server = start(options).await?;
    shutdown.await;
    tracing::info!("stopping");
    server.stop().await;
    Ok(())
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
