//! `invoke`: runs a real function binary once under the local Lambda
//! runtime (`runtime::Pool`) and reports as Lambda does.
//!
//! Each run is a new process, so each is a cold start: Init Duration
//! (process start to the first `next`), Duration (`next` to the answer)
//! and Max Memory Used (the process's peak resident set, `VmHWM`) in a
//! `REPORT` line shaped like Lambda's. The Runtime API port also answers
//! EventBridge's `PutEvents`, so a function that publishes needs no AWS:
//! the events are accepted and shown.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;

pub use crate::runtime::{Answer, Invocation};
use crate::runtime::{FunctionConfig, LogOutput, Pool, RuntimeError};

#[derive(Debug, Clone)]
pub struct InvokeOptions {
    pub binary: PathBuf,
    pub function_name: String,
    pub event: Value,
    pub env: Vec<(String, String)>,
    pub memory_size_mb: u64,
    pub timeout: Duration,
    /// `--debug`: wait on this port for a process the user starts.
    pub debug_port: Option<u16>,
}

/// Runs the binary once with `options.event`; returns the invocation and
/// the events it put on the emulated bus.
pub async fn invoke(options: InvokeOptions) -> Result<(Invocation, Vec<Value>), RuntimeError> {
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let pool = Pool::new(FunctionConfig {
        name: options.function_name.clone(),
        binary: options.binary.clone(),
        memory_mb: options.memory_size_mb,
        timeout: options.timeout,
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned()),
        environment: options.env.iter().cloned().collect::<BTreeMap<_, _>>(),
        concurrency: 1,
        log_output: LogOutput::Plain,
        record_put_events: Some(recorded.clone()),
        debug_port: options.debug_port,
    });
    let invocation = pool.invoke(options.event.to_string().into(), None).await?;
    // One run, one process: the next run is a cold start again.
    pool.clear();
    let events = recorded
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Ok((invocation, events))
}

pub const USAGE: &str = "\
invoke: run a function binary once under a Lambda Runtime API emulator

Usage:
  invoke FUNCTION --event FILE|- --binary PATH
         [--dynamodb embedded|memory|local|URL] [--table NAME] [--env KEY=VALUE]...
         [--memory 128] [--timeout 10] [--runs 1] [--debug [--debug-port 9001]]

  FUNCTION    the function's name (any binary of the template's functions)
  --event     the event as JSON; `-` reads standard input
  --binary    the built function binary
  --dynamodb  the store, with the template's tables made on it:
              embedded (default; target/local-cloud/dynamodb.sqlite, as
              `local` keeps it), memory, local (DynamoDB Local, found or
              started) or the URL of a running endpoint
  --table     the name of the template's table when it has exactly one
  --env       more environment for the function (repeatable); it starts
              with the template's Environment for the function (secrets
              given local values, TABLE_NAME and the like resolved to the
              local names), then the DynamoDB endpoint of this run
  --memory    the memory size to report, in MB (default 128)
  --timeout   seconds before the invocation times out (default 10)
  --runs      invoke this many times, each in a new process (a cold start
              each time), with a REPORT line each (default 1)
  --debug     start no process: print the environment the function needs
              (AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 and the rest) and wait
              for one started under a debugger to take the event (the
              timeout is then 900 s)
  --debug-port  the Runtime API's port for --debug (default 9001)

Prints the function's logs as it runs, then its response (standard output)
and a REPORT line like Lambda's (standard error). EventBridge PutEvents
calls are answered by the emulator and listed. Exit status: 0 response,
1 function error, crash or timeout (in any run), 2 bad usage.
";

/// How `invoke` answered, as Lambda shows it: the response, or the error
/// document, with the exit status for the command line.
pub fn shown(invocation: &Invocation) -> (String, u8) {
    let payload = invocation
        .answer
        .payload(&invocation.request_id)
        .to_string();
    (payload, u8::from(invocation.answer.is_error()))
}
