//! What the worker runs for each event, and how a failure says what to do next.
//!
//! The engine knows nothing about skills or replies: it hands each claimed
//! event to a [`Handler`]. Failures are values that decide the event's fate
//! with a `match` (never by reading strings): a `Permanent` failure goes to the
//! dead-letter stream, a `Transient` one is retried with backoff, and
//! `RetryAfter` is retried no earlier than the platform asked.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use botq_core::envelope::Envelope;
use botq_core::fleet::Breaker;
use botq_core::history::Counters;

/// One attempt at one event.
#[derive(Debug, Clone)]
pub struct Job {
    pub envelope: Arc<Envelope>,
    /// 1 for the first attempt, 2 for the first retry, …
    pub attempt: u32,
    /// The stream entry id of this delivery.
    pub stream_id: String,
    /// The worker replica running the attempt (its fleet and consumer
    /// name), for the audit log.
    pub replica: Arc<str>,
    /// The attempt holds its chat's lock in the chat's home queue
    /// (per-chat ordering, and the event is on the chat's default-lane
    /// queue): no other attempt of the chat runs until this one settles, so
    /// the chat's side keys there (the replies-per-minute count) have this
    /// attempt as their only writer. Events of a lane queue hold a lock of
    /// that queue, which a chat moving between lanes does not share.
    pub holds_chat: bool,
}

/// Why an attempt failed, and so what happens next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// Will never succeed (bad request, unknown chat): dead-letter at once.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// May succeed later (timeout, 5xx, connection): retry with backoff.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The other side asked us to wait (429 with `Retry-After`, platform rate
    /// limit codes): retry no earlier than this.
    #[error("retry after {0:?}: {1}")]
    RetryAfter(Duration, String),
    /// Not a failure: the work must wait (a shared reply throttle said so).
    /// Rescheduled for then without counting an attempt.
    #[error("deferred for {0:?}")]
    Deferred(Duration),
}

/// Redis trouble inside a handler (throttle, token cache, reply records) is
/// worth another attempt.
/// A Redis failure is worth another attempt; the message keeps its cause
/// (`redis: connection refused`, the server's error), which names keys and
/// commands but never a value or a credential.
impl From<redis::RedisError> for HandleError {
    fn from(e: redis::RedisError) -> Self {
        Self::Transient(format!("redis: {e}"))
    }
}

/// The future a handler returns.
pub type HandleFuture = Pin<Box<dyn Future<Output = Result<(), HandleError>> + Send>>;

/// The skill an event is routed to, as the engine needs it before the attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillPlan {
    /// For the `botq_skill_duration_seconds{skill}` label and the per-skill
    /// cap. Must come from a bounded set (configured names), never from
    /// message text.
    pub name: String,
    /// In-flight attempts of this skill per process; when `None`, the
    /// worker's `skill_concurrency` setting for the name applies, if any.
    pub concurrency: Option<u32>,
    /// Attempts before the event is dead-lettered; the worker's
    /// `max_attempts` when `None`.
    pub max_attempts: Option<u32>,
}

impl SkillPlan {
    #[must_use]
    pub fn named(name: &str) -> Self {
        Self { name: name.to_owned(), concurrency: None, max_attempts: None }
    }
}

/// The worker's pluggable setup.
pub trait Handler: Send + Sync + 'static {
    /// The skill `env` is routed to (see [`SkillPlan`]).
    fn skill(&self, env: &Envelope) -> SkillPlan;

    /// Handles one attempt. The engine bounds it with the handler timeout and
    /// catches panics; both count as transient failures.
    fn handle(&self, job: Job) -> HandleFuture;

    /// The circuit breakers of the handler's upstreams as they are now, for
    /// the worker's fleet record (`botqctl status`, the console). None by default.
    fn breakers(&self) -> Vec<Breaker> {
        Vec::new()
    }

    /// The history counters the handler counts its replies in. The engine
    /// counts its own (dead letters) in the same ones and flushes them;
    /// `None` (the default): the engine keeps counters of its own.
    fn history(&self) -> Option<Arc<Counters>> {
        None
    }

    /// Writes out what the handler buffers (the bot handler: its audit
    /// entries). The engine calls it once its attempts have drained, before
    /// the process exits. Nothing by default.
    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
}

/// A handler that accepts everything; `botq-worker` runs it until the reply
/// path (skills) exists, and benchmarks measure the engine with it.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopHandler;

impl Handler for NoopHandler {
    fn skill(&self, _: &Envelope) -> SkillPlan {
        SkillPlan::named("noop")
    }

    fn handle(&self, _: Job) -> HandleFuture {
        Box::pin(async { Ok(()) })
    }
}
