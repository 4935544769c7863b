//! Group commit: concurrent webhooks of one queue are stored by one
//! `ingest.lua` call (`botq_core::batch`: one call in flight per
//! queue, everything that arrived meanwhile goes in the next).
//!
//! Each request still waits for its own event's answer (stored, duplicate,
//! over a limit, over the backlog) before it is acknowledged, so "2xx only
//! once Redis has it" holds per request. A quiet ingest sends each event at
//! once as a batch of one; under load one call carries many, which saves
//! Redis the per-call cost and both sides a round trip per event. A call
//! that fails (Redis down, timeout) fails the requests it carried, each
//! answered 503 as before; the next batch is unaffected.
//!
//! One batcher per queue, because a script's keys must share a hash slot
//! (each queue's keys carry its hash tag); each starts on first use.

use std::sync::OnceLock;
use std::time::Duration;

use botq_core::batch::{Batcher, each};
use botq_core::config::{FairShare, RateLimit};
use botq_core::keys::Keys;
use botq_core::platform::Event;
use botq_core::queue::{self, BatchParams, Enqueue, EnqueueOutcome, QueueError};
use botq_core::redis_conn::{Redis, bounded};

/// At most this many events per script call: a script blocks Redis while it
/// runs (~15 µs per event), so 64 keeps other clients' waits under a millisecond.
const MAX_BATCH: usize = 64;

/// Calls in flight per queue. Two (a second batch going while the first is
/// out) measured 2–5 % more CPU per event in every process and no better
/// latency (BENCHMARKS.md, "The throughput pass"), so one.
const IN_FLIGHT: usize = 1;

type QueueBatcher = Batcher<Enqueue, Result<EnqueueOutcome, QueueError>>;

/// The deployment's settings every batch shares.
#[derive(Debug, Clone, Copy)]
pub struct CommitSettings {
    pub dedupe_ttl: Duration,
    pub max_backlog: u64,
    pub fair_share: FairShare,
    /// Bounds each call, so a stalled one cannot hold the queue's next batch forever.
    pub redis_timeout: Duration,
}

#[derive(Debug)]
pub struct GroupCommit {
    redis: Redis,
    keys: Keys,
    settings: CommitSettings,
    /// Indexed by global queue number.
    queues: Vec<OnceLock<QueueBatcher>>,
}

impl GroupCommit {
    #[must_use]
    pub fn new(redis: Redis, keys: Keys, settings: CommitSettings) -> Self {
        let queues = (0..keys.queue_count()).map(|_| OnceLock::new()).collect();
        Self { redis, keys, settings, queues }
    }

    /// Stores `event` in queue `queue`'s next batch, under its bot's ingest
    /// `limits`; its own answer.
    ///
    /// # Errors
    /// The batch's error, or a queue number out of range.
    pub async fn enqueue(&self, queue: u16, event: &Event, limits: RateLimit) -> Result<EnqueueOutcome, QueueError> {
        let Some(slot) = self.queues.get(usize::from(queue)) else {
            return Err(QueueError::NoQueue(queue));
        };
        let entry = Enqueue::new(&self.keys.queue(queue), event, limits, self.settings.fair_share);
        let batcher = slot.get_or_init(|| self.spawn(queue));
        batcher.call(entry).await?
    }

    /// The stream length (with the backlogs) at which events are refused.
    #[must_use]
    pub fn max_backlog(&self) -> u64 {
        self.settings.max_backlog
    }

    fn spawn(&self, queue: u16) -> QueueBatcher {
        let (redis, keys, s) = (self.redis.clone(), self.keys.queue(queue), self.settings);
        Batcher::spawn(MAX_BATCH, IN_FLIGHT, move |batch: Vec<Enqueue>| {
            let (mut conn, keys) = (redis.clone(), keys.clone());
            async move {
                let params = BatchParams {
                    now_ms: botq_core::now_ms(),
                    dedupe_ttl: s.dedupe_ttl,
                    max_backlog: s.max_backlog,
                    fair_share: s.fair_share,
                };
                let call = queue::enqueue_batch(&mut conn, &keys, params, &batch);
                each(bounded(s.redis_timeout, call).await, batch.len())
            }
        })
    }
}
