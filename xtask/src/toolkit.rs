//! Tasks the `toolkit` crate carries out: xtask builds and runs its
//! `orders-toolkit` binary in the caller's directory and passes its exit
//! status through (rule-test's 0, 1 and 2 mean different things).

use std::process::ExitCode;

use crate::cmd;

pub(crate) fn forward(command: &str, args: &[String]) -> ExitCode {
    if uses_dynamodb_local(command, args) {
        crate::install::ensure_dynamodb_local();
    }
    let mut full: Vec<String> = [
        "run",
        "--quiet",
        // No --package: in this virtual workspace that selects every
        // member, so the features are the ones the test stages resolved.
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

/// `invoke FUNCTION [--release] --event FILE …`: builds the function's
/// binary, then has the toolkit run it under the Runtime API emulator.
pub(crate) fn invoke(args: &[String]) -> ExitCode {
    let Some((function, rest)) = args.split_first().filter(|(f, _)| !f.starts_with('-')) else {
        return forward("invoke", args);
    };
    if function.is_empty()
        || !function
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        eprintln!("error: FUNCTION is a binary of the template's functions, not {function:?}");
        return ExitCode::from(2);
    }
    let release = rest.iter().any(|a| a == "--release");
    let rest: Vec<String> = rest.iter().filter(|a| *a != "--release").cloned().collect();
    let mut build = vec!["build", "--workspace", "--bin", function.as_str()];
    if release {
        build.push("--release");
    }
    if let Err(err) = cmd::run(&cmd::cargo(), build) {
        eprintln!("error: {err}");
        return ExitCode::FAILURE;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| cmd::project_root().join("target"));
    let binary = target
        .join(if release { "release" } else { "debug" })
        .join(function);
    let mut forwarded = vec![
        function.clone(),
        "--binary".to_owned(),
        binary.to_string_lossy().into_owned(),
    ];
    forwarded.extend(rest);
    forward("invoke", &forwarded)
}

/// Whether the toolkit command will start DynamoDB Local: `local` and
/// `invoke` with `--dynamodb local` (both default to the embedded store).
fn uses_dynamodb_local(command: &str, args: &[String]) -> bool {
    let store = args
        .windows(2)
        .find(|pair| pair[0] == "--dynamodb")
        .map(|pair| pair[1].as_str());
    match command {
        "local" => store == Some("local"),
        "invoke" => store == Some("local"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn dynamodb_local_is_installed_only_for_commands_that_start_it() {
        assert!(uses_dynamodb_local(
            "local",
            &args(&["--dynamodb", "local"])
        ));
        assert!(!uses_dynamodb_local("local", &args(&["--port", "3000"])));
        assert!(!uses_dynamodb_local(
            "local",
            &args(&["--dynamodb", "http://127.0.0.1:8000"])
        ));
        assert!(!uses_dynamodb_local(
            "invoke",
            &args(&["some-function", "--event", "e.json"])
        ));
        assert!(uses_dynamodb_local(
            "invoke",
            &args(&["some-function", "--dynamodb", "local"])
        ));
        assert!(!uses_dynamodb_local(
            "invoke",
            &args(&["some-function", "--dynamodb", "http://h:1"])
        ));
        assert!(!uses_dynamodb_local(
            "rule-test",
            &args(&["--dynamodb", "local"])
        ));
    }
}
