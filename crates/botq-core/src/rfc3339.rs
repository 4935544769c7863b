//! RFC 3339 timestamps ↔ Unix time, through the `time` crate.
//!
//! QQ stamps messages as `2025-09-08T23:13:34+08:00`; tools print instants as
//! `2025-09-08T15:13:34.000Z`. The calendar arithmetic is the `time` crate's.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Parses an RFC 3339 date-time to Unix milliseconds; `None` when it is not one.
#[must_use]
pub fn parse_unix_ms(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC); out-of-range values
/// print as the raw number.
#[must_use]
pub fn format_unix_ms(ms: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else { return ms.to_string() };
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Unix seconds as RFC 3339 in UTC without a fraction (`2024-09-04T09:32:21Z`).
#[must_use]
pub fn format_unix_secs(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn qq_timestamps_with_offsets_become_unix_milliseconds() {
        assert_eq!(parse_unix_ms("2024-10-15T16:33:15+08:00"), Some(1_728_981_195_000));
        assert_eq!(parse_unix_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_unix_ms("1969-12-31T23:59:59Z"), Some(-1000));
        assert_eq!(parse_unix_ms("1970-01-01T00:00:00-01:30"), Some(5_400_000));
    }

    #[test]
    fn fractions_keep_milliseconds_and_leap_days_count() {
        assert_eq!(parse_unix_ms("1970-01-01T00:00:00.5Z"), Some(500));
        assert_eq!(parse_unix_ms("1970-01-01T00:00:00.123456789Z"), Some(123));
        assert_eq!(parse_unix_ms("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(parse_unix_ms("2000-03-01T00:00:00Z"), Some(951_868_800_000));
    }

    #[test]
    fn anything_else_is_none() {
        for bad in [
            "",
            "2025-09-08",
            "2025-09-08T23:13:34",
            "2025-09-08T23:13:34+0800",
            "2025-09-08T23:13:34.Z",
            "2025-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2025-09-08T24:00:00Z",
            "2025-09-08T23:60:00Z",
            "2025/09/08T23:13:34Z",
            "2025-09-08T23:13:34Zjunk",
            "1757344414",
        ] {
            assert_eq!(parse_unix_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn instants_print_in_utc() {
        assert_eq!(format_unix_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(format_unix_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_unix_secs(1_725_442_341), "2024-09-04T09:32:21Z");
        assert_eq!(format_unix_secs(951_782_400), "2000-02-29T00:00:00Z");
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
            let _ = parse_unix_ms(&s);
        }

        #[test]
        fn formatting_and_parsing_round_trip(ms in -2_000_000_000_000i64..4_000_000_000_000) {
            prop_assert_eq!(parse_unix_ms(&format_unix_ms(ms)), Some(ms));
        }
    }
}
