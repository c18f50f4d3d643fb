//! `OrderRepository` on DynamoDB, in the single-table design of the SAM
//! tutorial.
//!
//! Only this crate knows item attributes. Layout:
//!
//! | item | PK | SK | other keys |
//! |---|---|---|---|
//! | order | `ORDER#<orderId>` | `METADATA` | `GSI1PK = CUSTOMER#<customerId>`, `GSI1SK = <createdAt>#<orderId>`; while an event is marked: `GSI2PK = OUTBOX`, `GSI2SK = <markedAt>#<orderId>` |
//! | idempotency record | `IDEMPOTENCY#<caller scope>#<key>` | `IDEMPOTENCY` | `ttl` (epoch seconds) |
//!
//! Invariants: an order with an idempotency key is written in one
//! `TransactWriteItems` with its record; every change is conditional on the
//! stored `version`; SDK errors are translated, conditional-check failures
//! to domain variants and throttling or timeouts (after the SDK's own
//! retries) to `RepositoryError::Unavailable`, with the cause kept.
//!
//! The endpoint comes from the SDK's own configuration
//! (`AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local); there is no custom
//! endpoint code here.

mod errors;
mod item;
pub mod keys;
mod repository;
mod table;

pub use item::{OUTBOX_SHARDS, outbox_shard};
pub use repository::{DynamoOrderRepository, WarmUpError};
pub use table::{IndexSpec, TABLE, TableSpec, create_table};

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

/// The timeouts a function's DynamoDB client uses: they keep a request
/// well inside the function's timeout when DynamoDB does not answer (at
/// most three attempts of two seconds each, five seconds in all).
pub fn client_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .build()
}

/// The retries a function's DynamoDB client makes: three attempts in all.
pub fn client_retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3)
}
