//! Test fixtures shared by the crates' tests: sample orders, the
//! `OrderRepository` contract suite, and (feature `dynamodb`) DynamoDB Local
//! found or started for the tests.
//!
//! Invariant: nothing here is linked into a function binary; it is a
//! dev-dependency only.

pub mod contract;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod orders;
#[cfg(feature = "dynamodb")]
pub mod watchdog;
