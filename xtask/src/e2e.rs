//! `test-e2e`: the HTTP suite (crate `e2e`) against a deployed stage
//! (`--api-url`), or against the local server, which this task starts on a
//! free port with DynamoDB Local and stops afterwards.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cmd::{self, Failed, Result};

pub(crate) fn run(args: &[String]) -> Result {
    let api_url = match args {
        [] => None,
        [flag, url] if flag == "--api-url" => Some(url.clone()),
        _ => {
            return Err(Failed::new(format!(
                "test-e2e takes no arguments or `--api-url URL`, got {args:?}"
            )));
        }
    };
    match api_url {
        Some(url) => suite(&url),
        None => against_local(),
    }
}

fn suite(api_url: &str) -> Result {
    println!("API_URL={api_url}");
    cmd::run_with_env(
        &cmd::cargo(),
        ["test", "--package", "e2e", "--test", "api"],
        &[("API_URL", api_url)],
    )
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cmd::project_root().join("target"))
}

fn against_local() -> Result {
    cmd::run(
        &cmd::cargo(),
        ["build", "--package", "toolkit", "--bin", "orders-toolkit"],
    )?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| Failed::new(format!("no free port: {e}")))?
        .port();
    let log_path = target_dir().join("e2e-local-server.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| Failed::new(format!("{}: {e}", log_path.display())))?;
    let log_err = log.try_clone().map_err(|e| Failed::new(e.to_string()))?;
    let binary = target_dir().join("debug/orders-toolkit");
    let port_text = port.to_string();
    let args = [
        "local",
        "--port",
        port_text.as_str(),
        "--dynamodb",
        "local",
        "--table",
        "e2e-orders",
    ];
    println!(
        "$ {} {} (log: {})",
        binary.display(),
        args.join(" "),
        log_path.display()
    );
    let mut server = Command::new(&binary)
        .args(args)
        .current_dir(cmd::project_root())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| Failed::new(format!("could not start {}: {e}", binary.display())))?;
    let outcome = wait_ready(port, &mut server, Duration::from_secs(90))
        .and_then(|()| suite(&format!("http://127.0.0.1:{port}")));
    stop(&mut server);
    if outcome.is_err() {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        println!("--- last lines of the local server's log ---");
        for line in tail.into_iter().rev() {
            println!("{line}");
        }
    }
    outcome
}

/// Polls `GET /` until the server answers (403, as API Gateway would).
fn wait_ready(port: u16, server: &mut Child, deadline: Duration) -> Result {
    let started = Instant::now();
    while started.elapsed() < deadline {
        if let Ok(Some(status)) = server.try_wait() {
            return Err(Failed::new(format!(
                "the local server exited ({status}) before it was ready"
            )));
        }
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let mut answer = [0u8; 12];
            let asked = stream
                .write_all(b"GET / HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n")
                .and_then(|()| stream.read_exact(&mut answer));
            if asked.is_ok() && answer.starts_with(b"HTTP/1.1 403") {
                println!(
                    "local server ready on port {port} after {} ms",
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

/// SIGTERM, so the server stops its DynamoDB Local; SIGKILL if it lingers.
fn stop(server: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if let Ok(Some(_)) = server.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
}
