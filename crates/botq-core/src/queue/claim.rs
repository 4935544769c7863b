//! Claiming a delivery before handling it (`scripts/claim.lua`).

use std::time::Duration;

use crate::envelope::Envelope;
use crate::keys::{GROUP, ShardKeys};
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

/// A delivery's identity for claiming and settling.
#[derive(Debug, Clone, Copy)]
pub struct ClaimTarget<'a> {
    pub consumer: &'a str,
    pub stream_id: &'a str,
    pub token: &'a str,
}

/// Claims `env`'s delivery for `lease`.
///
/// # Errors
/// Redis errors; the caller leaves the delivery pending (it will be reclaimed).
pub async fn claim<C>(
    conn: &mut C,
    keys: &ShardKeys,
    env: &Envelope,
    target: ClaimTarget<'_>,
    lease: Duration,
    per_chat_ordering: bool,
) -> Result<Claim, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut inv = scripts::CLAIM.prepare_invoke();
    inv.key(keys.stream()).key(keys.claim(&env.bot, &env.event_id));
    if per_chat_ordering {
        inv.key(keys.chat_lock(&env.bot, &env.chat_id));
    }
    inv.arg(GROUP)
        .arg(target.consumer)
        .arg(target.stream_id)
        .arg(target.token)
        .arg(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
    let answer: String = inv.invoke_async(conn).await?;
    match answer.as_str() {
        "fresh" => Ok(Claim::Fresh),
        "duplicate" => Ok(Claim::Duplicate),
        "in_progress" => Ok(Claim::InProgress),
        "chat_busy" => Ok(Claim::ChatBusy),
        "lost" => Ok(Claim::Lost),
        _ => Err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "claim script returned an unknown answer",
        ))),
    }
}
