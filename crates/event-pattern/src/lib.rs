//! EventBridge event patterns (content filtering), as the service and the
//! toolkit use them: parse a rule's `EventPattern`, match an event against
//! it, and on a mismatch name the field that failed.
//!
//! Semantics follow EventBridge:
//! - A pattern is a JSON object. Each field maps to a nested pattern object
//!   or to an array of matchers; a pattern is an AND over its fields.
//! - A field matches when its value matches any matcher of its array. When
//!   the event's value is an array, it matches when any element does.
//! - A nested pattern matches an array of objects when one element matches
//!   the whole nested pattern.
//! - Matchers: exact values (strings, numbers, booleans, null), `prefix`,
//!   `suffix` (each also with `equals-ignore-case`), `equals-ignore-case`,
//!   `anything-but` (values, `prefix`, `suffix`, `equals-ignore-case`,
//!   `wildcard`), `numeric`, `exists`, `wildcard`, `cidr`; and `$or` over
//!   whole sub-patterns.
//! - A missing field matches only `{"exists": false}`; `exists` speaks of
//!   leaf values only, so a field holding an object matches
//!   `{"exists": false}` too.
//! - What EventBridge refuses is refused (aws/event-ruler's README is the
//!   reference): `numeric` bounds outside -5.0e9..=5.0e9 or more than one
//!   lower or upper bound (event numbers outside that range match no
//!   `numeric`); `anything-but` with anything but strings, numbers (a list
//!   of one kind) or its prefix/suffix/wildcard/equals-ignore-case forms;
//!   wildcard escapes other than `\*` and `\\`, and consecutive `*`.
//!
//! Invariant: matching never panics, whatever the event holds.

mod error;
mod matcher;
mod pattern;

pub use error::PatternError;
pub use pattern::{Mismatch, Pattern};

#[cfg(test)]
mod tests;
