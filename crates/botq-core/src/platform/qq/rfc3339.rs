//! RFC 3339 timestamps (`2025-09-08T23:13:34+08:00`) to Unix milliseconds.
//!
//! QQ stamps messages this way. The envelope's `platform_ts_ms` is advisory,
//! so a small strict parser is enough and no date crate is pulled in for it:
//! anything outside `YYYY-MM-DDTHH:MM:SS(.frac)?(Z|±HH:MM)` is `None`.

/// Parses an RFC 3339 date-time; `None` when it is not one.
pub(super) fn unix_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    let separators_ok = b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && b.get(13) == Some(&b':')
        && b.get(16) == Some(&b':');
    if !separators_ok {
        return None;
    }

    let mut rest = b.get(19..)?;
    let mut millis = 0;
    if let Some((b'.', frac)) = rest.split_first() {
        let len = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        // Milliseconds are the first three fraction digits, right-padded.
        let (run, after) = frac.split_at_checked(len)?;
        millis = run.iter().chain(b"000").take(3).fold(0, |acc, c| acc * 10 + i64::from(c - b'0'));
        rest = after;
    }
    let offset_secs = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2], 0, 2)?;
            let minutes = digits(&[*m1, *m2], 0, 2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let secs = hours * 3600 + minutes * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };

    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 60; // a leap second is counted as the next second's start
    if !valid {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * 1000 + millis)
}

/// `len` ASCII digits at `start` as a number; `len` is at most 4 here, so
/// nothing overflows.
fn digits(b: &[u8], start: usize, len: usize) -> Option<i64> {
    let field = b.get(start..start.checked_add(len)?)?;
    field.iter().try_fold(0, |acc, c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12; // March is 0, so the leap day ends the year
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn qq_timestamps_with_offsets_become_unix_milliseconds() {
        assert_eq!(unix_ms("2025-09-08T23:13:34+08:00"), Some(1_757_344_414_000));
        assert_eq!(unix_ms("2024-10-15T16:33:15+08:00"), Some(1_728_981_195_000));
        assert_eq!(unix_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_ms("1969-12-31T23:59:59Z"), Some(-1000));
        assert_eq!(unix_ms("1970-01-01T00:00:00-01:30"), Some(5_400_000));
    }

    #[test]
    fn fractions_keep_milliseconds_and_leap_days_count() {
        assert_eq!(unix_ms("1970-01-01T00:00:00.5Z"), Some(500));
        assert_eq!(unix_ms("1970-01-01T00:00:00.123456789Z"), Some(123));
        assert_eq!(unix_ms("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(unix_ms("2000-03-01T00:00:00Z"), Some(951_868_800_000));
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
            "2025-09-08T23:13:34+24:00",
            "2025/09/08T23:13:34Z",
            "+025-09-08T23:13:34Z",
            "2025-09-08T23:13:34Zjunk",
            "1757344414",
        ] {
            assert_eq!(unix_ms(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
            let _ = unix_ms(&s);
        }

        #[test]
        fn every_calendar_day_maps_to_its_day_count(days in 0i64..3_000_000) {
            let (y, m, d) = civil_from_days(days - 719_468);
            prop_assert_eq!(days_from_civil(y, m, d), days - 719_468);
            let text = format!("{y:04}-{m:02}-{d:02}T00:00:00Z");
            prop_assert_eq!(unix_ms(&text), Some((days - 719_468) * 86_400_000));
        }
    }

    /// The inverse of `days_from_civil`, only to check it.
    fn civil_from_days(z: i64) -> (i64, i64, i64) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (yoe + era * 400 + i64::from(m <= 2), m, d)
    }
}
