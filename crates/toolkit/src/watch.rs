//! `watch`: `local --watch`, the local cloud while you code.
//!
//! This process holds the ports and forwards every request to a child
//! local cloud (`local` run from a generation directory under
//! `target/local-watch/`, on free ports). It polls the workspace's
//! sources (`*.rs`, `Cargo.toml`, `Cargo.lock`; what `.gitignore` ignores
//! and `target/` are skipped) and the template; a burst of saves is one
//! change. On a change it rebuilds the toolkit and the binaries the
//! template runs as processes with one `cargo build`, then swaps: a new
//! child starts from hard links of the fresh binaries, new requests go to
//! it once it answers, and the old child is stopped when the requests it
//! took have been answered. Nothing in flight is cut; no request fails
//! because of the swap.
//!
//! A build error is shown with the compiler's message, and the old child
//! keeps serving; so does a template the new child cannot start with.
//! The store lives in this process (the embedded DynamoDB, a DynamoDB
//! Local started once, or the URL given), and every child gets its
//! endpoint, so tables and items outlive swaps.
//!
//! Invariant: at every moment one child answers new requests, and a child
//! is stopped only once no request it took is still open.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::local::{LocalError, LocalOptions};

/// How often the tree is looked at, and how long it must stay still
/// before a change is taken (a burst of saves is one change).
const POLL: Duration = Duration::from_millis(250);
/// How long a new child has to answer before the swap is given up.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long an old child's open requests may take before it is stopped
/// anyway (more than API Gateway's 29 s integration timeout).
const DRAIN_LIMIT: Duration = Duration::from_secs(35);

/// The toolkit's own binary, which every child runs.
const TOOLKIT_BINARY: &str = "orders-toolkit";

/// What the tree looked like: each watched file's modification time and
/// length.
type Snapshot = BTreeMap<PathBuf, (SystemTime, u64)>;

/// The watched files under `root` (sources, manifests, the lock file) and
/// `template`.
fn scan(root: &Path, template: &Path) -> Snapshot {
    let mut files = Snapshot::new();
    let mut stamp = |path: &Path| {
        if let Ok(meta) = std::fs::metadata(path) {
            files.insert(
                path.to_owned(),
                (
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    meta.len(),
                ),
            );
        }
    };
    let walk = ignore::WalkBuilder::new(root)
        .hidden(true)
        .git_ignore(true)
        .require_git(false)
        .filter_entry(|entry| entry.file_name() != "target")
        .build();
    for entry in walk.flatten() {
        let path = entry.path();
        let watched = path.extension().is_some_and(|e| e == "rs")
            || path
                .file_name()
                .is_some_and(|n| n == "Cargo.toml" || n == "Cargo.lock");
        if watched && entry.file_type().is_some_and(|t| t.is_file()) {
            stamp(path);
        }
    }
    stamp(template);
    files
}

/// The files that differ between two snapshots, relative to `root`.
fn changed(before: &Snapshot, after: &Snapshot, root: &Path) -> Vec<String> {
    let mut paths: Vec<&PathBuf> = after
        .iter()
        .filter(|(path, stamp)| before.get(*path) != Some(stamp))
        .map(|(path, _)| path)
        .chain(before.keys().filter(|path| !after.contains_key(*path)))
        .collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string())
        .collect()
}

/// A binary's identity on disk: a rebuilt one differs.
fn fingerprint(path: &Path) -> Option<(SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

/// One child local cloud and the requests it has taken.
struct Generation {
    number: u32,
    api: SocketAddr,
    control: Option<SocketAddr>,
    child: tokio::sync::Mutex<tokio::process::Child>,
    open: AtomicUsize,
    dir: PathBuf,
}

/// Counts a request as open on its generation until dropped.
struct Open(Arc<Generation>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Generation {
    fn enter(self: &Arc<Self>) -> Open {
        self.open.fetch_add(1, Ordering::SeqCst);
        Open(self.clone())
    }

    /// Waits until no request it took is open (at most [`DRAIN_LIMIT`]),
    /// stops it with SIGTERM (its function processes with it), and removes
    /// its directory.
    async fn retire(self: Arc<Self>) {
        let started = Instant::now();
        while self.open.load(Ordering::SeqCst) > 0 && started.elapsed() < DRAIN_LIMIT {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = self.open.load(Ordering::SeqCst);
        if left > 0 {
            tracing::warn!(
                "reload {}: {left} requests still open after {} s; stopping it anyway",
                self.number,
                DRAIN_LIMIT.as_secs()
            );
        }
        let mut child = self.child.lock().await;
        terminate(&mut child).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// SIGTERM, then SIGKILL after 10 s.
async fn terminate(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

/// What a swap needs to start a child.
struct Launcher {
    /// `local`'s flags for the child, without the ones this process owns.
    args: Vec<String>,
    /// Where the toolkit's own binary is built.
    toolkit_dir: PathBuf,
    generations: PathBuf,
    control: bool,
    dynamodb: Option<String>,
}

impl Launcher {
    /// Links `binaries` (and the toolkit) into a fresh generation
    /// directory and starts `local` there; returns once it answers.
    async fn start(
        &self,
        number: u32,
        binaries: &[crate::local::ProcessBinary],
    ) -> Result<Generation, String> {
        let dir = self.generations.join(format!("gen-{number}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let toolkit = self.toolkit_dir.join(TOOLKIT_BINARY);
        let links = binaries
            .iter()
            .map(|b| (&b.path, b.name.as_str()))
            .chain([(&toolkit, TOOLKIT_BINARY)]);
        for (from, name) in links {
            let to = dir.join(name);
            // A hard link keeps this build's file even when cargo replaces
            // the one in target/ (it writes a new file, it does not
            // overwrite); a copy where links are refused.
            std::fs::hard_link(from, &to)
                .or_else(|_| std::fs::copy(from, &to).map(|_| ()))
                .map_err(|e| format!("{}: {e}", from.display()))?;
        }
        let ready = dir.join("ready.json");
        let mut command = tokio::process::Command::new(dir.join(TOOLKIT_BINARY));
        command
            .arg("local")
            .args(&self.args)
            .args(["--host", "127.0.0.1", "--port", "0", "--no-build"])
            .args(["--lambda-port", if self.control { "0" } else { "off" }])
            .arg("--binary-dir")
            .arg(&dir)
            .arg("--ready-file")
            .arg(&ready)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some(endpoint) = &self.dynamodb {
            command.args(["--dynamodb", endpoint]);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", dir.join(TOOLKIT_BINARY).display()))?;
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                let value: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", ready.display()))?;
                let address = |key: &str| value[key].as_str().and_then(|a| a.parse().ok());
                let api = address("api").ok_or_else(|| format!("{}: no api", ready.display()))?;
                return Ok(Generation {
                    number,
                    api,
                    control: address("control"),
                    child: tokio::sync::Mutex::new(child),
                    open: AtomicUsize::new(0),
                    dir,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!(
                    "the new local cloud exited ({status}) before it served; its message is above"
                ));
            }
            if started.elapsed() > START_LIMIT {
                terminate(&mut child).await;
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!(
                    "the new local cloud did not serve within {} s",
                    START_LIMIT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `cargo build` of the toolkit (as `cargo xtask local` builds it, so an
/// unchanged tree builds nothing) and of `binaries` (as `local` builds
/// them), the compiler's messages on this terminal.
async fn build(root: &Path, binaries: &[crate::local::ProcessBinary]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = crate::local::cargo_command(&cargo)
        .current_dir(root)
        .args(["build", "--workspace", "--bin", TOOLKIT_BINARY])
        .stdin(std::process::Stdio::null())
        .status()
        .await
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build of {TOOLKIT_BINARY} failed ({status}); the compiler's message is above"
        ));
    }
    crate::local::build_binaries(binaries)
        .await
        .map_err(|e| e.to_string())
}

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy)]
enum Port {
    Api,
    Control,
}

type Current = Arc<RwLock<Arc<Generation>>>;

/// Sends `request` to the serving child's `port` and returns its answer
/// whole; the request counts as open on that child until then.
async fn forward(
    current: &Current,
    client: &Client<HttpConnector, Incoming>,
    port: Port,
    mut request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let generation = current
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let _open = generation.enter();
    let target = match port {
        Port::Api => Some(generation.api),
        Port::Control => generation.control,
    };
    let Some(target) = target else {
        return crate::gateway::text(
            StatusCode::BAD_GATEWAY,
            "text/plain; charset=utf-8",
            "the local cloud has no control port",
        );
    };
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str)
        .to_owned();
    match format!("http://{target}{path}").parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(e) => {
            return crate::gateway::text(
                StatusCode::BAD_REQUEST,
                "text/plain; charset=utf-8",
                format!("{path}: {e}"),
            );
        }
    }
    let answer = async {
        let response = client.request(request).await.map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        let mut response = Response::from_parts(parts, Full::new(body));
        // This server sets its own.
        response.headers_mut().remove(http::header::DATE);
        Ok::<_, String>(response)
    };
    match answer.await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(
                "reload {}: forwarding {path} failed: {e}",
                generation.number
            );
            crate::gateway::text(
                StatusCode::BAD_GATEWAY,
                "text/plain; charset=utf-8",
                format!("the local cloud did not answer: {e}"),
            )
        }
    }
}

/// The flags a child gets: `args` without those this process decides.
fn child_args(args: &[String]) -> Vec<String> {
    const OWNED_WITH_VALUE: [&str; 6] = [
        "--port",
        "--lambda-port",
        "--host",
        "--dynamodb",
        "--binary-dir",
        "--ready-file",
    ];
    let mut out = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if OWNED_WITH_VALUE.contains(&arg.as_str()) {
            rest.next();
        } else if arg != "--watch" && arg != "--no-build" {
            out.push(arg.clone());
        }
    }
    out
}

/// The project root: the workspace (the `Cargo.toml` with `[workspace]`)
/// above the template, else above the current directory.
fn project_root(template: &Path) -> PathBuf {
    let workspace_above = |start: &Path| {
        start
            .ancestors()
            .find(|dir| {
                std::fs::read_to_string(dir.join("Cargo.toml"))
                    .is_ok_and(|t| t.contains("[workspace]"))
            })
            .map(Path::to_owned)
    };
    let current = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    template
        .canonicalize()
        .ok()
        .and_then(|t| t.parent().and_then(workspace_above))
        .or_else(|| workspace_above(&current))
        .unwrap_or(current)
}

/// The binaries to build and run for the template as it is now.
fn binaries_for(options: &LocalOptions) -> Result<Vec<crate::local::ProcessBinary>, LocalError> {
    let (_, model, _) = crate::local::load_model(options, None, BTreeMap::new())?;
    Ok(crate::local::process_binaries(options, &model))
}

fn listen(
    listener: TcpListener,
    stopped: watch::Receiver<bool>,
    options: &LocalOptions,
    current: &Current,
    client: &Client<HttpConnector, Incoming>,
    port: Port,
) -> tokio::task::JoinHandle<tokio::task::JoinSet<()>> {
    let current = current.clone();
    let client = client.clone();
    crate::local::accept_loop(listener, stopped, options.limits, move |request| {
        let current = current.clone();
        let client = client.clone();
        async move { forward(&current, &client, port, request).await }
    })
}

/// Runs `local --watch` until `shutdown` resolves. `args` are `local`'s
/// flags as given.
pub async fn run(
    options: LocalOptions,
    args: &[String],
    shutdown: impl Future<Output = ()>,
) -> Result<(), LocalError> {
    let root = project_root(&options.template);
    let (endpoint, _, _store) =
        crate::local::dynamodb_endpoint(&options.store, &options.data_dir).await?;
    let dynamodb = Some(endpoint);
    let api_listener = crate::local::bind(&options.host, options.port).await?;
    let control_listener = match options.lambda_port {
        Some(port) => Some(crate::local::bind(&options.host, port).await?),
        None => None,
    };
    let local_address = |l: &TcpListener, port: u16| {
        l.local_addr().map_err(|source| LocalError::Listen {
            host: options.host.clone(),
            port,
            source,
        })
    };
    let api_address = local_address(&api_listener, options.port)?;
    let control_address = control_listener
        .as_ref()
        .map(|l| local_address(l, options.lambda_port.unwrap_or_default()))
        .transpose()?;
    let toolkit_dir = options.binary_dir.clone().unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), PathBuf::from)
            .join("debug")
    });
    let launcher = Launcher {
        args: child_args(args),
        toolkit_dir: toolkit_dir.clone(),
        generations: toolkit_dir
            .parent()
            .map_or_else(|| PathBuf::from("target"), Path::to_owned)
            .join("local-watch")
            .join(std::process::id().to_string()),
        control: control_listener.is_some(),
        dynamodb,
    };
    let mut snapshot = scan(&root, &options.template);
    let binaries = binaries_for(&options)?;
    let built = Instant::now();
    build(&root, &binaries)
        .await
        .map_err(|why| LocalError::Build {
            binaries: binaries
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            status: why,
        })?;
    tracing::info!("built in {:.1} s", built.elapsed().as_secs_f64());
    let first = launcher
        .start(1, &binaries)
        .await
        .map_err(LocalError::Start)?;
    let current: Current = Arc::new(RwLock::new(Arc::new(first)));
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build_http();
    let (stop, stopped) = watch::channel(false);
    let api = listen(
        api_listener,
        stopped.clone(),
        &options,
        &current,
        &client,
        Port::Api,
    );
    let control = control_listener.map(|l| {
        listen(
            l,
            stopped.clone(),
            &options,
            &current,
            &client,
            Port::Control,
        )
    });
    if let Some(path) = &options.ready_file {
        crate::local::write_ready_file(path, api_address, control_address)?;
    }
    tracing::info!(
        "watching {} (*.rs, Cargo.toml, Cargo.lock) and {}; serving http://{api_address}{}",
        root.display(),
        options.template.display(),
        control_address.map_or_else(String::new, |c| format!(" (control port http://{c})"))
    );
    let mut number = 1;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(POLL) => {}
        }
        let mut now = scan(&root, &options.template);
        if now == snapshot {
            continue;
        }
        // Taken once the tree has stayed still for one poll.
        loop {
            tokio::time::sleep(POLL).await;
            let again = scan(&root, &options.template);
            if again == now {
                break;
            }
            now = again;
        }
        let files = changed(&snapshot, &now, &root);
        snapshot = now;
        number += 1;
        let what = match files.as_slice() {
            [one] => one.clone(),
            [first, rest @ ..] => format!("{first} and {} more", rest.len()),
            [] => "nothing".to_owned(),
        };
        let serving = current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .number;
        let binaries = match binaries_for(&options) {
            Ok(binaries) => binaries,
            Err(e) => {
                tracing::error!(
                    "reload {number}: {what} changed; the template does not load: {e}; still serving reload {serving}"
                );
                continue;
            }
        };
        let toolkit = toolkit_dir.join(TOOLKIT_BINARY);
        let files_of = |binaries: &[crate::local::ProcessBinary]| -> Vec<(String, PathBuf)> {
            binaries
                .iter()
                .map(|b| (b.name.clone(), b.path.clone()))
                .chain([(TOOLKIT_BINARY.to_owned(), toolkit.clone())])
                .collect()
        };
        let before: Vec<_> = files_of(&binaries)
            .iter()
            .map(|(_, path)| fingerprint(path))
            .collect();
        let building = Instant::now();
        if let Err(why) = build(&root, &binaries).await {
            tracing::error!(
                "reload {number}: {what} changed; after {:.1} s: {why}; still serving reload {serving}",
                building.elapsed().as_secs_f64()
            );
            continue;
        }
        let build_time = building.elapsed();
        let rebuilt: Vec<String> = files_of(&binaries)
            .into_iter()
            .zip(&before)
            .filter(|((_, path), old)| fingerprint(path) != **old)
            .map(|((name, _), _)| name)
            .collect();
        let template_changed = files
            .iter()
            .any(|f| root.join(f) == options.template || Path::new(f) == options.template);
        if rebuilt.is_empty() && !template_changed {
            tracing::info!(
                "reload {number}: {what} changed; nothing was rebuilt ({:.1} s), nothing to swap",
                build_time.as_secs_f64()
            );
            continue;
        }
        let swapping = Instant::now();
        match launcher.start(number, &binaries).await {
            Ok(next) => {
                let old = std::mem::replace(
                    &mut *current
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                    Arc::new(next),
                );
                tokio::spawn(old.retire());
                tracing::info!(
                    "reload {number}: {what} changed; rebuilt {} in {:.1} s; swapped in {:.2} s{}",
                    if rebuilt.is_empty() {
                        "nothing (template only)".to_owned()
                    } else {
                        rebuilt.join(", ")
                    },
                    build_time.as_secs_f64(),
                    swapping.elapsed().as_secs_f64(),
                    ""
                );
            }
            Err(why) => tracing::error!(
                "reload {number}: {what} changed; {why}; still serving reload {serving}"
            ),
        }
    }
    tracing::info!("stopping");
    let _ = stop.send(true);
    for listener in std::iter::once(api).chain(control) {
        if let Ok(mut connections) = listener.await {
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while connections.join_next().await.is_some() {}
            })
            .await;
            connections.abort_all();
        }
    }
    let last = current
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    last.retire().await;
    let _ = std::fs::remove_dir_all(&launcher.generations);
    Ok(())
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
