//! Claiming deliveries before handling them (`queue/claim.lua`), a batch per call.

use std::time::Duration;

use super::QueueError;
use crate::keys::{GROUP, QueueKeys};
use crate::scripts;

/// The claim's answer. Only `Fresh` may run the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours: the lease (and chat lock) is held until `finish` or expiry.
    Fresh,
    /// Already handled successfully within the dedupe TTL: ack and drop.
    Duplicate,
    /// Another delivery of this event holds a live lease: leave this one
    /// pending; if the holder dies, the reclaimer brings it back.
    InProgress,
    /// Per-chat ordering: another event of this chat is being handled.
    ChatBusy,
    /// The entry is no longer pending for us (reclaimed by another replica or
    /// settled): forget it without touching it.
    Lost,
}

/// One delivery to claim, in a batch of [`claim`].
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The event's claim key (`QueueKeys::claim`).
    pub claim_key: String,
    /// The chat's ordering lock (`QueueKeys::chat_lock`), or the queue's
    /// placeholder when per-chat ordering is off.
    pub chat_lock: String,
    pub stream_id: String,
    /// This delivery's token: consumer + entry id.
    pub token: String,
    /// Check that the entry is still this consumer's and reset its idle
    /// time (two more commands); see [`needs_verify`].
    pub verify: bool,
}

/// Whether a claim must verify its delivery: once the delivery is older than
/// half the lease margin. Younger, nothing can have reclaimed it (that takes
/// a lease of idleness) and its idle time is near zero, so the handler still
/// ends a margin before the lease (`lease ≥ handler timeout + margin`).
#[must_use]
pub fn needs_verify(since_received: Duration) -> bool {
    since_received >= super::LEASE_MARGIN / 2
}

/// Claims a batch of this consumer's deliveries of one queue for `lease`,
/// each as if alone, in order; one answer per request.
///
/// # Errors
/// Redis errors, for the whole batch; the caller leaves those deliveries
/// pending (they will be reclaimed).
pub async fn claim<C>(
    conn: &mut C,
    keys: &QueueKeys,
    consumer: &str,
    lease: Duration,
    per_chat_ordering: bool,
    batch: &[ClaimRequest],
) -> Result<Vec<Claim>, QueueError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut inv = scripts::CLAIM.prepare_invoke();
    inv.key(keys.stream());
    inv.arg(GROUP)
        .arg(consumer)
        .arg(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX))
        .arg(u8::from(per_chat_ordering));
    for r in batch {
        inv.key(&r.claim_key).key(&r.chat_lock).arg(&r.stream_id).arg(&r.token).arg(u8::from(r.verify));
    }
    let answers: Vec<String> = inv.invoke_async(conn).await?;
    if answers.len() != batch.len() {
        return Err(QueueError::Protocol("claim script answered a different number of deliveries"));
    }
    answers
        .iter()
        .map(|a| match a.as_str() {
            "fresh" => Ok(Claim::Fresh),
            "duplicate" => Ok(Claim::Duplicate),
            "in_progress" => Ok(Claim::InProgress),
            "chat_busy" => Ok(Claim::ChatBusy),
            "lost" => Ok(Claim::Lost),
            _ => Err(QueueError::Protocol("claim script returned an unknown answer")),
        })
        .collect()
}
