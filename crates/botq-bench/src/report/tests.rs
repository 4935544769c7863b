use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::Value;

use super::*;

/// A 200 000-request step at 20 000/s with every kind of outcome; other
/// modules' report tests start from it.
pub(crate) fn sample() -> RateReport {
    RateReport {
        target_rate: 20_000.0,
        duration_s: 10.0,
        requests: 200_000,
        achieved_rate: 19_987.456,
        counts: Counts { ok: 199_000, client_error: 10, unavailable: 900, other: 0, transport_error: 40, timeout: 50 },
        latency_ms: Some(Percentiles { p50: 0.42, p90: 0.81, p99: 1.95, p999: 4.1, max: 9.8 }),
        send_lag_ms: Some(Percentiles { p50: 0.3, p90: 0.6, p99: 0.98, p999: 1.2, max: 3.0 }),
        cpu_s: Some(6.0),
        signing_cpu_s: 0.0,
        signing: "pregenerated",
        duplicates: DuplicateCounts::default(),
        replies: None,
    }
}

#[test]
fn statuses_are_filed_by_class_with_503_on_its_own() {
    let mut c = Counts::default();
    for s in [200, 204, 401, 404, 413, 503, 500, 302] {
        c.add_status(s);
    }
    assert_eq!((c.ok, c.client_error, c.unavailable, c.other), (2, 3, 1, 2));
    assert_eq!(c.responses(), 8);
}

#[test]
fn percentiles_are_read_in_milliseconds_from_a_microsecond_histogram() {
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    for us in 1..=1000 {
        h.record(us * 10).unwrap();
    }
    let p = Percentiles::from_micros(&h).unwrap();
    assert!((p.p50 - 5.0).abs() < 0.01, "{p:?}");
    assert!((p.p99 - 9.9).abs() < 0.01, "{p:?}");
    assert!((p.max - 10.0).abs() < 0.01, "{p:?}");
    assert_eq!(Percentiles::from_micros(&Histogram::<u64>::new(3).unwrap()), None);
}

#[test]
fn cpu_per_request_leaves_out_signing_and_counts_only_responses() {
    let mut r = sample();
    // 6 s over 199 910 responses.
    assert!((r.cpu_us_per_request().unwrap() - 30.01).abs() < 0.01);
    r.signing_cpu_s = 3.0;
    assert!((r.cpu_us_per_request().unwrap() - 15.007).abs() < 0.01);
    r.counts = Counts { timeout: 5, ..Counts::default() };
    assert_eq!(r.cpu_us_per_request(), None, "no responses, no ratio");
    r.cpu_s = None;
    assert_eq!(r.cpu_us_per_request(), None);
}

#[test]
fn the_json_line_has_every_field_with_stable_names() {
    let v = sample().to_json();
    assert_eq!(v["target_rate"], 20_000.0);
    assert_eq!(v["achieved_rate"], 19_987.46);
    assert_eq!(v["status"]["2xx"], 199_000);
    assert_eq!(v["status"]["503"], 900);
    assert_eq!(v["status"]["transport_errors"], 40);
    assert_eq!(v["status"]["timeouts"], 50);
    assert_eq!(v["latency_ms"]["p99.9"], 4.1);
    assert_eq!(v["send_lag_ms"]["p99"], 0.98);
    assert_eq!(v["cpu_us_per_request"], 30.01);
    assert_eq!(v["signing"], "pregenerated");
    assert!(!v.to_string().contains('\n'), "one object per line");
}

#[test]
fn table_rows_line_up_under_the_header() {
    let header = RateReport::table_header(Columns::default());
    let row = sample().table_row(Columns::default());
    assert_eq!(header.chars().count(), row.chars().count(), "\n{header}\n{row}");
    assert!(row.trim_start().starts_with("20000    19987.5    199000"), "{row}");
    assert!(row.contains("    1.95 "), "{row}");
    assert!(row.ends_with("    6.00    0.00    30.0"), "{row}");
}

#[test]
fn a_step_without_responses_prints_dashes_not_zeros() {
    let mut r = sample();
    r.counts = Counts { transport_error: 10, ..Counts::default() };
    r.latency_ms = None;
    r.send_lag_ms = None;
    r.cpu_s = None;
    r.target_rate = 2.5;
    let row = r.table_row(Columns::default());
    assert_eq!(row.chars().count(), RateReport::table_header(Columns::default()).chars().count(), "{row}");
    assert!(row.trim_start().starts_with("2.5 "), "{row}");
    assert_eq!(row.matches(" -").count(), 8, "{row}");
    assert!(row.ends_with("-    0.00       -"), "{row}");
}

fn replies(missing: u64) -> ReplyReport {
    ReplyReport {
        events: 9_000,
        acked: 9_000,
        replied: 9_000 - missing,
        missing,
        duplicate_replies: 2,
        latency_ms: Some(Quantiles { p50: 3.25, p95: 10.0, p99: 22.04, max: 51.5 }),
        first_reply_s: Some(0.003),
        last_reply_s: Some(10.003),
        collected_after_s: 0.8,
        dropped: 0,
        foreign: 1,
        missing_sample: Vec::new(),
    }
}

#[test]
fn quantiles_read_a_histogram_of_microseconds_as_milliseconds() {
    let mut h = histogram();
    for us in 1..=1000 {
        h.record(us * 100).unwrap();
    }
    let q = Quantiles::from_micros(&h).unwrap();
    for (got, want) in [(q.p50, 50.0), (q.p95, 95.0), (q.p99, 99.0), (q.max, 100.0)] {
        assert!((got - want).abs() <= want / 1000.0, "{got} vs {want}: within the histogram's 3 digits");
    }
    assert_eq!(Quantiles::from_micros(&histogram()), None);
}

#[test]
fn duplicate_and_reply_columns_line_up_and_appear_only_when_asked_for() {
    let mut r = sample();
    r.duplicates = DuplicateCounts { offered: 20_000, acked: 19_999 };
    r.replies = Some(replies(0));
    let plain = (RateReport::table_header(Columns::default()), r.table_row(Columns::default()));
    assert!(!plain.0.contains("dups") && !plain.0.contains("e2e"), "{}", plain.0);
    let all = Columns { duplicates: true, replies: true };
    let (header, row) = (RateReport::table_header(all), r.table_row(all));
    assert_eq!(header.chars().count(), row.chars().count(), "\n{header}\n{row}");
    assert!(
        header.ends_with("dups dup 2xx  replied missing dup rep   e2e p50   e2e p95   e2e p99   e2e max"),
        "{header}"
    );
    assert!(
        row.ends_with("   20000   19999     9000       0       2       3.2      10.0      22.0      51.5"),
        "{row}"
    );
    r.replies = None;
    let dashes = r.table_row(all);
    assert_eq!(dashes.chars().count(), header.chars().count(), "{dashes}");
    assert!(dashes.ends_with("       -       -       -         -         -         -         -"), "{dashes}");
}

#[test]
fn missing_replies_mark_the_latency_columns_as_lower_bounds() {
    let cells = replies(4).table_cells();
    assert_eq!(cells.chars().count(), ReplyReport::table_header().chars().count(), "{cells}");
    assert!(cells.contains("   ≥22.0 ") && cells.contains("       4 "), "{cells}");
    assert!(!replies(0).table_cells().contains('≥'));
}

#[test]
fn the_json_line_carries_duplicates_and_replies_per_event() {
    let mut r = sample();
    assert_eq!(r.to_json()["replies"], Value::Null, "no readback, no replies object");
    assert_eq!(r.to_json()["duplicates"]["offered"], 0);
    r.duplicates = DuplicateCounts { offered: 10, acked: 10 };
    r.replies = Some(replies(4));
    let v = r.to_json();
    assert_eq!(v["duplicates"]["acked_2xx"], 10);
    let rep = &v["replies"];
    assert_eq!(
        (rep["events"].as_u64(), rep["replied"].as_u64(), rep["missing"].as_u64()),
        (Some(9000), Some(8996), Some(4))
    );
    assert_eq!(rep["duplicate_replies"], 2);
    assert_eq!(rep["latency_ms"]["p95"], 10.0);
    assert_eq!(rep["latency_is_lower_bound"], true);
    assert_eq!(rep["reply_rate"], 899.5, "8995 gaps over 10 s");
    assert!(!v.to_string().contains('\n'));
}

#[test]
fn a_window_line_shows_the_windows_rate_statuses_and_ack_latency() {
    let mut w = window::Window::new();
    for _ in 0..98 {
        w.record(Some(200), 1_500);
    }
    w.record(Some(503), 40_000);
    w.record(None, 0);
    let line = w.line(Duration::from_secs(120), Duration::from_secs(60));
    assert!(line.starts_with("[  120.0 s] answered       1.6/s  2xx       98  non-2xx      1  errors     1"), "{line}");
    assert!(line.ends_with("ack p50 1.50 p99 40.03 max 40.03 ms"), "{line} (40 ms to the histogram's 3 digits)");
    let empty = window::Window::new().line(Duration::from_secs(1), Duration::from_secs(1));
    assert!(empty.ends_with("ack -"), "{empty}");
}
