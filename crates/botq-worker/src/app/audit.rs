//! Writing the tool-call audit log (`botq_core::audit`) and its counters.
//!
//! Every entry also counts `botq_skill_calls_total{skill,outcome}`, so the
//! log and the metric never disagree about what happened. Writes are best
//! effort: a failed write is counted and logged, never retried by re-running
//! the event (see `botq_core::audit`).
//!
//! An attempt does not wait for its entry to reach Redis. It hands the
//! entry to the worker's one audit writer, which sends everything handed to
//! it meanwhile as one pipeline of `XADD`s: the log costs the attempt no
//! round trip, and Redis one read per batch rather than one per event. The
//! hand-over queue is bounded ([`QUEUED_MAX`]): when Redis is slow or down,
//! entries past the bound are counted as failed writes and dropped, so the
//! audit log never holds an event up. A stopping worker writes what is
//! queued ([`AuditSink::flush`]); a killed one loses at most that queue, as
//! it would lose the entries of a Redis outage.

use std::sync::Arc;

use botq_core::audit::{self, Entry};
use botq_core::redis_conn::Redis;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::metrics::{AUDIT_FAILURES, SKILL_CALLS};

/// Entries waiting for the writer, at most.
pub const QUEUED_MAX: usize = 10_000;

/// Entries one pipeline carries, at most.
const BATCH_MAX: usize = 256;

enum Msg {
    Entry(redis::Cmd),
    /// Answered once every entry handed over before it is written (or failed).
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct AuditSink {
    queue: mpsc::Sender<Msg>,
    key: Arc<str>,
    max_len: u64,
}

impl std::fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSink").field("queued", &(QUEUED_MAX - self.queue.capacity())).finish_non_exhaustive()
    }
}

impl AuditSink {
    /// Starts the writer of the log at `key` (about `max_len` entries) on
    /// the current Tokio runtime; it stops when the last sink is dropped.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    #[must_use]
    pub fn new(redis: Redis, key: String, max_len: u64) -> Self {
        let (queue, entries) = mpsc::channel(QUEUED_MAX);
        tokio::spawn(write(entries, redis));
        Self { queue, key: key.into(), max_len }
    }

    /// Counts `entry` and hands it to the writer; never waits.
    pub fn record(&self, entry: &Entry) {
        metrics::counter!(SKILL_CALLS, "skill" => entry.skill.clone(), "outcome" => entry.outcome.as_str())
            .increment(1);
        if self.queue.try_send(Msg::Entry(audit::xadd(&self.key, self.max_len, entry))).is_err() {
            metrics::counter!(AUDIT_FAILURES).increment(1);
            warn!(skill = %entry.skill, outcome = %entry.outcome, "the audit writer is {QUEUED_MAX} entries behind; entry dropped");
        }
    }

    /// Returns once every entry recorded before the call is written (or
    /// counted as failed).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue.send(Msg::Flush(done)).await.is_ok() {
            // An error: the writer is gone, and with it what it held.
            let _ = written.await;
        }
    }
}

/// The writer: everything queued since its last call, in one pipeline.
async fn write(mut entries: mpsc::Receiver<Msg>, mut redis: Redis) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    let mut flushed = Vec::new();
    while entries.recv_many(&mut batch, BATCH_MAX).await > 0 {
        let mut pipe = redis::pipe();
        let mut n = 0_u64;
        for msg in batch.drain(..) {
            match msg {
                Msg::Entry(xadd) => {
                    pipe.add_command(xadd).ignore();
                    n += 1;
                }
                Msg::Flush(done) => flushed.push(done),
            }
        }
        if n > 0
            && let Err(e) = pipe.query_async::<()>(&mut redis).await
        {
            metrics::counter!(AUDIT_FAILURES).increment(n);
            warn!(error.kind = ?e.kind(), entries = n, "cannot write audit entries");
        }
        for done in flushed.drain(..) {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sink(server: &botq_testkit::redis::RedisServer) -> AuditSink {
        AuditSink::new(server.redis(), "audit".to_owned(), 1_000_000)
    }

    fn len(server: &botq_testkit::redis::RedisServer) -> usize {
        redis::cmd("XLEN").arg("audit").query(&mut server.conn()).unwrap()
    }

    /// On this one-thread runtime the writer runs only when the test
    /// yields: recording returns before anything is written, and a flush
    /// returns once everything recorded is.
    #[tokio::test]
    async fn recording_does_not_wait_for_redis_and_a_flush_writes_everything_recorded() {
        let server = botq_testkit::redis::RedisServer::start();
        let audit = sink(&server);
        for _ in 0..600 {
            audit.record(&Entry::sample());
        }
        assert_eq!(len(&server), 0, "no attempt waited for its entry");
        audit.flush().await;
        assert_eq!(len(&server), 600, "three pipelines' worth, all written");
        let entries = botq_core::audit::before(&mut server.async_conn().await, "audit", None, 1).await.unwrap();
        assert_eq!(entries[0].entry.as_ref().unwrap().skill, Entry::sample().skill, "entries read back whole");
    }

    /// A writer that cannot keep up drops what does not fit, and the
    /// attempts go on.
    #[tokio::test]
    async fn entries_past_the_queue_bound_are_dropped_not_waited_for() {
        let server = botq_testkit::redis::RedisServer::start();
        let audit = sink(&server);
        for _ in 0..QUEUED_MAX + 25 {
            audit.record(&Entry::sample());
        }
        audit.flush().await;
        assert_eq!(len(&server), QUEUED_MAX);
    }

    /// Redis down: the entries are lost (and counted), the flush still returns.
    #[tokio::test]
    async fn a_flush_returns_when_redis_is_down() {
        let mut server = botq_testkit::redis::RedisServer::start();
        let audit = sink(&server);
        server.stop();
        audit.record(&Entry::sample());
        tokio::time::timeout(Duration::from_secs(10), audit.flush()).await.expect("the flush returns");
    }
}
