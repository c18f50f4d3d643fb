//! The local server (`orders-toolkit local`) as a child process for the
//! tasks that test over HTTP: built once, started on a free port with its
//! log in a file under `target/`, awaited until it answers, and stopped
//! with SIGTERM so it stops its DynamoDB Local too.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cmd::{self, Failed, Result};

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cmd::project_root().join("target"))
}

/// Builds `orders-toolkit` as every stage builds: with `--workspace`, so
/// with the features the tests' build resolved, compiling nothing twice.
pub(crate) fn build_toolkit() -> Result {
    cmd::run(
        &cmd::cargo(),
        ["build", "--workspace", "--bin", "orders-toolkit"],
    )
}

/// Builds every binary of the workspace (the local cloud's functions), with
/// the tests' features, so nothing is compiled twice.
pub(crate) fn build_binaries() -> Result {
    cmd::run(&cmd::cargo(), ["build", "--workspace", "--bins"])
}

/// A running `orders-toolkit local`.
#[derive(Debug)]
pub(crate) struct LocalServer {
    child: Child,
    port: u16,
    lambda_port: u16,
    log_path: PathBuf,
}

/// Two distinct free ports: both listeners are held until both are known,
/// so the kernel cannot hand the same port out twice (it did, once, and the
/// server refused to start with its gateway and control port on one port).
fn two_free_ports() -> Result<(u16, u16)> {
    let bind =
        || TcpListener::bind("127.0.0.1:0").map_err(|e| Failed::new(format!("no free port: {e}")));
    let port_of = |l: &TcpListener| {
        l.local_addr()
            .map(|a| a.port())
            .map_err(|e| Failed::new(format!("no free port: {e}")))
    };
    let (first, second) = (bind()?, bind()?);
    Ok((port_of(&first)?, port_of(&second)?))
}

const PORT_TAKEN: &str = "one of its ports was taken before it bound it";

impl LocalServer {
    /// Builds the toolkit and starts `local --port <free> extra…`, logging
    /// to `target/<log_name>`; returns once it answers.
    pub(crate) fn start(extra: &[&str], log_name: &str) -> Result<Self> {
        build_toolkit()?;
        Self::start_built(extra, log_name)
    }

    /// [`Self::start`] for a caller that has built the toolkit itself.
    pub(crate) fn start_built(extra: &[&str], log_name: &str) -> Result<Self> {
        // A port can still be taken by another process between its release
        // here and the server's bind; the server then exits at once saying
        // so, and is started again on other ports.
        let mut attempt = 1;
        loop {
            let (port, lambda_port) = two_free_ports()?;
            match Self::spawn(extra, log_name, port, lambda_port) {
                Err(e) if attempt < 3 && e.to_string().ends_with(PORT_TAKEN) => {
                    eprintln!("{e}; starting again on other ports");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn spawn(extra: &[&str], log_name: &str, port: u16, lambda_port: u16) -> Result<Self> {
        let log_path = target_dir().join(log_name);
        let log = std::fs::File::create(&log_path)
            .map_err(|e| Failed::new(format!("{}: {e}", log_path.display())))?;
        let log_err = log.try_clone().map_err(|e| Failed::new(e.to_string()))?;
        let binary = target_dir().join("debug/orders-toolkit");
        let port_text = port.to_string();
        // The control port on a free port too: a `cargo xtask local` the
        // user runs holds 3001.
        let lambda_text = lambda_port.to_string();
        let mut args = vec![
            "local",
            "--port",
            port_text.as_str(),
            "--lambda-port",
            lambda_text.as_str(),
        ];
        args.extend_from_slice(extra);
        eprintln!(
            "$ {} {} (log: {})",
            binary.display(),
            args.join(" "),
            log_path.display()
        );
        let child = Command::new(&binary)
            .args(&args)
            .current_dir(cmd::project_root())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| Failed::new(format!("could not start {}: {e}", binary.display())))?;
        let mut server = Self {
            child,
            port,
            lambda_port,
            log_path,
        };
        if let Err(e) = server.wait_ready(Duration::from_secs(90)) {
            server.print_log_tail(30);
            if server.log().contains("is in use") {
                return Err(Failed::new(format!("{e}: {PORT_TAKEN}")));
            }
            return Err(e);
        }
        Ok(server)
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The control port (Lambda Invoke API, PutEvents).
    pub(crate) fn lambda_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.lambda_port)
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub(crate) fn print_log_tail(&self, lines: usize) {
        let log = self.log();
        let tail: Vec<&str> = log.lines().rev().take(lines).collect();
        println!("--- last lines of the local server's log ---");
        for line in tail.into_iter().rev() {
            println!("{line}");
        }
    }

    /// Polls `GET /` until the server answers (403, as API Gateway would).
    fn wait_ready(&mut self, deadline: Duration) -> Result {
        let started = Instant::now();
        while started.elapsed() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Failed::new(format!(
                    "the local server exited ({status}) before it was ready"
                )));
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut answer = [0u8; 12];
                let asked = stream
                    .write_all(b"GET / HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n")
                    .and_then(|()| stream.read_exact(&mut answer));
                if asked.is_ok() && answer.starts_with(b"HTTP/1.1 403") {
                    eprintln!(
                        "local server ready on port {} after {} ms",
                        self.port,
                        started.elapsed().as_millis()
                    );
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Failed::new(format!(
            "the local server did not answer within {deadline:?}"
        )))
    }

    /// SIGTERM, so the server stops its DynamoDB Local; SIGKILL if it
    /// lingers.
    pub(crate) fn stop(mut self) {
        let pid = self.child.id().to_string();
        terminate(&mut self.child, &pid, Duration::from_secs(15));
    }
}

/// SIGTERM to `target` (a pid, or `-pgid` for a process group), then
/// SIGKILL when `child` has not exited within `grace`.
/// `orders-toolkit token ARGS` (the binary `LocalServer::start` built):
/// an id token of the local user pool.
pub(crate) fn token(args: &[&str]) -> Result<String> {
    let binary = target_dir().join("debug/orders-toolkit");
    let output = crate::cmd::clean_cargo_env(&mut std::process::Command::new(&binary))
        .arg("token")
        .args(args)
        .output()
        .map_err(|e| Failed::new(format!("{}: {e}", binary.display())))?;
    if !output.status.success() {
        return Err(Failed::new(format!(
            "orders-toolkit token {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

pub(crate) fn terminate(child: &mut Child, target: &str, grace: Duration) {
    let _ = Command::new("kill").args(["-TERM", "--", target]).status();
    let started = Instant::now();
    while started.elapsed() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill").args(["-KILL", "--", target]).status();
    let _ = child.wait();
}

/// One line of the server's request log.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Logged<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) status: u16,
}

/// The server's request log lines (`METHOD /path STATUS 1.2 ms`).
pub(crate) fn logged_requests(log: &str) -> Vec<Logged<'_>> {
    log.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let [.., method, path, status, millis, "ms"] = words.as_slice() else {
                return None;
            };
            let is_method = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
            if !is_method || !path.starts_with('/') || millis.parse::<f64>().is_err() {
                return None;
            }
            Some(Logged {
                method,
                path,
                status: status.parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_counted_and_other_lines_are_not() {
        let log = "\
2026-11-21T07:41:33.956930Z  INFO   ANY   /orders/{orderId} -> fn-api
2026-11-21T07:41:34.000000Z  INFO toolkit::local: POST /orders 201 1.9 ms
2026-11-21T07:41:34.100000Z  INFO toolkit::local: GET /orders/ORD-1 404 0.4 ms
2026-11-21T07:41:34.100000Z  INFO toolkit::local: event OrderPlaced ORD-1 -> OrderPlacedRule -> fn-events: confirmed (0.1 ms)
2026-11-21T07:41:34.200000Z  INFO toolkit::local: PUT /orders 503 5012.0 ms
";
        let statuses: Vec<u16> = logged_requests(log).iter().map(|r| r.status).collect();
        assert_eq!(statuses, [201, 404, 503]);
        assert_eq!(
            logged_requests(log)[1],
            Logged {
                method: "GET",
                path: "/orders/ORD-1",
                status: 404
            }
        );
    }
}
