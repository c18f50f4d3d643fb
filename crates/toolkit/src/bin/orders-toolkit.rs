//! `orders-toolkit`: the toolkit's command line, which `cargo xtask` runs.
//! Relative paths are taken from the current directory; the project root
//! (for `infra/template.yaml`) is the nearest directory upwards that has
//! one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
orders-toolkit <command> [options]

Commands:
  local       serve the API on 127.0.0.1 as API Gateway routes the template
              (orders-toolkit local --help)
  rule-test   match an event against a rule of the SAM template
              (orders-toolkit rule-test --help)
  event KIND  print a sample event: apigw-rest, apigw-http, eventbridge,
              scheduled, sqs, s3-put, dynamodb-stream
              (orders-toolkit event --help)
";

fn project_root() -> PathBuf {
    let here = std::env::current_dir().unwrap_or_else(|_| ".".into());
    here.ancestors()
        .find(|dir| dir.join("infra/template.yaml").is_file())
        .map_or_else(|| here.clone(), Path::to_path_buf)
}

fn fail(message: &str, usage: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "error: {message}\n\n{usage}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    match args.split_first() {
        Some((command, rest)) if command == "rule-test" => {
            let verdict = toolkit::rule_test::run(rest, &root);
            let _ = std::io::stdout().write_all(verdict.stdout.as_bytes());
            let _ = std::io::stderr().write_all(verdict.stderr.as_bytes());
            ExitCode::from(verdict.code)
        }
        Some((command, rest)) if command == "local" => local(rest, &root),
        Some((command, rest)) if command == "event" => event(rest, &root),
        Some((help, _)) if help == "--help" || help == "-h" || help == "help" => {
            let _ = std::io::stdout().write_all(USAGE.as_bytes());
            ExitCode::SUCCESS
        }
        Some((command, _)) => fail(&format!("unknown command `{command}`"), USAGE),
        None => fail("no command", USAGE),
    }
}

fn event(args: &[String], root: &Path) -> ExitCode {
    let Some((kind, rest)) = args.split_first() else {
        return fail("event needs a KIND", toolkit::events::USAGE);
    };
    if kind == "--help" || kind == "-h" {
        let _ = std::io::stdout().write_all(toolkit::events::USAGE.as_bytes());
        return ExitCode::SUCCESS;
    }
    let template = toolkit::template::Template::load(&root.join("infra/template.yaml"));
    let template = match (kind.as_str(), template) {
        (_, Ok(template)) => Some(template),
        // Only apigw-rest needs the routes.
        ("apigw-rest", Err(e)) => return fail(&e.to_string(), ""),
        (_, Err(_)) => None,
    };
    match toolkit::events::generate(kind, rest, template.as_ref()) {
        Ok(json) => {
            let _ = writeln!(std::io::stdout(), "{json}");
            ExitCode::SUCCESS
        }
        Err(message) => fail(&message, toolkit::events::USAGE),
    }
}

fn local(args: &[String], root: &Path) -> ExitCode {
    let options = match toolkit::local::parse_options(args, root) {
        Ok(Some(options)) => options,
        Ok(None) => {
            let _ = std::io::stdout().write_all(toolkit::local::USAGE.as_bytes());
            return ExitCode::SUCCESS;
        }
        Err(message) => return fail(&message, toolkit::local::USAGE),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // The server logs each request and event once; the functions'
        // own info lines would repeat them.
        tracing_subscriber::EnvFilter::new("info,adapters_http=warn,adapters_eventbridge=warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("no runtime: {e}"), ""),
    };
    let result = runtime.block_on(toolkit::local::run(options, shutdown_signal()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C, or SIGTERM (as `kill` and test harnesses send).
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(term) => { term.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
