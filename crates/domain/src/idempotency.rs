//! Idempotency keys and the record that binds a key to one request.
//!
//! A client that retries `POST /orders` with the same key gets the order the
//! first attempt created, not a second order. The record holds a hash of the
//! request so that the same key with another body is told apart (a conflict).
//! A key is scoped to the caller that sent it: another caller's request
//! with the same key is another order, and learns nothing of the first.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::time::Timestamp;
use crate::values::{CustomerId, LineItems, ValueError};

/// A client-chosen key: 1 to 128 of `[A-Za-z0-9_.:-]` (a UUID fits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 128;
    const ALLOWED: &'static str = "letters, digits, '_', '-', '.' and ':'";

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        if raw.is_empty() {
            return Err(ValueError::Empty);
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
        {
            return Err(ValueError::InvalidCharacter {
                allowed: Self::ALLOWED,
            });
        }
        if raw.len() > Self::MAX_LEN {
            return Err(ValueError::TooLong { max: Self::MAX_LEN });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// SHA-256 of a request's meaning, in lowercase hex. Two requests that ask
/// for the same lines in another order hash alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestHash(String);

impl RequestHash {
    pub fn of_order_request(customer: &CustomerId, items: &LineItems) -> Self {
        let mut lines: Vec<(&str, u32)> = items
            .iter()
            .map(|i| (i.product_id().as_str(), i.quantity().get()))
            .collect();
        lines.sort_unstable();
        let mut hasher = Sha256::new();
        hasher.update(customer.as_str());
        for (product, quantity) in lines {
            // Identifiers cannot hold '\n' or ' ', so the encoding is unambiguous.
            hasher.update(format!("\n{product} {quantity}"));
        }
        let digest = hasher.finalize();
        Self(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Rebuilds a stored hash; `None` unless it is 64 lowercase hex digits.
    pub fn from_stored(raw: &str) -> Option<Self> {
        (raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Binds a key to the request that first used it, until `expires_at`.
/// Keys are the caller's own: the same key from two callers is two
/// records (`scope` is `Caller::scope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub scope: String,
    pub key: IdempotencyKey,
    pub request_hash: RequestHash,
    pub expires_at: Timestamp,
}

impl IdempotencyRecord {
    /// `<scope>#<key>`: what a store keys the record by. Neither part can
    /// hold `#`, so two callers' keys never meet.
    pub fn scoped_key(&self) -> String {
        format!("{}#{}", self.scope, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{LineItem, ProductId, Quantity};

    fn lines(spec: &[(&str, i64)]) -> LineItems {
        LineItems::parse(
            spec.iter()
                .map(|(p, q)| {
                    LineItem::new(ProductId::parse(p).unwrap(), Quantity::parse(*q).unwrap())
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn keys_accept_one_to_a_hundred_twenty_eight_safe_characters() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse("6f1c2a9e-8d4b-4c1a-9f0e-1b2c3d4e5f60").is_ok());
        assert!(IdempotencyKey::parse("retry:1.2_x").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(128)).is_ok());
        assert_eq!(
            IdempotencyKey::parse(&"k".repeat(129)),
            Err(ValueError::TooLong { max: 128 })
        );
        assert_eq!(IdempotencyKey::parse(""), Err(ValueError::Empty));
        assert!(IdempotencyKey::parse("a#b").is_err());
        assert!(IdempotencyKey::parse("a/b").is_err());
        assert!(IdempotencyKey::parse("a b").is_err());
    }

    #[test]
    fn the_hash_ignores_line_order_but_not_content() {
        let customer = CustomerId::parse("C1").unwrap();
        let a = RequestHash::of_order_request(&customer, &lines(&[("A", 1), ("B", 2)]));
        let b = RequestHash::of_order_request(&customer, &lines(&[("B", 2), ("A", 1)]));
        let c = RequestHash::of_order_request(&customer, &lines(&[("A", 1), ("B", 3)]));
        let d = RequestHash::of_order_request(
            &CustomerId::parse("C2").unwrap(),
            &lines(&[("A", 1), ("B", 2)]),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_eq!(RequestHash::from_stored(a.as_str()), Some(a));
        assert_eq!(RequestHash::from_stored("xyz"), None);
    }
}
