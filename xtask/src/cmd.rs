//! Running commands: print each one (on standard error, so that standard
//! output carries only what the command itself prints, and pipes work),
//! run it in the project root, fail with its exit status.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The project root: xtask's manifest directory's parent.
pub(crate) fn project_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The cargo that runs us, so toolchain overrides are honoured.
pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Takes out of `command`'s environment what `cargo run` sets for the
/// package it runs (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...): a build
/// script that watches one of them (ring's does) would otherwise rebuild,
/// with everything above it, each time a cargo started from here and one
/// started from a shell take turns.
pub(crate) fn clean_cargo_env(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("CARGO_PKG_")
            || matches!(
                name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
            )
        {
            command.env_remove(name);
        }
    }
    command
}

#[derive(Debug)]
pub(crate) struct Failed(String);

impl Failed {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

pub(crate) type Result<T = ()> = std::result::Result<T, Failed>;

/// Runs `program args…` in the project root, printing it first.
pub(crate) fn run<I, S>(program: &str, args: I) -> Result
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_with_env(program, args, &[])
}

/// `run`, with extra environment variables.
pub(crate) fn run_with_env<I, S>(program: &str, args: I, env: &[(&str, &str)]) -> Result
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_in(&project_root(), program, args, env)
}

/// `run_with_env`, in `dir` instead of the project root (for tools that
/// write caches where they run).
pub(crate) fn run_in<I, S>(
    dir: &std::path::Path,
    program: &str,
    args: I,
    env: &[(&str, &str)],
) -> Result
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<S> = args.into_iter().collect();
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    let name = if program == cargo() { "cargo" } else { program };
    eprintln!("$ {name} {}", shown.join(" "));
    let status = clean_cargo_env(&mut Command::new(program))
        .args(&args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .status()
        .map_err(|e| Failed(format!("could not start `{name}`: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Failed(format!(
            "`{name} {}` failed ({status})",
            shown.join(" ")
        )))
    }
}

/// Runs `program args…` in the caller's directory (so that relative paths
/// the user gave still hold), printing it first, and returns its exit code
/// (for commands whose code carries meaning).
pub(crate) fn run_for_code(program: &str, args: &[String]) -> Result<i32> {
    let name = if program == cargo() { "cargo" } else { program };
    eprintln!("$ {name} {}", args.join(" "));
    let status = clean_cargo_env(&mut Command::new(program))
        .args(args)
        .status()
        .map_err(|e| Failed(format!("could not start `{name}`: {e}")))?;
    status
        .code()
        .ok_or_else(|| Failed(format!("`{name}` was stopped by a signal ({status})")))
}

/// True when `cargo <subcommand> --version` runs.
pub(crate) fn has_cargo_subcommand(subcommand: &str) -> bool {
    clean_cargo_env(&mut Command::new(cargo()))
        .args([subcommand, "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `npm install` of `package` into `prefix` (a folder under `target/`),
/// failing within minutes rather than hanging when the registry is out of
/// reach.
pub(crate) fn npm_install(prefix: &Path, package: &str) -> Result {
    std::fs::create_dir_all(prefix)
        .map_err(|e| Failed(format!("cannot create {}: {e}", prefix.display())))?;
    let prefix = prefix.to_string_lossy().into_owned();
    run(
        "npm",
        [
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--fetch-timeout=60000",
            "--fetch-retries=2",
            "--prefix",
            &prefix,
            package,
        ],
    )
}

/// A Python virtual environment at `venv` with `packages` installed.
pub(crate) fn venv_install(venv: &Path, packages: &[&str]) -> Result {
    let venv_arg = venv.to_string_lossy().into_owned();
    run("python3", ["-m", "venv", venv_arg.as_str()])?;
    let pip = venv.join("bin/pip").to_string_lossy().into_owned();
    let mut args = vec![
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--timeout",
        "60",
    ];
    args.extend_from_slice(packages);
    run(&pip, args)
}
