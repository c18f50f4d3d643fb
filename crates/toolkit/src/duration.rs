//! Durations as the command line writes them: a whole number of ASCII
//! digits and one unit letter (`30s`, `10m`, `2h`, `1d`). Nothing else
//! is read (no sign, no space, no other digits), and a value too large
//! for a `u64` of seconds is refused, never wrapped.

use std::time::Duration;

/// Seconds per unit letter.
const UNITS: [(char, u64); 4] = [('s', 1), ('m', 60), ('h', 3_600), ('d', 86_400)];

/// `text` as a duration, if it is a number and one of `units` (a subset
/// of s, m, h, d).
pub fn parse(text: &str, units: &str) -> Option<Duration> {
    let unit = text.chars().next_back()?;
    if !units.contains(unit) {
        return None;
    }
    let number = &text[..text.len() - unit.len_utf8()];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let per_unit = UNITS.iter().find(|(u, _)| *u == unit)?.1;
    let seconds = number.parse::<u64>().ok()?.checked_mul(per_unit)?;
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_number_and_a_unit_are_read_and_nothing_else() {
        let check = |text: &str, expected: Option<u64>| {
            assert_eq!(
                parse(text, "smhd").map(|d| d.as_secs()),
                expected,
                "{text:?}"
            );
        };
        check("30s", Some(30));
        check("10m", Some(600));
        check("2h", Some(7_200));
        check("1d", Some(86_400));
        check("0s", Some(0));
        for bad in [
            "", "s", "5", "5é", "é", "+5m", "-5m", " 5m", "5 m", "5.5m", "5ms", "٣m", "5M",
        ] {
            check(bad, None);
        }
        // Past u64 seconds: refused, not wrapped.
        check("18446744073709551615s", Some(u64::MAX));
        check("18446744073709551615m", None);
        check("99999999999999999999s", None);
        assert_eq!(parse("5d", "smh"), None);
    }

    proptest! {
        /// Any text at all: an answer, never a panic, and an answer only
        /// for digits and a unit.
        #[test]
        fn any_text_is_answered_without_a_panic(text in any::<String>()) {
            if let Some(duration) = parse(&text, "smhd") {
                let (number, unit) = text.split_at(text.len() - 1);
                prop_assert!(number.bytes().all(|b| b.is_ascii_digit()));
                prop_assert!("smhd".contains(unit));
                prop_assert!(duration.as_secs() >= number.parse::<u64>().unwrap_or(0));
            }
        }
    }
}
