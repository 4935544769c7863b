//! Counting one step's replies per event: duplicates sent count once,
//! unacknowledged events are not missing, missing ones count at their age.

use super::*;
use crate::replies::{Delivery, TAG};

const START_US: i64 = 1_700_000_000_000_000;
const RUN: u64 = 77;

/// 10 requests at 10/s: 2 of warm-up (0.2 s), 8 measured; every 4th a duplicate of the one before.
fn schedule() -> Schedule {
    Schedule::new(10.0, Duration::from_millis(200), Duration::from_millis(800))
}

fn dups() -> Duplicates {
    Duplicates::every(4, 1)
}

fn reply(e: u64, after_due_ms: i64) -> Delivery {
    let due_ms = START_US / 1000 + i64::try_from(schedule().due(dups().first_request(e)).as_millis()).unwrap();
    Delivery { text: format!("{TAG} {RUN} {e}"), received_at_ms: due_ms + after_due_ms }
}

/// The step of these tests, with `acked` per event.
fn sent(acked: &[bool]) -> Sent<'_> {
    Sent { run: RUN, schedule: schedule(), duplicates: dups(), start_unix_us: START_US, acked }
}

fn collected(deliveries: &[Delivery], events: usize, at_s: i64) -> Collected {
    Collected {
        replies: Replies::collect(RUN, events, deliveries),
        collected_us: START_US + at_s * 1_000_000,
        dropped: 0,
    }
}

#[test]
fn the_schedule_of_these_tests_is_as_described() {
    let (s, d) = (schedule(), dups());
    assert_eq!((s.total(), s.measured()), (10, 8));
    let events: Vec<(u64, bool)> = (0..10).map(|i| d.event(i)).collect();
    assert_eq!(&events[..5], [(0, false), (1, false), (2, false), (2, true), (3, false)]);
    assert_eq!(d.events(10), 8, "events 0..8; 0 and 1 are warm-up");
}

#[test]
fn every_acknowledged_event_with_one_reply_is_counted_once_despite_its_duplicate() {
    let acked = [true; 8];
    let sent = sent(&acked);
    let deliveries: Vec<Delivery> = (0..8).map(|e| reply(e, 30)).collect();
    let c = collected(&deliveries, 8, 5);
    assert!(sent.all_answered(&c.replies));
    let r = tally(&sent, &c);
    assert_eq!((r.events, r.acked, r.replied, r.missing, r.duplicate_replies), (6, 6, 6, 0, 0));
    let l = r.latency_ms.unwrap();
    assert!((l.p50 - 30.0).abs() < 0.1 && (l.max - 30.0).abs() < 0.1, "{l:?}");
    assert_eq!(r.first_reply_s, Some(0.03), "event 2 was the first measured one, due at 0.2 s");
    assert_eq!(r.last_reply_s, Some(0.73), "event 7 is request 9, due 0.7 s after event 2");
    assert_eq!(r.reply_rate().map(f64::round), Some(7.0), "5 gaps over 0.7 s");
    assert_eq!(r.foreign, 0);
    assert!((r.collected_after_s - 4.1).abs() < 1e-5, "read at 5 s, the last request was due at 0.9 s");
}

#[test]
fn a_second_reply_is_a_duplicate_reply_and_only_acknowledged_events_can_be_missing() {
    let mut acked = [true; 8];
    acked[5] = false; // refused: the platform would retry it, no reply is owed
    let sent = sent(&acked);
    let mut deliveries: Vec<Delivery> = [0, 1, 2, 3, 7].iter().map(|&e| reply(e, 30)).collect();
    deliveries.push(reply(2, 60));
    deliveries.push(Delivery { text: "pong".into(), received_at_ms: 0 });
    let c = collected(&deliveries, 8, 10);
    assert!(!sent.all_answered(&c.replies), "events 4 and 6 are acknowledged and unanswered");
    let r = tally(&sent, &c);
    assert_eq!((r.events, r.acked, r.replied, r.missing), (6, 5, 3, 2));
    assert_eq!(r.duplicate_replies, 1);
    assert_eq!(r.foreign, 1);
    assert_eq!(r.missing_sample, [RUN + 4, RUN + 6], "event numbers to look up in the logs");
    let l = r.latency_ms.unwrap();
    assert!((l.max - 9_500.0).abs() < 10.0, "event 4 (request 5, due 0.5 s) missing at 10 s: {l:?}");
}

#[test]
fn warm_up_events_are_waited_for_by_nobody_and_counted_nowhere() {
    let acked = [true; 8];
    let sent = sent(&acked);
    let deliveries: Vec<Delivery> = (2..8).map(|e| reply(e, 30)).collect();
    let c = collected(&deliveries, 8, 5);
    assert!(sent.all_answered(&c.replies), "events 0 and 1 are warm-up");
    assert_eq!(tally(&sent, &c).missing, 0);
}
