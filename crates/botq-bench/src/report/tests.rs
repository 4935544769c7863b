use hdrhistogram::Histogram;

use super::*;

fn sample() -> RateReport {
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
    let header = RateReport::table_header();
    let row = sample().table_row();
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
    let row = r.table_row();
    assert_eq!(row.chars().count(), RateReport::table_header().chars().count(), "{row}");
    assert!(row.trim_start().starts_with("2.5 "), "{row}");
    assert_eq!(row.matches(" -").count(), 8, "{row}");
    assert!(row.ends_with("-    0.00       -"), "{row}");
}
