//! The worker's metric names (the shared ones live in `botq_core::telemetry`).

pub const INFLIGHT: &str = "botq_worker_inflight";
pub const SKILL_DURATION: &str = "botq_skill_duration_seconds";
pub const QUEUE_DEPTH: &str = "botq_queue_depth";
pub const QUEUE_LAG: &str = "botq_queue_lag";
pub const QUEUE_PENDING: &str = "botq_queue_pending";
pub const DELAYED_DEPTH: &str = "botq_delayed_depth";
pub const DLQ_DEPTH: &str = "botq_dlq_depth";
pub const RECLAIMED: &str = "botq_reclaimed_total";
pub const PROMOTED: &str = "botq_promoted_total";
pub const REPLIES: &str = "botq_replies_total";
pub use botq_core::telemetry::REPLY_LATENCY;
pub const REPLY_THROTTLED: &str = "botq_reply_throttled_total";
pub const IGNORED: &str = "botq_ignored_total";
pub const BACKLOGGED_CHATS: &str = "botq_backlogged_chats";
pub const SKILL_CACHE: &str = "botq_skill_cache_total";
pub const SKILL_CALLS: &str = "botq_skill_calls_total";
pub const BREAKER_STATE: &str = "botq_breaker_state";
pub const AUDIT_FAILURES: &str = "botq_audit_write_failures_total";
pub use botq_core::telemetry::CONFIG_RELOADS;

/// Registers descriptions so `/metrics` explains each series. Installs the
/// recorder first: a description given before it exists would be lost.
pub fn describe() {
    botq_core::telemetry::metrics_handle();
    metrics::describe_gauge!(INFLIGHT, "Deliveries being handled by this worker process (bounded by concurrency).");
    metrics::describe_histogram!(SKILL_DURATION, metrics::Unit::Seconds, "Handler time per attempt, by skill.");
    metrics::describe_gauge!(QUEUE_DEPTH, "Entries in the queue stream (waiting + in flight).");
    metrics::describe_gauge!(QUEUE_LAG, "Entries not yet delivered to the worker group.");
    metrics::describe_gauge!(QUEUE_PENDING, "Entries delivered and not yet settled.");
    metrics::describe_gauge!(DELAYED_DEPTH, "Events waiting for a retry.");
    metrics::describe_gauge!(DLQ_DEPTH, "Events in the dead-letter stream.");
    metrics::describe_counter!(RECLAIMED, "Deliveries taken over from consumers that stopped.");
    metrics::describe_counter!(PROMOTED, "Retries moved back into the stream when due.");
    metrics::describe_counter!(REPLIES, "Replies by bot and outcome (sent, already_sent, dropped_*, error classes).");
    metrics::describe_histogram!(
        REPLY_LATENCY,
        metrics::Unit::Seconds,
        "From ingest receipt to the platform accepting the reply (SLO: p95 under 3 s)."
    );
    metrics::describe_counter!(REPLY_THROTTLED, "Replies deferred by the shared reply rate limits.");
    metrics::describe_counter!(IGNORED, "Events not addressed to the bot, by reason.");
    metrics::describe_counter!(SKILL_CACHE, "Skill cache lookups by skill and result (hit, miss).");
    metrics::describe_gauge!(
        BACKLOGGED_CHATS,
        "Chats whose events wait in their own backlog because they have their fair share of the stream."
    );
    metrics::describe_counter!(
        SKILL_CALLS,
        "Skill invocations by skill and outcome (ok, retry, failed, denied, degraded), as in the audit log."
    );
    metrics::describe_gauge!(BREAKER_STATE, "Circuit breaker of an upstream skill: 0 closed, 1 open, 2 half-open.");
    metrics::describe_counter!(AUDIT_FAILURES, "Audit entries that could not be written (Redis trouble).");
    metrics::describe_counter!(CONFIG_RELOADS, "SIGHUP config reloads by outcome (applied, rejected).");
}
