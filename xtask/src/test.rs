//! The test stages of the testing pyramid.
//!
//! `test-unit` runs every crate's in-crate tests (`--lib --bins`) and the
//! doc tests. They use doubles and in-memory adapters only: no network, no
//! Docker, no AWS account.

use crate::cmd::{self, Result};

/// Doc tests, then the unit tests of every crate (last, so that the run
/// ends on the test runner's summary).
pub(crate) fn unit() -> Result {
    let cargo = cmd::cargo();
    cmd::run(&cargo, ["test", "--workspace", "--doc"])?;
    if cmd::has_cargo_subcommand("nextest") {
        cmd::run(
            &cargo,
            [
                "nextest",
                "run",
                "--workspace",
                "--lib",
                "--bins",
                "--no-fail-fast",
            ],
        )?;
    } else {
        println!(
            "cargo-nextest not found; using cargo test (cargo install cargo-nextest for faster runs)"
        );
        cmd::run(
            &cargo,
            ["test", "--workspace", "--lib", "--bins", "--no-fail-fast"],
        )?;
    }
    Ok(())
}

/// Every local stage, in pyramid order.
pub(crate) fn all() -> Result {
    unit()
}
