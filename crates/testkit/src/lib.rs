//! Test fixtures shared by the crates' tests: sample orders, the
//! `OrderRepository` contract suite, and (feature `dynamodb`) DynamoDB Local
//! found or started for the tests, and (feature `moto`) moto's server for
//! EventBridge.
//!
//! Invariant: nothing here is linked into a function binary: the tests and
//! the local toolkit use it, the `fn-*` crates never do.

pub mod contract;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "moto")]
pub mod moto;
pub mod orders;
#[cfg(any(feature = "dynamodb", feature = "moto"))]
pub mod watchdog;
