//! The error of a pattern EventBridge would not accept: the one type the
//! parser of patterns and the parser of matchers share.

/// A pattern that is not one EventBridge would accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pattern at {path}: {reason}")]
pub struct PatternError {
    pub path: String,
    pub reason: String,
}

impl PatternError {
    pub(crate) fn invalid(path: &str, reason: impl Into<String>) -> Self {
        Self {
            path: if path.is_empty() {
                "the top".to_owned()
            } else {
                path.to_owned()
            },
            reason: reason.into(),
        }
    }
}
