//! No code: this crate exists for its `[dependencies]`, which turn on the
//! features the workspace's dev-dependencies would otherwise add only to
//! builds of tests (see its Cargo.toml).
