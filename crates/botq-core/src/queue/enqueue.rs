//! One script call per accepted webhook, or per batch of them: `ingest.lua`.

use std::time::Duration;

use super::{FairShare, QueueError, RateLimit, px_ms};
use crate::keys::QueueKeys;
use crate::platform::Event;
use crate::scripts;
use crate::throttle::Gcra;

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

/// The settings the script needs for one event: the deployment's and its bot's limits.
#[derive(Debug, Clone, Copy)]
pub struct EnqueueParams {
    pub now_ms: i64,
    pub dedupe_ttl: Duration,
    pub max_backlog: u64,
    pub limits: RateLimit,
    pub fair_share: FairShare,
}

/// What a batch of [`enqueue_batch`] shares: the deployment's settings.
#[derive(Debug, Clone, Copy)]
pub struct BatchParams {
    pub now_ms: i64,
    pub dedupe_ttl: Duration,
    pub max_backlog: u64,
    pub fair_share: FairShare,
}

impl From<EnqueueParams> for BatchParams {
    fn from(p: EnqueueParams) -> Self {
        Self { now_ms: p.now_ms, dedupe_ttl: p.dedupe_ttl, max_backlog: p.max_backlog, fair_share: p.fair_share }
    }
}

/// One event, ready to join a batch: its keys and arguments in `ingest.lua`'s layout.
#[derive(Debug, Clone)]
pub struct Enqueue {
    keys: Vec<String>,
    args: [Vec<u8>; 7],
}

impl Enqueue {
    /// `event` for its queue `keys`, under its bot's ingest `limits`.
    #[must_use]
    pub fn new(keys: &QueueKeys, event: &Event, limits: RateLimit, fair_share: FairShare) -> Self {
        let env = &event.envelope;
        let (group_iv, group_burst) =
            interval_us(limits.group.filter(|_| env.chat_kind != crate::envelope::ChatKind::Private));
        let (sender_iv, sender_burst) = interval_us(limits.sender);
        let dedupe = event.dedupe_keys();
        let mut k: Vec<String> = dedupe.iter().map(|d| keys.dedupe(&env.bot, d)).collect();
        let off = || keys.placeholder();
        k.push(if group_iv > 0 { keys.group_limit(&env.bot, &env.chat_id) } else { off() });
        k.push(if sender_iv > 0 { keys.sender_limit(&env.bot, &env.sender_id) } else { off() });
        if fair_share.max_queued_per_chat.unwrap_or(0) > 0 {
            k.push(keys.queued(&env.bot, &env.chat_id));
            k.push(keys.backlog(&env.bot, &env.chat_id));
        } else {
            k.push(off());
            k.push(off());
        }
        let num = |n: u64| n.to_string().into_bytes();
        Self {
            keys: k,
            args: [
                num(dedupe.len() as u64),
                num(group_iv),
                num(u64::from(group_burst)),
                num(sender_iv),
                num(u64::from(sender_burst)),
                env.encode(),
                crate::keys::backlog_member(&env.bot, &env.chat_id).into_bytes(),
            ],
        }
    }
}

/// Emission interval (µs) and burst of a limit, `(0, 0)` when it is off.
fn interval_us(g: Option<Gcra>) -> (u64, u32) {
    g.map_or((0, 0), |g| (crate::throttle::interval_us(g), g.burst))
}

/// Runs the ingest script for `event` on its queue: a batch of one (see
/// [`enqueue_batch`]).
///
/// # Errors
/// As [`enqueue_batch`].
pub async fn enqueue<C>(
    conn: &mut C,
    keys: &QueueKeys,
    event: &Event,
    params: EnqueueParams,
) -> Result<EnqueueOutcome, QueueError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let one = [Enqueue::new(keys, event, params.limits, params.fair_share)];
    let mut outcomes = enqueue_batch(conn, keys, params.into(), &one).await?;
    outcomes.pop().ok_or_else(|| QueueError::Protocol("ingest script answered no event"))
}

/// Runs the ingest script for a batch of events of one queue, each decided
/// as if alone, in order; once more when the connection turns out to be dead.
///
/// A connection that broke while nobody used it (Redis restarted during a
/// quiet spell) is only noticed by the next command, which fails; the
/// connection manager reconnects for the one after. Retrying that once keeps
/// the first webhook after an outage from a 503, which matters for OneBot
/// implementations, which never retry. The retry is safe: the script is
/// atomic and deduplicates on each event's identity, so if the first attempt
/// did store the events before its answer was lost, the second finds them
/// stored and answers `Duplicate` (still acknowledged).
///
/// # Errors
/// Any Redis error (connection, timeout, script) or an answer this build
/// does not know, for the whole batch. The caller answers 503 and the
/// platform retries; the script is atomic, so nothing was half-written.
pub async fn enqueue_batch<C>(
    conn: &mut C,
    keys: &QueueKeys,
    params: BatchParams,
    batch: &[Enqueue],
) -> Result<Vec<EnqueueOutcome>, QueueError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let inv = invocation(keys, params, batch);
    match call(conn, &inv, batch.len()).await {
        Err(QueueError::Redis(e)) if is_dead_connection(&e) => {
            tracing::debug!(error.kind = ?e.kind(), "redis connection was dead; enqueueing again on a new one");
            call(conn, &inv, batch.len()).await
        }
        other => other,
    }
}

/// The connection broke (reset, closed, refused): worth one more try on a new
/// one. A timeout is not: its time is spent, and the caller's bound is near.
fn is_dead_connection(e: &redis::RedisError) -> bool {
    (e.is_connection_dropped() || e.is_connection_refusal()) && !e.is_timeout()
}

/// The ingest script's call for `batch`, built once (a retry sends it again).
fn invocation(keys: &QueueKeys, params: BatchParams, batch: &[Enqueue]) -> redis::ScriptInvocation<'static> {
    let mut inv = scripts::INGEST.prepare_invoke();
    inv.key(keys.stream()).key(keys.backlogged()).key(keys.backlog_total());
    inv.arg(params.now_ms)
        .arg(px_ms(params.dedupe_ttl))
        .arg(params.max_backlog)
        .arg(params.fair_share.max_queued_per_chat.unwrap_or(0))
        .arg(px_ms(params.fair_share.counter_ttl));
    for e in batch {
        for k in &e.keys {
            inv.key(k);
        }
        for a in &e.args {
            inv.arg(a.as_slice());
        }
    }
    inv
}

/// Sends `inv` and reads one outcome per event of a batch of `events`.
async fn call<C>(
    conn: &mut C,
    inv: &redis::ScriptInvocation<'_>,
    events: usize,
) -> Result<Vec<EnqueueOutcome>, QueueError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let answers: Vec<Vec<String>> = inv.invoke_async(conn).await?;
    if answers.len() != events {
        return Err(QueueError::Protocol("ingest script answered a different number of events"));
    }
    answers.into_iter().map(outcome).collect()
}

fn outcome(reply: Vec<String>) -> Result<EnqueueOutcome, QueueError> {
    Ok(match reply.first().map(String::as_str) {
        Some("ok") => EnqueueOutcome::Accepted { stream_id: reply.get(1).cloned().unwrap_or_default() },
        Some("ok-backlog") => EnqueueOutcome::AcceptedInChatBacklog,
        Some("duplicate") => EnqueueOutcome::Duplicate,
        Some("limited") if reply.get(1).is_some_and(|w| w == "group") => EnqueueOutcome::RateLimited(LimitKind::Group),
        Some("limited") => EnqueueOutcome::RateLimited(LimitKind::Sender),
        Some("backlog") => EnqueueOutcome::Backlogged,
        _ => return Err(QueueError::Protocol("ingest script returned an unknown answer")),
    })
}
