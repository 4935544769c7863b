//! Deliberate duplicates: which requests of a step re-send an earlier event.
//!
//! Platforms redeliver a webhook they think was not acknowledged, with the
//! same event and message ids; ingest must answer 2xx again and store
//! nothing, so the event is handled, and replied to, once. With
//! `--duplicate-every N` every Nth request of the schedule (indices N-1,
//! 2N-1, …) is such a redelivery; the others are fresh events, numbered in
//! order. A duplicate re-sends the event that was due about
//! `--duplicate-delay` earlier (the step's first one if the step is younger),
//! as a platform retries after its timeout. It is built from the same
//! message (ids, chat, sender, text) and signed afresh, like a platform's
//! retry: for a step signed before its clock starts the bytes are identical
//! (encrypted Lark aside, whose IV is random), and a streamed step may stamp
//! the retry a second or two later than the original.
//!
//! Duplicates take schedule slots, so the offered request rate is unchanged
//! and the fresh event rate is `(N-1)/N` of it. The arithmetic is in integers
//! so that request ↔ event is exact in both directions: replies name events,
//! latency is measured from the event's first request.

use std::ops::Range;

/// Which requests are duplicates, and of what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicates {
    /// Every `every`th request is a duplicate; 0 = none.
    every: u64,
    /// How many requests back a duplicate's original is (≥ 1).
    back: u64,
}

impl Duplicates {
    /// No duplicates: request `i` is event `i`.
    pub const NONE: Self = Self { every: 0, back: 1 };

    /// Every `every`th request (≥ 2) re-sends the event due `back` requests earlier (≥ 1).
    ///
    /// # Panics
    /// When `every < 2` (every request a duplicate leaves nothing to duplicate).
    #[must_use]
    pub fn every(every: u64, back: u64) -> Self {
        assert!(every >= 2, "--duplicate-every must be at least 2, got {every}");
        Self { every, back: back.max(1) }
    }

    /// Every `every`th request re-sends the event due about `delay_s` earlier at `rate`.
    #[must_use]
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub fn every_with_delay(every: u64, delay_s: f64, rate: f64) -> Self {
        Self::every(every, (delay_s * rate).round().max(1.0) as u64)
    }

    /// Whether request `i` re-sends an earlier event.
    #[must_use]
    pub fn is_duplicate(&self, i: u64) -> bool {
        self.every != 0 && i % self.every == self.every - 1
    }

    /// The event request `i` sends, and whether it is a redelivery.
    #[must_use]
    pub fn event(&self, i: u64) -> (u64, bool) {
        if !self.is_duplicate(i) {
            return (self.fresh_before(i), false);
        }
        let mut j = i.saturating_sub(self.back);
        if self.is_duplicate(j) {
            j -= 1; // a duplicate slot is never 0, and never follows another
        }
        (self.fresh_before(j), true)
    }

    /// The request that first sends event `e`.
    #[must_use]
    pub fn first_request(&self, e: u64) -> u64 {
        if self.every == 0 { e } else { e + e / (self.every - 1) }
    }

    /// Fresh events among the first `requests` requests.
    #[must_use]
    pub fn events(&self, requests: u64) -> u64 {
        requests - self.duplicates(0..requests)
    }

    /// Duplicate requests among `range`.
    #[must_use]
    pub fn duplicates(&self, range: Range<u64>) -> u64 {
        if self.every == 0 {
            return 0;
        }
        let upto = |n: u64| n / self.every; // duplicate slots in 0..n
        upto(range.end).saturating_sub(upto(range.start))
    }

    /// Fresh requests before request `i`: the event number of `i` when it is fresh.
    fn fresh_before(&self, i: u64) -> u64 {
        i - self.duplicates(0..i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_duplicates_request_i_is_event_i() {
        let d = Duplicates::NONE;
        assert!((0..1000).all(|i| !d.is_duplicate(i)));
        for i in [0, 1, 999] {
            assert_eq!(d.event(i), (i, false));
            assert_eq!(d.first_request(i), i);
        }
        assert_eq!((d.events(10), d.duplicates(0..10)), (10, 0));
    }

    #[test]
    fn every_nth_request_re_sends_the_event_due_the_given_number_of_requests_before() {
        let d = Duplicates::every(3, 1);
        let events: Vec<(u64, bool)> = (0..9).map(|i| d.event(i)).collect();
        assert_eq!(
            events,
            [(0, false), (1, false), (1, true), (2, false), (3, false), (3, true), (4, false), (5, false), (5, true)]
        );
        let far = Duplicates::every(3, 4);
        assert_eq!(far.event(8), (3, true), "request 4 sent event 3");
        assert_eq!(far.event(2), (0, true), "younger than the delay: the first event");
        let onto_a_duplicate = Duplicates::every(3, 3);
        assert_eq!(onto_a_duplicate.event(8), (3, true), "request 5 is a duplicate itself, so request 4's event");
    }

    #[test]
    fn events_map_back_to_their_first_request_and_counts_add_up() {
        for every in [2, 3, 10] {
            let d = Duplicates::every(every, 7);
            for e in 0..100 {
                let i = d.first_request(e);
                assert_eq!(d.event(i), (e, false), "every {every}, event {e}");
            }
            for n in [0, 1, 9, 10, 11, 1000] {
                assert_eq!(d.events(n) + d.duplicates(0..n), n);
                let dups = (0..n).filter(|&i| d.is_duplicate(i)).count() as u64;
                assert_eq!(d.duplicates(0..n), dups, "every {every}, {n} requests");
            }
            assert_eq!(d.duplicates(5..25), (5..25).filter(|&i| d.is_duplicate(i)).count() as u64);
        }
    }

    #[test]
    fn the_delay_becomes_a_request_distance_at_the_step_rate() {
        assert_eq!(Duplicates::every_with_delay(10, 1.0, 5000.0), Duplicates::every(10, 5000));
        assert_eq!(Duplicates::every_with_delay(10, 0.0, 5000.0), Duplicates::every(10, 1), "never itself");
    }
}
