//! The Redis side of botq's queue.
//!
//! # Data structures (per queue, keys in [`crate::keys`])
//!
//! - **stream**: every accepted event is one entry (`env` = the envelope,
//!   `att` = failed attempts so far). Workers read it through one consumer
//!   group; an entry read but not finished sits in the group's pending list
//!   (PEL) under the reading consumer's unique name.
//! - **claim key**: before handling, a worker sets a lease (its delivery
//!   token, TTL = lease) with `SET NX` semantics; after success the key
//!   becomes `done` for the dedupe TTL. A second delivery of a done event is
//!   acked and counted as a duplicate.
//! - **chat lock**: with per-chat ordering on, the claim also takes the
//!   chat's lock, so two replicas never handle two events of one chat at once.
//! - **delayed set**: failed attempts that will be retried, scored by due time.
//! - **dead-letter stream**: events that failed for good, with the reason.
//!
//! # Life of an event and crash recovery
//!
//! Ingest `XADD`s (`enqueue`). A worker `XREADGROUP`s it (`read`), claims it
//! (`claim`), runs the handler, then settles it (`finish`): success, retry or
//! dead, each one script that also `XACK`s and `XDEL`s the entry, so the stream
//! only ever holds unfinished work and its memory stays bounded.
//!
//! If the worker dies anywhere in between, the entry stays in the PEL and the
//! claim lease lapses. Another replica's reclaimer (`reclaim`, `XAUTOCLAIM`
//! with min-idle = lease) takes it over and handles it afresh; an entry that
//! keeps killing its workers passes the delivery limit and is dead-lettered.
//! A retry leaves the stream and waits in the delayed set; the promoter
//! (`promote`) moves it back when due, in one script, so it is never lost nor
//! doubled. If Redis loses the group (restart without persistence, `FLUSHALL`),
//! reads fail with `NOGROUP` and the reader re-creates it from id 0: everything
//! still in the stream is unfinished by construction.

use std::time::Duration;

use crate::throttle::Gcra;

mod claim;
mod dlq;
mod enqueue;
mod finish;
mod group;
mod maintenance;

pub use claim::{Claim, ClaimRequest, claim, needs_verify};
pub use dlq::{DeadLetter, dead_letter, dead_letters, dead_letters_newest, purge, replay};
pub use enqueue::{BatchParams, Enqueue, EnqueueOutcome, EnqueueParams, LimitKind, enqueue, enqueue_batch};
pub use finish::{ChatShare, Held, Settlement, Verdict, finish};
pub use group::{Delivery, ensure_group, is_nogroup, read};
pub use maintenance::{
    QueueStats, ReclaimPass, Reclaimed, has_idle, promote, prune_consumers, reclaim, stats, trim_by_age,
};

/// The lease must outlast the handler by this much, so a live handler's
/// delivery is never reclaimed while it still runs. That is the
/// duplicate-processing trap of a visibility timeout shorter than the task:
/// Celery's Redis broker redelivers a task not acknowledged within
/// `visibility_timeout` to another worker, even though the first is still
/// running it
/// (<https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout>).
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Per-chat fair share inside a queue (see `keys.rs`): a chat's events in the
/// shared stream are capped, the rest wait in the chat's own backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FairShare {
    /// Events of one chat allowed in the shared stream at once; later ones
    /// wait in the chat's own backlog. `None`: off.
    pub max_queued_per_chat: Option<u32>,
    /// The per-chat counter's lifetime, refreshed on every event: bounds how
    /// long a miscount (an entry dead-lettered by the reclaimer) can last.
    pub counter_ttl: Duration,
}

/// Ingest abuse limits of one bot (GCRA, checked by `ingest.lua`); `None`
/// means that limit is off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub group: Option<Gcra>,
    pub sender: Option<Gcra>,
}

/// Why a queue call that a script answers failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// Redis failed or refused the call: down, too slow, an error reply.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    /// The script answered something this build does not know: the scripts
    /// and the code are of different versions, never a caller's mistake.
    #[error("{0} (the Lua scripts and the code are of different versions)")]
    Protocol(&'static str),
    /// A queue number this process has no queue for: a caller's bug.
    #[error("queue {0} is not one of this process's queues")]
    NoQueue(u16),
}

impl QueueError {
    /// Whether Redis did not answer in time, so the call may have taken effect.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Redis(e) if e.is_timeout())
    }

    /// What kind of failure, for a log field: Redis's error kind (`IoError`,
    /// `ResponseError`, …), `Protocol` or `NoQueue`. Never a value.
    #[must_use]
    pub fn kind(&self) -> String {
        match self {
            Self::Redis(e) => format!("{:?}", e.kind()),
            Self::Protocol(_) => "Protocol".to_owned(),
            Self::NoQueue(_) => "NoQueue".to_owned(),
        }
    }
}

/// A batcher that stopped before answering: the call may have been made.
impl From<crate::batch::Gone> for QueueError {
    fn from(gone: crate::batch::Gone) -> Self {
        Self::Redis(gone.into())
    }
}

/// A duration as the milliseconds of a `PX` (or a TTL argument): at least 1,
/// since Redis refuses 0.
fn px_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}
