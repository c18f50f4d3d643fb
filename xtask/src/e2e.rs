//! `test-e2e`: the HTTP suite (crate `e2e`) against a deployed stage
//! (`--api-url`), or against the local cloud, which this task starts on a
//! free port with a fresh embedded DynamoDB in memory and stops afterwards:
//! with the functions in-process, or with `--binaries` every function as
//! its binary.

use std::time::Instant;

use crate::cmd::{self, Failed, Result};
use crate::server::LocalServer;

pub(crate) fn run(args: &[String]) -> Result {
    match args {
        [] => against_local(false).map(drop),
        [flag] if flag == "--binaries" => against_local(true).map(drop),
        [flag, url] if flag == "--api-url" => suite(url, &[]),
        [flag, url, stage_flag, stage] if flag == "--api-url" && stage_flag == "--stage" => {
            // The stage's bus (from its stack) is listened to for the
            // OrderPlaced of the order the suite places, and its user pool
            // signs the suite's id tokens.
            suite(url, &[("E2E_STAGE", stage.as_str())])
        }
        _ => Err(Failed::new(format!(
            "test-e2e takes no arguments, `--binaries` or `--api-url URL [--stage STAGE]`, got {args:?}"
        ))),
    }
}

fn suite(api_url: &str, env: &[(&str, &str)]) -> Result {
    println!("API_URL={api_url}");
    let mut all = vec![("API_URL", api_url)];
    all.extend_from_slice(env);
    cmd::run_with_env(
        &cmd::cargo(),
        ["test", "--workspace", "--test", "api"],
        &all,
    )
}

/// Builds what the run needs, starts the local cloud, runs the suites;
/// the build's and the run's seconds.
pub(crate) fn against_local(binaries: bool) -> Result<(f64, f64)> {
    let started = Instant::now();
    crate::server::build_toolkit()?;
    if binaries {
        // Built here, where the build's output shows, not inside the
        // server's start-up.
        crate::server::build_binaries()?;
    }
    let mut tests = vec!["test", "--workspace", "--no-run", "--test", "api"];
    if binaries {
        tests.extend(["--test", "cli", "--test", "sdk"]);
    }
    cmd::run(&cmd::cargo(), tests)?;
    let build = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let (table, log) = if binaries {
        ("e2e-binaries-orders", "e2e-binaries-server.log")
    } else {
        ("e2e-orders", "e2e-local-server.log")
    };
    let mut flags = vec!["--dynamodb", "memory", "--table", table];
    if binaries {
        flags.push("--binaries");
    }
    let server = LocalServer::start_built(&flags, log)?;
    let lambda_url = server.lambda_url();
    let mut outcome = suite(&server.url(), &[("LAMBDA_URL", lambda_url.as_str())]);
    if binaries {
        outcome = outcome.and_then(|()| cli_suite(&server));
    }
    if outcome.is_err() {
        server.print_log_tail(30);
    }
    server.stop();
    outcome.map(|()| (build, started.elapsed().as_secs_f64()))
}

/// The AWS CLI (`crates/e2e/tests/cli.rs`, the CLI installed into
/// `target/awscli-venv` when missing) and the AWS SDK for Rust
/// (`tests/sdk.rs`) against the control port.
fn cli_suite(server: &LocalServer) -> Result {
    let aws = crate::install::aws_cli()?;
    let lambda_url = server.lambda_url();
    let api_url = server.url();
    cmd::run_with_env(
        &cmd::cargo(),
        ["test", "--workspace", "--test", "cli", "--test", "sdk"],
        &[
            ("API_URL", api_url.as_str()),
            ("LAMBDA_URL", lambda_url.as_str()),
            ("AWS_CLI", aws.as_str()),
        ],
    )
}
