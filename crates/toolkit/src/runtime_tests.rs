//! The runtime against functions written in shell with curl, so the
//! emulator's protocol is tested apart from any Rust runtime. Each test
//! names the documented behaviour it holds (the checklist in the local
//! cloud semantics reference: runtimes-api.html, troubleshooting-invocation.html,
//! configuration-envvars.html).

use std::path::PathBuf;

use super::*;

fn shell_function(script: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "fake-function-{}-{}",
        std::process::id(),
        request_id()
    ));
    std::fs::write(
        &path,
        format!("#!/bin/sh\napi=http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime\n{script}\n"),
    )
    .expect("script");
    let mut perms = std::fs::metadata(&path).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).expect("chmod");
    path
}

fn config(binary: PathBuf) -> FunctionConfig {
    FunctionConfig {
        name: "fake".into(),
        binary,
        memory_mb: 128,
        timeout: Duration::from_secs(10),
        region: "us-east-1".into(),
        environment: BTreeMap::new(),
        concurrency: 1,
        log_output: LogOutput::Plain,
        record_put_events: None,
        debug_port: None,
    }
}

/// Takes one event: `$id` is its request id, the body is in /tmp/$$.event,
/// the headers in /tmp/$$.headers.
const NEXT: &str = "id=$(curl -s -D /tmp/$$.headers -o /tmp/$$.event $api/invocation/next && tr -d '\\r' < /tmp/$$.headers | sed -n 's/^lambda-runtime-aws-request-id: //Ip')";

/// Answers every event with the event itself, forever (a warm process).
fn echo_loop() -> String {
    format!(
        "while true; do\n{NEXT}\ncurl -s -X POST --data-binary @/tmp/$$.event $api/invocation/$id/response >/dev/null\ndone"
    )
}

async fn invoke_once(pool: &Pool, event: &str) -> Invocation {
    pool.invoke(Bytes::from(event.to_owned()), None)
        .await
        .expect("invoked")
}

#[tokio::test]
async fn a_response_is_returned_with_the_measures_and_the_report_line() {
    let pool = Pool::new(config(shell_function(&echo_loop())));
    let invocation = invoke_once(&pool, r#"{"hello":"world"}"#).await;
    assert_eq!(
        invocation.answer,
        Answer::Response(json!({"hello": "world"}))
    );
    assert!(invocation.init.is_some());
    assert!(invocation.max_memory_used_mb.is_some_and(|m| m > 0));
    // REPORT: tabs, AWS's field order, Init Duration when cold.
    let report = invocation.report();
    let fields: Vec<&str> = report
        .split('\t')
        .map(|f| f.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        fields,
        [
            "REPORT RequestId",
            "Duration",
            "Billed Duration",
            "Memory Size",
            "Max Memory Used",
            "Init Duration"
        ]
    );
    assert!(invocation.log.starts_with(&format!(
        "START RequestId: {} Version: $LATEST\n",
        invocation.request_id
    )));
    assert!(
        invocation
            .log
            .contains(&format!("END RequestId: {}\n", invocation.request_id))
    );
}

#[tokio::test]
async fn a_warm_process_serves_the_next_invocation_without_init() {
    let pool = Pool::new(config(shell_function(&echo_loop())));
    let first = invoke_once(&pool, "1").await;
    let second = invoke_once(&pool, "2").await;
    assert!(first.init.is_some());
    assert_eq!(second.init, None, "the second invocation was cold");
    assert!(!second.report().contains("Init Duration"));
    assert_eq!(second.answer, Answer::Response(json!(2)));
    assert_eq!(pool.idle(), 1);
}

/// A function that takes 100 ms an invocation, forever.
fn slow_loop() -> PathBuf {
    shell_function(&format!(
        "while true; do\n{NEXT}\nsleep 0.1\ncurl -s -X POST --data-binary @/tmp/$$.event $api/invocation/$id/response >/dev/null\ndone"
    ))
}

#[tokio::test]
async fn invocations_beyond_one_run_in_parallel_processes_up_to_the_concurrency() {
    // Four at once on a pool of four take less than four invocations' time
    // (400 ms) only if they run side by side.
    let mut four = config(slow_loop());
    four.concurrency = 4;
    let pool = Pool::new(four);
    let (all, took) = four_at_once(&pool).await;
    assert_eq!(
        all.iter().filter(|i| i.init.is_some()).count(),
        4,
        "four processes started"
    );
    assert_eq!(pool.idle(), 4);
    assert!(
        took < Duration::from_millis(400),
        "{took:?}: not in parallel"
    );
}

#[tokio::test]
async fn invocations_beyond_the_concurrency_wait_for_a_process() {
    // Four at once on a pool of one: one process serves them in turn.
    let pool = Pool::new(config(slow_loop()));
    let (all, took) = four_at_once(&pool).await;
    assert_eq!(
        all.iter().filter(|i| i.init.is_some()).count(),
        1,
        "one process served all four"
    );
    assert!(
        took >= Duration::from_millis(400),
        "{took:?}: they did not wait"
    );
}

/// Four invocations at once, each answered; and how long they took.
async fn four_at_once(pool: &Pool) -> (Vec<Invocation>, Duration) {
    let started = Instant::now();
    let all = futures_join(pool, 4).await;
    let took = started.elapsed();
    assert!(all.iter().all(|i| matches!(i.answer, Answer::Response(_))));
    (all, took)
}

async fn futures_join(pool: &Pool, n: usize) -> Vec<Invocation> {
    let mut set = Vec::new();
    for i in 0..n {
        set.push(pool.invoke(Bytes::from(i.to_string()), None));
    }
    let mut out = Vec::new();
    for result in join_all(set).await {
        out.push(result.expect("invoked"));
    }
    out
}

async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[tokio::test]
async fn a_function_error_is_kept_as_sent_even_without_a_stack_trace() {
    // The Rust runtime sends `unhandled` and no stackTrace: taken as is.
    let pool = Pool::new(config(shell_function(&format!(
        "while true; do\n{NEXT}\ncurl -s -X POST -H 'Lambda-Runtime-Function-Error-Type: unhandled' -d '{{\"errorType\":\"unhandled\",\"errorMessage\":\"it broke\"}}' $api/invocation/$id/error >/dev/null\ndone"
    ))));
    let invocation = invoke_once(&pool, "{}").await;
    assert_eq!(
        invocation.answer,
        Answer::FunctionError(json!({"errorType": "unhandled", "errorMessage": "it broke"}))
    );
    assert!(invocation.answer.is_error());
    // A function error does not discard the environment.
    assert_eq!(pool.idle(), 1);
}

#[tokio::test]
async fn an_init_error_is_told_apart() {
    let pool = Pool::new(config(shell_function(
        "curl -s -X POST -d '{\"errorType\":\"Runtime.InitError\",\"errorMessage\":\"TABLE_NAME missing\"}' $api/init/error >/dev/null; exit 1",
    )));
    let invocation = invoke_once(&pool, "{}").await;
    assert_eq!(
        invocation.answer,
        Answer::InitError(
            json!({"errorType": "Runtime.InitError", "errorMessage": "TABLE_NAME missing"})
        )
    );
    assert_eq!(pool.idle(), 0);
}

#[tokio::test]
async fn a_crash_is_an_exit_error_and_the_next_invocation_is_cold() {
    // Exit mid-invoke -> Runtime.ExitError naming the exit status.
    let pool = Pool::new(config(shell_function(&format!("{NEXT}\nexit 3"))));
    let invocation = invoke_once(&pool, "{}").await;
    let payload = invocation.answer.payload(&invocation.request_id);
    assert_eq!(payload["errorType"], "Runtime.ExitError");
    let message = payload["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "RequestId: {} Error: Runtime exited with error: exit status: 3",
            invocation.request_id
        )),
        "{message}"
    );
    assert!(
        invocation
            .report()
            .ends_with("Status: error\tError Type: Runtime.ExitError")
    );
    assert_eq!(pool.idle(), 0);
    assert!(
        invoke_once(&pool, "{}").await.init.is_some(),
        "not a cold start"
    );
}

#[tokio::test]
async fn a_timeout_kills_the_process_and_reports_sandbox_timedout() {
    let mut quick = config(shell_function(&format!("{NEXT}\nexec sleep 30")));
    quick.timeout = Duration::from_millis(250);
    let pool = Pool::new(quick);
    let invocation = invoke_once(&pool, "{}").await;
    assert_eq!(
        invocation.answer,
        Answer::TimedOut(Duration::from_millis(250))
    );
    let payload = invocation.answer.payload(&invocation.request_id);
    assert_eq!(payload["errorType"], "Sandbox.Timedout");
    assert_eq!(
        payload["errorMessage"],
        format!(
            "RequestId: {} Error: Task timed out after 0.25 seconds",
            invocation.request_id
        )
    );
    assert!(invocation.log.contains("Task timed out after 0.25 seconds"));
    assert!(invocation.report().ends_with("Status: timeout"));
    assert_eq!(pool.idle(), 0, "a timed-out environment is discarded");
}

#[tokio::test]
async fn a_response_over_the_limit_is_refused_as_lambda_refuses_it() {
    // /response of 6,291,557 bytes: 413 to the runtime, and the caller
    // gets Function.ResponseSizeTooLarge.
    let big = MAX_RESPONSE_BYTES + 1;
    let pool = Pool::new(config(shell_function(&format!(
        "{NEXT}\nhead -c {big} /dev/zero | tr '\\0' a > /tmp/$$.big\nstatus=$(curl -s -o /dev/null -w '%{{http_code}}' -X POST --data-binary @/tmp/$$.big $api/invocation/$id/response)\necho \"runtime got $status\"\nrm -f /tmp/$$.big\nexec sleep 30"
    ))));
    let invocation = invoke_once(&pool, "{}").await;
    assert_eq!(invocation.answer, Answer::ResponseTooLarge(big));
    assert_eq!(
        invocation.answer.payload("x")["errorType"],
        "Function.ResponseSizeTooLarge"
    );
}

#[tokio::test]
async fn an_unknown_or_answered_request_id_is_a_400() {
    // /response for an id that is not waiting -> 400 InvalidRequestID.
    let pool = Pool::new(config(shell_function(&format!(
        "{NEXT}\nunknown=$(curl -s -o /dev/null -w '%{{http_code}}' -X POST -d 1 $api/invocation/not-an-id/response)\ncurl -s -X POST -d 1 $api/invocation/$id/response >/dev/null\nagain=$(curl -s -o /dev/null -w '%{{http_code}}' -X POST -d 1 $api/invocation/$id/response)\necho \"unknown=$unknown again=$again\"\nexec sleep 30"
    ))));
    let invocation = invoke_once(&pool, "{}").await;
    assert_eq!(invocation.answer, Answer::Response(json!(1)));
    // The log line comes after the answer; wait for it with a deadline.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = pool.idle.lock().unwrap()[0]
            .shared
            .capture
            .lock()
            .unwrap()
            .clone();
        if log.contains("unknown=400 again=400") {
            break;
        }
        assert!(Instant::now() < deadline, "log: {log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn next_carries_the_headers_the_rust_runtime_needs() {
    let pool = Pool::new(config(shell_function(&format!(
        "while true; do\n{NEXT}\ntr -d '\\r' < /tmp/$$.headers | grep -i '^lambda-runtime' | sort > /tmp/$$.h2\ncurl -s -X POST --data-binary @/tmp/$$.h2 $api/invocation/$id/response >/dev/null\ndone"
    ))));
    let invocation = invoke_once(&pool, "{}").await;
    let Answer::Response(Value::String(headers)) = &invocation.answer else {
        panic!("{:?}", invocation.answer);
    };
    let value = |name: &str| {
        headers
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("{name} missing in {headers}"))
            .to_owned()
    };
    assert_eq!(
        value("lambda-runtime-aws-request-id"),
        invocation.request_id
    );
    assert_eq!(
        value("lambda-runtime-invoked-function-arn"),
        "arn:aws:lambda:us-east-1:123456789012:function:fake"
    );
    let deadline: u128 = value("lambda-runtime-deadline-ms").parse().unwrap();
    let now = epoch_ms(SystemTime::now());
    assert!(
        deadline > now && deadline <= now + 10_000,
        "deadline {deadline}, now {now}"
    );
    assert!(value("lambda-runtime-trace-id").starts_with("Root=1-"));
}

#[tokio::test]
async fn reserved_variables_win_over_the_templates_and_the_execution_env_is_unset() {
    let mut config = config(shell_function(&format!(
        "while true; do\n{NEXT}\nprintf '%s|%s|%s|%s|%s' \"$AWS_LAMBDA_FUNCTION_NAME\" \"$AWS_LAMBDA_FUNCTION_MEMORY_SIZE\" \"$AWS_REGION\" \"${{AWS_EXECUTION_ENV-unset}}\" \"$OWN\" > /tmp/$$.env\ncurl -s -X POST --data-binary @/tmp/$$.env $api/invocation/$id/response >/dev/null\ndone"
    )));
    config
        .environment
        .insert("AWS_LAMBDA_FUNCTION_NAME".into(), "spoofed".into());
    config.environment.insert("OWN".into(), "mine".into());
    config.memory_mb = 256;
    let pool = Pool::new(config);
    let invocation = invoke_once(&pool, "{}").await;
    assert_eq!(
        invocation.answer,
        Answer::Response(json!("fake|256|us-east-1|unset|mine"))
    );
}

#[tokio::test]
async fn tail_is_the_last_four_kilobytes_of_the_invocations_log() {
    let pool = Pool::new(config(shell_function(&format!(
        "while true; do\n{NEXT}\nfor i in $(seq 1 400); do echo \"line $i of the log\"; done\ncurl -s -X POST -d 1 $api/invocation/$id/response >/dev/null\ndone"
    ))));
    let invocation = pool
        .invoke_with(Bytes::from_static(b"{}"), None, true)
        .await
        .expect("invoked");
    assert!(invocation.log.contains("line 400 of the log"));
    let tail = invocation.log_tail();
    assert!(tail.len() <= 4096 && tail.len() > 4000, "{}", tail.len());
    assert!(tail.ends_with(&format!("{}\n", invocation.report())));
}

#[test]
fn log_stream_dates_are_civil_dates() {
    let date = chrono_date();
    assert_eq!(date.len(), 10);
    assert_eq!(&date[4..5], "/");
    assert!(date.starts_with("20"));
}

#[test]
fn request_ids_look_like_lambdas() {
    let id = request_id();
    let parts: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(parts, [8, 4, 4, 4, 12]);
    assert_ne!(request_id(), request_id());
}

/// One HTTP/1.1 exchange with a Runtime API, as a runtime client makes it;
/// the answer's headers and body.
fn runtime_call(port: u16, method: &str, path: &str, body: &str) -> (String, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: runtime\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an answer");
    (head.to_owned(), body.to_owned())
}

/// `--debug`: no process is started; the event waits on the debug port
/// until a process the user started takes it, and its answer is the
/// invocation's (runtimes-api: next, then response).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debugged_function_waits_for_the_users_process_on_the_debug_port() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let pool = Pool::new(FunctionConfig {
        debug_port: Some(port),
        binary: PathBuf::from("/nonexistent/never-started"),
        ..config(PathBuf::new())
    });
    let user = tokio::task::spawn_blocking(move || {
        // The user starts the process a little later, under a debugger.
        std::thread::sleep(Duration::from_millis(300));
        let (head, event) = runtime_call(port, "GET", "/2018-06-01/runtime/invocation/next", "");
        let id = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("lambda-runtime-aws-request-id")
                    .then(|| v.trim().to_owned())
            })
            .expect("a request id");
        let (answer, _) = runtime_call(
            port,
            "POST",
            &format!("/2018-06-01/runtime/invocation/{id}/response"),
            &format!("{{\"seen\":{event}}}"),
        );
        answer
    });
    let invocation = pool
        .invoke(Bytes::from_static(br#"{"ping":1}"#), None)
        .await
        .expect("invoked");
    let accepted = user.await.expect("user process");
    assert!(accepted.starts_with("HTTP/1.1 202"), "{accepted}");
    match invocation.answer {
        Answer::Response(value) => assert_eq!(value, serde_json::json!({"seen": {"ping": 1}})),
        other => panic!("{other:?}"),
    }
    assert!(
        invocation.init.is_some(),
        "the first invocation is a cold start"
    );
}
