//! `local`: the local cloud. Every function of the template runs (in-process
//! where the composition root has a form for its binary, else as its real
//! binary in warm processes, `runtime`); the API is served on 127.0.0.1,
//! routed exactly as API Gateway routes the template; published events go
//! through the template's rules with Lambda's async retries (`bus`); the
//! template's schedules invoke their functions; and the control port
//! (`control`) answers the Lambda Invoke API and EventBridge `PutEvents`.
//! This module starts and stops it all: options, the store, the functions,
//! the listeners; `gateway` turns requests into events and back.
//!
//! Invariant: stopping the server stops every function process and
//! whatever store it started.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use lambda_http::aws_lambda_events::query_map::QueryMap;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use adapters_eventbridge::{DETAIL_SOURCE, OrderEventDetail};
use domain::{
    EventPublisher, OrderEvent, OrderRepository, OrderService, PublishError, ServiceConfig,
};

use crate::bus::Bus;
use crate::control::Control;
use crate::functions::{Backend, Functions, LocalFunction};
use crate::gateway::{Context, Route, handle};
use crate::model::{ACCOUNT, ApiKind};
use crate::runtime::{FunctionConfig, LogOutput, Pool};
use crate::template::Template;

/// Where the template's tables live: every function, in-process or a
/// process, reaches the same DynamoDB endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// The embedded DynamoDB (dynoxide) on an SQLite file under
    /// `target/local-cloud/`: tables and items survive restarts and
    /// `--watch` swaps. No Java, no Docker.
    Embedded,
    /// The embedded DynamoDB in memory: gone when the server stops.
    Memory,
    /// DynamoDB Local, found or started by the `local-services` providers.
    DynamoDbLocal,
    /// A DynamoDB endpoint that is already running.
    Endpoint(String),
}

impl Store {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "embedded" => Ok(Self::Embedded),
            "memory" => Ok(Self::Memory),
            "local" => Ok(Self::DynamoDbLocal),
            url if url.starts_with("http://") || url.starts_with("https://") => {
                Ok(Self::Endpoint(url.to_owned()))
            }
            other => Err(format!(
                "--dynamodb takes embedded, memory, local or an http(s):// URL, not {other:?}"
            )),
        }
    }
}

/// Where the template's queues, topics and buckets live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Messaging {
    /// moto's server, installed (into `target/moto-venv`) and started
    /// when the template defines any.
    Auto,
    /// None: those resources are not made (named in a warning).
    Off,
    /// A moto server that is already running.
    Endpoint(String),
}

impl Messaging {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "auto" => Ok(Self::Auto),
            "off" => Ok(Self::Off),
            url if url.starts_with("http://") || url.starts_with("https://") => {
                Ok(Self::Endpoint(url.to_owned()))
            }
            other => Err(format!(
                "--moto takes auto, off or an http(s):// URL, not {other:?}"
            )),
        }
    }
}

/// Where the API's events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Events {
    /// Through the template's rules to their target functions.
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
    /// `--table`: the local name of the template's table, when it has
    /// exactly one; `None`: the name CloudFormation would give it.
    pub table: Option<String>,
    /// Where the embedded store keeps its file (`target/local-cloud`).
    pub data_dir: PathBuf,
    /// `--moto`: where the template's queues, topics and buckets live.
    pub messaging: Messaging,
    /// Where moto's server is installed when the template has queues,
    /// topics or buckets (`target/moto-venv`).
    pub moto_venv: PathBuf,
    pub events: Events,
    /// Keep a tally of published events, for [`LocalServer::published`].
    pub record_events: bool,
    /// Run every function as its binary, none in-process.
    pub binaries: bool,
    /// The control port (Lambda Invoke API, PutEvents); `None`: none.
    pub lambda_port: Option<u16>,
    /// Processes per function at most.
    pub concurrency: usize,
    /// `--parameter-overrides`, over the template's defaults.
    pub parameter_overrides: BTreeMap<String, String>,
    /// `--env-vars FILE`, in SAM's format.
    pub env_vars: Option<PathBuf>,
    /// Delays between attempts of an asynchronous invocation.
    pub retry_delays: Vec<Duration>,
    /// `--binary-dir`: where the function binaries are; `None`: each in
    /// its own workspace's `target/debug`. They are built with cargo
    /// first when `build` is set.
    pub binary_dir: Option<PathBuf>,
    pub build: bool,
    /// `--sqs-endpoint`: OnFailure destinations that name an SQS queue get
    /// their records there (moto), as Lambda sends them.
    pub sqs_endpoint: Option<String>,
    /// How the listeners hold up to slow and idle clients.
    pub limits: Limits,
    /// `--watch`: rebuild and swap on every change (`watch`).
    pub watch: bool,
    /// Where the local user pool keeps its key pair (`target/local-auth`).
    pub auth_dir: PathBuf,
    /// `--debug FUNCTION`: that function's process is the user's, started
    /// under a debugger against the Runtime API on `debug_port`.
    pub debug: Option<String>,
    pub debug_port: u16,
    /// `--allow-origin`: web origins whose requests the control port takes
    /// (none by default: a page in the browser must not drive it).
    pub allowed_origins: Vec<String>,
    /// `--ready-file`: once serving, the addresses are written here as
    /// JSON (`{"api": "127.0.0.1:3000", "control": "127.0.0.1:3001"}`).
    pub ready_file: Option<PathBuf>,
}

impl LocalOptions {
    /// The defaults of `cargo xtask local` for the project at `root`.
    pub fn new(root: &std::path::Path) -> Self {
        // This project's template, else one in the folder as `sam` finds
        // it (`template.yaml`, then `template.yml`).
        let template = ["infra/template.yaml", "template.yaml", "template.yml"]
            .iter()
            .map(|name| root.join(name))
            .find(|path| path.is_file())
            .unwrap_or_else(|| root.join("infra/template.yaml"));
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        Self {
            host: "127.0.0.1".to_owned(),
            port: 3000,
            stage: "dev".to_owned(),
            store: Store::Embedded,
            template,
            table: None,
            data_dir: target.join("local-cloud"),
            messaging: Messaging::Auto,
            moto_venv: target.join("moto-venv"),
            events: Events::Local,
            record_events: false,
            binaries: false,
            lambda_port: Some(3001),
            concurrency: DEFAULT_CONCURRENCY,
            parameter_overrides: BTreeMap::new(),
            env_vars: None,
            retry_delays: crate::bus::DEFAULT_RETRY_DELAYS.to_vec(),
            binary_dir: None,
            auth_dir: target.join("local-auth"),
            build: true,
            sqs_endpoint: None,
            limits: Limits::default(),
            watch: false,
            debug: None,
            debug_port: DEFAULT_DEBUG_PORT,
            ready_file: None,
            allowed_origins: Vec::new(),
        }
    }
}

/// The Runtime API's port for `--debug` when `--debug-port` is not given.
pub const DEFAULT_DEBUG_PORT: u16 = 9001;

/// Processes per function when `--concurrency` is not given.
pub const DEFAULT_CONCURRENCY: usize = 10;

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
    #[error(transparent)]
    EnvVars(#[from] crate::env_vars::EnvVarsError),
    /// No DynamoDB could be found, started or reached.
    #[error("{0}")]
    Store(String),
    #[error("cannot run {cargo} to build the function binaries: {source}")]
    Cargo {
        cargo: String,
        source: std::io::Error,
    },
    #[error("cargo build of {binaries} failed ({status}); the compiler's message is above")]
    Build { binaries: String, status: String },
    #[error(
        "{function}: no binary at {path} (cargo build --bin {binary} makes it; without --no-build the local cloud runs it)"
    )]
    NoBinary {
        function: String,
        path: PathBuf,
        binary: String,
    },
    #[error(transparent)]
    Discovery(#[from] crate::discover::DiscoveryError),
    #[error(transparent)]
    Resources(#[from] crate::resources::ResourceError),
    #[error("the embedded DynamoDB: {0}")]
    Embedded(#[from] local_services::embedded::EmbeddedError),
    #[error("--debug {name}: the template has no such function (it has {known})")]
    NoSuchFunction { name: String, known: String },
    /// `--watch` could not start its first local cloud, or `--debug` its
    /// Runtime API.
    #[error("{0}")]
    Start(String),
    #[error("cannot write {path}: {source}")]
    ReadyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a rule's pattern: {0}")]
    Pattern(#[from] event_pattern::PatternError),
}

/// The order service's events, onto the local bus: the entries fn-api
/// would put on EventBridge, routed by the template's rules.
struct BusPublisher {
    bus: Arc<Bus>,
}

#[async_trait]
impl EventPublisher for BusPublisher {
    async fn publish(&self, events: &[OrderEvent]) -> Result<(), PublishError> {
        for event in events {
            let detail = serde_json::to_value(OrderEventDetail::from(event)).map_err(|e| {
                PublishError::Unavailable(format!("cannot write the event detail: {e}").into())
            })?;
            let envelope = self
                .bus
                .envelope(DETAIL_SOURCE, event.kind.as_str(), detail, json!([]));
            self.bus.route(envelope);
        }
        Ok(())
    }
}

pub(crate) fn fresh_id() -> String {
    use domain::IdGenerator as _;
    static IDS: OnceLock<adapters_system::UlidIdGenerator> = OnceLock::new();
    let id = IDS
        .get_or_init(adapters_system::UlidIdGenerator::new)
        .next_order_id();
    id.as_str()[4..].to_ascii_lowercase()
}

pub(crate) fn now_rfc3339() -> String {
    use domain::Clock as _;
    adapters_system::SystemClock.now().to_rfc3339()
}

/// Keeps a started DynamoDB alive as long as the server.
enum StoreGuard {
    None,
    DynamoDb(#[allow(dead_code)] local_services::dynamodb::DynamoDbLocal),
    Embedded(#[allow(dead_code)] local_services::embedded::EmbeddedDynamoDb),
}

/// Keeps whatever a store needs alive (a started DynamoDB Local or
/// embedded DynamoDB).
pub struct StoreHold(StoreGuard);

impl std::fmt::Debug for StoreHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.0 {
            StoreGuard::None => "nothing",
            StoreGuard::DynamoDb(_) => "a DynamoDB Local",
            StoreGuard::Embedded(_) => "an embedded DynamoDB",
        };
        f.debug_tuple("StoreHold").field(&what).finish()
    }
}

/// The file the embedded store keeps its tables in, under `data_dir`.
pub fn embedded_file(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("dynamodb.sqlite")
}

/// A DynamoDB endpoint for `store`, a description of it, and what keeps
/// a started one alive.
pub async fn dynamodb_endpoint(
    store: &Store,
    data_dir: &std::path::Path,
) -> Result<(String, String, StoreHold), LocalError> {
    use local_services::embedded::{EmbeddedDynamoDb, Storage};
    Ok(match store {
        Store::Endpoint(url) => (
            url.clone(),
            format!("DynamoDB at {url}"),
            StoreHold(StoreGuard::None),
        ),
        Store::Embedded | Store::Memory => {
            let (storage, what) = match store {
                Store::Memory => (Storage::Memory, "in memory".to_owned()),
                _ => {
                    let file = embedded_file(data_dir);
                    let what = file.display().to_string();
                    (Storage::File(file), what)
                }
            };
            let embedded = EmbeddedDynamoDb::start(storage)?;
            (
                embedded.endpoint().to_owned(),
                format!("embedded DynamoDB ({what}) at {}", embedded.endpoint()),
                StoreHold(StoreGuard::Embedded(embedded)),
            )
        }
        Store::DynamoDbLocal => {
            let config = local_services::dynamodb::ProviderConfig::from_env();
            let local = tokio::task::spawn_blocking(move || {
                local_services::dynamodb::DynamoDbLocal::start(&config)
            })
            .await
            .map_err(|e| LocalError::Store(e.to_string()))?
            .map_err(|e| LocalError::Store(e.to_string()))?;
            let endpoint = local.endpoint().to_owned();
            (
                endpoint.clone(),
                format!("DynamoDB Local at {endpoint}"),
                StoreHold(StoreGuard::DynamoDb(local)),
            )
        }
    })
}

/// The store of `options` with the template's tables made on it (what
/// `invoke` runs a function against): its endpoint, and what keeps it.
pub async fn prepare_store(options: &LocalOptions) -> Result<(String, StoreHold), LocalError> {
    let (_, model, region) = load_model(options, None, BTreeMap::new())?;
    let (endpoint, _, hold) = dynamodb_endpoint(&options.store, &options.data_dir).await?;
    crate::resources::make_tables(&endpoint, &region, &model.tables).await?;
    Ok((endpoint, hold))
}

/// The configuration the composition root reads for its in-process
/// functions: from the template's environment for the first function
/// whose binary `app` composes (the HTTP API's first, as it must hold the
/// cursor key), checked as that binary checks it. `None`: no function
/// runs in-process.
fn in_process_config(
    options: &LocalOptions,
    model: &crate::model::Model,
) -> Result<Option<app::Config>, LocalError> {
    if options.binaries {
        return Ok(None);
    }
    let composed = model
        .functions
        .iter()
        .filter(|spec| app::binaries().any(|b| b == spec.binary))
        .filter(|spec| {
            !options
                .debug
                .as_deref()
                .is_some_and(|name| spec.is_named(name))
        })
        .min_by_key(|spec| spec.binary != app::HTTP_API_BINARY);
    let Some(spec) = composed else {
        return Ok(None);
    };
    app::Config::from_vars(&spec.binary, |name| spec.environment.get(name).cloned())
        .map(Some)
        .map_err(|e| LocalError::Start(format!("{}: {e}", spec.id)))
}

/// The in-process functions' repository on the store at `endpoint`, with
/// the function's own timeouts and retries, so that a DynamoDB that does
/// not answer gives what fn-api would give: a 503 within its timeout.
fn repository(endpoint: &str, table: &str, region: &str) -> Arc<dyn OrderRepository> {
    let client = aws_sdk_dynamodb::Client::from_conf(
        local_services::dynamodb::client_for(endpoint)
            .config()
            .to_builder()
            .region(aws_sdk_dynamodb::config::Region::new(region.to_owned()))
            .timeout_config(adapters_dynamo::client_timeouts())
            .retry_config(adapters_dynamo::client_retries())
            .build(),
    );
    Arc::new(adapters_dynamo::DynamoOrderRepository::new(
        client,
        table.to_owned(),
    ))
}

/// A running local cloud.
#[derive(Debug)]
pub struct LocalServer {
    address: SocketAddr,
    lambda_address: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
    published: Arc<PublishedEvents>,
    bus: Arc<Bus>,
    functions: Arc<Functions>,
    auth_dir: PathBuf,
}

impl LocalServer {
    /// An id token of the local user pool for `who`, valid for an hour:
    /// what `cargo xtask token` prints, for clients in tests.
    pub fn token(&self, who: &crate::auth::Who) -> Result<String, String> {
        crate::auth::LocalPool::open(&self.auth_dir)?.mint(who, Duration::from_secs(3600))
    }

    /// How many invocations the function `name` has begun (`None`: the
    /// template has no such function).
    pub fn invocations(&self, name: &str) -> Option<u64> {
        self.functions.find(name).map(|f| f.invocations())
    }

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

    /// The control port's URL, when it listens.
    pub fn lambda_url(&self) -> Option<String> {
        self.lambda_address.map(|a| format!("http://{a}"))
    }

    /// What async invocations left on the dead-letter list.
    pub fn dead_letters(&self) -> Vec<Value> {
        self.bus.dead_letters()
    }

    /// Stops accepting, lets requests in flight finish, stops the
    /// functions' processes, then returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
}

pub(crate) async fn bind(host: &str, port: u16) -> Result<TcpListener, LocalError> {
    match TcpListener::bind((host, port)).await {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(LocalError::PortInUse {
            host: host.to_owned(),
            port,
        }),
        Err(source) => Err(LocalError::Listen {
            host: host.to_owned(),
            port,
            source,
        }),
    }
}

/// `cargo` as a command, without what `cargo run` / `cargo test` set for
/// the package they run (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...): a build
/// script that watches one of them (ring's does) would otherwise rebuild,
/// with everything above it, whenever builds from here and from a shell
/// take turns.
pub(crate) fn cargo_command(cargo: &str) -> tokio::process::Command {
    const SET_BY_CARGO_RUN: [&str; 6] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
    ];
    let mut command = tokio::process::Command::new(cargo);
    let inherited = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
    for name in
        inherited.filter(|n| n.starts_with("CARGO_PKG_") || SET_BY_CARGO_RUN.contains(&n.as_str()))
    {
        command.env_remove(name);
    }
    command
}

/// `cargo build --workspace --bin B…` for `binaries`, in `dir` when given,
/// with the cargo that runs the toolkit (`CARGO`); and that cargo's name.
/// `--workspace` keeps one feature resolution for every build of the
/// workspace, so a function build compiles no dependency a second time.
pub(crate) fn build_command(
    binaries: &[String],
    dir: Option<&std::path::Path>,
) -> (String, tokio::process::Command) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = cargo_command(&cargo);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command.args(["build", "--workspace"]);
    for binary in binaries {
        command.args(["--bin", binary]);
    }
    (cargo, command)
}

/// A function binary the local cloud runs as a process: its name, the
/// file, and the cargo workspace that builds it (none for a prebuilt
/// `bootstrap`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcessBinary {
    pub name: String,
    pub path: PathBuf,
    pub build: Option<(crate::model::CargoBinary, crate::model::BuildSpec)>,
}

/// Builds `binaries` with the cargo that runs the toolkit (`CARGO`): one
/// `cargo build` per workspace (and feature switch), in that workspace.
pub(crate) async fn build_binaries(binaries: &[ProcessBinary]) -> Result<(), LocalError> {
    /// A workspace and its feature switches (no default, all).
    type Step = (PathBuf, bool, bool);
    /// The binaries and package-qualified features built there.
    type Wanted = (Vec<String>, Vec<String>);
    let mut steps: BTreeMap<Step, Wanted> = BTreeMap::new();
    for binary in binaries {
        let Some((cargo, build)) = &binary.build else {
            continue;
        };
        let (names, features) = steps
            .entry((
                cargo.workspace_root.clone(),
                build.no_default_features,
                build.all_features,
            ))
            .or_default();
        if !names.contains(&binary.name) {
            names.push(binary.name.clone());
        }
        for feature in &build.features {
            let qualified = format!("{}/{feature}", cargo.package);
            if !features.contains(&qualified) {
                features.push(qualified);
            }
        }
    }
    for ((root, no_default, all), (names, features)) in steps {
        let (cargo, mut command) = build_command(&names, Some(&root));
        if no_default {
            command.arg("--no-default-features");
        }
        if all {
            command.arg("--all-features");
        }
        if !features.is_empty() {
            command.args(["--features", &features.join(",")]);
        }
        tracing::info!(
            "building {} in {}: {cargo} build --workspace --bin {}{}",
            names.join(", "),
            root.display(),
            names.join(" --bin "),
            if features.is_empty() {
                String::new()
            } else {
                format!(" --features {}", features.join(","))
            }
        );
        let status = command
            .stdin(std::process::Stdio::null())
            .status()
            .await
            .map_err(|source| LocalError::Cargo {
                cargo: cargo.clone(),
                source,
            })?;
        if !status.success() {
            return Err(LocalError::Build {
                binaries: names.join(", "),
                status: status.to_string(),
            });
        }
    }
    Ok(())
}

/// The environment the template gives the function named `function` (its
/// logical id, binary or function name), as the local cloud gives it:
/// intrinsics resolved, secrets given local values. Empty when the
/// template has no such function.
pub fn function_environment(
    options: &LocalOptions,
    function: &str,
) -> Result<BTreeMap<String, String>, LocalError> {
    let (_, model, _) = load_model(options, None, BTreeMap::new())?;
    Ok(model
        .functions
        .iter()
        .find(|spec| spec.is_named(function))
        .map(|spec| spec.environment.clone())
        .unwrap_or_default())
}

/// The template and its model for `options` (stage, overrides, table),
/// each function's code found as `sam build` finds it, and the region.
/// `endpoint` is the local AWS endpoint queue URLs point at; `live`, what
/// only made resources know (`Table.StreamArn`).
pub(crate) fn load_model(
    options: &LocalOptions,
    endpoint: Option<&str>,
    live: BTreeMap<String, String>,
) -> Result<(Template, crate::model::Model, String), LocalError> {
    let template = Template::load(&options.template)?;
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
    let mut overrides = options.parameter_overrides.clone();
    if template.document()["Parameters"].get("Stage").is_some() {
        overrides
            .entry("Stage".to_owned())
            .or_insert_with(|| options.stage.clone());
    }
    let mut model = crate::model::load(
        &template,
        &crate::model::Context {
            region: region.clone(),
            stack: LOCAL_STACK.to_owned(),
            overrides,
            table: options.table.clone(),
            endpoint: endpoint.map(str::to_owned),
            live,
        },
    )?;
    crate::discover::Discovery::default().resolve_all(template.path(), &mut model.functions)?;
    crate::auth::resolve_local_secrets(&mut model.functions, &options.auth_dir)
        .map_err(LocalError::Start)?;
    Ok((template, model, region))
}

/// The stack name the local cloud stands for: the prefix of the names it
/// generates for resources the template leaves unnamed.
pub const LOCAL_STACK: &str = "local";

/// Where the binary of `spec` is: `--binary-dir` when given, else its
/// workspace's debug build (or its prebuilt `bootstrap`).
pub(crate) fn binary_path(options: &LocalOptions, spec: &crate::model::FunctionSpec) -> PathBuf {
    use crate::model::Code;
    match (&spec.code, &options.binary_dir) {
        (Code::Bootstrap(path), _) => path.clone(),
        (_, Some(dir)) => dir.join(&spec.binary),
        (Code::Cargo(cargo), None) => cargo.debug_path(&spec.binary),
        (Code::Unresolved, None) => {
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
                || {
                    options
                        .template
                        .parent()
                        .unwrap_or(std::path::Path::new("."))
                        .join("target")
                },
                PathBuf::from,
            );
            target.join("debug").join(&spec.binary)
        }
    }
}

/// The binaries `options` runs as processes: the template's, but those
/// the composition root runs in-process (unless `--binaries`, or
/// `--debug` names the function).
pub(crate) fn process_binaries(
    options: &LocalOptions,
    model: &crate::model::Model,
) -> Vec<ProcessBinary> {
    let mut binaries: Vec<ProcessBinary> = Vec::new();
    for spec in model.functions.iter().filter(|spec| {
        options.binaries
            || options
                .debug
                .as_deref()
                .is_some_and(|name| spec.is_named(name))
            || !app::binaries().any(|b| b == spec.binary)
    }) {
        let binary = ProcessBinary {
            name: spec.binary.clone(),
            path: binary_path(options, spec),
            build: match &spec.code {
                crate::model::Code::Cargo(cargo) => Some((cargo.clone(), spec.build.clone())),
                _ => None,
            },
        };
        if !binaries.iter().any(|b| b.path == binary.path) {
            binaries.push(binary);
        }
    }
    binaries
}

/// An output naming an API's URL in the cloud
/// (`https://{api}.execute-api.{region}.amazonaws.com/{stage}/...`) as the
/// local gateway serves it (`{local}/...`: a REST API's stage is not part
/// of the local path); any other value as it is.
fn local_api_url(value: &str, apis: &[crate::model::Api], local: &str) -> String {
    let Some(rest) = value.strip_prefix("https://") else {
        return value.to_owned();
    };
    let Some((host, path)) = rest.split_once(".amazonaws.com") else {
        return value.to_owned();
    };
    let Some(api) = host
        .split_once(".execute-api.")
        .and_then(|(id, _)| apis.iter().find(|api| api.id == id))
    else {
        return value.to_owned();
    };
    let path = match api.kind {
        ApiKind::Rest => {
            let trimmed = path.trim_start_matches('/');
            trimmed
                .split_once('/')
                .map_or(String::new(), |(_stage, rest)| rest.to_owned())
        }
        ApiKind::Http => path.trim_start_matches('/').to_owned(),
    };
    format!("{local}/{path}")
}

/// The control port's URL for functions and queue URLs: loopback when
/// the server listens on every address.
fn endpoint_url(address: SocketAddr) -> String {
    if address.ip().is_unspecified() {
        format!("http://127.0.0.1:{}", address.port())
    } else {
        format!("http://{address}")
    }
}

/// Binds, makes the template's resources, builds the functions, and
/// serves in the background.
pub async fn start(options: LocalOptions) -> Result<LocalServer, LocalError> {
    let listener = bind(&options.host, options.port).await?;
    let address = listener.local_addr().map_err(|source| LocalError::Listen {
        host: options.host.clone(),
        port: options.port,
        source,
    })?;
    let control_listener = match options.lambda_port {
        Some(port) => Some(bind(&options.host, port).await?),
        None => None,
    };
    let lambda_address = control_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()
        .map_err(|source| LocalError::Listen {
            host: options.host.clone(),
            port: options.lambda_port.unwrap_or_default(),
            source,
        })?;
    let control_url = lambda_address.map(endpoint_url);
    let (mut template, mut model, region) =
        load_model(&options, control_url.as_deref(), BTreeMap::new())?;
    if let Some(name) = &options.debug
        && model.function(name).is_none()
    {
        return Err(LocalError::NoSuchFunction {
            name: name.clone(),
            known: model
                .functions
                .iter()
                .map(|f| format!("{} ({})", f.id, f.binary))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let env_file = match &options.env_vars {
        Some(path) => crate::env_vars::load(path, &model.functions)?,
        None => crate::env_vars::EnvVars::default(),
    };
    let (endpoint, store_text, StoreHold(guard)) =
        dynamodb_endpoint(&options.store, &options.data_dir).await?;
    let live = crate::resources::make_tables(&endpoint, &region, &model.tables).await?;
    if !live.is_empty() {
        // Stream ARNs exist only now: read the template again with them.
        (template, model, _) = load_model(&options, control_url.as_deref(), live)?;
    }
    let (moto, moto_endpoint) = match (&options.messaging, crate::resources::needs_moto(&model)) {
        (_, false) => (None, None),
        (Messaging::Off, true) => {
            model.warnings.push(
                "--moto off: the template's queues, topics and buckets are not made".to_owned(),
            );
            (None, None)
        }
        (Messaging::Endpoint(url), true) => (None, Some(url.clone())),
        (Messaging::Auto, true) => {
            let moto = crate::resources::start_moto(&options.moto_venv).await?;
            let endpoint = moto.endpoint().to_owned();
            (Some(moto), Some(endpoint))
        }
    };
    if let Some(moto_endpoint) = &moto_endpoint {
        let mut warnings = Vec::new();
        crate::resources::make_messaging(moto_endpoint, &region, &model, &mut warnings).await?;
        model.warnings.extend(warnings);
    }
    let bus = Arc::new(Bus::new(
        &model.rules,
        &region,
        model.buses.clone(),
        options.retry_delays.clone(),
    )?);
    // OnFailure records go to the queue they name, as Lambda sends them:
    // at --sqs-endpoint, else on the template's own queues.
    if let Some(endpoint) = options.sqs_endpoint.as_ref().or(moto_endpoint.as_ref()) {
        bus.deliver_failures_to(sqs_client(endpoint, &region));
        tracing::info!("OnFailure destinations naming an SQS queue: delivered to {endpoint}");
    }
    let published = Arc::new(PublishedEvents::default());
    let mut events_text = "events through the template's rules".to_owned();
    // Which functions run in-process is the composition root's answer.
    let in_process = in_process_config(&options, &model)?;
    let service = match &in_process {
        None => None,
        Some(config) => {
            let publisher: Arc<dyn EventPublisher> = match &options.events {
                Events::Local => Arc::new(BusPublisher { bus: bus.clone() }),
                Events::EventBridge { endpoint, bus } => {
                    events_text = format!("events to bus {bus} at {endpoint}, not consumed here");
                    Arc::new(adapters_eventbridge::EventBridgePublisher::new(
                        eventbridge_client(endpoint, &region),
                        bus.clone(),
                    ))
                }
            };
            let publisher = Arc::new(Recording {
                inner: publisher,
                log: options.record_events.then(|| published.clone()),
            });
            Some(OrderService::new(
                repository(&endpoint, &config.table, &region),
                publisher,
                Arc::new(adapters_system::SystemClock),
                Arc::new(adapters_system::UlidIdGenerator::new()),
                ServiceConfig::new(
                    config
                        .cursor_key
                        .clone()
                        .unwrap_or_else(app::ephemeral_cursor_key),
                ),
            ))
        }
    };
    let handlers: Vec<Option<Arc<dyn app::Handler>>> = model
        .functions
        .iter()
        .map(|spec| {
            let debugged = options
                .debug
                .as_deref()
                .is_some_and(|name| spec.is_named(name));
            match (&service, &in_process, options.binaries || debugged) {
                (Some(service), Some(config), false) => app::handler(&spec.binary, service, config),
                _ => None,
            }
        })
        .collect();
    if options.build {
        build_binaries(&process_binaries(&options, &model)).await?;
    }
    let mut functions = Vec::new();
    for (spec, handler) in model.functions.iter().zip(handlers) {
        let debugged = options
            .debug
            .as_deref()
            .is_some_and(|name| spec.is_named(name));
        let backend = match handler {
            Some(handler) => Backend::InProcess(handler),
            None => {
                let binary = binary_path(&options, spec);
                if !binary.is_file() {
                    return Err(LocalError::NoBinary {
                        function: spec.id.clone(),
                        path: binary,
                        binary: spec.binary.clone(),
                    });
                }
                let mut environment = spec.environment.clone();
                environment.extend(env_file.for_function(spec));
                // Every AWS API the function calls goes to the control
                // port (the SDKs read AWS_ENDPOINT_URL), but DynamoDB,
                // which it reaches directly.
                if let Some(control) = &control_url {
                    environment.insert("AWS_ENDPOINT_URL".to_owned(), control.clone());
                }
                environment.insert("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), endpoint.clone());
                let bus_endpoint = match &options.events {
                    Events::EventBridge { endpoint, .. } => Some(endpoint.clone()),
                    Events::Local => control_url.clone(),
                };
                if let Some(bus_endpoint) = bus_endpoint {
                    environment.insert("AWS_ENDPOINT_URL_EVENTBRIDGE".to_owned(), bus_endpoint);
                }
                Backend::Process(Pool::new(FunctionConfig {
                    name: spec.name.clone(),
                    binary,
                    memory_mb: spec.memory_mb,
                    timeout: if debugged {
                        crate::runtime::DEBUG_TIMEOUT
                    } else {
                        spec.timeout
                    },
                    region: region.clone(),
                    environment,
                    concurrency: if debugged { 1 } else { options.concurrency },
                    log_output: LogOutput::Prefixed,
                    record_put_events: None,
                    debug_port: debugged.then_some(options.debug_port),
                }))
            }
        };
        functions.push(LocalFunction::new(spec.clone(), backend));
    }
    let functions = Arc::new(Functions::new(functions));
    if let Some(name) = &options.debug
        && let Some(function) = functions.find(name)
    {
        function
            .prepare()
            .await
            .map_err(|e| LocalError::Start(format!("--debug {name}: {e}")))?;
    }
    bus.attach(functions.clone());
    let apis: Vec<Arc<crate::model::Api>> = model.apis.iter().cloned().map(Arc::new).collect();
    let mut routes = Vec::new();
    for route in &model.routes {
        let (Some(function), Some(api)) = (
            functions.find(&route.function).cloned(),
            apis.iter().find(|a| a.id == route.api).cloned(),
        ) else {
            continue;
        };
        let authorizer = match route.authorizer.as_deref() {
            Some("NONE") => None,
            Some(name) => api.authorizers.get(name).cloned(),
            None => api
                .default_authorizer
                .as_ref()
                .and_then(|name| api.authorizers.get(name))
                .cloned(),
        };
        routes.push(Route {
            method: route.method.clone(),
            template: route.path.clone(),
            function,
            api,
            authorizer,
        });
    }
    for warning in &model.warnings {
        tracing::warn!("not emulated: {warning}");
    }
    let stage_variables: QueryMap = template
        .stage_variables(&options.stage)
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>()
        .into();
    tracing::info!(
        "API on http://{address} (stage {}; {store_text}; {events_text})",
        options.stage
    );
    if let Some(control) = &control_url {
        tracing::info!(
            "AWS endpoint on {control}: Lambda, EventBridge, DynamoDB{} (aws --endpoint-url {control} ...)",
            if moto_endpoint.is_some() {
                ", SQS, SNS, S3"
            } else {
                ""
            }
        );
    }
    for function in functions.iter() {
        tracing::info!(
            "  function {} ({}): {}",
            function.spec().id,
            function.spec().binary,
            if function.in_process() {
                "in-process"
            } else {
                "its binary, warm processes"
            }
        );
    }
    for route in &routes {
        tracing::info!(
            "  {:<5} {} -> {} ({}{})",
            route.method,
            route.template,
            route.function.spec().binary,
            match route.api.kind {
                ApiKind::Rest => "REST API, payload 1.0",
                ApiKind::Http => "HTTP API, payload 2.0",
            },
            route
                .authorizer
                .as_ref()
                .map_or_else(String::new, |a| format!("; authorizer {}", a.name))
        );
    }
    for (name, value) in &model.outputs {
        match value {
            Ok(value) => tracing::info!(
                "  output {name}: {}",
                local_api_url(value, &model.apis, &format!("http://{address}"))
            ),
            Err(why) => tracing::info!("  output {name}: not resolved locally ({why})"),
        }
    }
    let pool = if routes.iter().any(|r| r.authorizer.is_some()) {
        let pool = crate::auth::LocalPool::open(&options.auth_dir).map_err(LocalError::Start)?;
        tracing::info!(
            "authorizers check tokens of the local user pool ({}): cargo xtask token --customer ID | --staff",
            options.auth_dir.display()
        );
        Some(Arc::new(pool))
    } else {
        None
    };
    let (stop, stopped) = watch::channel(false);
    let context = Arc::new(Context {
        routes,
        stage: options.stage.clone(),
        stage_variables,
        pool,
    });
    let control = control_listener.map(|listener| {
        (
            listener,
            Arc::new(Control::new(
                functions.clone(),
                bus.clone(),
                region.clone(),
                crate::control::Backends {
                    dynamodb: Some(endpoint.clone()),
                    moto: moto_endpoint.clone(),
                },
                crate::control::Guard {
                    listen_host: options.host.clone(),
                    allowed_origins: options.allowed_origins.clone(),
                },
            )),
        )
    });
    let schedules: Vec<(String, Arc<LocalFunction>, Duration)> = model
        .schedules
        .iter()
        .filter_map(|s| {
            functions
                .find(&s.function)
                .map(|f| (s.name.clone(), f.clone(), s.period))
        })
        .collect();
    let done = tokio::spawn(serve(
        listener,
        control,
        context,
        stopped,
        Running {
            schedules,
            bus: bus.clone(),
            functions: functions.clone(),
            guard,
            moto,
            region,
            limits: options.limits,
        },
    ));
    Ok(LocalServer {
        address,
        lambda_address,
        stop,
        done,
        published,
        bus,
        functions,
        auth_dir: options.auth_dir.clone(),
    })
}

/// Credentials from the environment, or fixed local ones.
fn local_credentials() -> aws_sdk_eventbridge::config::Credentials {
    use aws_sdk_eventbridge::config::Credentials;
    match (
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
    }
}

/// An SQS client for `endpoint` (OnFailure destinations).
fn sqs_client(endpoint: &str, region: &str) -> aws_sdk_sqs::Client {
    use aws_sdk_sqs::config::{BehaviorVersion, Region};
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(local_credentials())
            .endpoint_url(endpoint)
            .build(),
    )
}

/// An EventBridge client for `endpoint` with the function's timeouts and
/// retries; credentials from the environment, or fixed local ones.
fn eventbridge_client(endpoint: &str, region: &str) -> aws_sdk_eventbridge::Client {
    use aws_sdk_eventbridge::config::{BehaviorVersion, Region};
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(local_credentials())
        .endpoint_url(endpoint)
        .timeout_config(adapters_eventbridge::client_timeouts())
        .retry_config(adapters_eventbridge::client_retries())
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

/// What lives as long as the server: schedules, the bus, the functions'
/// processes, a started DynamoDB Local.
struct Running {
    schedules: Vec<(String, Arc<LocalFunction>, Duration)>,
    bus: Arc<Bus>,
    functions: Arc<Functions>,
    guard: StoreGuard,
    /// moto's server, for the template's queues, topics and buckets.
    moto: Option<local_services::moto::Moto>,
    region: String,
    limits: Limits,
}

/// How the listeners hold up to bad clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A connection that has not sent a whole request head within this
    /// is closed (hyper's header read timeout; a client trickling its
    /// headers is cut off too).
    pub header_read_timeout: Duration,
    /// Connections open at once, per listener; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Accepts connections on `listener` and serves each with `handle`
/// until `stopped` changes; returns the connections still open.
pub(crate) fn accept_loop<H, F>(
    listener: TcpListener,
    mut stopped: watch::Receiver<bool>,
    limits: Limits,
    handle: H,
) -> tokio::task::JoinHandle<tokio::task::JoinSet<()>>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            // At the cap, wait for a connection to close before accepting
            // (the kernel's backlog holds the others).
            let permit = tokio::select! {
                _ = stopped.changed() => break,
                permit = open.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let stream = tokio::select! {
                _ = stopped.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors, say: back off instead of spinning.
                        tracing::warn!("accept failed: {e}; retrying in 50 ms");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let handle = handle.clone();
            let mut stopping = stopped.clone();
            connections.spawn(async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |request| {
                    let reply = handle(request);
                    async move { Ok::<_, Infallible>(reply.await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => {}
                    _ = stopping.changed() => {
                        // An idle keep-alive connection closes now; a
                        // request in flight is answered first.
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.await;
                    }
                }
            });
            // Finished connections are reaped as they go, not at the stop.
            while connections.try_join_next().is_some() {}
        }
        connections
    })
}

async fn serve(
    listener: TcpListener,
    control: Option<(TcpListener, Arc<Control>)>,
    context: Arc<Context>,
    stopped: watch::Receiver<bool>,
    running: Running,
) {
    let mut tickers = tokio::task::JoinSet::new();
    for (name, function, period) in running.schedules {
        let bus = running.bus.clone();
        let region = running.region.clone();
        tickers.spawn(async move {
            let mut every = tokio::time::interval(period);
            every.tick().await;
            loop {
                every.tick().await;
                let mut event = bus.envelope(
                    "aws.events",
                    "Scheduled Event",
                    json!({}),
                    json!([format!("arn:aws:events:{region}:{ACCOUNT}:rule/{name}")]),
                );
                event["region"] = json!(region);
                bus.invoke_async(function.clone(), event, format!("schedule {name}"));
            }
        });
    }
    let api = accept_loop(listener, stopped.clone(), running.limits, move |request| {
        let context = context.clone();
        async move { handle(&context, request).await }
    });
    let control = control.map(|(listener, control)| {
        accept_loop(listener, stopped.clone(), running.limits, move |request| {
            let control = control.clone();
            async move { control.handle(request).await }
        })
    });
    let mut open = Vec::new();
    if let Ok(connections) = api.await {
        open.push(connections);
    }
    if let Some(Ok(connections)) = match control {
        Some(control) => Some(control.await),
        None => None,
    } {
        open.push(connections);
    }
    tickers.abort_all();
    // Each connection shuts down gracefully on the stop signal (idle ones
    // at once); a request that outlasts two seconds is cut off.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        for connections in &mut open {
            while connections.join_next().await.is_some() {}
        }
    })
    .await;
    for connections in &mut open {
        connections.abort_all();
    }
    running.functions.clear();
    drop(running.guard);
    drop(running.moto);
}

pub const USAGE: &str = "\
local: the local cloud: every function of the template, its tables,
queues, topics and buckets, the API routed as API Gateway routes it, the
rules, the schedules, and one AWS endpoint for all of them

Usage:
  local [--port 3000] [--host 127.0.0.1] [--stage dev]
        [--dynamodb embedded|memory|local|URL] [--moto auto|off|URL]
        [--table NAME] [--template FILE]
        [--binaries] [--lambda-port 3001|off] [--concurrency 10]
        [--parameter-overrides KEY=VALUE]... [--env-vars FILE]
        [--retry-delays 1,2] [--no-build] [--sqs-endpoint URL]
        [--eventbridge URL [--event-bus orders-bus]]
        [--header-timeout 30] [--max-connections 1024]
        [--watch] [--debug FUNCTION [--debug-port 9001]]
        [--binary-dir DIR] [--ready-file FILE] [--allow-origin ORIGIN]...

  --port      the API's port (default 3000; 0 picks a free one)
  --host      the address to listen on (default 127.0.0.1)
  --stage     the stage: the template's Stage parameter and the stage
              variables the events carry (default dev)
  --dynamodb  where the template's tables live, each made from its
              definition: embedded (default): DynamoDB on SQLite in this
              process (target/local-cloud/dynamodb.sqlite; kept across
              restarts), no Java, no Docker; memory: the same, gone at the
              stop; local: DynamoDB Local, found or started
              (DYNAMODB_ENDPOINT, Docker, or Java with the jar under
              target/dynamodb-local); URL: a running DynamoDB endpoint
  --moto      where the template's queues, topics and buckets live:
              auto (default): moto's server, installed into
              target/moto-venv (pip) and started when the template has
              any; off: not made; URL: a running moto server
  --table     the name of the template's table when it has exactly one
              (default: the name CloudFormation gives it)
  --template  the SAM template (default: infra/template.yaml, else
              template.yaml or template.yml in this folder)
  --binaries  run every function as its binary in warm processes; without
              it, functions whose binary the composition root (crate app)
              composes run in-process and the others as their binaries
  --lambda-port  the control port: one AWS endpoint, routed by each
              request's SigV4 credential scope: the Lambda Invoke API and
              EventBridge PutEvents here, DynamoDB (and Streams) on the
              store, SQS, SNS and S3 on moto; every function gets it as
              AWS_ENDPOINT_URL. GET /dead-letters lists failed async
              events (default 3001; 0 picks a free one; off: none)
  --concurrency  processes per function at most (default 10)
  --parameter-overrides  a template parameter's value (repeatable, or
              several KEY=VALUE in one argument)
  --env-vars  SAM's env file ({\"Parameters\": {...}, \"LogicalId\": {...}});
              a variable the template does not declare is an error
  --retry-delays  seconds between the attempts of an async invocation
              (default 1,2; Lambda waits about 60 and 120)
  --no-build  do not run cargo build for the function binaries
  --sqs-endpoint  send the records of OnFailure destinations that name an
              SQS queue to that queue at this SQS endpoint (moto, say;
              created there when missing), as Lambda does; they stay on
              GET /dead-letters too
  --eventbridge  publish the in-process functions' events to this
              EventBridge endpoint (moto, say) on the bus --event-bus
              names, instead of the template's rules here
  --header-timeout  seconds a connection has to send a request's head
              before it is closed (default 30)
  --max-connections  connections open at once per port; more wait to be
              accepted (default 1024)
  --watch     rebuild on every change of the workspace's sources,
              Cargo.toml/Cargo.lock or the template, and swap: requests in
              flight finish on the old processes, new ones go to the new
              ones, none fails; a build error is shown and the old code
              keeps serving; one line per reload (what changed, build
              time, swap time). The store lives in the watcher, so
              tables and items outlive every swap (--dynamodb memory too)
  --debug     that function (logical id, name or binary) is not started
              here: its environment (AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001
              and the rest) is printed at start, and its invocations wait
              for the process you start under a debugger;
              it runs as its binary even when it could run in-process, one
              at a time, with a 900 s timeout (not with --watch)
  --debug-port  the Runtime API's port for --debug (default 9001)
  --binary-dir  where the function binaries are (default: each in its
              cargo workspace's target/debug)
  --allow-origin  a web origin (http://localhost:5173) whose pages may
              drive the control port (repeatable); without it a request
              with an Origin header, one whose Host is not 127.0.0.1,
              localhost or --host (DNS rebinding), and an unsigned
              invocation with a form or text/plain body are refused
  --ready-file  once serving, write {\"api\": ADDRESS, \"control\": ADDRESS}
              there (for scripts that start it with --port 0)

Functions are found as `sam build` finds them: BuildMethod
rust-cargolambda (BuildProperties.Binary, else the CodeUri package's one
binary), makefile with CodeUri target/lambda/NAME/ (binary NAME), or a
provided runtime's CodeUri folder (its bootstrap, or binary NAME); each is
built with cargo in its own workspace. A function of another runtime is
named in a warning and not served. Resources the template leaves unnamed
get CloudFormation's {stack}-{LogicalId}-{suffix} names (stack: local),
and the Outputs are printed with their local values.

Routes are served as their API serves them: Api events as a REST API
(payload 1.0; an undeclared route gets 403 {\"message\":\"Missing
Authentication Token\"}), HttpApi events as an HTTP API (payload 2.0;
404 {\"message\":\"Not Found\"} when the template has only HTTP APIs).
The APIs' Cors / CorsConfiguration and BinaryMediaTypes apply. Bodies over
10 MB get 413, events over Lambda's 6 MB get 413. Ctrl-C stops the server
and every function process.
";

fn parse_overrides(value: &str, into: &mut BTreeMap<String, String>) -> Result<(), String> {
    for pair in value.split_whitespace() {
        match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                into.insert(k.to_owned(), v.trim_matches('"').to_owned());
            }
            _ => {
                return Err(format!(
                    "--parameter-overrides takes KEY=VALUE, not {pair:?}"
                ));
            }
        }
    }
    Ok(())
}

fn parse_delays(value: &str) -> Result<Vec<Duration>, String> {
    value
        .split(',')
        .map(|part| match part.trim().parse::<f64>() {
            Ok(s) if (0.0..=3600.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
            _ => Err(format!(
                "--retry-delays takes seconds (0 to 3600) separated by commas, not {value:?}"
            )),
        })
        .collect()
}

/// Reads `local`'s flags; `root` locates the default template.
pub fn parse_options(
    args: &[String],
    root: &std::path::Path,
) -> Result<Option<LocalOptions>, String> {
    let mut options = LocalOptions::new(root);
    let mut eventbridge = None;
    let mut event_bus = "orders-bus".to_owned();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--binaries" => {
                options.binaries = true;
                continue;
            }
            "--no-build" => {
                options.build = false;
                continue;
            }
            "--watch" => {
                options.watch = true;
                continue;
            }
            _ => {}
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
            "--lambda-port" => {
                options.lambda_port = if value == "off" {
                    None
                } else {
                    Some(value.parse().map_err(|_| {
                        format!(
                            "--lambda-port takes a number from 0 to 65535 or off, not {value:?}"
                        )
                    })?)
                };
            }
            "--concurrency" => {
                options.concurrency = match value.parse() {
                    Ok(n @ 1..=1000) => n,
                    _ => {
                        return Err(format!(
                            "--concurrency takes a number from 1 to 1000, not {value:?}"
                        ));
                    }
                };
            }
            "--parameter-overrides" => parse_overrides(&value, &mut options.parameter_overrides)?,
            "--header-timeout" => {
                options.limits.header_read_timeout = match value.parse::<f64>() {
                    Ok(s) if (0.1..=3600.0).contains(&s) => Duration::from_secs_f64(s),
                    _ => {
                        return Err(format!(
                            "--header-timeout takes seconds from 0.1 to 3600, not {value:?}"
                        ));
                    }
                };
            }
            "--max-connections" => {
                options.limits.max_connections = match value.parse() {
                    Ok(n @ 1..=100_000) => n,
                    _ => {
                        return Err(format!(
                            "--max-connections takes a number from 1 to 100000, not {value:?}"
                        ));
                    }
                };
            }
            "--env-vars" => options.env_vars = Some(PathBuf::from(value)),
            "--binary-dir" => options.binary_dir = Some(PathBuf::from(value)),
            "--debug" => options.debug = Some(value),
            "--debug-port" => {
                options.debug_port = match value.parse() {
                    Ok(port @ 1..=65535) => port,
                    _ => {
                        return Err(format!(
                            "--debug-port takes a port from 1 to 65535, not {value:?}"
                        ));
                    }
                };
            }
            "--ready-file" => options.ready_file = Some(PathBuf::from(value)),
            "--allow-origin" => {
                if !(value.starts_with("http://") || value.starts_with("https://"))
                    || value.trim_end_matches('/') != value
                {
                    return Err(format!(
                        "--allow-origin takes an origin such as http://localhost:5173 (scheme, host, port; no path), not {value:?}"
                    ));
                }
                options.allowed_origins.push(value);
            }
            "--retry-delays" => options.retry_delays = parse_delays(&value)?,
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
            "--moto" => options.messaging = Messaging::parse(&value)?,
            "--table" => options.table = Some(value),
            "--template" => options.template = PathBuf::from(value),
            "--eventbridge" => {
                if !(value.starts_with("http://") || value.starts_with("https://")) {
                    return Err(format!(
                        "--eventbridge takes an http(s):// URL, not {value:?}"
                    ));
                }
                eventbridge = Some(value);
            }
            "--sqs-endpoint" => {
                if !(value.starts_with("http://") || value.starts_with("https://")) {
                    return Err(format!(
                        "--sqs-endpoint takes an http(s):// URL, not {value:?}"
                    ));
                }
                options.sqs_endpoint = Some(value);
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
    if options.watch && options.debug.is_some() {
        return Err(
            "--debug and --watch do not go together: a swap would replace the process your debugger holds"
                .to_owned(),
        );
    }
    if let Some(endpoint) = eventbridge {
        options.events = Events::EventBridge {
            endpoint,
            bus: event_bus,
        };
    }
    Ok(Some(options))
}

/// Writes the addresses to `path` whole (a temporary file renamed), so a
/// reader never sees half of it.
pub(crate) fn write_ready_file(
    path: &std::path::Path,
    api: SocketAddr,
    control: Option<SocketAddr>,
) -> Result<(), LocalError> {
    let text = json!({"api": api.to_string(), "control": control.map(|c| c.to_string())});
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text.to_string())
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|source| LocalError::ReadyFile {
            path: path.to_owned(),
            source,
        })
}

/// Runs until `shutdown` resolves (Ctrl-C from the command line).
pub async fn run(
    options: LocalOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), LocalError> {
    let ready_file = options.ready_file.clone();
    let server = start(options).await?;
    if let Some(path) = ready_file {
        write_ready_file(&path, server.address(), server.lambda_address)?;
    }
    shutdown.await;
    tracing::info!("stopping");
    server.stop().await;
    Ok(())
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
