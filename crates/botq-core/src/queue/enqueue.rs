//! One round trip per accepted webhook: the `ingest.lua` script.

use std::time::Duration;

use crate::config::{Gcra, RateLimit};
use crate::keys::ShardKeys;
use crate::platform::Event;
use crate::scripts;

/// What Redis decided about one event. Only `Accepted` wrote anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnqueueOutcome {
    /// Durable in the stream under this entry id.
    Accepted { stream_id: String },
    /// Durable in the chat's backlog: the chat has its fair share of the
    /// stream; the event moves into it when an earlier one finishes.
    AcceptedInChatBacklog,
    /// A dedupe key of this event was seen within the TTL.
    Duplicate,
    /// Over an ingest abuse limit: acknowledge and drop.
    RateLimited(LimitKind),
    /// The stream is at its configured backlog: refuse so the platform retries later.
    Backlogged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Group,
    Sender,
}

impl LimitKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Group => "group",
            Self::Sender => "sender",
        }
    }
}

/// The per-deployment settings the script needs.
#[derive(Debug, Clone, Copy)]
pub struct EnqueueParams {
    pub now_ms: i64,
    pub dedupe_ttl: Duration,
    pub max_backlog: u64,
    pub limits: RateLimit,
    pub fair_share: crate::config::FairShare,
}

/// Emission interval (µs) and burst of a limit, `(0, 0)` when it is off.
fn interval_us(g: Option<Gcra>) -> (u64, u32) {
    g.map_or((0, 0), |g| (crate::throttle::interval_us(g), g.burst))
}

/// Runs the ingest script for `event` on its shard, once more when the
/// connection turns out to be dead.
///
/// A connection that broke while nobody used it (Redis restarted during a
/// quiet spell) is only noticed by the next command, which fails; the
/// connection manager reconnects for the one after. Retrying that once keeps
/// the first webhook after an outage from a 503, which matters for OneBot
/// implementations, which never retry. The retry is safe: the script is
/// atomic and deduplicates on the event's identity, so if the first attempt
/// did store the event before its answer was lost, the second finds it
/// stored and answers `Duplicate` (still acknowledged).
///
/// # Errors
/// Any Redis error (connection, timeout, script). The caller answers 503 and
/// the platform retries; the script is atomic, so nothing was half-written.
pub async fn enqueue<C>(
    conn: &mut C,
    keys: &ShardKeys,
    event: &Event,
    params: EnqueueParams,
) -> Result<EnqueueOutcome, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    match enqueue_once(conn, keys, event, params).await {
        Err(e) if is_dead_connection(&e) => {
            tracing::debug!(error.kind = ?e.kind(), "redis connection was dead; enqueueing again on a new one");
            enqueue_once(conn, keys, event, params).await
        }
        other => other,
    }
}

/// The connection broke (reset, closed, refused): worth one more try on a new
/// one. A timeout is not: its time is spent, and the caller's bound is near.
fn is_dead_connection(e: &redis::RedisError) -> bool {
    (e.is_connection_dropped() || e.is_connection_refusal()) && !e.is_timeout()
}

async fn enqueue_once<C>(
    conn: &mut C,
    keys: &ShardKeys,
    event: &Event,
    params: EnqueueParams,
) -> Result<EnqueueOutcome, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let env = &event.envelope;
    let (group_iv, group_burst) =
        interval_us(params.limits.group.filter(|_| env.chat_kind != crate::envelope::ChatKind::Private));
    let (sender_iv, sender_burst) = interval_us(params.limits.sender);
    let mut inv = scripts::INGEST.prepare_invoke();
    inv.key(keys.stream());
    let dedupe_keys = event.dedupe_keys();
    let n_dedupe = dedupe_keys.len();
    for k in &dedupe_keys {
        inv.key(keys.dedupe(&env.bot, k));
    }
    if group_iv > 0 {
        inv.key(keys.group_limit(&env.bot, &env.chat_id));
    }
    if sender_iv > 0 {
        inv.key(keys.sender_limit(&env.bot, &env.sender_id));
    }
    let max_queued = params.fair_share.max_queued_per_chat.unwrap_or(0);
    if max_queued > 0 {
        inv.key(keys.queued(&env.bot, &env.chat_id))
            .key(keys.backlog(&env.bot, &env.chat_id))
            .key(keys.backlogged())
            .key(keys.backlog_total());
    }
    let ttl_ms = u64::try_from(params.dedupe_ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    inv.arg(params.now_ms)
        .arg(ttl_ms)
        .arg(params.max_backlog)
        .arg(n_dedupe)
        .arg(group_iv)
        .arg(group_burst)
        .arg(sender_iv)
        .arg(sender_burst)
        .arg(env.encode())
        .arg(max_queued)
        .arg(u64::try_from(params.fair_share.counter_ttl.as_millis()).unwrap_or(u64::MAX).max(1))
        .arg(crate::keys::backlog_member(&env.bot, &env.chat_id));
    let reply: Vec<String> = inv.invoke_async(conn).await?;
    let outcome = match reply.first().map(String::as_str) {
        Some("ok") => EnqueueOutcome::Accepted { stream_id: reply.get(1).cloned().unwrap_or_default() },
        Some("ok-backlog") => EnqueueOutcome::AcceptedInChatBacklog,
        Some("duplicate") => EnqueueOutcome::Duplicate,
        Some("limited") if reply.get(1).is_some_and(|w| w == "group") => EnqueueOutcome::RateLimited(LimitKind::Group),
        Some("limited") => EnqueueOutcome::RateLimited(LimitKind::Sender),
        Some("backlog") => EnqueueOutcome::Backlogged,
        _ => {
            return Err(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "ingest script returned an unknown answer",
            )));
        }
    };
    Ok(outcome)
}
