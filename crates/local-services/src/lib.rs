//! Local stand-ins for the AWS services the functions use, found or
//! started on this machine: (feature `dynamodb`) DynamoDB Local, from a
//! given endpoint, a container through testcontainers, or the jar under
//! Java; (feature `embedded`) DynamoDB on SQLite in this process
//! (dynoxide); (feature `moto`) moto's server for EventBridge, SQS, SNS and
//! S3, installed into a virtual environment when missing.
//!
//! Invariant: no test code lives here (no fixtures, no assertions), so the
//! toolkit can use these providers without linking `testkit`; whatever a
//! provider starts is stopped when the process that started it ends.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "embedded")]
pub mod embedded;
mod error;
#[cfg(feature = "moto")]
pub mod moto;
#[cfg(any(feature = "dynamodb", feature = "moto"))]
pub mod watchdog;

pub use error::{Cause, ServiceError};
