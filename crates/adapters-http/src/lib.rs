//! The HTTP edge: API Gateway proxy requests in, use cases, responses out.
//!
//! Only this crate knows the HTTP wire shapes (request bodies, order JSON,
//! problem details). It accepts REST API (payload v1) and HTTP API (v2)
//! events, including the shapes `sam local generate-event` writes, and
//! never panics on input: every bad request gets an RFC 9457 problem with
//! the request id, and a 5xx never shows its cause (that goes to the log).

mod api;
mod caller;
mod gateway;
mod names;
mod problem;
mod routes;
mod wire;

pub use api::{ANSWER_MARGIN, Api, Deadline};
pub use caller::{CUSTOMER_CLAIM, STAFF_GROUP, TokenPolicy};
pub use gateway::{EventError, Origin};
pub use names::MAX_BODY_BYTES;
pub use problem::ApiError;
pub use routes::{Operation, ROUTES, Route};

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
