//! `botq-bench burst`: many events at once, far above what the workers can
//! handle, and how the system gets through them.
//!
//! The design's claim is that a burst far above worker speed is absorbed
//! with zero 5xx and drains at worker speed: ingest only verifies and
//! appends to the stream, so acknowledgements stay fast while the backlog
//! grows, and the workers then work it off at their own pace. A burst is one
//! open-loop step ([`crate::step`]) of `--events` requests at `--rate`, with
//! no warm-up, read back from botq-fakeplatform. The report puts the two
//! halves side by side:
//!
//! - **absorbed**: statuses and ack latency of the burst's requests;
//! - **drained**: when the last reply arrived (from the first event's due
//!   time, and after the offer ended), the drain rate (replies per second from
//!   the first reply to the last: the workers' speed while they had a
//!   backlog), end-to-end latency, missing and duplicate replies.
//!
//! The drain rate is only the workers' speed if the workers were the
//! bottleneck; the report shows the offered rate beside it so a burst that
//! never built a backlog is recognisable as one.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::BurstArgs;
use crate::report::replies::ReplyReport;
use crate::report::{Columns, RateReport, round2};
use crate::schedule::Schedule;

/// What one burst measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BurstReport {
    pub events: u64,
    /// The offered rate, and how long the offer lasted (events ÷ rate).
    pub rate: f64,
    pub offer_s: f64,
    /// The acknowledgements, and the replies read back (always present here).
    pub step: RateReport,
}

impl BurstReport {
    fn replies(&self) -> Option<&ReplyReport> {
        self.step.replies.as_ref()
    }

    /// Seconds from the first event's due time until every acknowledged
    /// event had its reply; `None` while some are missing.
    #[must_use]
    pub fn all_replied_after_s(&self) -> Option<f64> {
        let r = self.replies()?;
        (r.missing == 0 && r.dropped == 0).then_some(r.last_reply_s?)
    }

    /// One JSON object, printed on one line by `--json`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let r = self.replies();
        json!({
            "burst": { "events": self.events, "rate": self.rate, "offer_s": round2(self.offer_s) },
            "absorbed": self.step.to_json(),
            "drained": {
                "all_replied_after_s": self.all_replied_after_s().map(round2),
                "after_offer_end_s": self.all_replied_after_s().map(|s| round2(s - self.offer_s)),
                "reply_rate": r.and_then(ReplyReport::reply_rate).map(round2),
            },
        })
    }

    /// The human report: the step's row, then the drain in words.
    #[must_use]
    pub fn text(&self) -> String {
        let columns = Columns { duplicates: self.step.duplicates.offered > 0, replies: true };
        let mut out = format!(
            "burst: {} events offered at {}/s over {:.1} s\n{}\n{}\n",
            self.events,
            self.rate,
            self.offer_s,
            RateReport::table_header(columns),
            self.step.table_row(columns)
        );
        let c = &self.step.counts;
        out.push_str(&format!(
            "absorbed: {} of {} requests acknowledged 2xx, {} 503, {} other non-2xx, {} errors, {} timeouts",
            c.ok,
            self.step.requests,
            c.unavailable,
            c.client_error + c.other,
            c.transport_error,
            c.timeout
        ));
        if let Some(l) = self.step.latency_ms {
            out.push_str(&format!("; ack p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", l.p50, l.p99, l.max));
        }
        out.push('\n');
        out.push_str(&self.drain_line());
        out
    }

    fn drain_line(&self) -> String {
        let Some(r) = self.replies() else { return "drained: no replies read".into() };
        let rate = r.reply_rate().map_or("-".into(), |x| format!("{x:.0}"));
        let head = match self.all_replied_after_s() {
            Some(s) => format!(
                "drained: every reply arrived {s:.1} s after the first event was due ({:.1} s after the offer \
                 ended)",
                s - self.offer_s
            ),
            None => format!(
                "drained: {} of {} acknowledged events replied, {} missing {:.1} s after the last was due",
                r.replied, r.acked, r.missing, r.collected_after_s
            ),
        };
        let latency = r.latency_ms.map_or(String::new(), |l| {
            let bound = if r.missing > 0 { "≥" } else { "" };
            format!("; end to end p50 {bound}{:.0} ms, p99 {bound}{:.0} ms, max {bound}{:.0} ms", l.p50, l.p99, l.max)
        });
        format!(
            "{head}; {rate} replies/s from the first reply to the last{latency}; {} duplicate replies",
            r.duplicate_replies
        )
    }
}

/// Runs `burst`.
///
/// # Errors
/// Bad config or URLs, ingest refusing the pre-flight request, the fake
/// platform not answering.
pub async fn run(args: BurstArgs) -> anyhow::Result<ExitCode> {
    let setup = crate::ingest::setup(
        &args.target,
        &args.load,
        args.rate,
        "/ping",
        Some(args.fake_url.as_str()),
        args.reply_timeout,
    )
    .await?;
    let schedule = Schedule::burst(args.rate, args.events);
    let step = crate::step::run(&setup, schedule).await?;
    let report =
        BurstReport { events: args.events, rate: args.rate, offer_s: schedule.measured_span().as_secs_f64(), step };
    if args.load.json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.text());
    }
    for note in crate::ingest::notes(&report.step) {
        eprintln!("note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests;
