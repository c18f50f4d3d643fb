//! Integration tests of the DynamoDB adapter against DynamoDB Local, found
//! or started by `testkit::dynamodb` (one instance for this binary, a fresh
//! table for each test).

mod concurrency;
mod contract;
mod outbox;
mod service;
