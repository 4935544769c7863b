//! The fairness run's replies per class of groups: latency, missing and
//! duplicate replies, order within a group, throughput in the window.
//!
//! Which delivery answers which event, and an event's latency (missing ones
//! at their age when collected, so the figures become lower bounds), is
//! [`crate::replies`]' business, the same for every benchmark; this module
//! only sorts the events into the noisy and the quiet class and their groups.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::timetable::{Class, Timetable};
use crate::replies::{Latency, Replies};
use crate::report::histogram;

/// What one class of groups saw.
#[derive(Debug, Clone)]
pub struct ClassTally {
    /// Events due in the measured window.
    pub events: u64,
    /// Of those, answered by the time of collection.
    pub replied: u64,
    /// Of those, not answered by then (their age at collection is in `latency`).
    pub missing: u64,
    /// Replies beyond the first to one event.
    pub duplicates: u64,
    /// Replies (warm-up included) recorded after a reply to a later event of
    /// the same group: the group's events were not handled in order.
    pub out_of_order: u64,
    /// Due → reply accepted, microseconds, over all measured events of the class.
    pub latency: Histogram<u64>,
    /// The same per group.
    pub per_group: BTreeMap<u32, Histogram<u64>>,
    /// Replies (to any event of the class, warm-up included) accepted inside
    /// the measured window: the class's reply throughput.
    pub replies_in_window: u64,
}

impl ClassTally {
    fn new() -> Self {
        Self {
            events: 0,
            replied: 0,
            missing: 0,
            duplicates: 0,
            out_of_order: 0,
            latency: histogram(),
            per_group: BTreeMap::new(),
            replies_in_window: 0,
        }
    }

    /// The highest p95 of any one group, microseconds.
    #[must_use]
    pub fn worst_group_p95_us(&self) -> Option<u64> {
        self.per_group.values().filter(|h| !h.is_empty()).map(|h| h.value_at_quantile(0.95)).max()
    }
}

/// Both classes, and what matched no event of the run.
#[derive(Debug, Clone)]
pub struct Tally {
    pub quiet: ClassTally,
    pub noisy: ClassTally,
    /// Deliveries that are not replies to this run (other runs, the pre-flight `/ping`).
    pub foreign: u64,
}

impl Tally {
    #[must_use]
    pub fn class(&self, class: Class) -> &ClassTally {
        match class {
            Class::Quiet => &self.quiet,
            Class::Noisy => &self.noisy,
        }
    }
}

/// Sorts `replies` to the events of `table` (whose time zero was `start_us`
/// on the wall clock) into classes, as of `collected_us`.
#[must_use]
pub fn tally(table: &Timetable, start_us: i64, collected_us: i64, replies: &Replies) -> Tally {
    let at = |offset: std::time::Duration| start_us.saturating_add(crate::duration_us(offset));
    let due_us = |i: usize| at(table.arrivals[i].due);
    let window = (at(table.warmup), at(table.warmup + table.duration));
    let mut t = Tally { quiet: ClassTally::new(), noisy: ClassTally::new(), foreign: replies.foreign };
    for &(i, at_ms) in &replies.matched {
        if (window.0..window.1).contains(&at_ms.saturating_mul(1000)) {
            class_mut(&mut t, Class::of(table.arrivals[i].group)).replies_in_window += 1;
        }
    }
    let mut latest: BTreeMap<u32, usize> = BTreeMap::new();
    for &i in &replies.order {
        let group = table.arrivals[i].group;
        let seen = latest.entry(group).or_insert(i);
        if i < *seen {
            class_mut(&mut t, Class::of(group)).out_of_order += 1;
        } else {
            *seen = i;
        }
    }
    for (i, a) in table.arrivals.iter().enumerate().filter(|(_, a)| a.measured) {
        let c = class_mut(&mut t, Class::of(a.group));
        c.events += 1;
        c.duplicates += replies.extra(i);
        let latency = replies.latency(i, due_us(i), collected_us);
        match latency {
            Latency::Replied(_) => c.replied += 1,
            Latency::Missing(_) => c.missing += 1,
        }
        c.latency.saturating_record(latency.micros());
        c.per_group.entry(a.group).or_insert_with(histogram).saturating_record(latency.micros());
    }
    t
}

/// Whether every measured event of `class` has a reply among `replies`.
#[must_use]
pub fn all_replied(table: &Timetable, replies: &Replies, class: Class) -> bool {
    table.arrivals.iter().enumerate().all(|(i, a)| replies.replied(i) || !a.measured || Class::of(a.group) != class)
}

fn class_mut(t: &mut Tally, class: Class) -> &mut ClassTally {
    match class {
        Class::Quiet => &mut t.quiet,
        Class::Noisy => &mut t.noisy,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::timetable::Traffic;
    use super::*;
    use crate::replies::{Delivery, TAG};

    const START_US: i64 = 1_700_000_000_000_000;

    fn table() -> Timetable {
        // Quiet groups 1 and 2 at 1/s (phases 0 and 0.5 s), noisy at 2/s; 1 s warm-up, 2 s measured.
        Timetable::new(
            Traffic { quiet: 2, quiet_rate: 1.0, noisy_rate: 2.0 },
            Duration::from_secs(1),
            Duration::from_secs(2),
        )
    }

    fn reply(run: u64, i: usize, at_ms: i64) -> Delivery {
        Delivery { text: format!("{TAG} {run} {i}"), received_at_ms: at_ms }
    }

    /// `deliveries` matched to the events of `t`, run `run`.
    fn replies(t: &Timetable, run: u64, deliveries: &[Delivery]) -> Replies {
        Replies::collect(run, t.arrivals.len(), deliveries)
    }

    fn due_ms(t: &Timetable, i: usize) -> i64 {
        START_US / 1000 + i64::try_from(t.arrivals[i].due.as_millis()).unwrap()
    }

    #[test]
    fn latency_is_reply_time_minus_due_time_per_class() {
        let t = table();
        let deliveries: Vec<Delivery> = t
            .arrivals
            .iter()
            .enumerate()
            .map(|(i, a)| reply(9, i, due_ms(&t, i) + if a.group == 0 { 500 } else { 40 }))
            .collect();
        let r = tally(&t, START_US, START_US + 10_000_000, &replies(&t, 9, &deliveries));
        assert_eq!((r.quiet.events, r.quiet.replied, r.quiet.missing, r.quiet.duplicates), (4, 4, 0, 0));
        assert_eq!((r.noisy.events, r.noisy.replied, r.noisy.missing), (4, 4, 0));
        assert_eq!(r.quiet.latency.value_at_quantile(0.95) / 1000, 40);
        assert_eq!(r.noisy.latency.value_at_quantile(0.5) / 1000, 500);
        assert_eq!(r.quiet.per_group.len(), 2);
        assert_eq!(r.quiet.worst_group_p95_us().map(|us| us / 1000), Some(40));
        assert_eq!(r.foreign, 0);
    }

    #[test]
    fn the_table_of_these_tests_is_as_described() {
        let t = table();
        let shape: Vec<(u32, u128, bool)> =
            t.arrivals.iter().map(|a| (a.group, a.due.as_millis(), a.measured)).collect();
        assert_eq!(&shape[..4], [(0, 0, false), (1, 0, false), (0, 500, false), (2, 500, false)]);
        assert_eq!(&shape[10..], [(0, 2500, true), (2, 2500, true)]);
    }

    #[test]
    fn a_missing_reply_counts_at_its_age_when_collected_and_duplicates_keep_the_first() {
        let t = table();
        let mut deliveries: Vec<Delivery> = (0..11).map(|i| reply(9, i, due_ms(&t, i) + 40)).collect();
        deliveries.push(reply(9, 4, due_ms(&t, 4) + 900));
        deliveries.push(reply(8, 3, due_ms(&t, 3)));
        deliveries.push(Delivery { text: "pong".into(), received_at_ms: 0 });
        let r = tally(&t, START_US, START_US + 9_500_000, &replies(&t, 9, &deliveries));
        assert_eq!((r.quiet.events, r.quiet.replied, r.quiet.missing), (4, 3, 1));
        assert_eq!(r.quiet.latency.max() / 1000, 7000, "due at 2.5 s, collected at 9.5 s");
        assert_eq!((r.noisy.duplicates, r.noisy.latency.max() / 1000), (1, 40), "the first reply counts");
        assert_eq!(r.foreign, 2);
    }

    #[test]
    fn the_wait_ends_when_every_measured_event_of_the_class_has_its_reply() {
        let t = table();
        let quiet: Vec<usize> =
            (0..t.arrivals.len()).filter(|&i| t.arrivals[i].measured && t.arrivals[i].group != 0).collect();
        let mut deliveries: Vec<Delivery> = quiet.iter().map(|&i| reply(9, i, 0)).collect();
        assert!(all_replied(&t, &replies(&t, 9, &deliveries), Class::Quiet));
        assert!(!all_replied(&t, &replies(&t, 9, &deliveries), Class::Noisy));
        deliveries.pop();
        assert!(!all_replied(&t, &replies(&t, 9, &deliveries), Class::Quiet));
        assert!(
            !all_replied(&t, &replies(&t, 8, &[reply(8, 99, 0)]), Class::Quiet),
            "an index outside the table is ignored"
        );
    }

    #[test]
    fn a_reply_recorded_after_a_later_event_of_its_group_is_out_of_order() {
        let t = table();
        // Noisy events are 0, 2, 4, 6, …; quiet group 1's are 1, 5, 9.
        let order = [0, 4, 2, 6, 1, 9, 5];
        let deliveries: Vec<Delivery> = order.iter().map(|&i| reply(9, i, due_ms(&t, i) + 40)).collect();
        let r = tally(&t, START_US, START_US + 9_000_000, &replies(&t, 9, &deliveries));
        assert_eq!((r.noisy.out_of_order, r.quiet.out_of_order), (1, 1));
    }

    #[test]
    fn the_reply_throughput_counts_replies_inside_the_measured_window_only() {
        let t = table();
        let at = |ms| START_US / 1000 + ms;
        let deliveries = [reply(9, 0, at(1_500)), reply(9, 1, at(500)), reply(9, 5, at(3_000)), reply(9, 7, at(2_000))];
        let r = tally(&t, START_US, START_US, &replies(&t, 9, &deliveries));
        assert_eq!((r.noisy.replies_in_window, r.quiet.replies_in_window), (1, 1));
    }
}
