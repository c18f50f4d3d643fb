//! Test fixtures shared by the crates' tests: sample orders, the
//! `OrderRepository` contract suite, and (feature `dynamodb`) one DynamoDB
//! Local per test binary with a table per test, and (feature `moto`) one
//! moto server per test binary and a bus that forwards to a queue; the
//! providers themselves are `local-services`.
//!
//! Invariant: nothing here is linked into a function binary: the tests and
//! the local toolkit use it, the `fn-*` crates never do.

pub mod contract;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "moto")]
pub mod moto;
pub mod orders;
