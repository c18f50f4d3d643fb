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

mod cold;
mod criterion;
mod load;
mod report;
mod size;
mod suites;
mod svg;

use cold::*;
use criterion::*;
use load::*;
use report::*;
use size::*;
use suites::*;
use svg::*;

/// Cold runs measured per function.
const RUNS: usize = 30;
/// Seconds of load per wrk run.
const WRK_SECONDS: &str = "5";

pub(crate) const USAGE: &str = "\
bench: measure cold start, warm cost, local API load, sizes and suite times;
write BENCHMARKS.md and benchmarks/local-api-latency.svg (installs cargo-lambda
into target/bench-venv and wrk with apt-get when missing, and says so)";

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
    fn a_post_request_carries_its_headers_and_the_bodys_length() {
        assert_eq!(
            post_request("h:1", "/orders", "Authorization: Bearer t\r\n", "{}"),
            "POST /orders HTTP/1.1\r\nHost: h:1\r\nAuthorization: Bearer t\r\n\
             Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        );
    }

    #[test]
    fn a_stages_own_run_figure_is_read() {
        let log = "Summary [ 10.9s] 46 tests run\n\n==> integration: build 1.5 s, run 12.0 s\n";
        assert_eq!(stage_run(log), Some(12.0));
        assert_eq!(stage_run("no stage line"), None);
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
        // As `local` logs its start, for each kind of store.
        for log in [
            "INFO API on http://127.0.0.1:1 (stage dev; DynamoDB Local at http://127.0.0.1:8123; events through the template's rules)",
            "INFO API on http://127.0.0.1:1 (stage dev; embedded DynamoDB (in memory) at http://127.0.0.1:8123; events)",
        ] {
            assert_eq!(
                logged_endpoint(log).as_deref(),
                Some("http://127.0.0.1:8123"),
                "{log}"
            );
        }
        assert_eq!(logged_endpoint("nothing"), None);
    }
}
