//! The test stages of the testing pyramid, on one dependency build.
//!
//! Every stage builds with `--workspace`, so cargo resolves one feature set
//! for all of them and compiles each dependency once per profile (tidy's
//! `building_binaries_and_building_tests_resolve_the_same_features` holds
//! the binaries' build to the tests'). Each stage builds first and runs
//! after, and says how long each took.
//!
//! `test-unit` runs every crate's in-crate tests (`--lib --bins`) and the
//! doc tests: doubles and in-memory adapters only, no network, no Docker,
//! no AWS account. `test-integration` runs the adapters, the toolkit's
//! stage commands and the fixture projects against the embedded DynamoDB
//! and moto (no JVM). `test-conformance` runs what tests DynamoDB Local
//! itself: its providers (endpoint, testcontainers, Java) and the
//! repository contract suite on it.

use std::time::Instant;

use crate::cmd::{self, Result};
use crate::install;

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

/// Which tests of the workspace a run takes.
#[derive(Debug, Clone, Copy)]
enum Tests {
    /// Every crate's in-crate tests.
    Unit,
    /// One integration test target of one package.
    Target {
        package: &'static str,
        test: &'static str,
    },
}

impl Tests {
    /// The nextest filter of a target; `None` for the unit tests, which
    /// are chosen by target kind.
    fn filter(self) -> Option<String> {
        match self {
            Self::Unit => None,
            Self::Target { package, test } => Some(format!("binary_id({package}::{test})")),
        }
    }

    /// cargo's target selection: the in-crate tests, or the test target by
    /// name (cargo test runs it in every package that has one).
    fn cargo_args(self) -> Vec<&'static str> {
        match self {
            Self::Unit => vec!["--lib", "--bins"],
            Self::Target { test, .. } => vec!["--test", test],
        }
    }
}

/// The build and run time of one stage.
#[derive(Debug)]
pub(crate) struct StageTime {
    stage: &'static str,
    build: f64,
    run: f64,
}

impl StageTime {
    fn print(&self) {
        eprintln!(
            "\n==> {}: build {:.1} s, run {:.1} s",
            self.stage, self.build, self.run
        );
    }
}

/// Seconds since `started`.
fn since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

/// Runs `tests` of the workspace with the runner and `env`; `nextest`
/// are further arguments for nextest (unknown to cargo test).
fn run_tests(tests: &[Tests], env: &[(&str, &str)], nextest: &[&str]) -> Result {
    let runner = test_runner();
    let start = || {
        let mut args: Vec<String> = runner.iter().map(|a| (*a).to_owned()).collect();
        args.push("--workspace".into());
        args
    };
    if runner != NEXTEST {
        for t in tests {
            let mut args = start();
            args.extend(t.cargo_args().into_iter().map(str::to_owned));
            cmd::run_with_env(&cmd::cargo(), &args, env)?;
        }
        return Ok(());
    }
    // One run: the unit tests by kind, the targets by one filter.
    let mut args = start();
    if tests.iter().any(|t| matches!(t, Tests::Unit)) {
        args.extend(Tests::Unit.cargo_args().into_iter().map(str::to_owned));
    }
    let filters: Vec<String> = tests.iter().filter_map(|t| t.filter()).collect();
    if !filters.is_empty() {
        args.extend(["-E".to_owned(), filters.join(" | ")]);
    }
    args.extend(nextest.iter().map(|a| (*a).to_owned()));
    cmd::run_with_env(&cmd::cargo(), &args, env)
}

/// Builds the workspace's tests (`unit`: the in-crate ones; otherwise every
/// test target, and the binaries the integration tests start).
fn build_tests(unit: bool) -> Result {
    let mut args: Vec<&str> = match test_runner() {
        r if r == NEXTEST => vec!["nextest", "run", "--no-run", "--workspace"],
        _ => vec!["test", "--no-run", "--workspace"],
    };
    if unit {
        args.extend(["--lib", "--bins"]);
    }
    cmd::run(&cmd::cargo(), &args)
}

/// Doc tests, then the unit tests of every crate (last, so that the run
/// ends on the test runner's summary).
pub(crate) fn unit() -> Result {
    unit_stage().map(|t| t.print())
}

fn unit_stage() -> Result<StageTime> {
    if test_runner() == CARGO_TEST {
        println!(
            "cargo-nextest not found; using cargo test (cargo install cargo-nextest for faster runs)"
        );
    }
    let started = Instant::now();
    build_tests(true)?;
    let build = since(started);
    let started = Instant::now();
    cmd::run(&cmd::cargo(), ["test", "--workspace", "--doc"])?;
    run_tests(&[Tests::Unit], &[], &[])?;
    Ok(StageTime {
        stage: "unit",
        build,
        run: since(started),
    })
}

/// The integration suites, on the embedded DynamoDB and moto: one of each
/// for the suites that share them (each test makes its own table, queue or
/// stack), started by the toolkit's `services`; the fixture projects each
/// start a local cloud of their own.
pub(crate) fn integration() -> Result {
    integration_stage().map(|t| t.print())
}

fn integration_stage() -> Result<StageTime> {
    install::ensure_moto()?;
    let aws = install::aws_cli()?;
    let started = Instant::now();
    build_tests(false)?;
    crate::server::build_binaries()?;
    let build = since(started);
    let started = Instant::now();
    let services = crate::services::Services::start(&[("DYNAMODB_LOCAL_PROVIDER", "embedded")])?;
    let mut env = services.env_pairs();
    env.push(("AWS_CLI", aws.as_str()));
    run_tests(
        &[
            // The outbox relay and publisher against moto's EventBridge.
            Tests::Target {
                package: "adapters-eventbridge",
                test: "it",
            },
            // The repository contract suite and the adapter's own tests.
            Tests::Target {
                package: "adapters-dynamo",
                test: "it",
            },
            // Projects in the shapes of public Rust SAM projects, each on
            // a local cloud of its own, driven with the AWS CLI.
            Tests::Target {
                package: "toolkit",
                test: "projects",
            },
            // `dlq` redriving through the local cloud, the other stage
            // commands against moto, `local --watch` swapping under load.
            Tests::Target {
                package: "toolkit",
                test: "dlq",
            },
            Tests::Target {
                package: "toolkit",
                test: "stage",
            },
            Tests::Target {
                package: "toolkit",
                test: "watch",
            },
            // Every toolkit command the README shows answers --help.
            Tests::Target {
                package: "toolkit",
                test: "help",
            },
        ],
        &env,
        &[],
    )?;
    drop(services);
    Ok(StageTime {
        stage: "integration",
        build,
        run: since(started),
    })
}

/// `test-conformance`: DynamoDB Local itself, as CI checks it: its
/// providers (endpoint, testcontainers, Java; each test starts one), then
/// the repository contract suite on one DynamoDB Local, so the embedded
/// DynamoDB the other stages use answers as DynamoDB Local does.
pub(crate) fn conformance() -> Result {
    install::ensure_dynamodb_local();
    let started = Instant::now();
    build_tests(false)?;
    crate::server::build_toolkit()?;
    let build = since(started);
    let started = Instant::now();
    // One at a time: each test starts a DynamoDB Local (a JVM), which is
    // quicker on two cores than all at once.
    run_tests(
        &[Tests::Target {
            package: "local-services",
            test: "providers",
        }],
        &[],
        &["--test-threads", "1"],
    )?;
    let services = crate::services::Services::start(&[])?;
    run_tests(
        &[Tests::Target {
            package: "adapters-dynamo",
            test: "it",
        }],
        &services.env_pairs(),
        &[],
    )?;
    drop(services);
    StageTime {
        stage: "conformance",
        build,
        run: since(started),
    }
    .print();
    Ok(())
}

/// Every local stage, in pyramid order, then each one's build and run
/// times together.
pub(crate) fn all() -> Result {
    let started = Instant::now();
    let mut times = Vec::new();
    let mut record = |time: StageTime| {
        time.print();
        times.push(time);
    };
    record(unit_stage()?);
    record(integration_stage()?);
    for binaries in [false, true] {
        let (build, run) = crate::e2e::against_local(binaries)?;
        record(StageTime {
            stage: if binaries { "e2e --binaries" } else { "e2e" },
            build,
            run,
        });
    }
    eprintln!("\n==> cargo xtask test: {:.1} s", since(started));
    eprintln!("| stage | build s | run s |\n|---|---:|---:|");
    for t in &times {
        eprintln!("| {} | {:.1} | {:.1} |", t.stage, t.build, t.run);
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
    install::ensure_local_services()?;
    cmd::run(
        &cmd::cargo(),
        [
            "test",
            "--workspace",
            "--test",
            test,
            "--",
            "--nocapture",
            "--test-threads",
            "1",
        ],
    )
}
