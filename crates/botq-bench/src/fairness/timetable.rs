//! Who sends when: one noisy group and `n` quiet groups, each at its own
//! fixed rate, merged into one timetable fixed before the first request.
//!
//! Group `g`'s `k`th event is due at `phase(g) + k / rate(g)`, whatever
//! happened to the events before it (open loop: a slow system cannot slow
//! the offered load down, and latency is measured from this due time, so a
//! stall is charged to every event it delayed). The quiet groups' phases are
//! spread evenly over one quiet period, so 20 groups at 2/s arrive as a
//! steady 40/s rather than 20 at once every half second. Group 0 is the
//! noisy one; quiet groups are 1..=n, which is also the bench chat number
//! each speaks as.
//!
//! Events due in the warm-up are sent like the rest but left out of the
//! report; the measured window follows without a gap.

use std::time::Duration;

/// The traffic of one fairness run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traffic {
    /// Quiet groups, numbered 1..=quiet.
    pub quiet: u32,
    /// Events per second of each quiet group.
    pub quiet_rate: f64,
    /// Events per second of the noisy group (group 0); 0 = no noisy group.
    pub noisy_rate: f64,
}

/// Which side of the comparison a group is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Quiet,
    Noisy,
}

impl Class {
    /// The class of group number `group`.
    #[must_use]
    pub fn of(group: u32) -> Self {
        if group == NOISY { Self::Noisy } else { Self::Quiet }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quiet => "quiet",
            Self::Noisy => "noisy",
        }
    }
}

/// The group number of the noisy group.
pub const NOISY: u32 = 0;

/// One event of the timetable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// From the start of the run.
    pub due: Duration,
    /// 0 = noisy, 1..=quiet.
    pub group: u32,
    /// Due after the warm-up: counts in the report.
    pub measured: bool,
}

/// Every event of a run, in due order.
#[derive(Debug, Clone, PartialEq)]
pub struct Timetable {
    pub arrivals: Vec<Arrival>,
    pub warmup: Duration,
    pub duration: Duration,
}

impl Timetable {
    /// The events of `traffic` over `warmup` then `duration`.
    ///
    /// # Panics
    /// On a negative or non-finite rate (the CLI refuses those).
    #[must_use]
    pub fn new(traffic: Traffic, warmup: Duration, duration: Duration) -> Self {
        assert!(traffic.quiet_rate.is_finite() && traffic.quiet_rate >= 0.0, "quiet rate {}", traffic.quiet_rate);
        assert!(traffic.noisy_rate.is_finite() && traffic.noisy_rate >= 0.0, "noisy rate {}", traffic.noisy_rate);
        let end = (warmup + duration).as_secs_f64();
        let mut arrivals = Vec::new();
        let mut add = |group: u32, rate: f64, phase: f64| {
            if rate <= 0.0 {
                return;
            }
            for k in 0..count(rate, end - phase) {
                #[allow(clippy::cast_precision_loss)] // exact below 2^53 events
                let due = Duration::from_secs_f64(phase + k as f64 / rate);
                arrivals.push(Arrival { due, group, measured: due >= warmup });
            }
        };
        add(NOISY, traffic.noisy_rate, 0.0);
        for g in 1..=traffic.quiet {
            add(g, traffic.quiet_rate, f64::from(g - 1) / (f64::from(traffic.quiet) * traffic.quiet_rate));
        }
        arrivals.sort_by(|a, b| a.due.cmp(&b.due).then(a.group.cmp(&b.group)));
        Self { arrivals, warmup, duration }
    }

    /// Events of `class` in the measured window.
    #[must_use]
    pub fn measured(&self, class: Class) -> u64 {
        self.arrivals.iter().filter(|a| a.measured && Class::of(a.group) == class).count() as u64
    }

    /// When the last event is due, from the start.
    #[must_use]
    pub fn last_due(&self) -> Duration {
        self.arrivals.last().map_or(Duration::ZERO, |a| a.due)
    }
}

/// Events due in `[0, window)` at `rate`: those `k` with `k / rate < window`.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn count(rate: f64, window: f64) -> u64 {
    // The epsilon keeps 2/s × 30 s at exactly 60 despite float error.
    (rate * window - 1e-9).ceil().max(0.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn traffic(quiet: u32, quiet_rate: f64, noisy_rate: f64) -> Traffic {
        Traffic { quiet, quiet_rate, noisy_rate }
    }

    #[test]
    fn each_group_gets_its_rate_times_the_window() {
        let t = Timetable::new(traffic(20, 2.0, 100.0), 5 * SEC, 60 * SEC);
        assert_eq!(t.measured(Class::Quiet), 20 * 2 * 60);
        assert_eq!(t.measured(Class::Noisy), 100 * 60);
        assert_eq!(t.arrivals.len(), 20 * 2 * 65 + 100 * 65);
        for g in 1..=20 {
            assert_eq!(t.arrivals.iter().filter(|a| a.group == g).count(), 130, "group {g}");
        }
        assert!(t.last_due() < 65 * SEC);
    }

    #[test]
    fn arrivals_are_in_due_order_and_warmup_ones_are_not_measured() {
        let t = Timetable::new(traffic(3, 1.0, 10.0), 2 * SEC, 3 * SEC);
        assert!(t.arrivals.windows(2).all(|w| w[0].due <= w[1].due));
        assert!(t.arrivals.iter().all(|a| a.measured == (a.due >= 2 * SEC)));
        assert_eq!((t.measured(Class::Quiet), t.measured(Class::Noisy)), (9, 30));
    }

    #[test]
    fn quiet_groups_are_spread_over_one_period_not_bunched() {
        let t = Timetable::new(traffic(4, 2.0, 0.0), Duration::ZERO, SEC);
        let dues: Vec<(u32, u128)> = t.arrivals.iter().map(|a| (a.group, a.due.as_millis())).collect();
        assert_eq!(dues, [(1, 0), (2, 125), (3, 250), (4, 375), (1, 500), (2, 625), (3, 750), (4, 875)]);
    }

    #[test]
    fn a_zero_noisy_rate_is_the_baseline_without_the_noisy_group() {
        let t = Timetable::new(traffic(20, 2.0, 0.0), SEC, 10 * SEC);
        assert!(t.arrivals.iter().all(|a| Class::of(a.group) == Class::Quiet));
        assert_eq!(t.measured(Class::Noisy), 0);
        let only_noisy = Timetable::new(traffic(0, 2.0, 5.0), Duration::ZERO, SEC);
        assert_eq!(only_noisy.arrivals.len(), 5);
    }
}
