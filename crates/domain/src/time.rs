//! Instants, held to the millisecond in UTC.
//!
//! The textual form is RFC 3339 with exactly three fractional digits and a
//! `Z`, so that the text sorts in the same order as the instants it names
//! (the storage adapter sorts on it).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

/// An instant in UTC, to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// `None` when the value is outside the years 0 to 9999, which RFC 3339
    /// cannot write with four digits.
    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        DateTime::from_timestamp_millis(millis)
            .filter(|t| (0..=9999).contains(&chrono::Datelike::year(t)))
            .map(Self)
    }

    pub fn unix_millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    /// Seconds since the epoch, as DynamoDB's TTL wants them.
    pub fn unix_seconds(self) -> i64 {
        self.0.timestamp()
    }

    /// Parses any RFC 3339 instant and truncates it to the millisecond.
    pub fn parse_rfc3339(raw: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(raw)
            .ok()
            .and_then(|t| Self::from_unix_millis(t.timestamp_millis()))
    }

    /// `2026-07-02T11:24:04.213Z`: fixed width, sorts like the instant.
    pub fn to_rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// The instant `by` later; saturates at the end of year 9999.
    pub fn plus(self, by: Duration) -> Self {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        Self::from_unix_millis(self.unix_millis().saturating_add(millis)).unwrap_or(Self::MAX)
    }

    /// The instant `by` earlier; saturates at the start of year 0.
    pub fn minus(self, by: Duration) -> Self {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        Self::from_unix_millis(self.unix_millis().saturating_sub(millis)).unwrap_or(Self::MIN)
    }

    const MAX: Self = Self(match DateTime::from_timestamp_millis(253_402_300_799_999) {
        Some(t) => t,
        None => DateTime::<Utc>::MIN_UTC,
    });
    const MIN: Self = Self(match DateTime::from_timestamp_millis(-62_167_219_200_000) {
        Some(t) => t,
        None => DateTime::<Utc>::MIN_UTC,
    });
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_fixed_width_and_sorts_like_the_instant() {
        let a = Timestamp::from_unix_millis(1_700_000_000_000).unwrap();
        let b = Timestamp::from_unix_millis(1_700_000_000_001).unwrap();
        assert_eq!(a.to_rfc3339(), "2023-11-14T22:13:20.000Z");
        assert_eq!(b.to_rfc3339(), "2023-11-14T22:13:20.001Z");
        assert!(a.to_rfc3339() < b.to_rfc3339());
    }

    #[test]
    fn parsing_truncates_to_the_millisecond_and_round_trips() {
        let t = Timestamp::parse_rfc3339("2026-07-02T11:24:04.213247+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-07-02T09:24:04.213Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        assert_eq!(Timestamp::parse_rfc3339("2026-07-02 11:24"), None);
    }

    #[test]
    fn years_outside_four_digits_are_refused() {
        assert!(Timestamp::from_unix_millis(253_402_300_799_999).is_some());
        assert!(Timestamp::from_unix_millis(253_402_300_800_000).is_none());
        assert!(Timestamp::from_unix_millis(-62_167_219_200_000).is_some());
        assert!(Timestamp::from_unix_millis(-62_167_219_200_001).is_none());
    }

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        let t = Timestamp::from_unix_millis(0).unwrap();
        assert_eq!(t.plus(Duration::from_secs(1)).unix_millis(), 1_000);
        assert_eq!(t.minus(Duration::from_secs(1)).unix_millis(), -1_000);
        assert_eq!(t.plus(Duration::MAX), Timestamp::MAX);
        assert_eq!(t.minus(Duration::MAX), Timestamp::MIN);
    }
}
