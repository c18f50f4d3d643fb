//! `test-e2e`: the HTTP suite (crate `e2e`) against a deployed stage
//! (`--api-url`), or against the local server, which this task starts on a
//! free port with DynamoDB Local and stops afterwards.

use crate::cmd::{self, Failed, Result};
use crate::server::LocalServer;

pub(crate) fn run(args: &[String]) -> Result {
    let api_url = match args {
        [] => None,
        [flag, url] if flag == "--api-url" => Some(url.clone()),
        _ => {
            return Err(Failed::new(format!(
                "test-e2e takes no arguments or `--api-url URL`, got {args:?}"
            )));
        }
    };
    match api_url {
        Some(url) => suite(&url),
        None => against_local(),
    }
}

fn suite(api_url: &str) -> Result {
    println!("API_URL={api_url}");
    cmd::run_with_env(
        &cmd::cargo(),
        ["test", "--package", "e2e", "--test", "api"],
        &[("API_URL", api_url)],
    )
}

fn against_local() -> Result {
    crate::test::ensure_dynamodb_local();
    let server = LocalServer::start(
        &["--dynamodb", "local", "--table", "e2e-orders"],
        "e2e-local-server.log",
    )?;
    let outcome = suite(&server.url());
    if outcome.is_err() {
        server.print_log_tail(30);
    }
    server.stop();
    outcome
}
