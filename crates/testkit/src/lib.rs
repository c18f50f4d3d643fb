//! Test fixtures shared by the crates' tests: sample orders and the
//! `OrderRepository` contract suite.
//!
//! Invariant: nothing here is linked into a function binary; it is a
//! dev-dependency only.

pub mod contract;
pub mod orders;
