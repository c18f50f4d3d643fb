//! Integration tests of the EventBridge adapter against moto's server (and
//! DynamoDB Local for the outbox), both found or started by the testkit.

mod bus;
mod outbox;
