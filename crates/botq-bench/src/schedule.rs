//! When each request is due, and which chat and sender it speaks as.
//!
//! The schedule is fixed before the first request goes out: request `i` is due
//! at `start + i / rate`, whatever happened to the requests before it. That is
//! what makes the load open-loop: a slow answer cannot slow the offered load
//! down, so latency is measured from the due time and a stall shows up as the
//! latency every request behind it really saw (no coordinated omission).
//!
//! Warm-up requests come first on the same schedule and are left out of the
//! report; the measured window follows without a gap, so the system is at the
//! target rate when measurement starts.

use std::time::Duration;

/// The fixed timetable of one rate step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
    warmup: u64,
    measured: u64,
    duration: Duration,
}

impl Schedule {
    /// `rate` requests per second for `warmup` and then for `duration`.
    ///
    /// # Panics
    /// When `rate` is not a positive finite number (the CLI refuses those).
    #[must_use]
    pub fn new(rate: f64, warmup: Duration, duration: Duration) -> Self {
        assert!(rate.is_finite() && rate > 0.0, "rate must be positive, got {rate}");
        Self { rate, warmup: count(rate, warmup), measured: count(rate, duration), duration }
    }

    /// `events` requests at `rate` with no warm-up: a burst.
    ///
    /// # Panics
    /// When `rate` is not a positive finite number (the CLI refuses those).
    #[must_use]
    #[allow(clippy::cast_precision_loss)] // exact below 2^53 requests
    pub fn burst(rate: f64, events: u64) -> Self {
        assert!(rate.is_finite() && rate > 0.0, "rate must be positive, got {rate}");
        Self { rate, warmup: 0, measured: events, duration: Duration::from_secs_f64(events as f64 / rate) }
    }

    #[must_use]
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Every request of the step, warm-up included.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.warmup + self.measured
    }

    /// Requests in the measured window.
    #[must_use]
    pub fn measured(&self) -> u64 {
        self.measured
    }

    /// `true` for requests that count in the report.
    #[must_use]
    pub fn is_measured(&self, i: u64) -> bool {
        i >= self.warmup
    }

    /// When request `i` is due, from the start of the step.
    #[must_use]
    #[allow(clippy::cast_precision_loss)] // exact below 2^53 requests
    pub fn due(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// When the measured window opens (the first measured request is due).
    #[must_use]
    pub fn measured_start(&self) -> Duration {
        self.due(self.warmup)
    }

    /// How long the measured window lasts: the `--duration` asked for.
    #[must_use]
    pub fn measured_span(&self) -> Duration {
        self.duration
    }

    /// When the last request of the step is due.
    #[must_use]
    pub fn last_due(&self) -> Duration {
        self.due(self.total().saturating_sub(1))
    }
}

/// Requests due in `[0, window)`: those `i` with `i / rate < window`.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn count(rate: f64, window: Duration) -> u64 {
    // The epsilon keeps 0.1/s × 30 s (= 3.0000000000000004) at 3 requests.
    (rate * window.as_secs_f64() - 1e-9).ceil().max(0.0) as u64
}

/// How requests are spread over chats and senders, so that per-chat ordering
/// and per-group/per-sender limits see realistic traffic, not one hot chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    pub chats: u64,
    pub senders: u64,
}

impl Spread {
    /// The chat number of request `i`: round-robin over all chats.
    #[must_use]
    pub fn chat(&self, i: u64) -> u64 {
        i % self.chats.max(1)
    }

    /// The sender number of request `i`: round-robin over all senders.
    #[must_use]
    pub fn sender(&self, i: u64) -> u64 {
        i % self.senders.max(1)
    }

    /// Sustained events per second each chat receives at `rate`.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn per_chat(&self, rate: f64) -> f64 {
        rate / self.chats.max(1) as f64
    }

    /// Sustained events per second each sender sends at `rate`.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn per_sender(&self, rate: f64) -> f64 {
        rate / self.senders.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn request_i_is_due_at_i_over_rate() {
        let s = Schedule::new(1000.0, Duration::ZERO, SEC);
        assert_eq!(s.due(0), Duration::ZERO);
        assert_eq!(s.due(1), Duration::from_millis(1));
        assert_eq!(s.due(999), Duration::from_millis(999));
        let s = Schedule::new(3.0, Duration::ZERO, SEC);
        assert_eq!(s.due(2).as_nanos(), 666_666_667);
    }

    #[test]
    fn a_window_holds_rate_times_duration_requests_rounded_up() {
        assert_eq!(Schedule::new(1000.0, Duration::ZERO, 10 * SEC).total(), 10_000);
        assert_eq!(Schedule::new(2.5, Duration::ZERO, SEC).total(), 3, "due at 0, 0.4 s and 0.8 s");
        assert_eq!(Schedule::new(0.1, Duration::ZERO, 30 * SEC).total(), 3, "float error must not add a fourth");
        assert_eq!(Schedule::new(0.5, Duration::ZERO, Duration::from_millis(100)).total(), 1, "the one at 0");
    }

    #[test]
    fn every_request_is_due_inside_its_window() {
        for rate in [0.7, 3.0, 999.0, 50_000.0] {
            let s = Schedule::new(rate, 2 * SEC, 5 * SEC);
            assert!(s.measured_start() >= 2 * SEC, "rate {rate}");
            assert!(s.due(s.total() - 1) < s.measured_start() + 5 * SEC, "rate {rate}");
            let next = s.due(s.total()) - s.measured_start();
            assert!(next >= 5 * SEC - Duration::from_nanos(1), "rate {rate}: one more would be outside");
        }
    }

    #[test]
    fn warmup_requests_come_first_and_are_not_measured() {
        let s = Schedule::new(100.0, 2 * SEC, 10 * SEC);
        assert_eq!((s.total(), s.measured()), (1200, 1000));
        assert!(!s.is_measured(199));
        assert!(s.is_measured(200));
        assert_eq!(s.measured_start(), 2 * SEC);
        assert_eq!(s.measured_span(), 10 * SEC);
    }

    #[test]
    fn a_burst_is_exactly_its_events_all_measured() {
        let s = Schedule::burst(20_000.0, 200_000);
        assert_eq!((s.total(), s.measured(), s.is_measured(0)), (200_000, 200_000, true));
        assert_eq!(s.measured_span(), 10 * SEC);
        assert_eq!(s.last_due(), Duration::from_micros(9_999_950));
        assert_eq!(Schedule::burst(3.0, 10).total(), 10, "no rounding through a duration");
    }

    #[test]
    fn requests_rotate_over_every_chat_and_sender() {
        let spread = Spread { chats: 3, senders: 5 };
        let chats: Vec<u64> = (0..6).map(|i| spread.chat(i)).collect();
        assert_eq!(chats, [0, 1, 2, 0, 1, 2]);
        assert_eq!(spread.sender(7), 2);
        assert!((spread.per_chat(30_000.0) - 10_000.0).abs() < 1e-9);
        assert!((spread.per_sender(30_000.0) - 6_000.0).abs() < 1e-9);
    }
}
