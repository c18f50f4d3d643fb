//! `Clock` on the system clock, `IdGenerator` on ULIDs, and the HTTPS
//! client (rustls with ring) the functions' AWS SDK clients are built with.
//!
//! Invariant: ids from one `UlidIdGenerator` strictly increase, even within
//! one millisecond (the ULID's random part is incremented, not redrawn).

use std::sync::Mutex;

use domain::{Clock, IdGenerator, OrderId, Timestamp};
use ulid::{Generator, Ulid};

/// The system's wall clock, to the millisecond.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = chrono::Utc::now().timestamp_millis();
        // The system clock is inside years 0..=9999 on any machine that runs
        // this; fall back to the epoch rather than panic if it is not.
        Timestamp::from_unix_millis(millis)
            .or_else(|| Timestamp::from_unix_millis(0))
            .unwrap_or_else(|| unreachable!("the epoch is a valid timestamp"))
    }
}

/// Monotonic ULIDs: unique and time-sortable.
#[derive(Default)]
pub struct UlidIdGenerator {
    generator: Mutex<Generator>,
}

impl std::fmt::Debug for UlidIdGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UlidIdGenerator").finish_non_exhaustive()
    }
}

impl UlidIdGenerator {
    pub fn new() -> Self {
        Self::default()
    }
}

impl IdGenerator for UlidIdGenerator {
    fn next_order_id(&self) -> OrderId {
        let mut generator = self
            .generator
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // `generate` fails only when 2^80 ids were made in one millisecond;
        // a fresh random ULID is still unique then, if not ordered.
        let ulid = generator.generate().unwrap_or_else(|_| Ulid::new());
        OrderId::from_ulid(ulid)
    }
}

/// The HTTPS client for the functions' AWS SDK clients: rustls with ring,
/// and no other TLS stack in the binary (the SDK's default brings aws-lc,
/// about 0.7 MB of each zipped function). Each call builds a new client
/// with its own connection pool.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_unique_and_increase() {
        let ids = UlidIdGenerator::new();
        let made: Vec<OrderId> = (0..10_000).map(|_| ids.next_order_id()).collect();
        assert!(made.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(made.iter().collect::<HashSet<_>>().len(), made.len());
        assert!(OrderId::parse(made[0].as_str()).is_ok());
    }

    #[test]
    fn the_clock_reads_the_present() {
        let now = SystemClock.now().unix_millis();
        // 2024-01-01 and 2100-01-01: a wrong unit (seconds, micros) fails.
        assert!(
            (1_704_067_200_000..4_102_444_800_000).contains(&now),
            "{now}"
        );
    }
}
