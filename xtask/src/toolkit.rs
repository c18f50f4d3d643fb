//! Tasks the `toolkit` crate carries out: xtask builds and runs its
//! `orders-toolkit` binary in the caller's directory and passes its exit
//! status through (rule-test's 0, 1 and 2 mean different things).

use std::process::ExitCode;

use crate::cmd;

pub(crate) fn forward(command: &str, args: &[String]) -> ExitCode {
    let mut full: Vec<String> = [
        "run",
        "--quiet",
        "--package",
        "toolkit",
        "--bin",
        "orders-toolkit",
        "--",
        command,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    full.extend(args.iter().cloned());
    match cmd::run_for_code(&cmd::cargo(), &full) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(2)),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}
