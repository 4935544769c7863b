//! What one step's replies looked like at botq-fakeplatform (`--fake-url`).
//!
//! Counted per event, not per request: a deliberately duplicated event is
//! one event that must get one reply. `missing` is the acknowledged events
//! without a reply when the log was read (`--reply-timeout` after the last
//! event was due at the latest); they count in the latency at their age
//! then, so with any missing the percentiles are lower bounds and the table
//! marks them `≥`. `dup rep` is replies beyond the first to one event: botq
//! promises none, whatever the platform redelivered.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Quantiles, round2};

/// The replies to one step's measured events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplyReport {
    /// Fresh events whose first request was in the measured window.
    pub events: u64,
    /// Of those, acknowledged 2xx by their first request or a duplicate.
    pub acked: u64,
    /// Of those events, how many have a reply (acknowledged or not).
    pub replied: u64,
    /// Acknowledged events without a reply when the log was read.
    pub missing: u64,
    /// Replies beyond the first to one event.
    pub duplicate_replies: u64,
    /// Due → first reply (missing ones: due → read), milliseconds.
    pub latency_ms: Option<Quantiles>,
    /// The first and the last reply to a measured event, seconds after
    /// the first measured event was due.
    pub first_reply_s: Option<f64>,
    pub last_reply_s: Option<f64>,
    /// When the log was read, seconds after the last event was due.
    pub collected_after_s: f64,
    /// Deliveries since the step began that the fake's capped log had
    /// already dropped: the counts above miss them (raise `--max-records`).
    pub dropped: u64,
    /// Deliveries that answer no event of the step.
    pub foreign: u64,
    /// The first few missing events' numbers, to look up in botq's logs (QQ
    /// and Lark event id `bench-N`, OneBot `message_id` N).
    pub missing_sample: Vec<u64>,
}

impl ReplyReport {
    /// Replies per second from the first reply to the last: under a backlog,
    /// how fast the system behind ingest drains.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn reply_rate(&self) -> Option<f64> {
        let span = self.last_reply_s? - self.first_reply_s?;
        (self.replied > 1 && span > 0.0).then(|| (self.replied - 1) as f64 / span)
    }

    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "events": self.events,
            "acked": self.acked,
            "replied": self.replied,
            "missing": self.missing,
            "duplicate_replies": self.duplicate_replies,
            "latency_ms": self.latency_ms.map(Quantiles::to_json),
            "latency_is_lower_bound": self.missing > 0,
            "first_reply_s": self.first_reply_s.map(round2),
            "last_reply_s": self.last_reply_s.map(round2),
            "reply_rate": self.reply_rate().map(round2),
            "collected_after_s": round2(self.collected_after_s),
            "dropped_from_log": self.dropped,
            "foreign": self.foreign,
            "missing_sample": self.missing_sample,
        })
    }

    /// Titles of the reply columns, each with its leading space.
    #[must_use]
    pub fn table_header() -> String {
        format!(
            " {:>8} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9}",
            "replied", "missing", "dup rep", "e2e p50", "e2e p95", "e2e p99", "e2e max"
        )
    }

    /// The reply cells of a table row, lined up under [`ReplyReport::table_header`].
    #[must_use]
    pub fn table_cells(&self) -> String {
        let mut cells = format!(" {:>8} {:>7} {:>7}", self.replied, self.missing, self.duplicate_replies);
        let bound = if self.missing > 0 { "≥" } else { "" };
        match self.latency_ms {
            Some(l) => {
                for v in [l.p50, l.p95, l.p99, l.max] {
                    let _ = write!(cells, " {:>9}", format!("{bound}{v:.1}"));
                }
            }
            None => cells.push_str(&format!(" {:>9}", "-").repeat(4)),
        }
        cells
    }

    /// The reply cells of a row that has no readback.
    #[must_use]
    pub fn table_dashes() -> String {
        format!(" {:>8} {:>7} {:>7}", "-", "-", "-") + &format!(" {:>9}", "-").repeat(4)
    }
}
