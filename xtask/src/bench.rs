//! `bench`: every performance figure of the project, measured on this
//! machine and written to `BENCHMARKS.md` with an SVG of the local API's
//! latency distributions (`benchmarks/local-api-latency.svg`).
//!
//! 1. Size: `cargo lambda build --release --x86-64 --output-format zip`,
//!    the zips' sizes, and `cargo tree -d` of hyper/rustls/http in the
//!    function binaries.
//! 2. Cold start: each function's release bootstrap, from that build, run
//!    `RUNS + 1` times, each a new process, under the toolkit's Runtime API
//!    emulator against DynamoDB Local; the first run warms DynamoDB Local's
//!    JVM and is left out.
//! 3. Warm handler cost: the criterion benches of `adapters-http` and
//!    `event-pattern`.
//! 4. Local API: wrk against `cargo xtask local` (in memory, and on
//!    DynamoDB Local) and against `cargo lambda watch` serving the API's function on
//!    the same DynamoDB Local, in the same run.
//! 5. The test suites' wall times, after the build.
//! 6. The local cloud's start: from `orders-toolkit local --binaries` to
//!    its first answer, on the embedded DynamoDB and on DynamoDB Local;
//!    and the repository contract suite's time on each.

use std::fmt::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cmd::{self, Failed, Result};
use crate::functions::{Function, api_function, template_functions};
use crate::server::{self, LocalServer};

/// Cold runs measured per function.
const RUNS: usize = 30;
/// Seconds of load per wrk run.
const WRK_SECONDS: &str = "5";

pub(crate) const USAGE: &str = "\
bench: measure cold start, warm cost, local API load, sizes and suite times;
write BENCHMARKS.md and benchmarks/local-api-latency.svg (installs cargo-lambda
into target/bench-venv and wrk with apt-get when missing, and says so)";

/// min / median / p99 / max of a sample.
#[derive(Debug, Clone, Copy)]
struct Stats {
    min: f64,
    median: f64,
    p99: f64,
    max: f64,
    n: usize,
}

impl Stats {
    fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |p: f64| {
            sorted[((p * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
        };
        Some(Self {
            min: sorted[0],
            median: at(0.5),
            p99: at(0.99),
            max: sorted[sorted.len() - 1],
            n: sorted.len(),
        })
    }
}

/// One row of a figure table.
struct Row {
    what: String,
    unit: &'static str,
    stats: Stats,
}

/// One line of the goals table.
struct Goal {
    goal: String,
    measured: String,
    met: bool,
}

#[derive(Default)]
struct Report {
    sections: Vec<(String, String)>,
    goals: Vec<Goal>,
}

impl Report {
    fn table(&mut self, title: &str, note: &str, rows: &[Row]) {
        let mut text = format!(
            "{note}\n\n| what | unit | min | median | p99 | max | runs |\n|---|---|---:|---:|---:|---:|---:|\n"
        );
        for row in rows {
            let s = row.stats;
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} | {} | {} | {} |",
                row.what,
                row.unit,
                fmt(s.min),
                fmt(s.median),
                fmt(s.p99),
                fmt(s.max),
                s.n
            );
        }
        self.sections.push((title.to_owned(), text));
    }

    fn text(&mut self, title: &str, text: String) {
        self.sections.push((title.to_owned(), text));
    }

    fn goal(&mut self, goal: impl Into<String>, measured: String, met: bool) {
        self.goals.push(Goal {
            goal: goal.into(),
            measured,
            met,
        });
    }
}

fn fmt(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

pub(crate) fn run(args: &[String]) -> Result {
    if !args.is_empty() {
        return Err(Failed::new(format!(
            "bench takes no arguments, got {args:?}\n\n{USAGE}"
        )));
    }
    let started = Instant::now();
    let root = cmd::project_root();
    let target = server::target_dir();
    let path = ensure_tools(&target)?;
    crate::install::ensure_dynamodb_local();
    let mut report = Report::default();

    let functions = template_functions()?;
    let api = api_function(&functions)?.binary.clone();
    let bootstraps = sizes(&mut report, &target, &path, &functions)?;
    cold_starts(&mut report, &bootstraps)?;
    criterion(&mut report, &target)?;
    let curves = local_api(&mut report, &path, &api)?;
    local_cloud(&mut report, &path, &api)?;
    start_times(&mut report)?;
    contract_suites(&mut report)?;
    suites(&mut report)?;

    let svg_path = root.join("benchmarks/local-api-latency.svg");
    if let Some(dir) = svg_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Failed::new(format!("{}: {e}", dir.display())))?;
    }
    std::fs::write(&svg_path, svg(&curves))
        .map_err(|e| Failed::new(format!("{}: {e}", svg_path.display())))?;
    let markdown = markdown(&report, started.elapsed());
    let md_path = root.join("BENCHMARKS.md");
    std::fs::write(&md_path, &markdown)
        .map_err(|e| Failed::new(format!("{}: {e}", md_path.display())))?;
    println!("{markdown}");
    eprintln!(
        "bench: wrote {} and {} in {:.0} s",
        md_path.display(),
        svg_path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// cargo-lambda (target/bench-venv) and wrk; returns the PATH to run with.
fn ensure_tools(target: &Path) -> Result<String> {
    let venv = target.join("bench-venv");
    let venv_bin = venv.join("bin");
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let has_lambda = Command::new(cmd::cargo())
        .args(["lambda", "--version"])
        .env("PATH", &path)
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_lambda {
        eprintln!(
            "cargo-lambda not found: installing it (and ziglang) from PyPI into {}",
            venv.display()
        );
        cmd::venv_install(&venv, &["cargo-lambda"])?;
    }
    let has_wrk = Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty());
    if !has_wrk {
        eprintln!("wrk not found: installing Debian's wrk with apt-get");
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        let (program, prefix): (&str, &[&str]) = if root {
            ("apt-get", &[])
        } else {
            ("sudo", &["apt-get"])
        };
        let mut update: Vec<&str> = prefix.to_vec();
        update.extend(["update", "-qq"]);
        cmd::run(program, update)?;
        let mut install: Vec<&str> = prefix.to_vec();
        install.extend(["install", "-y", "-qq", "wrk"]);
        cmd::run_with_env(program, install, &[("DEBIAN_FRONTEND", "noninteractive")])?;
    }
    Ok(path)
}

/// Builds the zips, records their sizes and the duplicate check; returns
/// each function's unzipped bootstrap.
fn sizes(
    report: &mut Report,
    target: &Path,
    path: &str,
    functions: &[Function],
) -> Result<Vec<(Function, PathBuf)>> {
    let mut build = vec![
        "lambda",
        "build",
        "--release",
        "--x86-64",
        "--output-format",
        "zip",
    ];
    for function in functions {
        build.extend(["--package", function.binary.as_str()]);
    }
    cmd::run_with_env(&cmd::cargo(), build, &[("PATH", path)])?;
    let mut text = String::from(
        "`cargo lambda build --release --x86-64 --output-format zip` (the arm64 \
         build runs in the GitHub pipeline; no other target can be added here).\n\n\
         | function | bootstrap.zip | bootstrap |\n|---|---:|---:|\n",
    );
    let mut bootstraps = Vec::new();
    for spec in functions {
        let function = spec.binary.as_str();
        let zip = target.join("lambda").join(function).join("bootstrap.zip");
        let zipped = file_size(&zip)?;
        let out = target.join("bench").join(function);
        let _ = std::fs::remove_dir_all(&out);
        cmd::run(
            "python3",
            [
                "-m",
                "zipfile",
                "-e",
                &zip.to_string_lossy(),
                &out.to_string_lossy(),
            ],
        )?;
        let bootstrap = out.join("bootstrap");
        make_executable(&bootstrap)?;
        let unzipped = file_size(&bootstrap)?;
        let _ = writeln!(
            text,
            "| {function} | {:.2} MB | {:.2} MB |",
            mb(zipped),
            mb(unzipped)
        );
        report.goal(
            format!("{function} bootstrap.zip <= 3.5 MB"),
            format!("{:.2} MB", mb(zipped)),
            mb(zipped) <= 3.5,
        );
        bootstraps.push((spec.clone(), bootstrap));
    }
    text.push_str("\nDuplicate versions of hyper, rustls, http or h2 in the function binaries (`cargo tree -d -e normal`):\n\n");
    for function in functions.iter().map(|f| f.binary.as_str()) {
        let output = Command::new(cmd::cargo())
            .args([
                "tree",
                "--package",
                function,
                "-e",
                "normal",
                "-d",
                "--depth",
                "0",
                "--prefix",
                "none",
            ])
            .current_dir(cmd::project_root())
            .output()
            .map_err(|e| Failed::new(format!("cargo tree: {e}")))?;
        let listing = String::from_utf8_lossy(&output.stdout);
        let mut found: Vec<String> = listing
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| {
                matches!(
                    *name,
                    "hyper"
                        | "rustls"
                        | "http"
                        | "h2"
                        | "hyper-rustls"
                        | "tokio-rustls"
                        | "http-body"
                )
            })
            .map(str::to_owned)
            .collect();
        found.sort();
        found.dedup();
        let _ = writeln!(
            text,
            "- {function}: {}",
            if found.is_empty() {
                "none".to_owned()
            } else {
                found.join(", ")
            }
        );
    }
    report.text("Size", text);
    Ok(bootstraps)
}

fn file_size(path: &Path) -> Result<u64> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| Failed::new(format!("{}: {e}", path.display())))
}

fn make_executable(path: &Path) -> Result {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Failed::new(format!("{}: {e}", path.display())))
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// `REPORT` lines as (init ms, duration ms, max memory MB).
fn parse_reports(text: &str) -> Vec<(f64, f64, f64)> {
    let number_after = |line: &str, label: &str| -> Option<f64> {
        let rest = &line[line.find(label)? + label.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    text.lines()
        .filter(|line| line.starts_with("REPORT "))
        .filter_map(|line| {
            Some((
                number_after(line, "Init Duration: ")?,
                number_after(line, "\tDuration: ")?,
                number_after(line, "Max Memory Used: ")?,
            ))
        })
        .collect()
}

fn cold_starts(report: &mut Report, bootstraps: &[(Function, PathBuf)]) -> Result {
    crate::server::build_toolkit()?;
    let toolkit = server::target_dir().join("debug/orders-toolkit");
    let root = cmd::project_root();
    let mut rows = Vec::new();
    let variants: Vec<(&Function, &PathBuf, bool)> = bootstraps
        .iter()
        .flat_map(|(function, bootstrap)| {
            let mut runs = vec![(function, bootstrap, true)];
            if function.serves_the_api() {
                runs.push((function, bootstrap, false));
            }
            runs
        })
        .collect();
    for (spec, bootstrap, warm_up) in variants {
        let function = &spec.binary;
        let label = if warm_up {
            function.clone()
        } else {
            format!("{function} (ORDERS_WARM_UP=off)")
        };
        // The sample event of what invokes the function.
        let event = if spec.serves_the_api() {
            "events/apigw/rest-create-order.json"
        } else if spec.is_a_rule_target() {
            "events/eventbridge/order-placed.json"
        } else {
            "events/eventbridge/scheduled.json"
        };
        let runs = (RUNS + 1).to_string();
        let binary = bootstrap.to_string_lossy();
        let mut args = vec![
            "invoke",
            function.as_str(),
            "--binary",
            &binary,
            "--event",
            event,
            "--runs",
            &runs,
            "--table",
            "bench-orders",
        ];
        if !warm_up {
            args.extend(["--env", "ORDERS_WARM_UP=off"]);
        }
        eprintln!("$ {} {}", toolkit.display(), args.join(" "));
        let output = Command::new(&toolkit)
            .args(args)
            .current_dir(&root)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Failed::new(format!("{}: {e}", toolkit.display())))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(Failed::new(format!(
                "cold runs of {function} failed:\n{}",
                stderr.lines().rev().take(20).collect::<Vec<_>>().join("\n")
            )));
        }
        let reports = parse_reports(&stderr);
        if reports.len() != RUNS + 1 {
            return Err(Failed::new(format!(
                "expected {} REPORT lines from {function}, found {}",
                RUNS + 1,
                reports.len()
            )));
        }
        let measured = &reports[1..];
        let column = |i: usize| -> Vec<f64> {
            measured
                .iter()
                .map(|r| match i {
                    0 => r.0,
                    1 => r.1,
                    _ => r.2,
                })
                .collect()
        };
        let (init, first, memory) = (column(0), column(1), column(2));
        let stats = |v: &[f64]| Stats::of(v).ok_or_else(|| Failed::new("no runs"));
        let init_stats = stats(&init)?;
        let memory_stats = stats(&memory)?;
        if spec.serves_the_api() && warm_up {
            report.goal(
                format!("{function} Init Duration median <= 20 ms (DynamoDB and EventBridge clients built)"),
                format!("{} ms", fmt(init_stats.median)),
                init_stats.median <= 20.0,
            );
            report.goal(
                format!("{function} Max Memory Used <= 24 MB"),
                format!(
                    "{} MB (max of {} runs)",
                    fmt(memory_stats.max),
                    memory_stats.n
                ),
                memory_stats.max <= 24.0,
            );
        }
        rows.push(Row {
            what: format!("{label} Init Duration"),
            unit: "ms",
            stats: init_stats,
        });
        rows.push(Row {
            what: format!("{label} first-invoke Duration"),
            unit: "ms",
            stats: stats(&first)?,
        });
        rows.push(Row {
            what: format!("{label} Max Memory Used"),
            unit: "MB",
            stats: memory_stats,
        });
    }
    report.table(
        "Cold start",
        &format!(
            "Each function's release `bootstrap` (from the zip above) started {} times, \
             each a new process, under the toolkit's Runtime API emulator (`cargo xtask invoke \
             … --runs`), against DynamoDB Local over http on 127.0.0.1; the first run warms \
             DynamoDB Local's JVM and is left out. Init Duration is process start to the first \
             `next`; the SDK clients (with their credentials, region and endpoint) are built \
             during init, and init opens their connections (a `GetItem` of a key no item has, \
             and a `PutEvents` with no entries, which EventBridge refuses and which publishes \
             nothing), so the first request pays no connect and, on AWS, no TLS handshake; the \
             `ORDERS_WARM_UP=off` rows show the API's function without that. Against DynamoDB Local there is \
             no TLS, so here it saves a TCP connect only. Events: `events/apigw/rest-create-order.json` for the \
             function on the API routes (it places an order) and `events/eventbridge/order-placed.json` for the \
             rule's target (it looks the order up). \
             Max Memory Used is the process's peak resident set (`VmHWM`).",
            RUNS + 1
        ),
        &rows,
    );
    Ok(())
}

/// The per-iteration times of a criterion benchmark's samples, in ns.
fn criterion_samples(target: &Path, id: &str) -> Result<Vec<f64>> {
    let path = target.join("criterion").join(id).join("new/sample.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failed::new(format!("{}: {e}", path.display())))?;
    let array = |key: &str| -> Vec<f64> {
        text.find(&format!("\"{key}\":["))
            .map(|at| {
                let rest = &text[at + key.len() + 4..];
                rest[..rest.find(']').unwrap_or(0)]
                    .split(',')
                    .filter_map(|n| n.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (iters, times) = (array("iters"), array("times"));
    if iters.is_empty() || iters.len() != times.len() {
        return Err(Failed::new(format!("{}: no samples", path.display())));
    }
    Ok(iters.iter().zip(&times).map(|(i, t)| t / i).collect())
}

fn criterion(report: &mut Report, target: &Path) -> Result {
    cmd::run(
        &cmd::cargo(),
        [
            "bench",
            "--package",
            "adapters-http",
            "--bench",
            "handler",
            "--package",
            "event-pattern",
            "--bench",
            "matcher",
        ],
    )?;
    let mut rows = Vec::new();
    for (id, what, unit, scale) in [
        (
            "place-order",
            "place-order (POST /orders event → 201)",
            "µs",
            1e-3,
        ),
        (
            "get-order",
            "get-order (GET /orders/{id} event → 200)",
            "µs",
            1e-3,
        ),
        (
            "pattern-order-placed-rule",
            "pattern: OrderPlacedRule on OrderPlaced",
            "ns",
            1.0,
        ),
        (
            "pattern-every-operator",
            "pattern: every operator, matching",
            "ns",
            1.0,
        ),
        (
            "pattern-mismatch-named",
            "pattern: mismatch, field named",
            "ns",
            1.0,
        ),
    ] {
        let samples: Vec<f64> = criterion_samples(target, id)?
            .iter()
            .map(|ns| ns * scale)
            .collect();
        let stats = Stats::of(&samples).ok_or_else(|| Failed::new("no samples"))?;
        if id == "place-order" {
            report.goal(
                "warm place-order through adapters-http + domain + memory: median <= 20 µs",
                format!("{} µs", fmt(stats.median)),
                stats.median <= 20.0,
            );
        }
        rows.push(Row {
            what: what.to_owned(),
            unit,
            stats,
        });
    }
    report.table(
        "Warm handler cost",
        "criterion (`cargo bench -p adapters-http --bench handler`, `-p event-pattern --bench \
         matcher`), release profile. Each run is one criterion sample (many iterations); the \
         figures are the mean time per iteration of each sample. The handler benches take an \
         API Gateway REST event through `adapters_http::Api`, the domain and the in-memory \
         adapters, as the warm API function does after the Runtime API hands it the event.",
        &rows,
    );
    Ok(())
}

/// One load target's wrk figures and latency curve (percentile, ms).
struct Load {
    name: String,
    rps: f64,
    p50: f64,
    p99: f64,
    curve: Vec<(f64, f64)>,
}

impl Load {
    /// A markdown table row: name, (route,) req/s, p50, p99.
    fn row(&self, route: Option<&str>) -> String {
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
enum Target<'a> {
    /// `GET url` through a gateway with `Authorization: Bearer TOKEN`; a
    /// non-2xx answer is an error.
    Gateway { token: &'a str },
    /// `POST url` of `event` to a Lambda Invoke API; an answer whose proxy
    /// response is not `statusCode` 200 is an error.
    Invoke { event: &'a str },
}

/// wrk's Lua: the request, an error tally across threads (`bad`, for
/// invoke answers), and the figures the bench reads.
fn wrk_script(target: &Target<'_>) -> String {
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

fn wrk(name: &str, url: &str, target: &Target<'_>) -> Result<Load> {
    wrk_with(name, url, 1, target)
}

/// wrk with `connections` open connections (one thread each, two at most:
/// the machine has two cores).
fn wrk_with(name: &str, url: &str, connections: u32, target: &Target<'_>) -> Result<Load> {
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
const STAFF_CLAIMS: &str = r#"{"sub":"bench-staff","cognito:username":"bench-staff","cognito:groups":"staff","token_use":"id","iss":"https://cognito-idp.us-east-1.amazonaws.com/bench","aud":"benchclient"}"#;

/// A REST API event for `method path` from a member of staff, as the
/// template's authorizer would let it through.
fn staff_event(method: &str, path: &str, body: Option<&str>) -> String {
    let body = body.map_or_else(|| "null".to_owned(), |b| format!("{b:?}"));
    format!(
        r#"{{"httpMethod":"{method}","path":"{path}","resource":"{path}","headers":{{"Content-Type":"application/json"}},"requestContext":{{"requestId":"bench","stage":"dev","authorizer":{{"claims":{STAFF_CLAIMS}}}}},"body":{body},"isBase64Encoded":false}}"#
    )
}

/// The Invoke API URL of `function` behind `cargo lambda watch`.
fn watch_invoke_url(function: &str) -> String {
    format!("http://127.0.0.1:{WATCH_PORT}/2015-03-31/functions/{function}/invocations")
}

/// The order a bench places.
const BENCH_ORDER: &str = r#"{"customerId":"BENCH","items":[{"productId":"PROD-A","quantity":1}]}"#;

/// `POST /orders` through the local gateway as `token`'s caller; returns
/// the new order's id.
fn place_one(base: &str, token: &str) -> Result<String> {
    let address = base.trim_start_matches("http://");
    let body = BENCH_ORDER;
    let request = format!(
        "POST /orders HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw = exchange(address, &request)?;
    order_id_in(&raw, "\"orderId\":\"")
        .ok_or_else(|| Failed::new(format!("no order placed at {base}: {raw}")))
}

/// `POST /orders` as a member of staff through `cargo lambda watch`'s
/// Invoke API (it has no authorizer: cargo-lambda#676); returns the new
/// order's id. The wait is long: the first request may start a build.
fn place_one_by_invoke(function: &str) -> Result<String> {
    let url = watch_invoke_url(function);
    let address = url.trim_start_matches("http://");
    let (host, path) = address.split_once('/').unwrap_or((address, ""));
    let event = staff_event("POST", "/orders", Some(BENCH_ORDER));
    let request = format!(
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{event}",
        event.len()
    );
    let raw = exchange(host, &request)?;
    // The proxy response's body is a JSON string: its quotes are escaped.
    order_id_in(&raw, "\\\"orderId\\\":\\\"")
        .ok_or_else(|| Failed::new(format!("no order placed through {url}: {raw}")))
}

/// The `ORD-…` id after `marker` in `raw`.
fn order_id_in(raw: &str, marker: &str) -> Option<String> {
    let rest = &raw[raw.find(marker)? + marker.len()..];
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    id.starts_with("ORD-").then_some(id)
}

/// One request over a raw socket, `Connection: close`; the whole answer.
fn exchange(host: &str, request: &str) -> Result<String> {
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
fn logged_endpoint(log: &str) -> Option<String> {
    let at = log.find("DynamoDB at ")?;
    let rest = &log[at + 12..];
    Some(rest[..rest.find(',')?].to_owned())
}

fn local_api(report: &mut Report, path: &str, api: &str) -> Result<Vec<Load>> {
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
fn template_with_echo() -> Result<PathBuf> {
    let root = cmd::project_root();
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path)).map_err(|e| Failed::new(format!("{path}: {e}")))
    };
    let template = read("infra/template.yaml")?;
    let extra = read("crates/toolkit/fixtures/echo-function.yaml")?;
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
fn report_durations(log: &str, function: &str) -> Vec<f64> {
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
fn local_cloud(report: &mut Report, path: &str, api: &str) -> Result {
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

const WATCH_PORT: u16 = 9311;

/// `cargo lambda watch` serving the API's function (`binary`), on the
/// DynamoDB at `endpoint`.
fn watch_api_function(endpoint: &str, path: &str, binary: &str) -> Result<Child> {
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
fn stop_child(mut child: Child) {
    let group = format!("-{}", child.id());
    server::terminate(&mut child, &group, Duration::from_secs(10));
}

/// Starts of the local cloud measured per store.
const STARTS: usize = 5;

/// From `orders-toolkit local --binaries --dynamodb STORE` (this project,
/// every function of its template as its binary, already built) to the
/// first answer on its API port, `STARTS` times per store.
fn start_times(report: &mut Report) -> Result {
    let mut build = vec![
        "build".to_owned(),
        "--workspace".to_owned(),
        "--bin".to_owned(),
        "orders-toolkit".to_owned(),
    ];
    for function in template_functions()? {
        build.extend(["--bin".to_owned(), function.binary]);
    }
    cmd::run(&cmd::cargo(), &build)?;
    let binary = server::target_dir().join("debug/orders-toolkit");
    let mut rows = Vec::new();
    for (store, what) in [
        ("memory", "embedded DynamoDB (in memory)"),
        ("embedded", "embedded DynamoDB (its file)"),
        ("local", "DynamoDB Local (started by the tool)"),
    ] {
        let mut took = Vec::new();
        for _ in 0..STARTS {
            let port = free_port()?;
            let started = Instant::now();
            let mut child = Command::new(&binary)
                .args(["local", "--binaries", "--no-build", "--lambda-port", "0"])
                .args(["--dynamodb", store, "--port", &port.to_string()])
                .current_dir(cmd::project_root())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| Failed::new(format!("{}: {e}", binary.display())))?;
            let answered = loop {
                if let Ok(Some(status)) = child.try_wait() {
                    break Err(Failed::new(format!(
                        "local --dynamodb {store} exited ({status}) before it answered"
                    )));
                }
                if started.elapsed() > Duration::from_secs(120) {
                    break Err(Failed::new(format!(
                        "local --dynamodb {store} did not answer within 120 s"
                    )));
                }
                if exchange(
                    &format!("127.0.0.1:{port}"),
                    "GET / HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n",
                )
                .is_ok()
                {
                    break Ok(started.elapsed());
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            let pid = child.id().to_string();
            server::terminate(&mut child, &pid, Duration::from_secs(10));
            took.push(answered?.as_secs_f64() * 1000.0);
        }
        if let Some(stats) = Stats::of(&took) {
            rows.push(Row {
                what: format!("`local --binaries --dynamodb {store}`: {what}"),
                unit: "ms",
                stats,
            });
        }
    }
    report.table(
        "Local cloud start",
        "From starting `orders-toolkit local --binaries` on this project (fn-api and fn-events \
         as their binaries, built beforehand; the template's table made, moto started for its \
         queues) to its first answer on the API port, each start a new process.",
        &rows,
    );
    Ok(())
}

/// A port free now.
fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Failed::new(format!("no free port: {e}")))
}

/// The repository contract suite (`adapters-dynamo`'s `it`) on the
/// embedded DynamoDB (one per test process, its start included) and on one
/// DynamoDB Local shared by the suite, as `test-integration` runs it (its
/// start timed apart), after a first run that builds.
fn contract_suites(report: &mut Report) -> Result {
    let cargo = cmd::cargo();
    let args = [
        "nextest",
        "run",
        "--package",
        "adapters-dynamo",
        "--test",
        "it",
    ];
    cmd::run_with_env(&cargo, args, &[("DYNAMODB_LOCAL_PROVIDER", "embedded")])?;
    let starting = Instant::now();
    let services = crate::services::Services::start(&[])?;
    let local_start = starting.elapsed().as_secs_f64();
    let endpoint = services
        .env
        .iter()
        .find(|(k, _)| k == "DYNAMODB_ENDPOINT")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| Failed::new("the services named no DynamoDB endpoint"))?;
    let mut text = format!(
        "`cargo nextest run -p adapters-dynamo --test it` (the repository contract suite and \
         the adapter's own tests), wall time after a first run that builds: on the embedded \
         DynamoDB (each test process starts its own, included), and on one DynamoDB Local \
         shared by the suite, as `test-integration` runs it (started in {local_start:.1} s with \
         moto, not included).\n\n| DynamoDB | wall s | runner's own figure |\n|---|---:|---|\n",
    );
    for (what, provider, endpoint) in [
        ("embedded (dynoxide)", "embedded", None),
        ("DynamoDB Local", "java", Some(endpoint.as_str())),
    ] {
        eprintln!(
            "$ DYNAMODB_LOCAL_PROVIDER={provider} cargo {}",
            args.join(" ")
        );
        let mut command = Command::new(&cargo);
        command
            .args(args)
            .env("DYNAMODB_LOCAL_PROVIDER", provider)
            .env_remove("DYNAMODB_ENDPOINT");
        if let Some(endpoint) = endpoint {
            command.env("DYNAMODB_ENDPOINT", endpoint);
        }
        let (wall, all) = timed(command, &format!("the contract suite on {what}"))?;
        let _ = writeln!(text, "| {what} | {wall:.1} | {} |", runner_figures(&all));
    }
    report.text("Repository contract suite per DynamoDB", text);
    Ok(())
}

/// Runs `cargo xtask task` and returns its wall time and output.
fn run_stage(task: &str) -> Result<(f64, String)> {
    let exe = std::env::current_exe().map_err(|e| Failed::new(e.to_string()))?;
    eprintln!("$ cargo xtask {task}");
    let mut command = Command::new(&exe);
    command.arg(task);
    timed(command, &format!("cargo xtask {task}"))
}

/// Runs `command` in the project root with no input; its wall time and
/// its output (standard output, then error), or `what` failed with the
/// output's tail.
fn timed(mut command: Command, what: &str) -> Result<(f64, String)> {
    let started = Instant::now();
    let output = command
        .current_dir(cmd::project_root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Failed::new(format!("{what}: {e}")))?;
    let wall = started.elapsed().as_secs_f64();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        return Err(Failed::new(format!("{what} failed:\n{}", tail(&all, 30))));
    }
    Ok((wall, all))
}

fn suites(report: &mut Report) -> Result {
    let mut text = String::from(
        "Wall time of each stage's command after the build: each stage runs once to build \
         what it needs (each `cargo test -p …` resolves features on its own), then once \
         timed. DynamoDB Local's and moto's start are included where a stage needs them.\n\n\
         | stage | command | wall s | runner's own figure |\n|---|---|---:|---|\n",
    );
    for (stage, task) in [
        ("unit", "test-unit"),
        ("integration", "test-integration"),
        ("e2e", "test-e2e"),
    ] {
        run_stage(task)?;
        let (wall, all) = run_stage(task)?;
        let own = runner_figures(&all);
        let _ = writeln!(
            text,
            "| {stage} | `cargo xtask {task}` | {wall:.1} | {own} |"
        );
        match stage {
            "unit" => {
                let nextest = all
                    .split("Summary [")
                    .nth(1)
                    .and_then(|r| r.split('s').next())
                    .and_then(|s| s.trim().parse::<f64>().ok());
                let (shown, met) = match nextest {
                    Some(s) => (
                        format!(
                            "{s:.2} s in nextest ({wall:.1} s for the whole command, doc tests included)"
                        ),
                        s <= 2.0,
                    ),
                    None => (format!("{wall:.1} s"), wall <= 2.0),
                };
                report.goal("unit suite <= 2 s after the build", shown, met);
            }
            "integration" => report.goal(
                "integration suite <= 20 s after the build",
                format!("{wall:.1} s (DynamoDB Local and moto started)"),
                wall <= 20.0,
            ),
            _ => {}
        }
    }
    report.text("Test suites", text);
    Ok(())
}

/// What the test runners said: nextest's summary, and each `cargo test`
/// binary that ran tests ("23 passed in 5.44 s").
fn runner_figures(output: &str) -> String {
    let mut figures = Vec::new();
    for line in output.lines().map(str::trim) {
        if let Some(summary) = line.strip_prefix("Summary [") {
            figures.push(format!(
                "nextest: {}",
                summary
                    .replace("]", "")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        } else if let Some(result) = line.strip_prefix("test result: ok. ") {
            let passed = result.split_whitespace().next().unwrap_or("0");
            let took = result.rsplit("finished in ").next().unwrap_or("");
            if passed != "0" {
                figures.push(format!("{passed} passed in {took}"));
            }
        }
    }
    figures.join("; ")
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn machine() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_gib = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let os = read("/etc/os-release")
        .lines()
        .find(|l| l.starts_with("PRETTY_NAME="))
        .map(|l| {
            l.trim_start_matches("PRETTY_NAME=")
                .trim_matches('"')
                .to_owned()
        })
        .unwrap_or_else(|| "unknown OS".to_owned());
    let rustc = Command::new("rustc")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {memory_gib:.0} GiB, {os}, {rustc}")
}

fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn markdown(report: &Report, took: Duration) -> String {
    let mut out = format!(
        "# Benchmarks\n\nWritten by `cargo xtask bench` on {}. Machine: {}. The whole run took {:.0} s.\n\n\
         ## Goals\n\n| goal | measured | met |\n|---|---|---|\n",
        today(),
        machine(),
        took.as_secs_f64()
    );
    for goal in &report.goals {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            goal.goal,
            goal.measured,
            if goal.met { "yes" } else { "**no**" }
        );
    }
    for (title, text) in &report.sections {
        let _ = write!(out, "\n## {title}\n\n{text}");
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The local API's latency curves side by side: x the latency (ms, log
/// scale), y the percentile.
fn svg(loads: &[Load]) -> String {
    let (width, height) = (900.0, 420.0);
    let (left, right, top, bottom) = (70.0, 330.0, 30.0, 50.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let all_ms: Vec<f64> = loads
        .iter()
        .flat_map(|l| l.curve.iter().map(|(_, ms)| *ms))
        .filter(|ms| *ms > 0.0)
        .collect();
    let lo = all_ms
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .max(0.001);
    let hi = all_ms.iter().copied().fold(0.0, f64::max).max(lo * 10.0);
    let (log_lo, log_hi) = (lo.log10().floor(), hi.log10().ceil());
    let x = |ms: f64| left + (ms.max(1e-6).log10() - log_lo) / (log_hi - log_lo) * plot_w;
    let y = |p: f64| top + plot_h - p / 100.0 * plot_h;
    let colours = ["#1b7837", "#2166ac", "#b2182b", "#762a83"];
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"18\" font-size=\"14\">Local API latency, GET /orders/{{id}} (percentile by latency, log scale)</text>\n"
    );
    let mut decade = log_lo;
    while decade <= log_hi {
        let ms = 10f64.powf(decade);
        let gx = x(ms);
        let _ = writeln!(
            out,
            "<line x1=\"{gx:.1}\" y1=\"{top}\" x2=\"{gx:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{gx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} ms</text>",
            top + plot_h,
            top + plot_h + 18.0,
            if ms < 1.0 {
                format!("{ms}")
            } else {
                format!("{ms:.0}")
            }
        );
        decade += 1.0;
    }
    for p in [0.0, 25.0, 50.0, 75.0, 90.0, 99.0] {
        let gy = y(p);
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{gy:.1}\" x2=\"{:.1}\" y2=\"{gy:.1}\" stroke=\"#eee\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">p{p}</text>",
            left + plot_w,
            left - 6.0,
            gy + 4.0
        );
    }
    let _ = writeln!(
        out,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#333\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">latency per request</text>",
        left + plot_w / 2.0,
        height - 10.0
    );
    for (i, load) in loads.iter().enumerate() {
        let colour = colours[i % colours.len()];
        let points: Vec<String> = load
            .curve
            .iter()
            .map(|(p, ms)| format!("{:.1},{:.1}", x(*ms), y(*p)))
            .collect();
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        let ly = top + 20.0 + i as f64 * 44.0;
        let lx = left + plot_w + 14.0;
        let _ = writeln!(
            out,
            "<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{:.1}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"3\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\">{:.0} req/s, p50 {} ms, p99 {} ms</text>",
            lx + 18.0,
            lx + 24.0,
            ly + 4.0,
            escape(&load.name),
            lx + 24.0,
            ly + 20.0,
            load.rps,
            fmt(load.p50),
            fmt(load.p99)
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_found_in_gateway_answers_and_in_invoke_answers() {
        let gateway = r#"HTTP/1.1 201 Created\r\n\r\n{"orderId":"ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R","status":"created"}"#;
        assert_eq!(
            order_id_in(gateway, "\"orderId\":\"").as_deref(),
            Some("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R")
        );
        let invoke = r#"{"statusCode":201,"body":"{\"orderId\":\"ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R\",\"status\":\"created\"}"}"#;
        assert_eq!(
            order_id_in(invoke, "\\\"orderId\\\":\\\"").as_deref(),
            Some("ORD-01JDQ8N4ZC6B7X2Y3W5V9T0S1R")
        );
        assert_eq!(
            order_id_in(r#"{"message":"Unauthorized"}"#, "\"orderId\":\""),
            None
        );
    }

    #[test]
    fn staff_events_carry_the_authorizers_claims_and_an_escaped_body() {
        let event = staff_event("POST", "/orders", Some(BENCH_ORDER));
        assert!(
            event.contains(r#""authorizer":{"claims":{"sub":"bench-staff""#),
            "{event}"
        );
        assert!(
            event.contains(r#""body":"{\"customerId\":\"BENCH\""#),
            "{event}"
        );
        assert!(staff_event("GET", "/orders/X", None).contains(r#""body":null"#));
    }

    #[test]
    fn the_wrk_script_sends_the_token_or_the_event_and_counts_bad_answers() {
        let gateway = wrk_script(&Target::Gateway { token: "abc" });
        assert!(gateway.contains(r#"wrk.headers["Authorization"] = "Bearer abc""#));
        assert!(!gateway.contains("response = function"));
        let invoke = wrk_script(&Target::Invoke { event: "{}" });
        assert!(invoke.contains("wrk.method = \"POST\""));
        assert!(invoke.contains("wrk.body = [==[{}]==]"));
        assert!(invoke.contains(r#"'"statusCode":200'"#));
        assert!(invoke.contains("invalid + summary.errors.connect"));
    }

    #[test]
    fn report_lines_are_read_as_lambda_prints_them() {
        let text = "START\nREPORT RequestId: abc\tDuration: 28.41 ms\tBilled Duration: 29 ms\tMemory Size: 128 MB\tMax Memory Used: 22 MB\tInit Duration: 17.85 ms\nother\n";
        assert_eq!(parse_reports(text), [(17.85, 28.41, 22.0)]);
        assert!(parse_reports("REPORT RequestId: x\tDuration: 1 ms").is_empty());
    }

    #[test]
    fn runner_figures_keep_the_binaries_that_ran_tests() {
        let output = "test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\
                      test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
                      \u{20}    Summary [   1.663s] 202 tests run: 202 passed, 0 skipped\n";
        assert_eq!(
            runner_figures(output),
            "4 passed in 0.01s; nextest: 1.663s 202 tests run: 202 passed, 0 skipped"
        );
    }

    #[test]
    fn the_chart_puts_each_decade_and_curve_where_it_belongs() {
        let load = |name: &str, ms: f64| Load {
            name: name.to_owned(),
            rps: 1000.0 / ms,
            p50: ms,
            p99: ms * 2.0,
            curve: vec![(1.0, ms / 2.0), (50.0, ms), (99.0, ms * 2.0)],
        };
        let chart = svg(&[load("a & b", 0.25), load("c", 2.5)]);
        // Decades 0.1, 1, 10 ms span the plot: 0.1 ms at its left edge.
        assert!(chart.contains("<line x1=\"70.0\" y1=\"30\""), "{chart}");
        assert!(
            chart.contains(">0.1 ms<") && chart.contains(">10 ms<"),
            "{chart}"
        );
        assert!(chart.contains("a &amp; b"), "{chart}");
        assert_eq!(chart.matches("<polyline").count(), 2);
        assert!(chart.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn stats_take_the_nearest_rank() {
        let values: Vec<f64> = (1..=101).map(f64::from).collect();
        let s = Stats::of(&values).expect("stats");
        assert_eq!(
            (s.min, s.median, s.p99, s.max, s.n),
            (1.0, 51.0, 100.0, 101.0, 101)
        );
        assert!(Stats::of(&[]).is_none());
    }

    #[test]
    fn the_logged_dynamodb_endpoint_is_found() {
        let log = "INFO Orders API on http://127.0.0.1:1 (stage dev; DynamoDB at http://127.0.0.1:8123, table t; events)";
        assert_eq!(
            logged_endpoint(log).as_deref(),
            Some("http://127.0.0.1:8123")
        );
        assert_eq!(logged_endpoint("nothing"), None);
    }
}
