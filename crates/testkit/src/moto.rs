//! moto's server, for EventBridge tests: `MOTO_ENDPOINT` when set, else
//! `moto_server` from `target/moto-venv` (which `cargo xtask
//! test-integration` creates) started on a free port for this test binary,
//! and stopped when the binary ends.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::watchdog::Watchdog;

/// Where `cargo xtask test-integration` installs `moto[server]`.
pub fn default_venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/moto-venv")
}

#[derive(Debug)]
pub struct Moto {
    endpoint: String,
    _keep: Option<(Child, Watchdog)>,
}

impl Moto {
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `MOTO_ENDPOINT`, or a `moto_server` of our own.
    pub fn start() -> Result<Self, String> {
        if let Some(endpoint) = std::env::var("MOTO_ENDPOINT")
            .ok()
            .filter(|v| !v.is_empty())
        {
            wait_ready(&endpoint, Duration::from_secs(20), || Ok(()))
                .map_err(|e| format!("MOTO_ENDPOINT={endpoint}: {e}"))?;
            return Ok(Self {
                endpoint,
                _keep: None,
            });
        }
        let server = default_venv().join("bin/moto_server");
        if !server.is_file() {
            return Err(format!(
                "no moto server: set MOTO_ENDPOINT, or install it with \
                 `python3 -m venv target/moto-venv && target/moto-venv/bin/pip install \"moto[server]\"` \
                 (cargo xtask test-integration does this); {} is missing",
                server.display()
            ));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let mut child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", server.display()))?;
        let watchdog = Watchdog::arm(&format!("kill {} 2>/dev/null", child.id()))
            .map_err(|e| format!("cannot arm the cleanup: {e}"))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let ready = wait_ready(&endpoint, Duration::from_secs(30), || {
            match child.try_wait() {
                Ok(None) => Ok(()),
                Ok(Some(status)) => Err(format!("moto_server exited ({status})")),
                Err(e) => Err(e.to_string()),
            }
        });
        match ready {
            Ok(took) => {
                eprintln!(
                    "testkit: moto at {endpoint}, ready in {} ms",
                    took.as_millis()
                );
                Ok(Self {
                    endpoint,
                    _keep: Some((child, watchdog)),
                })
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }
}

/// Polls `/moto-api/data.json`, which answers 200 once the server is up.
fn wait_ready(
    endpoint: &str,
    deadline: Duration,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Result<Duration, String> {
    let address = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("{endpoint} is not an http:// endpoint"))?
        .trim_end_matches('/')
        .to_owned();
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < deadline {
        alive()?;
        match get(&address, "/moto-api/data.json") {
            Ok(200) => return Ok(started.elapsed()),
            Ok(status) => last = format!("HTTP {status}"),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("no answer within {deadline:?}: {last}"))
}

fn get(address: &str, path: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect(address).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&head);
    text.get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not HTTP: {text:?}"))
}

/// The test binary's one moto server. Panics with the reason when there is
/// none: the tests cannot run.
pub fn shared() -> &'static Moto {
    static SHARED: OnceLock<Moto> = OnceLock::new();
    SHARED.get_or_init(|| Moto::start().unwrap_or_else(|why| panic!("{why}")))
}

fn region_and_credentials() -> (
    aws_sdk_eventbridge::config::Region,
    aws_sdk_eventbridge::config::Credentials,
) {
    (
        aws_sdk_eventbridge::config::Region::new("us-east-1"),
        aws_sdk_eventbridge::config::Credentials::new("testing", "testing", None, None, "testkit"),
    )
}

/// An EventBridge client for `endpoint`, retrying twice with short
/// backoffs, so a test of an unreachable bus fails in milliseconds.
pub fn eventbridge_client(endpoint: &str) -> aws_sdk_eventbridge::Client {
    let (region, credentials) = region_and_credentials();
    aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::Config::builder()
            .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
            .region(region)
            .credentials_provider(credentials)
            .endpoint_url(endpoint)
            .retry_config(
                aws_sdk_eventbridge::config::retry::RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(10)),
            )
            .build(),
    )
}

pub fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let (region, credentials) = region_and_credentials();
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(region)
            .credentials_provider(credentials)
            .endpoint_url(endpoint)
            .build(),
    )
}

/// A bus in moto with a rule that forwards everything from `orders.api` to
/// an SQS queue, so a test can read what reached the bus.
#[derive(Debug)]
pub struct QueuedBus {
    pub name: String,
    pub events: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl QueuedBus {
    /// A new bus on the moto server at `endpoint`, with its rule and queue.
    ///
    /// # Panics
    /// When moto refuses any of the calls: the test cannot go on.
    pub async fn create(endpoint: &str) -> Self {
        let events = eventbridge_client(endpoint);
        let sqs = sqs_client(endpoint);
        let name = format!("orders-{}", &crate::orders::order_id().as_str()[4..]).to_lowercase();
        events
            .create_event_bus()
            .name(&name)
            .send()
            .await
            .expect("bus");
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("queue")
            .queue_url
            .expect("queue url");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("attributes")
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .expect("queue arn");
        events
            .put_rule()
            .name("everything-from-orders")
            .event_bus_name(&name)
            .event_pattern(r#"{"source":["orders.api"]}"#)
            .send()
            .await
            .expect("rule");
        events
            .put_targets()
            .rule("everything-from-orders")
            .event_bus_name(&name)
            .targets(
                Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("target");
        Self {
            name,
            events,
            sqs,
            queue_url,
        }
    }

    /// Reads events off the queue until `want` arrived or 20 s passed, then
    /// once more, to catch any extra (duplicate) event.
    ///
    /// # Panics
    /// When moto refuses a receive or a message is not JSON.
    pub async fn received(&self, want: usize) -> Vec<Value> {
        let mut seen = self.receive_until(want).await;
        seen.extend(self.receive_once().await);
        seen
    }

    /// One receive of up to 10 events, waiting at most a second.
    pub async fn receive_once(&self) -> Vec<Value> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| serde_json::from_str(&m.body.unwrap_or_default()).expect("an event as JSON"))
            .collect()
    }

    async fn receive_until(&self, want: usize) -> Vec<Value> {
        let started = Instant::now();
        let mut seen = Vec::new();
        while seen.len() < want && started.elapsed() < Duration::from_secs(20) {
            seen.extend(self.receive_once().await);
        }
        seen
    }
}
