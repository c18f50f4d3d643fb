//! `test-e2e`: the HTTP suite (crate `e2e`) against a deployed stage
//! (`--api-url`), or against the local cloud, which this task starts on a
//! free port with DynamoDB Local and stops afterwards: with the functions
//! in-process, or with `--binaries` every function as its binary.

use crate::cmd::{self, Failed, Result};
use crate::server::LocalServer;

pub(crate) fn run(args: &[String]) -> Result {
    match args {
        [] => against_local(false),
        [flag] if flag == "--binaries" => against_local(true),
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
        ["test", "--package", "e2e", "--test", "api"],
        &all,
    )
}

fn against_local(binaries: bool) -> Result {
    crate::test::ensure_dynamodb_local();
    let (table, log) = if binaries {
        // Built here, where the build's output shows, not inside the
        // server's start-up.
        cmd::run(&cmd::cargo(), ["build", "--workspace", "--bins"])?;
        ("e2e-binaries-orders", "e2e-binaries-server.log")
    } else {
        ("e2e-orders", "e2e-local-server.log")
    };
    let mut flags = vec!["--dynamodb", "local", "--table", table];
    if binaries {
        flags.push("--binaries");
    }
    let server = LocalServer::start(&flags, log)?;
    if binaries {
        let lambda_url = server.lambda_url();
        let outcome = suite(&server.url(), &[("LAMBDA_URL", lambda_url.as_str())])
            .and_then(|()| cli_suite(&server));
        if outcome.is_err() {
            server.print_log_tail(30);
        }
        server.stop();
        return outcome;
    }
    let lambda_url = server.lambda_url();
    let outcome = suite(&server.url(), &[("LAMBDA_URL", lambda_url.as_str())]);
    if outcome.is_err() {
        server.print_log_tail(30);
    }
    server.stop();
    outcome
}

/// The AWS CLI, installed into `target/awscli-venv` when missing: its path.
pub(crate) fn aws_cli() -> Result<String> {
    let venv = crate::server::target_dir().join("awscli-venv");
    let aws = venv.join("bin/aws");
    if !aws.is_file() {
        eprintln!(
            "AWS CLI not found: installing awscli from PyPI into {}",
            venv.display()
        );
        cmd::venv_install(&venv, &["awscli>=1.40,<2"])?;
    }
    Ok(aws.to_string_lossy().into_owned())
}

/// The AWS CLI (`crates/e2e/tests/cli.rs`, the CLI installed into
/// `target/awscli-venv` when missing) and the AWS SDK for Rust
/// (`tests/sdk.rs`) against the control port.
fn cli_suite(server: &LocalServer) -> Result {
    let aws = aws_cli()?;
    let lambda_url = server.lambda_url();
    let api_url = server.url();
    cmd::run_with_env(
        &cmd::cargo(),
        ["test", "--package", "e2e", "--test", "cli", "--test", "sdk"],
        &[
            ("API_URL", api_url.as_str()),
            ("LAMBDA_URL", lambda_url.as_str()),
            ("AWS_CLI", aws.as_str()),
        ],
    )
}
