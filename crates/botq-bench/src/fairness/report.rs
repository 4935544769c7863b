//! The result of one fairness run, as table rows or one JSON line.
//!
//! One row per class (quiet, then noisy when there is a noisy group):
//! offered, acknowledged and replied rates, the reply counts, and reply
//! latency in milliseconds from each event's due time. `worst grp p95` is the
//! highest p95 of any single group of the class, so one starved quiet group
//! cannot hide in the average of twenty. A `≥` before the percentiles means
//! some replies were still missing at collection and were counted at their
//! age then: the true figures are at least that.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::load::Acks;
use crate::report::{Quantiles, round2, trim_rate as trim};

/// What one class of groups offered and got.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassReport {
    pub class: &'static str,
    pub groups: u32,
    pub rate_per_group: f64,
    /// Measured events (groups × rate × duration).
    pub events: u64,
    pub acks: Acks,
    /// Acknowledged (2xx) measured webhooks per second of the window.
    pub acked_per_sec: f64,
    pub replied: u64,
    pub missing: u64,
    pub duplicates: u64,
    /// Replies recorded after a reply to a later event of the same group.
    pub out_of_order: u64,
    /// Replies to this class accepted per second inside the window.
    pub replies_per_sec: f64,
    pub latency_ms: Option<Quantiles>,
    pub worst_group_p95_ms: Option<f64>,
}

impl ClassReport {
    fn to_json(&self) -> Value {
        json!({
            "groups": self.groups,
            "rate_per_group": self.rate_per_group,
            "offered_per_sec": round2(f64::from(self.groups) * self.rate_per_group),
            "events": self.events,
            "acks": { "2xx": self.acks.ok, "refused": self.acks.refused, "failed": self.acks.failed },
            "acked_per_sec": round2(self.acked_per_sec),
            "replied": self.replied,
            "missing": self.missing,
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "replies_per_sec": round2(self.replies_per_sec),
            "latency_ms": self.latency_ms.map(Quantiles::to_json),
            "latency_is_lower_bound": self.missing > 0,
            "worst_group_p95_ms": self.worst_group_p95_ms,
        })
    }

    fn row(&self, label: &str) -> String {
        let mut row = format!(
            "{label:<12} {:<5} {:>6} {:>8} {:>9.1} {:>8.1} {:>9.1} {:>7} {:>7} {:>7}",
            self.class,
            self.groups,
            trim(self.rate_per_group),
            f64::from(self.groups) * self.rate_per_group,
            self.acked_per_sec,
            self.replies_per_sec,
            self.events,
            self.replied,
            self.missing,
        );
        let bound = if self.missing > 0 { "≥" } else { "" };
        let ms = |v: f64| format!("{bound}{v:.1}");
        match self.latency_ms {
            Some(l) => {
                let _ = write!(row, " {:>9} {:>9} {:>9} {:>9}", ms(l.p50), ms(l.p95), ms(l.p99), ms(l.max));
            }
            None => row.push_str(&format!(" {:>9}", "-").repeat(4)),
        }
        let _ = write!(row, " {:>15}", self.worst_group_p95_ms.map_or("-".into(), ms));
        row
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct FairnessReport {
    pub label: String,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// `[fair_share] max_queued_per_chat` as configured (`None` = off).
    pub fair_share: Option<u32>,
    /// The lane the noisy group's events go to.
    pub noisy_lane: String,
    pub noisy_chat: String,
    pub quiet: ClassReport,
    pub noisy: Option<ClassReport>,
    /// Due → ingest's acknowledgement, all measured webhooks.
    pub ack_ms: Option<Quantiles>,
    /// Due → sent: the generator's own lateness.
    pub send_lag_ms: Option<Quantiles>,
    /// When the replies were read, seconds after the measured window closed:
    /// the age at which missing replies were counted.
    pub collected_after_s: f64,
    /// Deliveries that answer no event of this run.
    pub foreign_deliveries: u64,
    /// The bench process's CPU over the whole run.
    pub bench_cpu_s: Option<f64>,
}

impl FairnessReport {
    /// Column titles of [`FairnessReport::table_rows`].
    #[must_use]
    pub fn table_header() -> String {
        format!(
            "{:<12} {:<5} {:>6} {:>8} {:>9} {:>8} {:>9} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>15}",
            "scenario",
            "class",
            "groups",
            "rate/grp",
            "offered/s",
            "acked/s",
            "replies/s",
            "events",
            "replied",
            "missing",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "worst grp p95",
        )
    }

    /// One row per class.
    #[must_use]
    pub fn table_rows(&self) -> String {
        let mut out = self.quiet.row(&self.label);
        if let Some(noisy) = &self.noisy {
            out.push('\n');
            out.push_str(&noisy.row(&self.label));
        }
        out
    }

    /// One JSON object, printed on one line by `--json`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "label": self.label,
            "warmup_s": self.warmup_s,
            "duration_s": self.duration_s,
            "fair_share_max_queued_per_chat": self.fair_share,
            "noisy_lane": self.noisy_lane,
            "noisy_chat": self.noisy_chat,
            "quiet": self.quiet.to_json(),
            "noisy": self.noisy.as_ref().map(ClassReport::to_json),
            "ack_ms": self.ack_ms.map(Quantiles::to_json),
            "send_lag_ms": self.send_lag_ms.map(Quantiles::to_json),
            "collected_after_s": round2(self.collected_after_s),
            "foreign_deliveries": self.foreign_deliveries,
            "bench_cpu_s": self.bench_cpu_s.map(round2),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(missing: u64) -> ClassReport {
        ClassReport {
            class: "quiet",
            groups: 20,
            rate_per_group: 2.0,
            events: 2400,
            acks: Acks { ok: 2400, refused: 0, failed: 0 },
            acked_per_sec: 40.0,
            replied: 2400 - missing,
            missing,
            duplicates: 0,
            out_of_order: 0,
            replies_per_sec: 39.9,
            latency_ms: Some(Quantiles { p50: 33.1, p95: 35.26, p99: 40.0, max: 51.0 }),
            worst_group_p95_ms: Some(36.0),
        }
    }

    #[test]
    fn rows_line_up_with_the_header_and_mark_lower_bounds() {
        let complete = class(0).row("baseline");
        assert_eq!(complete.chars().count(), FairnessReport::table_header().chars().count());
        assert!(complete.contains(" 35.3 ") && !complete.contains('≥'), "{complete}");
        let partial = class(3).row("no-fair");
        assert!(partial.contains("≥35.3"), "{partial}");
        let j = class(3).to_json();
        assert_eq!((j["offered_per_sec"].as_f64(), j["latency_is_lower_bound"].as_bool()), (Some(40.0), Some(true)));
    }
}
