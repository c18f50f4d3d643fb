//! `test-fuzz`: schemathesis against the local server (with DynamoDB
//! Local), driven by `infra/openapi.yaml` with every check on
//! (`infra/schemathesis.toml` says where the API refuses, on purpose, data
//! a schema cannot tell from valid), as a member of staff with an id token
//! of the local user pool. The run fails on any failed check, on
//! any 5xx in the server's own request log, and when fewer requests than
//! the floor were made.

use std::collections::BTreeMap;

use crate::cmd::{self, Failed, Result};
use crate::server::{self, LocalServer};

/// The schemathesis the run is written against.
const SCHEMATHESIS: &str = "schemathesis>=4.32,<5";
/// The fewest requests a run must make.
const FLOOR: usize = 1_000;

pub(crate) const USAGE: &str = "\
test-fuzz [--max-examples 300] [--seed N]
    schemathesis (installed into target/fuzz-venv when missing) against the
    local server with DynamoDB Local, from infra/openapi.yaml with every check
    on; fails on a failed check, on any 5xx, or on fewer than 1,000 requests";

struct Options {
    max_examples: String,
    seed: Option<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        max_examples: "300".to_owned(),
        seed: None,
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| Failed::new(format!("{flag} needs a value\n\n{USAGE}")))?;
        if value.parse::<u64>().map_or(true, |n| n == 0) {
            return Err(Failed::new(format!(
                "{flag} takes a positive number, not {value:?}"
            )));
        }
        match flag.as_str() {
            "--max-examples" => options.max_examples.clone_from(value),
            "--seed" => options.seed = Some(value.clone()),
            other => return Err(Failed::new(format!("unknown option {other}\n\n{USAGE}"))),
        }
    }
    Ok(options)
}

pub(crate) fn run(args: &[String]) -> Result {
    let options = parse(args)?;
    let venv = server::target_dir().join("fuzz-venv");
    let st = venv.join("bin/st");
    if !st.is_file() {
        eprintln!(
            "schemathesis not found: installing {SCHEMATHESIS} into {}",
            venv.display()
        );
        cmd::venv_install(&venv, &[SCHEMATHESIS])?;
    }
    crate::install::ensure_dynamodb_local();
    let root = cmd::project_root();
    let server = LocalServer::start(
        &["--dynamodb", "local", "--table", "fuzz-orders"],
        "fuzz-local-server.log",
    )?;
    let url = server.url();
    let config = root.join("infra/schemathesis.toml");
    let spec = root.join("infra/openapi.yaml");
    let report = server::target_dir().join("fuzz-report");
    let mut st_args = vec![
        "--config-file".to_owned(),
        config.to_string_lossy().into_owned(),
        "run".to_owned(),
        spec.to_string_lossy().into_owned(),
        "--url".to_owned(),
        url,
        "--checks".to_owned(),
        "all".to_owned(),
        "--max-examples".to_owned(),
        options.max_examples.clone(),
        "--no-color".to_owned(),
        "--report".to_owned(),
        "junit".to_owned(),
        "--report-dir".to_owned(),
        report.to_string_lossy().into_owned(),
    ];
    if let Some(seed) = &options.seed {
        st_args.extend(["--seed".to_owned(), seed.clone()]);
    }
    // schemathesis keeps its cache (`.schemathesis/`) where it runs: under
    // target/, not in the checkout.
    let work = server::target_dir().join("fuzz-work");
    std::fs::create_dir_all(&work).map_err(|e| Failed::new(format!("{}: {e}", work.display())))?;
    // Authenticated as a member of staff (who may reach every use case)
    // through the spec's CognitoIdToken scheme (infra/schemathesis.toml);
    // its ignored_auth check sends each operation without the token too,
    // and wants it refused.
    let token = server::token(&["--staff"])?;
    let outcome = cmd::run_in(
        &work,
        &st.to_string_lossy(),
        &st_args,
        &[("ORDERS_FUZZ_TOKEN", token.as_str())],
    );
    let log = server.log();
    if outcome.is_err() {
        server.print_log_tail(20);
    }
    server.stop();
    // The readiness probe is `GET /`; the spec has no such path.
    let requests: Vec<_> = server::logged_requests(&log)
        .into_iter()
        .filter(|r| r.path != "/")
        .collect();
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for request in &requests {
        *by_status.entry(request.status).or_default() += 1;
    }
    let server_errors: usize = by_status
        .iter()
        .filter(|(status, _)| **status >= 500)
        .map(|(_, n)| n)
        .sum();
    let shown: Vec<String> = by_status.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    println!(
        "fuzz: {} requests answered by the local server",
        requests.len()
    );
    println!("fuzz: by status: {}", shown.join(", "));
    println!("fuzz: 5xx: {server_errors}");
    outcome?;
    if server_errors > 0 {
        return Err(Failed::new(format!(
            "{server_errors} requests got a 5xx (log: target/fuzz-local-server.log)"
        )));
    }
    if requests.len() < FLOOR {
        return Err(Failed::new(format!(
            "only {} requests were made, fewer than {FLOOR}: raise --max-examples",
            requests.len()
        )));
    }
    Ok(())
}
