//! `local --watch` as a user runs it: the toolkit's binary serves a
//! template whose function (crates/fixture-echo) answers with a variable
//! of the template; four connections load it while the template changes
//! the variable. The new value is served without a restart, and not one
//! request fails across the swap.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn template(greeting: &str) -> String {
    // Written outside the workspace: its code is this workspace's.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root");
    let root = root.display();
    format!(
        r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  EchoFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: fixture-echo
    Properties:
      CodeUri: {root}
      Handler: bootstrap
      Runtime: provided.al2023
      Environment:
        Variables:
          GREETING: "{greeting}"
      Events:
        Echo:
          Type: Api
          Properties:
            Path: /echo/{{word}}
            Method: get
"#
    )
}

/// One keep-alive connection: `GET path` answered as (status, body).
struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(address: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self {
            reader: BufReader::new(stream),
        })
    }

    fn get(&mut self, path: &str) -> std::io::Result<(u16, String)> {
        write!(
            self.reader.get_mut(),
            "GET {path} HTTP/1.1\r\nHost: local\r\n\r\n"
        )?;
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line)?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no status in {status_line:?}")))?;
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line)?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_template_change_is_served_without_a_restart_and_no_request_fails_across_the_swap() {
    let dir = std::env::temp_dir().join(format!("watch-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let template_path = dir.join("template.yaml");
    std::fs::write(&template_path, template("one")).expect("template");
    let ready = dir.join("ready.json");
    let log_path = dir.join("watch.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_orders-toolkit"))
        .current_dir(&root)
        .args(["local", "--watch", "--port", "0", "--lambda-port", "off"])
        .arg("--template")
        .arg(&template_path)
        .arg("--ready-file")
        .arg(&ready)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("the toolkit starts");
    let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
    // The first build may compile the fixture.
    let deadline = Instant::now() + Duration::from_secs(300);
    let address = loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            let value: serde_json::Value = serde_json::from_str(&text).expect("ready file");
            break value["api"].as_str().expect("api").to_owned();
        }
        if let Ok(Some(status)) = watcher.try_wait() {
            panic!("the watcher exited ({status}):\n{}", log_text());
        }
        assert!(Instant::now() < deadline, "not ready:\n{}", log_text());
        std::thread::sleep(Duration::from_millis(50));
    };

    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let first_two = Arc::new(Mutex::new(None::<Instant>));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (address, done, answered, failures, first_two) = (
                address.clone(),
                done.clone(),
                answered.clone(),
                failures.clone(),
                first_two.clone(),
            );
            std::thread::spawn(move || {
                let mut connection = Connection::open(&address).expect("connect");
                while !done.load(Ordering::SeqCst) {
                    match connection.get("/echo/word") {
                        Ok((200, body)) => {
                            answered.fetch_add(1, Ordering::SeqCst);
                            if body.contains("\"greeting\":\"two\"") {
                                first_two
                                    .lock()
                                    .expect("lock")
                                    .get_or_insert_with(Instant::now);
                            }
                        }
                        Ok((status, body)) => failures
                            .lock()
                            .expect("lock")
                            .push(format!("{status} {body}")),
                        Err(e) => {
                            failures.lock().expect("lock").push(e.to_string());
                            connection = Connection::open(&address).expect("reconnect");
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = answered.load(Ordering::SeqCst);
    let saved = Instant::now();
    std::fs::write(&template_path, template("two")).expect("edit");
    let deadline = saved + Duration::from_secs(120);
    while first_two.lock().expect("lock").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    done.store(true, Ordering::SeqCst);
    for worker in load {
        worker.join().expect("load thread");
    }
    let served_after = first_two.lock().expect("lock").map(|t| t - saved);
    let total = answered.load(Ordering::SeqCst);
    stop(&mut watcher);
    let log = log_text();
    eprintln!(
        "{total} answered ({before} before the edit); the new value served {served_after:?} after the save"
    );
    assert!(
        served_after.is_some(),
        "the new value was never served:\n{log}"
    );
    assert!(
        before > 0,
        "no request was answered before the edit:\n{log}"
    );
    assert_eq!(
        *failures.lock().expect("lock"),
        Vec::<String>::new(),
        "requests failed across the swap:\n{log}"
    );
    assert!(log.contains("reload 2: "), "{log}");
    assert!(log.contains("swapped in"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
