//! `app`: the composition root. It builds what each function binary runs
//! (configuration from the environment, the AWS SDK clients on one HTTPS
//! client for the process, the adapters, `OrderService`, and the handler:
//! `adapters_http::Api` or `adapters_eventbridge::Consumer`), and it names
//! the functions' in-process forms by binary name, so the local cloud asks
//! for them here instead of knowing them itself.
//!
//! Invariant: this is the one place that maps a binary name to the code it
//! runs. `fn-*` mains call [`run`] with their own name; the toolkit calls
//! [`handler`] with a service built on other adapters.

use std::sync::Arc;
use std::time::Duration;

use adapters_dynamo::DynamoOrderRepository;
use adapters_eventbridge::{Consumer, EventBridgePublisher};
use adapters_http::{Api, TokenPolicy};
use adapters_system::{SystemClock, UlidIdGenerator};
use async_trait::async_trait;
use aws_config::BehaviorVersion;
use domain::{CursorKey, OrderService, ServiceConfig};
use serde_json::Value;

/// What a handler's failure is: any error, as `lambda_runtime` takes it.
pub type HandlerError = lambda_runtime::Error;

/// What the runtime says of one invocation besides its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The invocation's request id.
    pub request_id: String,
    /// When the function is stopped if it has not answered (its timeout
    /// from the invocation's start).
    pub deadline: Option<std::time::Instant>,
}

impl Invocation {
    /// From the Lambda context: its deadline is milliseconds since the
    /// Unix epoch (the Runtime API's `Lambda-Runtime-Deadline-Ms`), made an
    /// `Instant` on this process's clock.
    ///
    /// Lambda's deadline is always ahead when an invocation arrives. One
    /// already passed comes from an emulator that does not keep the
    /// contract (`cargo lambda watch` sends 600000, ten minutes as a
    /// duration, which is 1970 as a time); it would make every request
    /// run out of time at once, so the invocation gets no deadline and a
    /// warning says why.
    pub fn from_context(context: &lambda_runtime::Context) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self::at(&context.request_id, context.deadline, now)
    }

    fn at(request_id: &str, deadline_ms: u64, now_ms: u64) -> Self {
        let deadline = if deadline_ms > now_ms {
            Some(std::time::Instant::now() + Duration::from_millis(deadline_ms - now_ms))
        } else {
            lambda_runtime::tracing::warn!(
                request_id,
                deadline_ms,
                now_ms,
                "the runtime's deadline for this invocation has already passed (an emulator's?); the invocation runs without one"
            );
            None
        };
        Self {
            request_id: request_id.to_owned(),
            deadline,
        }
    }
}

/// A function's handler: one event in, one response (or error) out, as
/// the Lambda runtime calls it.
#[async_trait]
pub trait Handler: Send + Sync {
    /// Handles one invocation.
    async fn handle(&self, event: Value, invocation: &Invocation) -> Result<Value, HandlerError>;
}

#[async_trait]
impl Handler for Api {
    async fn handle(&self, event: Value, invocation: &Invocation) -> Result<Value, HandlerError> {
        self.handle_event(event, &invocation.request_id, invocation.deadline)
            .await
            .map_err(HandlerError::from)
    }
}

#[async_trait]
impl Handler for Consumer {
    async fn handle(&self, event: Value, _invocation: &Invocation) -> Result<Value, HandlerError> {
        self.handle_invocation(event)
            .await
            .map_err(HandlerError::from)
    }
}

/// The binaries this workspace composes here, each with the handler it
/// runs on `service`. A binary not listed has no in-process form.
type Compose = fn(&OrderService, &Config) -> Option<Arc<dyn Handler>>;

/// The binary that serves `adapters_http`'s route table: the template's
/// routes for it are held to that table (`toolkit::infra_checks`).
pub const HTTP_API_BINARY: &str = "fn-api";

const BINARIES: [(&str, Compose); 2] = [
    (HTTP_API_BINARY, |service, config| {
        let tokens = config.tokens.clone()?;
        Some(Arc::new(Api::new(service.clone(), tokens)))
    }),
    ("fn-events", |service, _| {
        Some(Arc::new(Consumer::new(service.clone())))
    }),
];

/// The handler the binary `binary` runs, on `service` with `config`;
/// `None` when this crate does not compose that binary (or `config` lacks
/// what it needs: the HTTP API's token policy).
pub fn handler(binary: &str, service: &OrderService, config: &Config) -> Option<Arc<dyn Handler>> {
    BINARIES
        .iter()
        .find(|(name, _)| *name == binary)
        .and_then(|(_, build)| build(service, config))
}

/// The binaries that have an in-process form.
pub fn binaries() -> impl Iterator<Item = &'static str> {
    BINARIES.iter().map(|(name, _)| *name)
}

/// The variable holding the key list cursors are signed with (the
/// template sets it from the stage's Secrets Manager secret).
pub const CURSOR_KEY_VAR: &str = "CURSOR_SIGNING_KEY";

/// The variables naming the user pool's issuer and the app client.
pub const TOKEN_ISSUER_VAR: &str = "TOKEN_ISSUER";
pub const TOKEN_AUDIENCE_VAR: &str = "TOKEN_AUDIENCE";

/// A function's environment that cannot configure it: each names the
/// variable and what it is for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable} must name {what}")]
    Missing {
        variable: &'static str,
        what: &'static str,
    },
    #[error("{var} must hold at least {min} bytes, not {given}", var = CURSOR_KEY_VAR)]
    ShortCursorKey { min: usize, given: usize },
    #[error(
        "{var} must hold the key list cursors are signed with (at least {min} bytes)",
        var = CURSOR_KEY_VAR
    )]
    NoCursorKey { min: usize },
    #[error(
        "{issuer} and {audience} must name the user pool (its issuer URL) and the app client whose tokens the API believes",
        issuer = TOKEN_ISSUER_VAR,
        audience = TOKEN_AUDIENCE_VAR
    )]
    NoTokenPolicy,
}

/// The configuration a function reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub table: String,
    pub bus: String,
    /// Open the SDK connections during init (`ORDERS_WARM_UP=off` skips).
    pub warm_up: bool,
    /// `CURSOR_SIGNING_KEY`: required where cursors are issued (the HTTP
    /// API's binary); other binaries issue none.
    pub cursor_key: Option<CursorKey>,
    /// `TOKEN_ISSUER` and `TOKEN_AUDIENCE`: the user pool and app client
    /// whose id tokens' claims the HTTP API believes (required of its
    /// binary; the template sets them from the stage's pool and client).
    pub tokens: Option<TokenPolicy>,
}

impl Config {
    /// Reads `TABLE_NAME`, `EVENT_BUS_NAME`, `ORDERS_WARM_UP` and
    /// `CURSOR_SIGNING_KEY` through `var` for `binary`; a missing or
    /// unusable value says which and what it is for.
    pub fn from_vars(
        binary: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let need = |variable: &'static str, what: &'static str| {
            var(variable)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing { variable, what })
        };
        let cursor_key = match var(CURSOR_KEY_VAR).filter(|v| !v.is_empty()) {
            Some(text) => Some(CursorKey::new(text.as_bytes()).ok_or(
                ConfigError::ShortCursorKey {
                    min: CursorKey::MIN_LEN,
                    given: text.len(),
                },
            )?),
            None if binary == HTTP_API_BINARY => {
                return Err(ConfigError::NoCursorKey {
                    min: CursorKey::MIN_LEN,
                });
            }
            None => None,
        };
        let tokens = match (
            var(TOKEN_ISSUER_VAR).filter(|v| !v.is_empty()),
            var(TOKEN_AUDIENCE_VAR).filter(|v| !v.is_empty()),
        ) {
            (Some(issuer), Some(audience)) => Some(TokenPolicy::new(issuer, audience)),
            _ if binary == HTTP_API_BINARY => return Err(ConfigError::NoTokenPolicy),
            _ => None,
        };
        Ok(Self {
            table: need("TABLE_NAME", "the orders table")?,
            bus: need("EVENT_BUS_NAME", "the event bus")?,
            warm_up: var("ORDERS_WARM_UP").as_deref() != Some("off"),
            cursor_key,
            tokens,
        })
    }
}

/// A key of 32 random bytes, for a process that issues no cursors (its
/// service still needs one): nothing signed with it outlives the process.
pub fn ephemeral_cursor_key() -> CursorKey {
    let mut bytes = [0u8; 32];
    // Without the system's randomness a fixed key would be guessable:
    // better to stop.
    getrandom::fill(&mut bytes)
        .unwrap_or_else(|e| panic!("no system randomness for a cursor key: {e}"));
    CursorKey::new(&bytes).unwrap_or_else(|| unreachable!("32 bytes"))
}

/// The order service on DynamoDB and EventBridge, as the functions run it.
/// Region, credentials and `AWS_ENDPOINT_URL_DYNAMODB` /
/// `AWS_ENDPOINT_URL_EVENTBRIDGE` come from the SDK's own environment
/// handling; both clients share one HTTPS client (one connection pool and
/// one load of the root certificates) and one configuration load.
pub async fn service(config: &Config) -> OrderService {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .http_client(adapters_system::https_client())
        .load()
        .await;
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&shared)
            .timeout_config(adapters_dynamo::client_timeouts())
            .retry_config(adapters_dynamo::client_retries())
            .build(),
    );
    let eventbridge = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&shared)
            .timeout_config(adapters_eventbridge::client_timeouts())
            .retry_config(adapters_eventbridge::client_retries())
            .build(),
    );
    let repository = DynamoOrderRepository::new(dynamodb, config.table.clone());
    let publisher = EventBridgePublisher::new(eventbridge, config.bus.clone());
    // Open both connections (TLS on AWS) during init, not in the first
    // request. Failures are only logged: the first request retries.
    if config.warm_up {
        let within = Duration::from_secs(1);
        let _ = tokio::join!(repository.warm_up(within), publisher.warm_up(within));
    }
    OrderService::new(
        Arc::new(repository),
        Arc::new(publisher),
        Arc::new(SystemClock),
        Arc::new(UlidIdGenerator::new()),
        ServiceConfig::new(
            config
                .cursor_key
                .clone()
                .unwrap_or_else(ephemeral_cursor_key),
        ),
    )
}

/// The functions' log subscriber, writing to `writer`: the level and
/// format from Lambda's advanced logging controls (`AWS_LAMBDA_LOG_LEVEL`,
/// else `RUST_LOG`, else INFO; `AWS_LAMBDA_LOG_FORMAT` `JSON` for JSON
/// lines), no time stamp (Lambda stamps each line), and no ANSI colours:
/// the runtime's default subscriber colours its text, and CloudWatch keeps
/// the escape codes as text in every line.
pub fn log_subscriber<W>(
    var: impl Fn(&str) -> Option<String>,
    writer: W,
) -> Box<dyn lambda_runtime::tracing::Subscriber + Send + Sync>
where
    W: for<'w> lambda_runtime::tracing::subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use lambda_runtime::tracing::subscriber::{EnvFilter, filter::LevelFilter, fmt};
    let level = var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| var("RUST_LOG"))
        .unwrap_or_default();
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse_lossy(level.to_ascii_lowercase());
    let builder = fmt()
        .with_ansi(false)
        .with_target(false)
        .without_time()
        .with_env_filter(filter)
        .with_writer(writer);
    if var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")) {
        Box::new(builder.json().finish())
    } else {
        Box::new(builder.finish())
    }
}

/// What a function binary's `main` runs: tracing, configuration, the
/// service, then the runtime loop with `binary`'s handler.
pub async fn run(binary: &str) -> Result<(), lambda_runtime::Error> {
    let subscriber = log_subscriber(|name| std::env::var(name).ok(), std::io::stdout);
    // Only fails when a subscriber is already set, which then stays.
    let _ = lambda_runtime::tracing::subscriber::util::SubscriberInitExt::try_init(subscriber);
    let config = Config::from_vars(binary, |name| std::env::var(name).ok())?;
    let service = service(&config).await;
    let handler = handler(binary, &service, &config)
        .ok_or_else(|| format!("the composition root does not compose {binary}"))?;
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<Value>| {
            let handler = &handler;
            async move {
                handler
                    .handle(event.payload, &Invocation::from_context(&event.context))
                    .await
            }
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn logs_are_plain_text_or_json_at_the_level_lambda_sets() {
        use std::sync::Mutex;
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("lines").extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let logged = |pairs: &[(&str, &str)]| {
            let lines = Lines::default();
            let writer = lines.clone();
            let subscriber = log_subscriber(vars(pairs), move || writer.clone());
            let dispatch = lambda_runtime::tracing::Dispatch::new(subscriber);
            lambda_runtime::tracing::dispatcher::with_default(&dispatch, || {
                lambda_runtime::tracing::debug!(detail = 1, "debugging");
                lambda_runtime::tracing::info!(order = "ORD-1", "placed");
            });
            let bytes = lines.0.lock().expect("lines").clone();
            String::from_utf8(bytes).expect("text")
        };
        let plain = logged(&[]);
        assert!(!plain.contains('\u{1b}'), "escape codes: {plain:?}");
        assert_eq!(plain.trim(), "INFO placed order=\"ORD-1\"");
        let debug = logged(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG"), ("RUST_LOG", "warn")]);
        assert_eq!(debug.lines().count(), 2, "{debug}");
        let json = logged(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
        let line: Value = serde_json::from_str(json.trim()).expect("one JSON line");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields"]["message"], "placed");
    }

    #[test]
    fn configuration_comes_from_the_environment() {
        let config = Config::from_vars(
            HTTP_API_BINARY,
            vars(&[
                ("TABLE_NAME", "t"),
                ("EVENT_BUS_NAME", "b"),
                (CURSOR_KEY_VAR, KEY),
                (
                    TOKEN_ISSUER_VAR,
                    "https://cognito-idp.us-east-1.amazonaws.com/p",
                ),
                (TOKEN_AUDIENCE_VAR, "c"),
            ]),
        )
        .unwrap();
        assert_eq!((config.table.as_str(), config.bus.as_str()), ("t", "b"));
        assert_eq!(
            config.tokens,
            Some(TokenPolicy::new(
                "https://cognito-idp.us-east-1.amazonaws.com/p",
                "c"
            ))
        );
        assert!(config.warm_up);
        assert_eq!(
            format!("{:?}", config.cursor_key),
            "Some(CursorKey(32 bytes))"
        );
        let off = Config::from_vars(
            "fn-events",
            vars(&[
                ("TABLE_NAME", "t"),
                ("EVENT_BUS_NAME", "b"),
                ("ORDERS_WARM_UP", "off"),
            ]),
        )
        .unwrap();
        assert!(!off.warm_up);
        assert!(off.cursor_key.is_none());
        assert!(off.tokens.is_none());
    }

    #[test]
    fn a_missing_variable_is_named() {
        let api = |pairs: &[(&str, &str)]| {
            let mut all = pairs.to_vec();
            all.extend([(TOKEN_ISSUER_VAR, "i"), (TOKEN_AUDIENCE_VAR, "a")]);
            Config::from_vars(HTTP_API_BINARY, vars(&all))
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            api(&[("EVENT_BUS_NAME", "b"), (CURSOR_KEY_VAR, KEY)]),
            "TABLE_NAME must name the orders table"
        );
        assert_eq!(
            api(&[
                ("TABLE_NAME", ""),
                ("EVENT_BUS_NAME", "b"),
                (CURSOR_KEY_VAR, KEY)
            ]),
            "TABLE_NAME must name the orders table"
        );
        assert_eq!(
            api(&[("TABLE_NAME", "t"), (CURSOR_KEY_VAR, KEY)]),
            "EVENT_BUS_NAME must name the event bus"
        );
        assert_eq!(
            api(&[("TABLE_NAME", "t"), ("EVENT_BUS_NAME", "b")]),
            "CURSOR_SIGNING_KEY must hold the key list cursors are signed with (at least 32 bytes)"
        );
        assert_eq!(
            api(&[
                ("TABLE_NAME", "t"),
                ("EVENT_BUS_NAME", "b"),
                (CURSOR_KEY_VAR, "short")
            ]),
            "CURSOR_SIGNING_KEY must hold at least 32 bytes, not 5"
        );
        let without_tokens = Config::from_vars(
            HTTP_API_BINARY,
            vars(&[
                ("TABLE_NAME", "t"),
                ("EVENT_BUS_NAME", "b"),
                (CURSOR_KEY_VAR, KEY),
                (TOKEN_ISSUER_VAR, "i"),
            ]),
        )
        .map(|_| ())
        .unwrap_err()
        .to_string();
        assert!(
            without_tokens.starts_with("TOKEN_ISSUER and TOKEN_AUDIENCE must name"),
            "{without_tokens}"
        );
    }

    #[test]
    fn a_deadline_ahead_is_kept_and_one_already_passed_is_not() {
        let now = 1_795_342_097_515;
        let ahead = Invocation::at("r", now + 5_000, now);
        let left = ahead.deadline.expect("a deadline") - std::time::Instant::now();
        assert!(
            left > Duration::from_millis(4_900) && left <= Duration::from_secs(5),
            "{left:?}"
        );
        // cargo lambda watch's constant, and a deadline just missed.
        assert_eq!(Invocation::at("r", 600_000, now).deadline, None);
        assert_eq!(Invocation::at("r", now, now).deadline, None);
    }

    #[test]
    fn ephemeral_keys_differ() {
        // Two keys sign the same cursor differently.
        let list = domain::CustomerId::parse("C").unwrap();
        let caller = domain::Caller::Customer(list.clone());
        let position = domain::ListPosition {
            created_at: domain::Timestamp::from_unix_millis(0).unwrap(),
            order_id: domain::OrderId::parse("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R").unwrap(),
        };
        let sign = |key: &CursorKey| domain::ListCursor::encode(key, &caller, &list, &position);
        assert_ne!(sign(&ephemeral_cursor_key()), sign(&ephemeral_cursor_key()));
    }

    #[test]
    fn each_composed_binary_has_a_handler_and_others_have_none() {
        let service = OrderService::new(
            Arc::new(domain::MockOrderRepository::new()),
            Arc::new(domain::MockEventPublisher::new()),
            Arc::new(SystemClock),
            Arc::new(UlidIdGenerator::new()),
            ServiceConfig::new(ephemeral_cursor_key()),
        );
        let config = Config {
            table: "t".into(),
            bus: "b".into(),
            warm_up: false,
            cursor_key: None,
            tokens: Some(TokenPolicy::new("i", "a")),
        };
        for binary in binaries() {
            assert!(handler(binary, &service, &config).is_some(), "{binary}");
        }
        assert!(handler("fn-unknown", &service, &config).is_none());
        // The API believes no claims without a policy: it is not composed.
        let no_tokens = Config {
            tokens: None,
            ..config
        };
        assert!(handler(HTTP_API_BINARY, &service, &no_tokens).is_none());
    }
}
