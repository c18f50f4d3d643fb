//! `invoke`: runs a real function binary once under a Lambda Runtime API
//! emulator and reports as Lambda does.
//!
//! The emulator serves `/2018-06-01/runtime/invocation/next`, `.../response`,
//! `.../error` and `/init/error` on 127.0.0.1. It measures Init Duration
//! (process start to the first `next`), Duration (`next` to the answer) and
//! Max Memory Used (the process's peak resident set, `VmHWM`), and prints a
//! `REPORT` line shaped like Lambda's. The same port answers EventBridge's
//! `PutEvents`, so a function that publishes needs no AWS: the events are
//! accepted and shown.

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const RUNTIME: &str = "/2018-06-01/runtime";

/// What the function did with its one invocation.
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
}

#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub answer: Answer,
    pub init: Option<Duration>,
    pub duration: Duration,
    pub memory_size_mb: u64,
    pub max_memory_used_mb: Option<u64>,
    /// Events the function put on the emulated bus.
    pub events_put: Vec<Value>,
}

impl Invocation {
    /// `REPORT RequestId: … Duration: … ms Billed Duration: … ms Memory
    /// Size: … MB Max Memory Used: … MB Init Duration: … ms`
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
        if !matches!(self.answer, Answer::Response(_)) {
            line.push_str("\tStatus: error");
        }
        line
    }
}

#[derive(Debug, Clone)]
pub struct InvokeOptions {
    pub binary: PathBuf,
    pub function_name: String,
    pub event: Value,
    pub env: Vec<(String, String)>,
    pub memory_size_mb: u64,
    pub timeout: Duration,
}

#[derive(Debug)]
enum Signal {
    Next(Instant),
    Done(Answer, Instant),
}

struct Shared {
    event: Value,
    request_id: String,
    function_name: String,
    deadline_ms: u128,
    served: Mutex<bool>,
    signals: mpsc::UnboundedSender<Signal>,
    events_put: Mutex<Vec<Value>>,
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

async fn route(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let parsed = || {
        serde_json::from_slice::<Value>(&body)
            .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&body)}))
    };
    if path == format!("{RUNTIME}/invocation/next") && method == http::Method::GET {
        let first = {
            let mut served = shared.served.lock().unwrap_or_else(PoisonError::into_inner);
            !std::mem::replace(&mut *served, true)
        };
        if !first {
            // One invocation only: the next request waits until the
            // process is stopped.
            std::future::pending::<()>().await;
        }
        let _ = shared.signals.send(Signal::Next(Instant::now()));
        let mut response = reply(StatusCode::OK, shared.event.to_string());
        let headers = response.headers_mut();
        let mut set = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        set("lambda-runtime-aws-request-id", shared.request_id.clone());
        set("lambda-runtime-deadline-ms", shared.deadline_ms.to_string());
        set(
            "lambda-runtime-invoked-function-arn",
            format!(
                "arn:aws:lambda:us-east-1:123456789012:function:{}",
                shared.function_name
            ),
        );
        set(
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
        );
        set("content-type", "application/json".to_owned());
        return response;
    }
    if path == format!("{RUNTIME}/invocation/{}/response", shared.request_id) {
        let _ = shared
            .signals
            .send(Signal::Done(Answer::Response(parsed()), Instant::now()));
        return reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_owned());
    }
    if path == format!("{RUNTIME}/invocation/{}/error", shared.request_id) {
        let _ = shared.signals.send(Signal::Done(
            Answer::FunctionError(parsed()),
            Instant::now(),
        ));
        return reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_owned());
    }
    if path == format!("{RUNTIME}/init/error") {
        let _ = shared
            .signals
            .send(Signal::Done(Answer::InitError(parsed()), Instant::now()));
        return reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_owned());
    }
    if target.as_deref() == Some("AWSEvents.PutEvents") {
        let entries: Vec<Value> = parsed()["Entries"].as_array().cloned().unwrap_or_default();
        let results: Vec<Value> = (0..entries.len())
            .map(|i| json!({"EventId": format!("local-{i}")}))
            .collect();
        shared
            .events_put
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(entries);
        let mut response = reply(
            StatusCode::OK,
            json!({"FailedEntryCount": 0, "Entries": results}).to_string(),
        );
        response.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        return response;
    }
    reply(
        StatusCode::NOT_FOUND,
        json!({"errorType": "InvalidRequest", "errorMessage": format!("no such runtime endpoint: {method} {path}")}).to_string(),
    )
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

/// A fresh id in the shape of Lambda's (8-4-4-4-12 hex digits).
fn request_id() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Time first, then process and counter: unique on this machine.
    let nanos = u64::try_from(nanos % u128::from(u64::MAX)).unwrap_or_default();
    let hex = format!(
        "{nanos:016x}{:08x}{:08x}",
        std::process::id(),
        count & 0xffff_ffff
    );
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Runs the binary once with `options.event` and reports.
pub async fn invoke(options: InvokeOptions) -> Result<Invocation, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let (signals, mut received) = mpsc::unbounded_channel();
    let request_id = request_id();
    let deadline_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d + options.timeout).as_millis())
        .unwrap_or_default();
    let shared = Arc::new(Shared {
        event: options.event.clone(),
        request_id: request_id.clone(),
        function_name: options.function_name.clone(),
        deadline_ms,
        served: Mutex::new(false),
        signals,
        events_put: Mutex::new(Vec::new()),
    });
    let server_shared = shared.clone();
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let shared = server_shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(route(shared, request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let mut command = tokio::process::Command::new(&options.binary);
    command
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &options.function_name)
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            options.memory_size_mb.to_string(),
        )
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", options.function_name),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env("AWS_ENDPOINT_URL_EVENTBRIDGE", format!("http://{address}"))
        .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", options.binary.display()))?;
    let pid = child.id().unwrap_or_default();
    let mut next_at = None;
    let mut peak = None;
    let (answer, answered_at) = loop {
        tokio::select! {
            signal = received.recv() => match signal {
                Some(Signal::Next(at)) => next_at = Some(at),
                Some(Signal::Done(answer, at)) => {
                    peak = peak_memory_mb(pid);
                    break (answer, at);
                }
                None => break (Answer::Exited("the emulator stopped".into()), Instant::now()),
            },
            status = child.wait() => {
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                break (Answer::Exited(format!("Runtime exited with error: {status}")), Instant::now());
            }
            () = tokio::time::sleep(options.timeout.saturating_sub(started.elapsed())) => {
                peak = peak_memory_mb(pid);
                break (Answer::TimedOut(options.timeout), Instant::now());
            }
        }
    };
    let _ = child.start_kill();
    let _ = child.wait().await;
    server.abort();
    let events_put = shared
        .events_put
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Ok(Invocation {
        request_id,
        answer,
        init: next_at.map(|at| at.duration_since(started)),
        duration: next_at.map_or_else(
            || answered_at.duration_since(started),
            |at| answered_at.duration_since(at),
        ),
        memory_size_mb: options.memory_size_mb,
        max_memory_used_mb: peak,
        events_put,
    })
}

pub const USAGE: &str = "\
invoke: run a function binary once under a Lambda Runtime API emulator

Usage:
  invoke FUNCTION --event FILE|- --binary PATH
         [--dynamodb local|URL] [--table local-orders] [--env KEY=VALUE]...
         [--memory 128] [--timeout 10] [--runs 1]

  FUNCTION    the function's name (fn-api, fn-events)
  --event     the event as JSON; `-` reads standard input
  --binary    the built function binary
  --dynamodb  local (default): DynamoDB Local, found or started, with the
              table created; URL: a running endpoint
  --env       more environment for the function (repeatable)
  --memory    the memory size to report, in MB (default 128)
  --timeout   seconds before the invocation times out (default 10)
  --runs      invoke this many times, each in a new process (a cold start
              each time), with a REPORT line each (default 1)

Prints the function's logs as it runs, then its response (standard output)
and a REPORT line like Lambda's (standard error). EventBridge PutEvents
calls are answered by the emulator and listed. Exit status: 0 response,
1 function error, crash or timeout (in any run), 2 bad usage.
";

/// How `invoke` answered, as Lambda shows it: the response, or the error
/// document, with the exit status for the command line.
pub fn shown(invocation: &Invocation) -> (String, u8) {
    match &invocation.answer {
        Answer::Response(value) => (value.to_string(), 0),
        Answer::FunctionError(value) | Answer::InitError(value) => (value.to_string(), 1),
        Answer::Exited(why) => (
            json!({
                "errorType": "Runtime.ExitError",
                "errorMessage": format!("RequestId: {} Error: {why}", invocation.request_id),
            })
            .to_string(),
            1,
        ),
        Answer::TimedOut(after) => (
            json!({
                "errorType": "Sandbox.Timedout",
                "errorMessage": format!("RequestId: {} Error: Task timed out after {:.2} seconds", invocation.request_id, after.as_secs_f64()),
            })
            .to_string(),
            1,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_line_has_lambdas_shape() {
        let invocation = Invocation {
            request_id: "8f507cfc-0000-0000-0000-000000000000".into(),
            answer: Answer::Response(json!({})),
            init: Some(Duration::from_micros(12_345)),
            duration: Duration::from_micros(1_201),
            memory_size_mb: 128,
            max_memory_used_mb: Some(9),
            events_put: vec![],
        };
        assert_eq!(
            invocation.report(),
            "REPORT RequestId: 8f507cfc-0000-0000-0000-000000000000\tDuration: 1.20 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 9 MB\tInit Duration: 12.35 ms"
        );
        let failed = Invocation {
            answer: Answer::Exited("boom".into()),
            init: None,
            ..invocation
        };
        assert!(
            failed
                .report()
                .ends_with("Max Memory Used: 9 MB\tStatus: error")
        );
    }

    #[test]
    fn request_ids_look_like_lambdas() {
        let id = request_id();
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_ne!(request_id(), request_id());
    }

    /// A function written in shell against the Runtime API with curl, so
    /// the emulator's protocol is tested apart from any Rust runtime.
    fn shell_function(script: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "fake-function-{}-{}",
            std::process::id(),
            request_id()
        ));
        std::fs::write(
            &path,
            format!("#!/bin/sh\napi=http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime\n{script}\n"),
        )
        .expect("script");
        let mut perms = std::fs::metadata(&path).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).expect("chmod");
        path
    }

    fn options(binary: PathBuf) -> InvokeOptions {
        InvokeOptions {
            binary,
            function_name: "fake".into(),
            event: json!({"hello": "world"}),
            env: vec![],
            memory_size_mb: 128,
            timeout: Duration::from_secs(10),
        }
    }

    const NEXT: &str = "id=$(curl -s -D - -o /tmp/$$.event $api/invocation/next | tr -d '\\r' | sed -n 's/^lambda-runtime-aws-request-id: //Ip')";

    #[tokio::test]
    async fn a_response_is_returned_with_the_measures() {
        let f = shell_function(&format!(
            "{NEXT}\ncurl -s -X POST --data-binary @/tmp/$$.event $api/invocation/$id/response >/dev/null\nexec sleep 5"
        ));
        let invocation = invoke(options(f)).await.expect("invoked");
        assert_eq!(
            invocation.answer,
            Answer::Response(json!({"hello": "world"}))
        );
        assert!(invocation.init.is_some());
        assert!(invocation.max_memory_used_mb.is_some_and(|m| m > 0));
        assert!(
            invocation
                .report()
                .starts_with(&format!("REPORT RequestId: {}", invocation.request_id))
        );
    }

    #[tokio::test]
    async fn a_function_error_is_reported_as_lambda_shows_it() {
        let f = shell_function(&format!(
            "{NEXT}\ncurl -s -X POST -d '{{\"errorType\":\"Boom\",\"errorMessage\":\"it broke\"}}' $api/invocation/$id/error >/dev/null\nexec sleep 5"
        ));
        let invocation = invoke(options(f)).await.expect("invoked");
        assert_eq!(
            invocation.answer,
            Answer::FunctionError(json!({"errorType": "Boom", "errorMessage": "it broke"}))
        );
        assert!(invocation.report().ends_with("Status: error"));
    }

    #[tokio::test]
    async fn an_init_error_is_told_apart() {
        let init = shell_function(
            "curl -s -X POST -d '{\"errorType\":\"Config\",\"errorMessage\":\"TABLE_NAME missing\"}' $api/init/error >/dev/null; exit 1",
        );
        assert!(matches!(
            invoke(options(init)).await.expect("ran").answer,
            Answer::InitError(_)
        ));
    }

    #[tokio::test]
    async fn a_crash_is_told_apart() {
        let crashed = shell_function(&format!("{NEXT}\nexit 3"));
        match invoke(options(crashed)).await.expect("ran").answer {
            Answer::Exited(why) => assert!(why.contains("exit status: 3"), "{why}"),
            other => panic!("expected an exit, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_timeout_is_told_apart() {
        let hung = shell_function(&format!("{NEXT}\nexec sleep 30"));
        let mut quick = options(hung);
        quick.timeout = Duration::from_millis(400);
        assert_eq!(
            invoke(quick).await.expect("ran").answer,
            Answer::TimedOut(Duration::from_millis(400))
        );
    }
}
