//! Load on the local API: wrk against `cargo xtask local` (in memory and on
//! DynamoDB Local), the local cloud with every function as its binary, and
//! `cargo lambda watch`, with the servers they need.

use super::*;

/// One load target's wrk figures and latency curve (percentile, ms).
pub(super) struct Load {
    pub(super) name: String,
    pub(super) rps: f64,
    pub(super) p50: f64,
    pub(super) p99: f64,
    pub(super) curve: Vec<(f64, f64)>,
}

impl Load {
    /// A markdown table row: name, (route,) req/s, p50, p99.
    pub(super) fn row(&self, route: Option<&str>) -> String {
        let route = route.map(|r| format!(" {r} |")).unwrap_or_default();
        format!(
            "| {} |{route} {:.0} | {} | {} |",
            self.name,
            self.rps,
            fmt(self.p50),
            fmt(self.p99)
        )
    }
}

/// What wrk sends, and what counts as an error besides a failed socket.
pub(super) enum Target<'a> {
    /// `GET url` through a gateway with `Authorization: Bearer TOKEN`; a
    /// non-2xx answer is an error.
    Gateway { token: &'a str },
    /// `POST url` of `event` to a Lambda Invoke API; an answer whose proxy
    /// response is not `statusCode` 200 is an error.
    Invoke { event: &'a str },
}

/// wrk's Lua: the request, an error tally across threads (`bad`, for
/// invoke answers), and the figures the bench reads.
pub(super) fn wrk_script(target: &Target<'_>) -> String {
    let request = match target {
        Target::Gateway { token } => {
            format!("wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n")
        }
        Target::Invoke { event } => format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = [==[{event}]==]\nresponse = function(status, headers, body)\n  if not string.find(body, '\"statusCode\":200', 1, true) then bad = bad + 1 end\nend\n"
        ),
    };
    format!(
        r#"{request}
local threads = {{}}
setup = function(thread) table.insert(threads, thread) end
init = function(args) bad = 0 end
done = function(summary, latency, requests)
  local invalid = 0
  for _, thread in ipairs(threads) do invalid = invalid + thread:get("bad") end
  io.write("REQUESTS ", summary.requests, " ", summary.duration, "\n")
  io.write("ERRORS ", invalid + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout, "\n")
  for _, p in ipairs({{1,5,10,20,30,40,50,60,70,75,80,85,90,95,97.5,99,99.5,99.9}}) do
    io.write("P ", p, " ", latency:percentile(p), "\n")
  end
end
"#
    )
}

pub(super) fn wrk(name: &str, url: &str, target: &Target<'_>) -> Result<Load> {
    wrk_with(name, url, 1, target)
}

/// wrk with `connections` open connections (one thread each, two at most:
/// the machine has two cores).
pub(super) fn wrk_with(
    name: &str,
    url: &str,
    connections: u32,
    target: &Target<'_>,
) -> Result<Load> {
    let script = server::target_dir().join("bench/report.lua");
    if let Some(dir) = script.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&script, wrk_script(target)).map_err(|e| Failed::new(e.to_string()))?;
    let threads = format!("-t{}", connections.min(2));
    let conns = format!("-c{connections}");
    let args = [
        threads.as_str(),
        conns.as_str(),
        "-d",
        WRK_SECONDS,
        "-s",
        &script.to_string_lossy(),
        url,
    ];
    eprintln!("$ wrk {}", args.join(" "));
    let output = Command::new("wrk")
        .args(args)
        .output()
        .map_err(|e| Failed::new(format!("wrk: {e}")))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut requests = 0.0;
    let mut seconds = 0.0;
    let mut errors = 0.0;
    let mut curve = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["REQUESTS", n, micros] => {
                requests = n.parse().unwrap_or(0.0);
                seconds = micros.parse::<f64>().unwrap_or(0.0) / 1e6;
            }
            ["ERRORS", n] => errors = n.parse().unwrap_or(0.0),
            ["P", p, micros] => {
                if let (Ok(p), Ok(us)) = (p.parse::<f64>(), micros.parse::<f64>()) {
                    curve.push((p, us / 1000.0));
                }
            }
            _ => {}
        }
    }
    if requests == 0.0 || seconds == 0.0 || curve.is_empty() {
        return Err(Failed::new(format!(
            "wrk against {url} measured nothing:\n{text}"
        )));
    }
    if errors > 0.0 {
        return Err(Failed::new(format!(
            "wrk against {url}: {errors} errors (non-2xx or socket)"
        )));
    }
    let at = |p: f64| {
        curve
            .iter()
            .find(|(q, _)| (*q - p).abs() < 1e-9)
            .map_or(0.0, |(_, ms)| *ms)
    };
    Ok(Load {
        name: name.to_owned(),
        rps: requests / seconds,
        p50: at(50.0),
        p99: at(99.0),
        curve,
    })
}

/// The claims a REST API's Cognito authorizer passes for a member of
/// staff, for events sent straight to a function.
pub(super) const STAFF_CLAIMS: &str = r#"{"sub":"bench-staff","cognito:username":"bench-staff","cognito:groups":"staff","token_use":"id","iss":"https://cognito-idp.us-east-1.amazonaws.com/bench","aud":"benchclient"}"#;

/// A REST API event for `method path` from a member of staff, as the
/// template's authorizer would let it through.
pub(super) fn staff_event(method: &str, path: &str, body: Option<&str>) -> String {
    let body = body.map_or_else(|| "null".to_owned(), |b| format!("{b:?}"));
    format!(
        r#"{{"httpMethod":"{method}","path":"{path}","resource":"{path}","headers":{{"Content-Type":"application/json"}},"requestContext":{{"requestId":"bench","stage":"dev","authorizer":{{"claims":{STAFF_CLAIMS}}}}},"body":{body},"isBase64Encoded":false}}"#
    )
}

/// The Invoke API URL of `function` behind `cargo lambda watch`.
pub(super) fn watch_invoke_url(function: &str) -> String {
    format!("http://127.0.0.1:{WATCH_PORT}/2015-03-31/functions/{function}/invocations")
}

/// The order a bench places.
pub(super) const BENCH_ORDER: &str =
    r#"{"customerId":"BENCH","items":[{"productId":"PROD-A","quantity":1}]}"#;

/// An HTTP/1.1 `POST path` of the JSON `body` to `host`, closing after
/// the answer; `headers` are further header lines, each ending in CRLF.
pub(super) fn post_request(host: &str, path: &str, headers: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// `POST /orders` through the local gateway as `token`'s caller; returns
/// the new order's id.
pub(super) fn place_one(base: &str, token: &str) -> Result<String> {
    let address = base.trim_start_matches("http://");
    let body = BENCH_ORDER;
    let request = post_request(
        address,
        "/orders",
        &format!("Authorization: Bearer {token}\r\n"),
        body,
    );
    let raw = exchange(address, &request)?;
    order_id_in(&raw, "\"orderId\":\"")
        .ok_or_else(|| Failed::new(format!("no order placed at {base}: {raw}")))
}

/// `POST /orders` as a member of staff through `cargo lambda watch`'s
/// Invoke API (it has no authorizer: cargo-lambda#676); returns the new
/// order's id. The wait is long: the first request may start a build.
pub(super) fn place_one_by_invoke(function: &str) -> Result<String> {
    let url = watch_invoke_url(function);
    let address = url.trim_start_matches("http://");
    let (host, path) = address.split_once('/').unwrap_or((address, ""));
    let event = staff_event("POST", "/orders", Some(BENCH_ORDER));
    let request = post_request(host, &format!("/{path}"), "", &event);
    let raw = exchange(host, &request)?;
    // The proxy response's body is a JSON string: its quotes are escaped.
    order_id_in(&raw, "\\\"orderId\\\":\\\"")
        .ok_or_else(|| Failed::new(format!("no order placed through {url}: {raw}")))
}

/// The `ORD-…` id after `marker` in `raw`.
pub(super) fn order_id_in(raw: &str, marker: &str) -> Option<String> {
    let rest = &raw[raw.find(marker)? + marker.len()..];
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    id.starts_with("ORD-").then_some(id)
}

/// One request over a raw socket, `Connection: close`; the whole answer.
pub(super) fn exchange(host: &str, request: &str) -> Result<String> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(host).map_err(|e| Failed::new(format!("{host}: {e}")))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(240)))
        .map_err(|e| Failed::new(e.to_string()))?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| Failed::new(e.to_string()))?;
    let mut raw = String::new();
    stream
        .read_to_string(&mut raw)
        .map_err(|e| Failed::new(e.to_string()))?;
    Ok(raw)
}

/// The DynamoDB endpoint a local server logged at start.
/// The DynamoDB endpoint the local server's start line names: the store
/// part of `API on URL (stage S; <store> at URL; …)`.
pub(super) fn logged_endpoint(log: &str) -> Option<String> {
    let line = log.lines().find(|line| line.contains("API on http"))?;
    let store = line.split("(stage ").nth(1)?.split(';').nth(1)?;
    let url = store.split(" at ").nth(1)?;
    let url = url.split([',', ')']).next()?.trim();
    url.starts_with("http").then(|| url.to_owned())
}

pub(super) fn local_api(report: &mut Report, path: &str, api: &str) -> Result<Vec<Load>> {
    let mut loads = Vec::new();
    // The in-memory store, as `cargo xtask local` runs by default.
    let memory = LocalServer::start(&[], "bench-local-memory.log")?;
    // Every request carries a staff id token, as the template's
    // authorizer wants.
    let token = server::token(&["--staff"])?;
    let gateway = Target::Gateway { token: &token };
    let id = place_one(&memory.url(), &token);
    let measured = id.and_then(|id| {
        wrk(
            "cargo xtask local (in memory)",
            &format!("{}/orders/{id}", memory.url()),
            &gateway,
        )
    });
    memory.stop();
    loads.push(measured?);

    // DynamoDB Local, shared with cargo lambda watch.
    let dynamo = LocalServer::start(
        &["--dynamodb", "local", "--table", "bench-orders"],
        "bench-local-dynamodb.log",
    )?;
    let outcome = (|| -> Result<(Load, Load)> {
        let endpoint = logged_endpoint(&dynamo.log())
            .ok_or_else(|| Failed::new("the local server did not log its DynamoDB endpoint"))?;
        let id = place_one(&dynamo.url(), &token)?;
        let local = wrk(
            "cargo xtask local (DynamoDB Local)",
            &format!("{}/orders/{id}", dynamo.url()),
            &gateway,
        )?;
        let watch = watch_api_function(&endpoint, path, api)?;
        // The first request through watch builds and starts the function.
        let result = place_one_by_invoke(api).and_then(|id| {
            let event = staff_event("GET", &format!("/orders/{id}"), None);
            wrk(
                "cargo lambda watch (DynamoDB Local)",
                &watch_invoke_url(api),
                &Target::Invoke { event: &event },
            )
        });
        stop_child(watch);
        Ok((local, result?))
    })();
    dynamo.stop();
    let (local_dynamo, watch) = outcome?;
    let memory_load = &loads[0];
    report.goal(
        "local API p99 <= 2 ms (in memory)",
        format!("{} ms", fmt(memory_load.p99)),
        memory_load.p99 <= 2.0,
    );
    report.goal(
        "local API >= 10x the req/s of cargo lambda watch, same function, same run",
        format!(
            "{:.1}x in memory, {:.1}x both on DynamoDB Local",
            memory_load.rps / watch.rps,
            local_dynamo.rps / watch.rps
        ),
        memory_load.rps / watch.rps >= 10.0,
    );
    loads.push(local_dynamo);
    loads.push(watch);
    let mut text = format!(
        "`wrk -t1 -c1 -d{WRK_SECONDS}s` (one connection, so latency is per request, not \
         queueing) on `GET /orders/{{id}}` of an order placed first. `cargo xtask local` runs \
         the debug build of the toolkit, as a developer does, with a staff id token on every request; \
         `cargo lambda watch` runs the API function's debug build and, having no authorizer \
         (cargo-lambda#676), is sent through its Invoke API the REST event the authorizer would \
         make (an answer whose `statusCode` is not 200 counts as an error), with the same DynamoDB \
         Local as the second row. \
         Chart: [local-api-latency.svg](benchmarks/local-api-latency.svg).\n\n\
         | target | req/s | p50 ms | p99 ms |\n|---|---:|---:|---:|\n"
    );
    for load in &loads {
        let _ = writeln!(text, "{}", load.row(None));
    }
    let _ = writeln!(
        text,
        "\nRatio of requests per second, local / watch: {:.1}x in memory, {:.1}x with both on DynamoDB Local.",
        loads[0].rps / loads[2].rps,
        loads[1].rps / loads[2].rps
    );
    report.text("Local API", text);
    Ok(loads)
}

/// `infra/template.yaml` with the resources of the toolkit's fixture
/// (`crates/toolkit/fixtures/echo-function.yaml`): fixture-echo, a function
/// only this copy of the template declares, on `GET /echo/{word}`.
pub(super) fn template_with_echo() -> Result<PathBuf> {
    let root = cmd::project_root();
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path)).map_err(|e| Failed::new(format!("{path}: {e}")))
    };
    // Written under target/, so each CodeUri (relative to its template's
    // folder) becomes the project root it names.
    let absolute = |text: String, relative: &str| {
        text.replace(
            &format!("CodeUri: {relative}\n"),
            &format!("CodeUri: {}\n", root.display()),
        )
    };
    let template = absolute(read("infra/template.yaml")?, "..");
    let extra = absolute(
        read("crates/toolkit/fixtures/echo-function.yaml")?,
        "../../..",
    );
    let (resources, outputs) = template
        .split_once("\nOutputs:")
        .ok_or_else(|| Failed::new("infra/template.yaml has no Outputs section"))?;
    let path = server::target_dir().join("bench/template-with-echo.yaml");
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&path, format!("{resources}\n{extra}\nOutputs:{outputs}"))
        .map_err(|e| Failed::new(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// The `Duration` of every `REPORT` line `function` wrote to `log`, in ms.
pub(super) fn report_durations(log: &str, function: &str) -> Vec<f64> {
    let prefix = format!("[{function}] REPORT ");
    log.lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .filter_map(|rest| {
            let field = rest.split('\t').find(|f| f.starts_with("Duration: "))?;
            field
                .trim_start_matches("Duration: ")
                .trim_end_matches(" ms")
                .parse()
                .ok()
        })
        .collect()
}

/// The local cloud: functions as binaries in warm pools, against
/// in-process and cargo lambda watch, 1 and 8 connections; a 20 ms
/// function across the pool; the emulation's own cost.
pub(super) fn local_cloud(report: &mut Report, path: &str, api: &str) -> Result {
    cmd::run(&cmd::cargo(), ["build", "--workspace", "--bins"])?;
    let mut rows: Vec<(Load, &str)> = Vec::new();
    let mut token = String::new();

    // GET /orders/{id} on DynamoDB Local: in-process, as binaries, watch.
    for (mode, flags, log) in [
        ("in-process", vec![], "bench-cloud-inprocess.log"),
        ("--binaries", vec!["--binaries"], "bench-cloud-binaries.log"),
    ] {
        let mut all = vec![
            "--dynamodb",
            "local",
            "--table",
            "bench-orders",
            "--no-build",
        ];
        all.extend(flags);
        let server = LocalServer::start(&all, log)?;
        token = server::token(&["--staff"])?;
        let gateway = Target::Gateway { token: &token };
        let measured = (|| -> Result<Vec<Load>> {
            let id = place_one(&server.url(), &token)?;
            let url = format!("{}/orders/{id}", server.url());
            Ok(vec![
                wrk_with(&format!("local {mode}, 1 connection"), &url, 1, &gateway)?,
                wrk_with(&format!("local {mode}, 8 connections"), &url, 8, &gateway)?,
            ])
        })();
        let endpoint = logged_endpoint(&server.log());
        if mode == "--binaries" {
            // cargo lambda watch on the same DynamoDB Local, while it runs.
            let endpoint = endpoint.ok_or_else(|| Failed::new("no DynamoDB endpoint logged"))?;
            let watch = watch_api_function(&endpoint, path, api)?;
            let url = watch_invoke_url(api);
            let result = place_one_by_invoke(api).and_then(|id| {
                let event = staff_event("GET", &format!("/orders/{id}"), None);
                let invoke = Target::Invoke { event: &event };
                Ok(vec![
                    wrk_with("cargo lambda watch, 1 connection", &url, 1, &invoke)?,
                    wrk_with("cargo lambda watch, 8 connections", &url, 8, &invoke)?,
                ])
            });
            stop_child(watch);
            server.stop();
            for load in measured? {
                rows.push((load, "GET /orders/{id}, DynamoDB Local"));
            }
            for load in result? {
                rows.push((load, "GET /orders/{id}, DynamoDB Local"));
            }
        } else {
            server.stop();
            for load in measured? {
                rows.push((load, "GET /orders/{id}, DynamoDB Local"));
            }
        }
    }

    // fixture-echo as its binary: 20 ms of its own, then none.
    let template = template_with_echo()?;
    let template_text = template.to_string_lossy().into_owned();
    let mut echo = Vec::new();
    let mut overhead_us = Vec::new();
    for delay in [20, 0] {
        let env_path = server::target_dir().join(format!("bench/echo-env-{delay}.json"));
        std::fs::write(
            &env_path,
            format!("{{\"EchoFunction\": {{\"ECHO_DELAY_MS\": \"{delay}\"}}}}"),
        )
        .map_err(|e| Failed::new(e.to_string()))?;
        let env_text = env_path.to_string_lossy().into_owned();
        let log = format!("bench-cloud-echo-{delay}.log");
        let server = LocalServer::start(
            &[
                "--template",
                &template_text,
                "--env-vars",
                &env_text,
                "--no-build",
                "--concurrency",
                "8",
            ],
            &log,
        )?;
        let url = format!("{}/echo/bench", server.url());
        let gateway = Target::Gateway { token: &token };
        let measured = if delay > 0 {
            wrk_with("fixture-echo (20 ms), 1 connection", &url, 1, &gateway).and_then(|one| {
                Ok(vec![
                    one,
                    wrk_with("fixture-echo (20 ms), 8 connections", &url, 8, &gateway)?,
                ])
            })
        } else {
            wrk_with("fixture-echo (0 ms), 1 connection", &url, 1, &gateway).map(|one| vec![one])
        };
        let log_text = server.log();
        server.stop();
        let measured = measured?;
        if delay == 0 {
            // The gateway and runtime round trip: the request's median
            // latency less the function's own median Duration.
            let mut own = report_durations(&log_text, "EchoFunction");
            if own.is_empty() {
                return Err(Failed::new("fixture-echo wrote no REPORT lines"));
            }
            own.sort_by(f64::total_cmp);
            let own_median = own[own.len() / 2];
            overhead_us.push((measured[0].p50 - own_median) * 1000.0);
            overhead_us.push(own_median * 1000.0);
        }
        echo.extend(measured);
    }
    let ratio = echo[1].rps / echo[0].rps;
    report.goal(
        "local cloud: 8 connections >= 5x the req/s of 1 on a 20 ms function (warm pool in parallel)",
        format!("{ratio:.1}x ({:.0} vs {:.0} req/s)", echo[1].rps, echo[0].rps),
        ratio >= 5.0,
    );
    let mut text = format!(
        "`wrk -t1|2 -c1|8 -d{WRK_SECONDS}s` against the local cloud (debug builds, as a developer \
         runs them). On DynamoDB Local, `GET /orders/{{id}}`: the functions in-process, as their \
         binaries in warm pools (`--binaries`, up to 10 processes per function), and the API function \
         behind `cargo lambda watch` (one process, through its Invoke API). Then fixture-echo, a function only a fixture \
         template declares, as its binary with `--concurrency 8`: sleeping 20 ms a request, and \
         not at all.\n\n\
         | target | route | req/s | p50 ms | p99 ms |\n|---|---|---:|---:|---:|\n"
    );
    for (load, route) in &rows {
        let _ = writeln!(text, "{}", load.row(Some(route)));
    }
    for load in &echo {
        let _ = writeln!(text, "{}", load.row(Some("GET /echo/{word}, memory")));
    }
    let _ = writeln!(
        text,
        "\n8 connections on the 20 ms function: {ratio:.1}x the requests per second of 1. \
         The emulation's own cost (gateway, event, Runtime API round trip, response), the \
         median request latency of fixture-echo at 0 ms less the function's median \
         `Duration` from its REPORT lines: {:.0} µs (the function's own median: {:.0} µs).",
        overhead_us[0], overhead_us[1]
    );
    report.text("Local cloud", text);
    Ok(())
}

pub(super) const WATCH_PORT: u16 = 9311;

/// `cargo lambda watch` serving the API's function (`binary`), on the
/// DynamoDB at `endpoint`.
pub(super) fn watch_api_function(endpoint: &str, path: &str, binary: &str) -> Result<Child> {
    // watch builds on the first request; build first, so that the first
    // request does not wait for a compiler.
    cmd::run(&cmd::cargo(), ["build", "--package", binary])?;
    let log_path = server::target_dir().join("bench-cargo-lambda-watch.log");
    let log = std::fs::File::create(&log_path).map_err(|e| Failed::new(e.to_string()))?;
    let log_err = log.try_clone().map_err(|e| Failed::new(e.to_string()))?;
    let env = format!(
        "TABLE_NAME=bench-orders,EVENT_BUS_NAME=bench,CURSOR_SIGNING_KEY=bench-cursor-key-of-at-least-32-bytes,TOKEN_ISSUER=https://cognito-idp.us-east-1.amazonaws.com/bench,TOKEN_AUDIENCE=benchclient,AWS_ENDPOINT_URL_DYNAMODB={endpoint},AWS_ENDPOINT_URL_EVENTBRIDGE=http://127.0.0.1:9,AWS_REGION=us-east-1,AWS_ACCESS_KEY_ID=local,AWS_SECRET_ACCESS_KEY=local"
    );
    let port = WATCH_PORT.to_string();
    let args = [
        "lambda",
        "watch",
        "--package",
        binary,
        "--invoke-port",
        &port,
        "--ignore-changes",
        "--env-var",
        &env,
    ];
    eprintln!("$ cargo {} (log: {})", args.join(" "), log_path.display());
    let mut child = cmd::clean_cargo_env(&mut Command::new(cmd::cargo()))
        .args(args)
        .env("PATH", path)
        .current_dir(cmd::project_root())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|e| Failed::new(format!("cargo lambda watch: {e}")))?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(180) {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Failed::new(format!(
                "cargo lambda watch exited ({status}); log: {}",
                log_path.display()
            )));
        }
        if std::net::TcpStream::connect(("127.0.0.1", WATCH_PORT)).is_ok() {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop_child(child);
    Err(Failed::new(
        "cargo lambda watch did not listen within 180 s",
    ))
}

/// Stops a child started in its own process group, and its children.
pub(super) fn stop_child(mut child: Child) {
    let group = format!("-{}", child.id());
    server::terminate(&mut child, &group, Duration::from_secs(10));
}
