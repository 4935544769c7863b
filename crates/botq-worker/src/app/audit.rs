//! Writing the tool-call audit log (`botq_core::audit`) and its counters.
//!
//! Every entry also counts `botq_skill_calls_total{skill,outcome}`, so the
//! log and the metric never disagree about what happened. Writes are best
//! effort: a failed write is counted and logged, never retried by re-running
//! the event (see `botq_core::audit`).

use botq_core::audit::{self, Entry};
use botq_core::redis_conn::Redis;
use tracing::warn;

use crate::metrics::{AUDIT_FAILURES, SKILL_CALLS};

#[derive(Clone)]
pub struct AuditSink {
    redis: Redis,
    key: String,
    max_len: u64,
}

impl std::fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSink").field("key", &self.key).field("max_len", &self.max_len).finish_non_exhaustive()
    }
}

impl AuditSink {
    #[must_use]
    pub fn new(redis: Redis, key: String, max_len: u64) -> Self {
        Self { redis, key, max_len }
    }

    pub async fn record(&self, entry: &Entry) {
        metrics::counter!(SKILL_CALLS, "skill" => entry.skill.clone(), "outcome" => entry.outcome.as_str())
            .increment(1);
        if let Err(e) = audit::append(&mut self.redis.clone(), &self.key, self.max_len, entry).await {
            metrics::counter!(AUDIT_FAILURES).increment(1);
            warn!(error.kind = ?e.kind(), skill = %entry.skill, outcome = %entry.outcome, "cannot write the audit entry");
        }
    }
}
