//! Translating SDK errors into `RepositoryError`, keeping the cause.

use std::fmt;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use domain::RepositoryError;

/// The SDK error with the operation it came from, as the kept source.
#[derive(Debug)]
pub(crate) struct StoreError {
    operation: &'static str,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dynamodb {} failed", self.operation)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Error codes that mean "try again later" rather than "this is wrong".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
];

/// Classifies an SDK error that no caller handled as a business outcome.
pub(crate) fn classify<E>(
    operation: &'static str,
    err: SdkError<E, HttpResponse>,
) -> RepositoryError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            service
                .err()
                .code()
                .is_some_and(|c| TRANSIENT_CODES.contains(&c))
                || service.raw().status().is_server_error()
        }
        _ => false,
    };
    let source = StoreError {
        operation,
        source: Box::new(err),
    };
    if transient {
        RepositoryError::Unavailable(Box::new(source))
    } else {
        RepositoryError::Unexpected(Box::new(source))
    }
}

/// A stored item that does not read back as the domain expects.
pub(crate) fn corrupt(what: String) -> RepositoryError {
    RepositoryError::Unexpected(what.into())
}
