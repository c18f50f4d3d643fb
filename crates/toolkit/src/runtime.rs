//! `runtime`: Lambda, locally. Per function a pool of warm processes of
//! its real binary, each under its own Lambda Runtime API
//! (`/2018-06-01/runtime/invocation/next`, `…/{id}/response`,
//! `…/{id}/error`, `/init/error`) on 127.0.0.1.
//!
//! An invocation takes an idle process, or starts one (a cold start, with
//! its Init Duration) while the pool holds fewer than its concurrency;
//! otherwise it waits for one to come free. The function's Timeout kills
//! the process (`Sandbox.Timedout`); a process that exits mid-invocation is
//! `Runtime.ExitError`; either way the next invocation starts a new one, as
//! Lambda discards the environment. Every invocation writes `START`, `END`
//! and a `REPORT` line shaped like Lambda's, and keeps its log for
//! `X-Amz-Log-Type: Tail`. Response payloads over Lambda's limit are
//! refused as Lambda refuses them.
//!
//! Invariant: one invocation at a time per process; a process whose
//! invocation did not end in a response or a function error never serves
//! another.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

const RUNTIME: &str = "/2018-06-01/runtime";

/// The largest response a function may return to a synchronous invoke:
/// the emulator's `MaxPayloadSize` (6,291,556 bytes); above it the
/// caller gets `Function.ResponseSizeTooLarge`.
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;
/// The largest synchronous request payload (API_Invoke: 6 MB).
pub const MAX_REQUEST_BYTES: usize = 6_291_456;
/// Lambda's init phase limit for on-demand functions.
const INIT_LIMIT: Duration = Duration::from_secs(10);
/// How many bytes of an invocation's log `Tail` returns.
const TAIL_BYTES: usize = 4 * 1024;

/// What an invocation came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Response(Value),
    /// The handler returned an error (`errorType`, `errorMessage`).
    FunctionError(Value),
    /// The runtime failed before it asked for work.
    InitError(Value),
    /// The process ended without answering.
    Exited(String),
    /// No answer before the timeout.
    TimedOut(Duration),
    /// The response was over [`MAX_RESPONSE_BYTES`].
    ResponseTooLarge(usize),
}

impl Answer {
    /// Whether Lambda counts this as a function error (a caller sees
    /// `X-Amz-Function-Error`, an async invocation is retried).
    pub fn is_error(&self) -> bool {
        !matches!(self, Self::Response(_))
    }

    /// The payload the caller gets: the response, or the error document
    /// as Lambda writes it (`errorType`, `errorMessage`).
    pub fn payload(&self, request_id: &str) -> Value {
        match self {
            Self::Response(value) | Self::FunctionError(value) | Self::InitError(value) => {
                value.clone()
            }
            Self::Exited(why) => json!({
                "errorType": "Runtime.ExitError",
                "errorMessage": format!("RequestId: {request_id} Error: {why}"),
            }),
            Self::TimedOut(after) => json!({
                "errorType": "Sandbox.Timedout",
                "errorMessage": format!(
                    "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                    after.as_secs_f64()
                ),
            }),
            Self::ResponseTooLarge(_) => json!({
                "errorType": "Function.ResponseSizeTooLarge",
                "errorMessage": format!(
                    "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                ),
            }),
        }
    }

    /// The error type, for log lines and failure records.
    pub fn error_type(&self) -> Option<String> {
        self.is_error().then(|| {
            self.payload("")["errorType"]
                .as_str()
                .unwrap_or("Unhandled")
                .to_owned()
        })
    }
}

/// One invocation's outcome and measures.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub answer: Answer,
    /// Set when this invocation started the process (a cold start).
    pub init: Option<Duration>,
    pub duration: Duration,
    pub memory_size_mb: u64,
    pub max_memory_used_mb: Option<u64>,
    /// The invocation's log: what the process wrote while it ran, with
    /// the `START`, `END` and `REPORT` lines.
    pub log: String,
}

impl Invocation {
    /// Lambda's `REPORT` line: tab-separated, `Init Duration` only when
    /// cold, and a status on failures (troubleshooting-invocation).
    pub fn report(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let billed = ms(self.duration).ceil().max(1.0);
        let mut line = format!(
            "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {billed:.0} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
            self.request_id,
            ms(self.duration),
            self.memory_size_mb,
            self.max_memory_used_mb
                .map_or_else(|| "?".to_owned(), |m| m.to_string()),
        );
        if let Some(init) = self.init {
            line.push_str(&format!("\tInit Duration: {:.2} ms", ms(init)));
        }
        match &self.answer {
            Answer::Response(_) | Answer::FunctionError(_) => {}
            Answer::TimedOut(_) => line.push_str("\tStatus: timeout"),
            other => line.push_str(&format!(
                "\tStatus: error\tError Type: {}",
                other.error_type().unwrap_or_default()
            )),
        }
        line
    }

    /// The last 4 KB of the log, as `X-Amz-Log-Result` carries it
    /// (before base64).
    pub fn log_tail(&self) -> &str {
        let mut start = self.log.len().saturating_sub(TAIL_BYTES);
        while !self.log.is_char_boundary(start) {
            start += 1;
        }
        &self.log[start..]
    }
}

/// Where a function's log lines go as they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    /// Standard error, as written (one function, as `invoke` runs it).
    Plain,
    /// Standard error, each line prefixed with the function's name.
    Prefixed,
}

/// What a pool needs to start processes of one function.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// The name Lambda knows the function by.
    pub name: String,
    pub binary: PathBuf,
    pub memory_mb: u64,
    pub timeout: Duration,
    pub region: String,
    /// The function's own variables (template, env file, endpoints); the
    /// platform's reserved variables are set after these and win.
    pub environment: BTreeMap<String, String>,
    /// How many processes may run at once.
    pub concurrency: usize,
    pub log_output: LogOutput,
    /// When set, each process's Runtime API port also answers EventBridge
    /// `PutEvents` (every entry accepted and kept here), and
    /// `AWS_ENDPOINT_URL_EVENTBRIDGE` points there unless the environment
    /// names another endpoint: a function that publishes needs no bus.
    pub record_put_events: Option<Arc<Mutex<Vec<Value>>>>,
    /// `--debug`: no process is started; the Runtime API listens on this
    /// port of 127.0.0.1 for one the user starts (under a debugger), and
    /// the environment it needs is printed.
    pub debug_port: Option<u16>,
}

/// How long a debugged function may take, to start and to answer:
/// Lambda's longest timeout, since a debugger holds it at breakpoints.
pub const DEBUG_TIMEOUT: Duration = Duration::from_secs(900);

/// Why an invocation could not be made at all.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot listen on 127.0.0.1 for {function}'s Runtime API: {source}")]
    Listen {
        function: String,
        source: std::io::Error,
    },
    #[error("cannot start {binary} for {function}: {source}")]
    Spawn {
        function: String,
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("the pool of {0} is closed")]
    Closed(String),
    /// Over Lambda's synchronous payload limit ([`MAX_REQUEST_BYTES`]).
    #[error(
        "{function}: the payload of {size} bytes is over Lambda's limit of {MAX_REQUEST_BYTES} bytes"
    )]
    RequestTooLarge { function: String, size: usize },
}

/// A fresh id in the shape of Lambda's (8-4-4-4-12 hex digits).
pub fn request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Time first, then process and counter: unique on this machine.
    let nanos = u64::try_from(nanos % u128::from(u64::MAX)).unwrap_or_default();
    let hex = format!(
        "{nanos:016x}{:08x}{:08x}",
        std::process::id(),
        count & 0xffff_ffff
    );
    uuid_shape(&hex)
}

/// 32 hex digits as 8-4-4-4-12.
pub(crate) fn uuid_shape(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn epoch_ms(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// The peak resident set of `pid`, in MB (rounded up), from `/proc`.
fn peak_memory_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb.div_ceil(1024))
}

/// One invocation handed to a process.
struct Job {
    request_id: String,
    event: Bytes,
    timeout: Duration,
    client_context: Option<String>,
    /// Told when the process takes the job (`/next`).
    taken: oneshot::Sender<Instant>,
    /// Told the answer (`/response`, `/error`).
    done: oneshot::Sender<Answer>,
}

/// The job a process is working on.
struct Current {
    request_id: String,
    done: oneshot::Sender<Answer>,
}

/// What the Runtime API server of one process shares with the pool.
struct ProcessShared {
    function_arn: String,
    jobs: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    current: Mutex<Option<Current>>,
    init_error: Mutex<Option<Value>>,
    /// The log of the invocation in progress.
    capture: Mutex<String>,
    put_events: Option<Arc<Mutex<Vec<Value>>>>,
}

impl ProcessShared {
    fn take_current(&self, request_id: &str) -> Option<oneshot::Sender<Answer>> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        match current.as_ref() {
            Some(c) if c.request_id == request_id => current.take().map(|c| c.done),
            _ => None,
        }
    }
}

/// A running process of the function, with its own Runtime API.
struct Process {
    shared: Arc<ProcessShared>,
    jobs: mpsc::Sender<Job>,
    pid: u32,
    /// Set to the exit status when the process ends.
    exited: watch::Receiver<Option<String>>,
    /// Stops the process (and its Runtime API) when dropped.
    _stop: oneshot::Sender<()>,
    started: Instant,
    initialised: bool,
}

fn plain(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// The Runtime API's error body (`InvalidRequestID`,
/// `InvalidStateTransition`, `RequestEntityTooLarge`).
fn runtime_error(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    plain(
        status,
        json!({"errorType": kind, "errorMessage": message}).to_string(),
    )
}

fn lenient_json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// Reads a body of at most `limit` bytes; `Err(len)` when it is longer.
async fn read_limited(body: Incoming, limit: usize) -> Result<Bytes, usize> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(limit + 1),
    }
}

async fn runtime_api(
    shared: Arc<ProcessShared>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let put_events = request
        .headers()
        .get("x-amz-target")
        .is_some_and(|t| t == "AWSEvents.PutEvents");
    if let (true, Some(recorder)) = (put_events, &shared.put_events) {
        let body = read_limited(request.into_body(), MAX_REQUEST_BYTES)
            .await
            .unwrap_or_default();
        let entries: Vec<Value> = lenient_json(&body)["Entries"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let results: Vec<Value> = entries
            .iter()
            .map(|_| json!({"EventId": request_id()}))
            .collect();
        recorder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(entries);
        let mut response = plain(
            StatusCode::OK,
            json!({"FailedEntryCount": 0, "Entries": results}).to_string(),
        );
        response.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        return response;
    }
    let Some(rest) = path.strip_prefix(RUNTIME) else {
        return runtime_error(
            StatusCode::NOT_FOUND,
            "InvalidRequest",
            &format!("no such endpoint: {method} {path}"),
        );
    };
    if rest == "/invocation/next" && method == http::Method::GET {
        let job = {
            let mut jobs = shared.jobs.lock().await;
            jobs.recv().await
        };
        let Some(job) = job else {
            // The pool is closing: the process is about to be stopped.
            std::future::pending::<()>().await;
            unreachable!("pending never resolves");
        };
        let now = Instant::now();
        let deadline = epoch_ms(SystemTime::now() + job.timeout);
        *shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Current {
            request_id: job.request_id.clone(),
            done: job.done,
        });
        let _ = job.taken.send(now);
        let mut response = plain(StatusCode::OK, String::new());
        *response.body_mut() = Full::new(job.event);
        let headers = response.headers_mut();
        let mut set = |name: &'static str, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        };
        // The Rust runtime needs the deadline and the ARN on every event.
        set("lambda-runtime-aws-request-id", &job.request_id);
        set("lambda-runtime-deadline-ms", &deadline.to_string());
        set("lambda-runtime-invoked-function-arn", &shared.function_arn);
        set(
            "lambda-runtime-trace-id",
            &format!(
                "Root=1-{:08x}-{};Sampled=0",
                epoch_ms(SystemTime::now()) / 1000,
                job.request_id.replace('-', "")[..24].to_owned()
            ),
        );
        if let Some(context) = &job.client_context {
            set("lambda-runtime-client-context", context);
        }
        return response;
    }
    if method != http::Method::POST {
        return runtime_error(
            StatusCode::NOT_FOUND,
            "InvalidRequest",
            &format!("no such endpoint: {method} {path}"),
        );
    }
    if rest == "/init/error" {
        let body = read_limited(request.into_body(), MAX_RESPONSE_BYTES)
            .await
            .unwrap_or_default();
        *shared
            .init_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(lenient_json(&body));
        return plain(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_owned());
    }
    let Some((id, verb)) = rest
        .strip_prefix("/invocation/")
        .and_then(|r| r.rsplit_once('/'))
    else {
        return runtime_error(
            StatusCode::NOT_FOUND,
            "InvalidRequest",
            &format!("no such endpoint: {method} {path}"),
        );
    };
    if verb != "response" && verb != "error" {
        return runtime_error(
            StatusCode::NOT_FOUND,
            "InvalidRequest",
            &format!("no such endpoint: {method} {path}"),
        );
    }
    let error_type = request
        .headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_limited(request.into_body(), MAX_RESPONSE_BYTES).await;
    let Some(done) = shared.take_current(id) else {
        return runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            &format!("no invocation {id} is waiting for an answer"),
        );
    };
    match (verb, body) {
        (_, Err(size)) => {
            let _ = done.send(Answer::ResponseTooLarge(size));
            runtime_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!(
                    "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                ),
            )
        }
        ("response", Ok(body)) => {
            let _ = done.send(Answer::Response(lenient_json(&body)));
            plain(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_owned())
        }
        (_, Ok(body)) => {
            // Runtimes send any errorType (the Rust one sends lowercase
            // `unhandled`, without stackTrace): take what comes.
            let mut document = lenient_json(&body);
            if !document.is_object() {
                document = json!({"errorType": error_type.unwrap_or_else(|| "Unhandled".to_owned()), "errorMessage": document});
            }
            let _ = done.send(Answer::FunctionError(document));
            plain(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_owned())
        }
    }
}

/// Lambda's variables for a process; they are set last and win over the
/// template's (configuration-envvars: reserved names).
fn platform_environment(config: &FunctionConfig, runtime_api: SocketAddr) -> Vec<(String, String)> {
    let stream = format!(
        "{}/[$LATEST]{}",
        chrono_date(),
        request_id().replace('-', "")
    );
    let credential =
        |name: &str, fallback: &str| std::env::var(name).unwrap_or_else(|_| fallback.to_owned());
    let mut vars = vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", config.name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", config.name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
        ("AWS_REGION", config.region.clone()),
        ("AWS_DEFAULT_REGION", config.region.clone()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("TZ", ":UTC".to_owned()),
        (
            "AWS_ACCESS_KEY_ID",
            credential("AWS_ACCESS_KEY_ID", "local"),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            credential("AWS_SECRET_ACCESS_KEY", "local"),
        ),
    ];
    if let Ok(token) = std::env::var("AWS_SESSION_TOKEN") {
        vars.push(("AWS_SESSION_TOKEN", token));
    }
    if let Some(root) = config.binary.parent() {
        vars.push(("LAMBDA_TASK_ROOT", root.to_string_lossy().into_owned()));
    }
    vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Today's date as `YYYY/MM/DD` (UTC), for the log stream's name.
fn chrono_date() -> String {
    crate::local::now_rfc3339()[..10].replace('-', "/")
}

/// Serves the Runtime API of one process on `listener`, for ever.
async fn serve_runtime_api(listener: TcpListener, shared: Arc<ProcessShared>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(runtime_api(shared, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

/// The Runtime API's listener: a free port, or the debug port (tried for
/// two seconds: the previous debug listener may still be closing).
async fn bind_runtime_api(config: &FunctionConfig) -> Result<TcpListener, RuntimeError> {
    let port = config.debug_port.unwrap_or(0);
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => return Ok(listener),
            Err(e)
                if port != 0
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && Instant::now() < until =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(source) => {
                return Err(RuntimeError::Listen {
                    function: config.name.clone(),
                    source,
                });
            }
        }
    }
}

/// What a user needs to start a debugged function's process: the
/// environment Lambda would give it, as shell assignments and as a
/// CodeLLDB `env` object.
fn print_debug_environment(
    config: &FunctionConfig,
    environment: &BTreeMap<String, String>,
    address: SocketAddr,
) {
    let mut all: BTreeMap<String, String> = environment.clone();
    all.extend(platform_environment(config, address));
    let shell: Vec<String> = all
        .iter()
        .map(|(k, v)| format!("{k}='{}'", v.replace('\'', "'\\''")))
        .collect();
    let json = serde_json::to_string_pretty(&all).unwrap_or_default();
    let binary = config
        .binary
        .file_name()
        .map_or_else(String::new, |b| b.to_string_lossy().into_owned());
    eprintln!(
        "[{name}] --debug: {name} is not started here. Its Runtime API waits on {address}; start {binary} under your debugger with this environment (a timeout of {timeout} s applies while you debug):\n\n  env {shell} {path}\n\nor, in a VS Code launch configuration (CodeLLDB), \"env\": {json}\n",
        name = config.name,
        timeout = DEBUG_TIMEOUT.as_secs(),
        shell = shell.join(" "),
        path = config.binary.display(),
    );
}

/// A pool of processes of one function.
pub struct Pool {
    config: FunctionConfig,
    permits: Semaphore,
    idle: Mutex<Vec<Process>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("function", &self.config.name)
            .field("idle", &self.idle.lock().map(|i| i.len()).unwrap_or(0))
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub fn new(config: FunctionConfig) -> Self {
        Self {
            permits: Semaphore::new(config.concurrency.max(1)),
            idle: Mutex::new(Vec::new()),
            config,
        }
    }

    pub fn config(&self) -> &FunctionConfig {
        &self.config
    }

    /// How many processes are idle now.
    pub fn idle(&self) -> usize {
        self.idle.lock().map(|i| i.len()).unwrap_or(0)
    }

    /// Starts one process now and keeps it idle (for `--debug`, so the
    /// Runtime API listens before the first invocation).
    pub async fn prepare(&self) -> Result<(), RuntimeError> {
        let process = self.spawn().await?;
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(process);
        Ok(())
    }

    /// Stops every idle process.
    pub fn clear(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    async fn spawn(&self) -> Result<Process, RuntimeError> {
        let config = &self.config;
        let listener = bind_runtime_api(config).await?;
        let address = listener
            .local_addr()
            .map_err(|source| RuntimeError::Listen {
                function: config.name.clone(),
                source,
            })?;
        let (jobs, receiver) = mpsc::channel(1);
        let shared = Arc::new(ProcessShared {
            function_arn: format!(
                "arn:aws:lambda:{}:{}:function:{}",
                config.region,
                crate::model::ACCOUNT,
                config.name
            ),
            jobs: tokio::sync::Mutex::new(receiver),
            current: Mutex::new(None),
            init_error: Mutex::new(None),
            capture: Mutex::new(String::new()),
            put_events: config.record_put_events.clone(),
        });
        let mut environment = config.environment.clone();
        if config.record_put_events.is_some() {
            environment
                .entry("AWS_ENDPOINT_URL_EVENTBRIDGE".to_owned())
                .or_insert_with(|| format!("http://{address}"));
        }
        if config.debug_port.is_some() {
            print_debug_environment(config, &environment, address);
            let (stop, stopped) = oneshot::channel::<()>();
            let (exit_tx, exited) = watch::channel(None);
            let server_shared = shared.clone();
            tokio::spawn(async move {
                // The user's process may come and go (a new debug session):
                // the Runtime API stays until the pool drops this one.
                let _exit = exit_tx;
                tokio::select! {
                    () = serve_runtime_api(listener, server_shared) => {}
                    _ = stopped => {}
                }
            });
            return Ok(Process {
                shared,
                jobs,
                pid: 0,
                exited,
                _stop: stop,
                started: Instant::now(),
                initialised: false,
            });
        }
        let mut command = tokio::process::Command::new(&config.binary);
        command
            .env_clear()
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned()),
            )
            .env("LANG", "en_US.UTF-8")
            .envs(&environment)
            .envs(platform_environment(config, address))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = command.spawn().map_err(|source| RuntimeError::Spawn {
            function: config.name.clone(),
            binary: config.binary.clone(),
            source,
        })?;
        let pid = child.id().unwrap_or_default();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let shared = shared.clone();
            let name = config.name.clone();
            let output = config.log_output;
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    emit(output, &name, &line);
                    let mut capture = shared
                        .capture
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    capture.push_str(&line);
                    capture.push('\n');
                }
            });
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let (exit_tx, exited) = watch::channel(None);
        let server_shared = shared.clone();
        tokio::spawn(async move {
            let server = serve_runtime_api(listener, server_shared);
            tokio::select! {
                status = child.wait() => {
                    let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                    let _ = exit_tx.send(Some(status));
                }
                _ = stopped => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                }
                () = server => {}
            }
        });
        Ok(Process {
            shared,
            jobs,
            pid,
            exited,
            _stop: stop,
            started,
            initialised: false,
        })
    }

    /// Invokes the function once with `event`: an idle process, or a new
    /// one up to the concurrency, else waits for one.
    pub async fn invoke(
        &self,
        event: Bytes,
        client_context: Option<String>,
    ) -> Result<Invocation, RuntimeError> {
        self.invoke_with(event, client_context, false).await
    }

    /// As [`Pool::invoke`]; with `whole_log`, lines the process wrote just
    /// before it answered are waited for (up to 50 ms, until its output
    /// has been quiet for 2 ms), as `X-Amz-Log-Type: Tail` wants them.
    pub async fn invoke_with(
        &self,
        event: Bytes,
        client_context: Option<String>,
        whole_log: bool,
    ) -> Result<Invocation, RuntimeError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| RuntimeError::Closed(self.config.name.clone()))?;
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut process = match idle {
            Some(process) => process,
            None => self.spawn().await?,
        };
        let cold = !process.initialised;
        let request_id = request_id();
        let name = &self.config.name;
        process
            .shared
            .capture
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let start_line = format!("START RequestId: {request_id} Version: $LATEST");
        emit(self.config.log_output, name, &start_line);
        let (taken_tx, taken) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        let job = Job {
            request_id: request_id.clone(),
            event,
            timeout: self.config.timeout,
            client_context,
            taken: taken_tx,
            done: done_tx,
        };
        let sent = process.jobs.send(job).await.is_ok();
        let (answer, init, duration) = if sent {
            self.await_answer(&mut process, taken, done).await
        } else {
            (
                Answer::Exited("the runtime stopped".to_owned()),
                None,
                Duration::ZERO,
            )
        };
        let init = if cold { init } else { None };
        let max_memory_used_mb = peak_memory_mb(process.pid);
        let reusable = matches!(answer, Answer::Response(_) | Answer::FunctionError(_));
        if whole_log {
            settle(&process.shared.capture).await;
        }
        let mut log = std::mem::take(
            &mut *process
                .shared
                .capture
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        log.insert_str(0, &format!("{start_line}\n"));
        let mut invocation = Invocation {
            request_id,
            answer,
            init,
            duration,
            memory_size_mb: self.config.memory_mb,
            max_memory_used_mb,
            log,
        };
        let mut closing = Vec::new();
        match &invocation.answer {
            Answer::TimedOut(after) => closing.push(format!(
                "{} {} Task timed out after {:.2} seconds",
                crate::local::now_rfc3339(),
                invocation.request_id,
                after.as_secs_f64()
            )),
            Answer::Exited(why) => closing.push(format!(
                "RequestId: {} Error: {why}\nRuntime.ExitError",
                invocation.request_id
            )),
            _ => {}
        }
        closing.push(format!("END RequestId: {}", invocation.request_id));
        closing.push(invocation.report());
        for line in &closing {
            emit(self.config.log_output, name, line);
            invocation.log.push_str(line);
            invocation.log.push('\n');
        }
        if reusable {
            process.initialised = true;
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(process);
        }
        // Otherwise the process is dropped here, which stops it: Lambda
        // discards an environment after a timeout or a crash.
        Ok(invocation)
    }

    async fn await_answer(
        &self,
        process: &mut Process,
        taken: oneshot::Receiver<Instant>,
        done: oneshot::Receiver<Answer>,
    ) -> (Answer, Option<Duration>, Duration) {
        let mut exited = process.exited.clone();
        let exit_reason = |process: &Process, status: Option<String>| match process
            .shared
            .init_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some(error) => Answer::InitError(error),
            None => Answer::Exited(format!(
                "Runtime exited with error: {}",
                status.unwrap_or_else(|| "unknown status".to_owned())
            )),
        };
        let waited_from = Instant::now();
        let init_limit = if process.initialised || self.config.debug_port.is_some() {
            self.config.timeout
        } else {
            INIT_LIMIT
        };
        // Phase one: the process takes the job (`/next`).
        let taken_at = tokio::select! {
            at = taken => match at {
                Ok(at) => at,
                Err(_) => return (Answer::Exited("the runtime stopped".to_owned()), None, waited_from.elapsed()),
            },
            status = exited.wait_for(Option::is_some) => {
                let status = status.ok().and_then(|s| s.clone());
                let answer = exit_reason(process, status);
                return (answer, Some(process.started.elapsed()), waited_from.elapsed());
            }
            () = tokio::time::sleep(init_limit) => {
                return (Answer::TimedOut(init_limit), None, waited_from.elapsed());
            }
        };
        let init = (!process.initialised).then(|| taken_at.duration_since(process.started));
        // Phase two: the answer, within the function's timeout.
        let deadline = taken_at + self.config.timeout;
        let answer = tokio::select! {
            answer = done => answer.unwrap_or_else(|_| Answer::Exited("the runtime stopped".to_owned())),
            status = exited.wait_for(Option::is_some) => {
                let status = status.ok().and_then(|s| s.clone());
                exit_reason(process, status)
            }
            () = tokio::time::sleep_until(deadline.into()) => Answer::TimedOut(self.config.timeout),
        };
        (answer, init, taken_at.elapsed())
    }
}

/// Waits until `capture` has not grown for 2 ms, 50 ms at most: the
/// process's pipes are read by other tasks, and its last lines may still
/// be in flight when its answer arrives.
async fn settle(capture: &Mutex<String>) {
    let until = Instant::now() + Duration::from_millis(50);
    let len = || capture.lock().map(|c| c.len()).unwrap_or(0);
    let mut seen = len();
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = len();
        if now == seen {
            break;
        }
        seen = now;
    }
}

fn emit(output: LogOutput, name: &str, line: &str) {
    use std::io::Write as _;
    let mut stderr = std::io::stderr().lock();
    let _ = match output {
        LogOutput::Plain => writeln!(stderr, "{line}"),
        LogOutput::Prefixed => writeln!(stderr, "[{name}] {line}"),
    };
}

#[cfg(test)]
#[path = "runtime_tests.rs"]
mod tests;
