//! `functions`: every function of the template, each either in-process
//! (the handler the composition root, crate `app`, builds for its binary)
//! or as its real binary in a `runtime::Pool`. Both answer an invocation
//! with the same `runtime::Invocation`, so the gateway, the bus and the
//! control port do not care which.
//!
//! Invariant: no function is named here; which ones run in-process is
//! `app::handler`'s answer for each binary of the template.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::model::FunctionSpec;
use crate::runtime::{Answer, Invocation, MAX_REQUEST_BYTES, Pool, RuntimeError};

/// An invocation's payload: as JSON already (the gateway's events, the
/// bus's envelopes), or as the bytes a caller sent (the Invoke API). An
/// in-process function takes the JSON as it is; a process gets bytes.
#[derive(Debug, Clone)]
pub enum Payload {
    Json(Value),
    Raw(Bytes),
}

impl Payload {
    fn into_bytes(self) -> Bytes {
        match self {
            Self::Json(value) => Bytes::from(value.to_string()),
            Self::Raw(bytes) => bytes,
        }
    }
}

/// The length of `value` as JSON, counted without writing it anywhere.
fn serialized_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => 0,
    }
}

/// How a function runs.
#[allow(missing_debug_implementations)] // handlers are trait objects
pub enum Backend {
    /// In this process, through the handler `app` composes.
    InProcess(Arc<dyn app::Handler>),
    /// As its binary, in warm processes.
    Process(Pool),
}

/// A function of the template, ready to invoke.
pub struct LocalFunction {
    spec: FunctionSpec,
    backend: Backend,
    /// Invocations begun, whatever their outcome.
    invocations: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for LocalFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalFunction")
            .field("id", &self.spec.id)
            .field("in_process", &self.in_process())
            .finish_non_exhaustive()
    }
}

impl LocalFunction {
    pub fn new(spec: FunctionSpec, backend: Backend) -> Self {
        Self {
            spec,
            backend,
            invocations: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn spec(&self) -> &FunctionSpec {
        &self.spec
    }

    /// How many invocations it has begun.
    pub fn invocations(&self) -> u64 {
        self.invocations.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn in_process(&self) -> bool {
        matches!(self.backend, Backend::InProcess(_))
    }

    /// Starts one process now (none in-process): see [`Pool::prepare`].
    pub async fn prepare(&self) -> Result<(), RuntimeError> {
        match &self.backend {
            Backend::Process(pool) => pool.prepare().await,
            Backend::InProcess(_) => Ok(()),
        }
    }

    /// Stops the function's idle processes (none in-process).
    pub fn clear(&self) {
        if let Backend::Process(pool) = &self.backend {
            pool.clear();
        }
    }

    /// One invocation with `event`. `whole_log` waits for the last log
    /// lines, for `Tail`.
    pub async fn invoke(
        &self,
        event: Payload,
        whole_log: bool,
    ) -> Result<Invocation, RuntimeError> {
        // A process gets bytes: the event is written once, here.
        let event = match (&self.backend, event) {
            (Backend::Process(_), Payload::Json(value)) => {
                Payload::Raw(Bytes::from(value.to_string()))
            }
            (_, event) => event,
        };
        // Lambda refuses a synchronous payload over 6 MB before any code
        // runs (API_Invoke, RequestTooLargeException), in-process or not.
        let size = match &event {
            Payload::Json(value) => serialized_len(value),
            Payload::Raw(bytes) => bytes.len(),
        };
        if size > MAX_REQUEST_BYTES {
            return Err(RuntimeError::RequestTooLarge {
                function: self.spec.name.clone(),
                size,
            });
        }
        self.invocations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match &self.backend {
            Backend::Process(pool) => pool.invoke_with(event.into_bytes(), None, whole_log).await,
            Backend::InProcess(handler) => {
                Ok(self.invoke_in_process(handler.as_ref(), event).await)
            }
        }
    }

    async fn invoke_in_process(&self, handler: &dyn app::Handler, event: Payload) -> Invocation {
        let request_id = crate::runtime::request_id();
        let started = Instant::now();
        let parsed = match event {
            Payload::Json(value) => Ok(value),
            Payload::Raw(bytes) => serde_json::from_slice::<Value>(&bytes),
        };
        let answer = match parsed {
            // The Rust runtime fails an invocation whose event does not
            // deserialize, as a function error.
            Err(e) => Answer::FunctionError(json!({
                "errorType": "&lambda_runtime::deserializer::DeserializeError",
                "errorMessage": format!("failed to deserialize the incoming data into the function's payload type: {e}"),
            })),
            Ok(event) => {
                // As Lambda's context: the deadline is the start plus the
                // function's Timeout.
                let context = app::Invocation {
                    request_id: request_id.clone(),
                    deadline: Some(started + self.spec.timeout),
                };
                match tokio::time::timeout(self.spec.timeout, handler.handle(event, &context)).await
                {
                    Ok(Ok(reply)) => Answer::Response(reply),
                    Ok(Err(e)) => Answer::FunctionError(json!({
                        "errorType": "Unhandled",
                        "errorMessage": e.to_string(),
                    })),
                    Err(_) => Answer::TimedOut(self.spec.timeout),
                }
            }
        };
        let duration = started.elapsed();
        let mut invocation = Invocation {
            request_id,
            answer,
            init: None,
            duration,
            memory_size_mb: self.spec.memory_mb,
            max_memory_used_mb: None,
            log: String::new(),
        };
        invocation.log = format!(
            "START RequestId: {0} Version: $LATEST\nEND RequestId: {0}\n{1}\n",
            invocation.request_id,
            invocation.report()
        );
        invocation
    }
}

/// Every function the local cloud runs.
#[derive(Debug, Default)]
pub struct Functions {
    list: Vec<Arc<LocalFunction>>,
}

impl Functions {
    pub fn new(list: Vec<LocalFunction>) -> Self {
        Self {
            list: list.into_iter().map(Arc::new).collect(),
        }
    }

    /// The function `name` names: logical id, binary, function name or ARN.
    pub fn find(&self, name: &str) -> Option<&Arc<LocalFunction>> {
        self.list.iter().find(|f| f.spec.is_named(name))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<LocalFunction>> {
        self.list.iter()
    }

    /// Stops every idle process.
    pub fn clear(&self) {
        for function in &self.list {
            function.clear();
        }
    }
}

/// How long the gateway waits for a function: API Gateway's integration
/// timeout (29 s by default, services-apigateway-errors).
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);

/// An HTTP API's integration timeout (30 s at most,
/// http-api-develop-integrations-lambda; its default).
pub const HTTP_API_INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);
