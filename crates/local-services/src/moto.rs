//! moto's server, for EventBridge tests: `MOTO_ENDPOINT` when set, else
//! `moto_server` from `target/moto-venv` (which `cargo xtask
//! test-integration` creates) started on a free port for this test binary,
//! and stopped when the binary ends.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Cause, ServiceError};
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
    pub fn start() -> Result<Self, ServiceError> {
        Self::start_from(&default_venv())
    }

    /// The moto version the local cloud and the tests are written against.
    pub const REQUIREMENT: &'static str = "moto[server]>=5.1,<6";

    /// Installs moto's server into the virtual environment `venv` when it
    /// is not there (`python3 -m venv`, then pip from PyPI), saying so on
    /// standard error.
    pub fn install(venv: &Path) -> Result<(), ServiceError> {
        if venv.join("bin/moto_server").is_file() {
            return Ok(());
        }
        eprintln!(
            "moto not found: installing {} into {}",
            Self::REQUIREMENT,
            venv.display()
        );
        let run = |program: &Path, args: &[&str]| -> Result<(), ServiceError> {
            let command = format!("{} {}", program.display(), args.join(" "));
            let status = Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .status()
                .map_err(ServiceError::io(format!("cannot run {command}")))?;
            if status.success() {
                Ok(())
            } else {
                Err(ServiceError::Failed {
                    command,
                    status,
                    stderr: String::new(),
                })
            }
        };
        let venv_text = venv.to_string_lossy();
        run(Path::new("python3"), &["-m", "venv", &venv_text])?;
        run(
            &venv.join("bin/pip"),
            &[
                "install",
                "--quiet",
                "--disable-pip-version-check",
                Self::REQUIREMENT,
            ],
        )
    }

    /// `MOTO_ENDPOINT`, or the `moto_server` of the virtual environment
    /// `venv`, started on a free loopback port.
    pub fn start_from(venv: &Path) -> Result<Self, ServiceError> {
        if let Some(endpoint) = std::env::var("MOTO_ENDPOINT")
            .ok()
            .filter(|v| !v.is_empty())
        {
            wait_ready(&endpoint, Duration::from_secs(20), || Ok(())).map_err(|e| {
                ServiceError::Unanswered {
                    variable: "MOTO_ENDPOINT",
                    endpoint: endpoint.clone(),
                    source: Box::new(e),
                }
            })?;
            return Ok(Self {
                endpoint,
                _keep: None,
            });
        }
        let server = venv.join("bin/moto_server");
        if !server.is_file() {
            return Err(ServiceError::NoMoto { server });
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(ServiceError::io("no free port"))?
            .port();
        let mut child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(ServiceError::io(format!(
                "could not start {}",
                server.display()
            )))?;
        let watchdog = Watchdog::arm(&format!("kill {} 2>/dev/null", child.id()))
            .map_err(ServiceError::io("cannot arm the cleanup"))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let ready = wait_ready(&endpoint, Duration::from_secs(30), || {
            match child.try_wait() {
                Ok(None) => Ok(()),
                Ok(Some(status)) => Err(ServiceError::Exited {
                    what: "moto_server",
                    status,
                    log: None,
                }),
                Err(e) => Err(ServiceError::io("cannot watch moto_server")(e)),
            }
        });
        match ready {
            Ok(took) => {
                eprintln!("moto at {endpoint}, ready in {} ms", took.as_millis());
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
    mut alive: impl FnMut() -> Result<(), ServiceError>,
) -> Result<Duration, ServiceError> {
    let not_ready = |last: Cause| ServiceError::NotReady {
        endpoint: endpoint.to_owned(),
        within: deadline,
        last,
    };
    let address = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| not_ready("it is not an http:// endpoint".into()))?
        .trim_end_matches('/')
        .to_owned();
    let started = Instant::now();
    let mut last: Cause = "no request was answered".into();
    while started.elapsed() < deadline {
        alive()?;
        match get(&address, "/moto-api/data.json") {
            Ok(200) => return Ok(started.elapsed()),
            Ok(status) => last = format!("HTTP {status}").into(),
            Err(e) => last = Box::new(e),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(not_ready(last))
}

/// The status code of `GET path` (HTTP/1.0) at `address`.
fn get(address: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    text.get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not HTTP: {text:?}")))
}

fn region_and_credentials() -> (
    aws_sdk_eventbridge::config::Region,
    aws_sdk_eventbridge::config::Credentials,
) {
    (
        aws_sdk_eventbridge::config::Region::new("us-east-1"),
        aws_sdk_eventbridge::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "local-services",
        ),
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
