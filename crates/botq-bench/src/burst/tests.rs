//! The burst report: absorbed and drained, in a table and as JSON.

use super::*;
use crate::report::{Counts, Quantiles};

fn replies(missing: u64) -> ReplyReport {
    ReplyReport {
        events: 200_000,
        acked: 200_000,
        replied: 200_000 - missing,
        missing,
        duplicate_replies: 0,
        latency_ms: Some(Quantiles { p50: 9_500.0, p95: 17_800.0, p99: 18_600.0, max: 18_900.0 }),
        first_reply_s: Some(0.01),
        last_reply_s: Some(25.01),
        collected_after_s: 15.2,
        dropped: 0,
        foreign: 1,
        missing_sample: Vec::new(),
    }
}

fn report(missing: u64) -> BurstReport {
    BurstReport {
        events: 200_000,
        rate: 20_000.0,
        offer_s: 10.0,
        step: RateReport {
            counts: Counts { ok: 200_000, ..Counts::default() },
            replies: Some(replies(missing)),
            ..crate::report::tests::sample()
        },
    }
}

#[test]
fn a_drained_burst_says_when_the_last_reply_arrived_and_how_fast_it_drained() {
    let r = report(0);
    assert_eq!(r.all_replied_after_s(), Some(25.01));
    let text = r.text();
    assert!(text.contains("200000 of 200000 requests acknowledged 2xx, 0 503"), "{text}");
    assert!(text.contains("every reply arrived 25.0 s after the first event was due (15.0 s after the offer ended)"));
    assert!(text.contains("; 8000 replies/s from the first reply to the last"), "{text}");
    let j = r.to_json();
    assert_eq!(j["drained"]["all_replied_after_s"], 25.01);
    assert_eq!(j["drained"]["after_offer_end_s"], 15.01);
    assert_eq!(j["drained"]["reply_rate"], 7999.96, "199 999 gaps over 25 s");
    assert_eq!(j["absorbed"]["replies"]["missing"], 0);
    assert_eq!(j["burst"]["events"], 200_000);
    assert!(!j.to_string().contains('\n'), "one object per line");
}

#[test]
fn a_burst_with_missing_replies_has_no_drain_time_and_marks_its_latency_as_a_bound() {
    let r = report(3);
    assert_eq!(r.all_replied_after_s(), None);
    let text = r.text();
    assert!(text.contains("199997 of 200000 acknowledged events replied, 3 missing 15.2 s after"), "{text}");
    assert!(text.contains("p99 ≥18600 ms"), "{text}");
    assert_eq!(r.to_json()["drained"]["all_replied_after_s"], serde_json::Value::Null);
}

#[test]
fn the_table_in_the_burst_report_lines_up() {
    let text = report(0).text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1].chars().count(), lines[2].chars().count(), "\n{}\n{}", lines[1], lines[2]);
}
