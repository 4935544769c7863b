//! After a step: wait for its replies at botq-fakeplatform and count them
//! per event (`--fake-url`).
//!
//! Every event of the step asked `/echo` to name it ([`crate::replies`]), so
//! the fake's delivery log says which events were answered and when. The
//! bench polls the fake's exact delivery counter until as many deliveries as
//! acknowledged events have arrived since the step began, then reads the
//! log; if some acknowledged event is still unanswered it keeps polling and
//! reads again once more have arrived, until every acknowledged event has a
//! reply, nothing has been delivered for [`IDLE`] (whatever is missing then
//! is not on its way), or `--reply-timeout` has passed since the step's last
//! answer. So a backlog left by the step drains before the next step starts,
//! and the figures of a ramp do not leak into each other.
//!
//! Counting is per event, the way a platform sees it: an event is
//! acknowledged if any of its requests (the first or a deliberate
//! duplicate) got 2xx; an acknowledged event with no reply is missing; a
//! second reply to one event is a duplicate reply. Events ingest did not
//! acknowledge are not expected to be answered (the platform would retry
//! them), but a reply to one still counts as a reply.

use std::time::Duration;

use tokio::time::Instant;

use crate::duplicates::Duplicates;
use crate::fake::Fake;
use crate::replies::{Latency, Replies};
use crate::report::replies::ReplyReport;
use crate::report::{Quantiles, histogram};
use crate::schedule::Schedule;

/// How often the delivery counter is polled.
const POLL: Duration = Duration::from_millis(250);
/// How often progress is printed while waiting.
const PROGRESS: Duration = Duration::from_secs(5);
/// With no delivery for this long, the replies still missing are not coming.
pub const IDLE: Duration = Duration::from_secs(15);
/// Missing events named in the report, to look up in botq's logs.
const MISSING_SAMPLE: usize = 5;

/// The step whose replies are read back.
#[derive(Debug, Clone, Copy)]
pub struct Sent<'a> {
    /// The run id the replies name (the step's event base).
    pub run: u64,
    pub schedule: Schedule,
    pub duplicates: Duplicates,
    /// When request 0 was due, Unix microseconds.
    pub start_unix_us: i64,
    /// Per event: acknowledged 2xx.
    pub acked: &'a [bool],
}

impl Sent<'_> {
    /// The first request of event `e` and whether it is in the measured window.
    fn first_request(&self, e: usize) -> (u64, bool) {
        let i = self.duplicates.first_request(e as u64);
        (i, self.schedule.is_measured(i))
    }

    /// Whether every acknowledged measured event has a reply.
    fn all_answered(&self, replies: &Replies) -> bool {
        (0..self.acked.len()).all(|e| !self.acked[e] || !self.first_request(e).1 || replies.replied(e))
    }
}

/// The replies as read, and when.
#[derive(Debug, Clone)]
pub struct Collected {
    pub replies: Replies,
    /// Unix µs just before the log was read: the age of missing replies.
    pub collected_us: i64,
    /// Deliveries of the step the log had already dropped.
    pub dropped: u64,
}

/// Waits for `sent`'s replies: until every acknowledged measured event has
/// one, or until `timeout` from now. `before` is the fake's delivery counter
/// from before the step.
///
/// # Errors
/// The fake not answering.
pub async fn wait(fake: &Fake, before: u64, sent: &Sent<'_>, timeout: Duration) -> anyhow::Result<Collected> {
    let started = Instant::now();
    let deadline = started + timeout;
    let expected = sent.acked.iter().filter(|&&a| a).count() as u64;
    let mut read_at: Option<u64> = None;
    let mut next_progress = started + PROGRESS;
    let (mut last_count, mut last_change) = (None, started);
    loop {
        let arrived = fake.delivered().await?.saturating_sub(before);
        let now = Instant::now();
        if last_count != Some(arrived) {
            (last_count, last_change) = (Some(arrived), now);
        }
        let timed_out = now >= deadline || now.duration_since(last_change) >= IDLE;
        if timed_out || (arrived >= expected && read_at.is_none_or(|r| arrived > r)) {
            let collected_us = crate::unix_micros();
            let log = fake.deliveries(before).await?;
            let replies = Replies::collect(sent.run, sent.acked.len(), &log.deliveries);
            // A log that lost deliveries off its front will not get them back.
            if timed_out || log.dropped > 0 || sent.all_answered(&replies) {
                return Ok(Collected { replies, collected_us, dropped: log.dropped });
            }
            read_at = Some(arrived);
        }
        if now >= next_progress {
            #[allow(clippy::cast_precision_loss)]
            let rate = arrived as f64 / now.duration_since(started).as_secs_f64();
            eprintln!("waiting for replies: {arrived} of {expected} delivered ({rate:.0}/s since the load ended)");
            next_progress += PROGRESS;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Counts `collected` per measured event of `sent`.
#[must_use]
pub fn tally(sent: &Sent<'_>, collected: &Collected) -> ReplyReport {
    let replies = &collected.replies;
    let due_us = |i: u64| sent.start_unix_us.saturating_add(crate::duration_us(sent.schedule.due(i)));
    let mut latency = histogram();
    let mut r = ReplyReport { dropped: collected.dropped, foreign: replies.foreign, ..ReplyReport::default() };
    let (mut first_ms, mut last_ms) = (i64::MAX, i64::MIN);
    for e in 0..sent.acked.len() {
        let (i, measured) = sent.first_request(e);
        if !measured {
            continue;
        }
        r.events += 1;
        r.acked += u64::from(sent.acked[e]);
        r.duplicate_replies += replies.extra(e);
        match replies.latency(e, due_us(i), collected.collected_us) {
            Latency::Replied(us) => {
                r.replied += 1;
                latency.saturating_record(us);
                let at = replies.first_ms[e].unwrap_or_default();
                (first_ms, last_ms) = (first_ms.min(at), last_ms.max(at));
            }
            Latency::Missing(us) if sent.acked[e] => {
                r.missing += 1;
                latency.saturating_record(us);
                if r.missing_sample.len() < MISSING_SAMPLE {
                    r.missing_sample.push(sent.run.wrapping_add(e as u64));
                }
            }
            Latency::Missing(_) => {}
        }
    }
    r.latency_ms = Quantiles::from_micros(&latency);
    let window_start_us = due_us(sent.schedule.total() - sent.schedule.measured());
    #[allow(clippy::cast_precision_loss)]
    let secs_after = |us: i64, from_us: i64| us.saturating_sub(from_us) as f64 / 1e6;
    if r.replied > 0 {
        r.first_reply_s = Some(secs_after(first_ms.saturating_mul(1000), window_start_us));
        r.last_reply_s = Some(secs_after(last_ms.saturating_mul(1000), window_start_us));
    }
    r.collected_after_s = secs_after(collected.collected_us, due_us(sent.schedule.total().saturating_sub(1)));
    r
}

#[cfg(test)]
mod tests;
