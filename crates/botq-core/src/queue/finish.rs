//! Settling a delivery (`scripts/finish.lua`): ack + delete + what comes next, atomically.

use std::time::Duration;

use crate::config::FairShare;
use crate::ids::BotId;
use crate::keys::ShardKeys;
use crate::scripts;

/// One chat's fair-share keys in a queue (see `keys.rs`).
#[derive(Debug, Clone)]
pub struct ChatShare {
    queued: String,
    backlog: String,
    backlogged: String,
    backlog_total: String,
    member: String,
    share: FairShare,
}

impl ChatShare {
    #[must_use]
    pub fn new(keys: &ShardKeys, bot: &BotId, chat_id: &str, share: FairShare) -> Self {
        Self {
            queued: keys.queued(bot, chat_id),
            backlog: keys.backlog(bot, chat_id),
            backlogged: keys.backlogged(),
            backlog_total: keys.backlog_total(),
            member: crate::keys::backlog_member(bot, chat_id),
            share,
        }
    }

    /// The chat of a `backlogged` member, for the promoter's pump.
    #[must_use]
    pub fn from_member(keys: &ShardKeys, member: &str, share: FairShare) -> Option<Self> {
        let (bot, chat) = member.split_once(':')?;
        Some(Self::new(keys, &BotId::parse(bot).ok()?, chat, share))
    }
}

/// What happens to a delivery after its attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Handled: mark the event done for `done_ttl`.
    Done { done_ttl: Duration },
    /// Try again at `due_ms` with `attempts` failed attempts recorded.
    Retry { due_ms: i64, attempts: u32 },
    /// Failed for good: to the dead-letter stream with `reason`.
    Dead { reason: String, attempts: u32, now_ms: i64, dlq_max_len: u64 },
    /// A duplicate delivery: just ack and delete.
    Drop,
}

/// Settles stream entry `id` (delivered with `token`) of the event whose raw
/// envelope is `env`.
///
/// # Errors
/// Redis errors; the entry then stays pending and is reclaimed after the lease,
/// which re-runs the attempt (replies are idempotent, so that is safe).
/// `chat` is the event's fair-share keys (`None`: fair share off, or an
/// entry without a readable envelope).
#[allow(clippy::too_many_arguments)]
pub async fn finish<C>(
    conn: &mut C,
    keys: &ShardKeys,
    group: &str,
    id: &str,
    token: &str,
    claim_key: &str,
    chat_lock: &str,
    chat: Option<&ChatShare>,
    env: &[u8],
    verdict: &Verdict,
) -> Result<(), redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut inv = scripts::FINISH.prepare_invoke();
    inv.key(keys.stream()).key(claim_key).key(chat_lock);
    match verdict {
        Verdict::Retry { .. } => inv.key(keys.delayed()),
        Verdict::Dead { .. } => inv.key(keys.dlq()),
        Verdict::Done { .. } | Verdict::Drop => inv.key(keys.delayed()),
    };
    share_keys(&mut inv, keys, chat);
    inv.arg(group).arg(id).arg(token);
    let verdict_args = match verdict {
        Verdict::Done { .. } => 1,
        Verdict::Retry { .. } => 2,
        Verdict::Dead { .. } => 5,
        Verdict::Drop => 0,
    };
    match verdict {
        Verdict::Done { done_ttl } => {
            inv.arg("done").arg(u64::try_from(done_ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        }
        Verdict::Retry { due_ms, attempts } => {
            let mut member = format!("{attempts}:").into_bytes();
            member.extend_from_slice(env);
            inv.arg("retry").arg(*due_ms).arg(member);
        }
        Verdict::Dead { reason, attempts, now_ms, dlq_max_len } => {
            inv.arg("dead").arg(reason).arg(*attempts).arg(*now_ms).arg(env).arg(*dlq_max_len);
        }
        Verdict::Drop => {
            inv.arg("drop");
        }
    }
    pad_verdict_args(&mut inv, verdict_args);
    share_args(&mut inv, chat);
    let _: i64 = inv.invoke_async(conn).await?;
    Ok(())
}

/// Moves the chat's waiting events into the stream while it has room;
/// `release` first counts out one event that left the queue elsewhere (the
/// reclaimer dead-lettered it). The promoter pumps chats whose backlog has
/// not moved for a while, so a miscount cannot strand a backlog.
///
/// # Errors
/// Redis errors.
pub async fn pump<C>(conn: &mut C, keys: &ShardKeys, chat: &ChatShare, release: bool) -> Result<(), redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut inv = scripts::FINISH.prepare_invoke();
    let none = keys.placeholder();
    inv.key(keys.stream()).key(&none).key(&none).key(keys.delayed());
    share_keys(&mut inv, keys, Some(chat));
    inv.arg(crate::keys::GROUP).arg("0-0").arg("").arg(if release { "release" } else { "pump" });
    pad_verdict_args(&mut inv, 0);
    share_args(&mut inv, Some(chat));
    let _: i64 = inv.invoke_async(conn).await?;
    Ok(())
}

/// The verdict's own arguments are ARGV[5..=9] (as many as the verdict
/// needs); the fair-share arguments start at ARGV[10] whatever the verdict.
fn pad_verdict_args(inv: &mut redis::ScriptInvocation<'_>, used: usize) {
    for _ in used..5 {
        inv.arg("");
    }
}

fn share_keys(inv: &mut redis::ScriptInvocation<'_>, keys: &ShardKeys, chat: Option<&ChatShare>) {
    match chat {
        Some(c) => inv.key(&c.queued).key(&c.backlog).key(&c.backlogged).key(&c.backlog_total),
        None => {
            let none = keys.placeholder();
            inv.key(&none).key(&none).key(&none).key(&none)
        }
    };
}

fn share_args(inv: &mut redis::ScriptInvocation<'_>, chat: Option<&ChatShare>) {
    match chat {
        Some(c) => inv
            .arg(c.share.max_queued_per_chat.unwrap_or(0))
            .arg(u64::try_from(c.share.counter_ttl.as_millis()).unwrap_or(u64::MAX).max(1))
            .arg(&c.member)
            .arg(crate::now_ms()),
        None => inv.arg(0).arg(1).arg("").arg(0),
    };
}
