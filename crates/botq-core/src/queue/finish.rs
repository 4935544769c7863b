//! Settling deliveries (`queue/finish.lua`): ack + delete + what comes next,
//! atomically, a batch of them per call.

use std::time::Duration;

use super::FairShare;
use super::px_ms;
use crate::ids::BotId;
use crate::keys::QueueKeys;
use crate::scripts;

/// One chat's fair-share keys in a queue (see `keys.rs`).
#[derive(Debug, Clone)]
pub struct ChatShare {
    queued: String,
    backlog: String,
    member: String,
    share: FairShare,
}

impl ChatShare {
    #[must_use]
    pub fn new(keys: &QueueKeys, bot: &BotId, chat_id: &str, share: FairShare) -> Self {
        Self {
            queued: keys.queued(bot, chat_id),
            backlog: keys.backlog(bot, chat_id),
            member: crate::keys::backlog_member(bot, chat_id),
            share,
        }
    }

    /// The chat of a `backlogged` member, for the promoter's pump.
    #[must_use]
    pub fn from_member(keys: &QueueKeys, member: &str, share: FairShare) -> Option<Self> {
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

/// What a delivery holds in Redis while it is handled, which its settlement
/// lets go of.
#[derive(Debug, Clone, Copy)]
pub struct Held<'a> {
    /// The stream entry id.
    pub id: &'a str,
    /// The delivery token its claim was made with.
    pub token: &'a str,
    /// The event's claim key, or the queue's placeholder when it was never claimed.
    pub claim_key: &'a str,
    /// The chat's lock, or the queue's placeholder.
    pub chat_lock: &'a str,
}

/// One settlement, ready to join a batch of [`finish`]: its keys and
/// arguments in `finish.lua`'s layout.
#[derive(Debug, Clone)]
pub struct Settlement {
    keys: [String; 4],
    args: [Vec<u8>; 11],
}

impl Settlement {
    /// Settles the delivery that holds `held`, of the event whose raw
    /// envelope is `env`. `chat` is the event's fair-share keys (`None`:
    /// fair share off, or an entry without a readable envelope).
    #[must_use]
    pub fn new(keys: &QueueKeys, held: &Held<'_>, chat: Option<&ChatShare>, env: &[u8], verdict: &Verdict) -> Self {
        let Held { id, token, claim_key, chat_lock } = *held;
        let text = |s: &str| s.as_bytes().to_vec();
        let num = |n: i64| n.to_string().into_bytes();
        let ms = |d: Duration| px_ms(d).to_string().into_bytes();
        let (name, own): (&str, [Vec<u8>; 5]) = match verdict {
            Verdict::Done { done_ttl } => ("done", [ms(*done_ttl), vec![], vec![], vec![], vec![]]),
            Verdict::Retry { due_ms, attempts } => {
                let mut member = format!("{attempts}:").into_bytes();
                member.extend_from_slice(env);
                ("retry", [num(*due_ms), member, vec![], vec![], vec![]])
            }
            Verdict::Dead { reason, attempts, now_ms, dlq_max_len } => (
                "dead",
                [
                    text(reason),
                    attempts.to_string().into_bytes(),
                    num(*now_ms),
                    env.to_vec(),
                    dlq_max_len.to_string().into_bytes(),
                ],
            ),
            Verdict::Drop => ("drop", [vec![], vec![], vec![], vec![], vec![]]),
        };
        Self::build(keys, [claim_key, chat_lock], [id, token, name], own, chat)
    }

    /// Moves the chat's waiting events into the stream while it has room;
    /// `release` first counts out one event that left the queue elsewhere
    /// (the reclaimer dead-lettered it). The promoter pumps chats whose
    /// backlog has not moved for a while, so a miscount cannot strand a backlog.
    #[must_use]
    pub fn pump(keys: &QueueKeys, chat: &ChatShare, release: bool) -> Self {
        let none = keys.placeholder();
        let verdict = if release { "release" } else { "pump" };
        Self::build(keys, [&none, &none], ["0-0", "", verdict], Default::default(), Some(chat))
    }

    fn build(
        keys: &QueueKeys,
        [claim_key, chat_lock]: [&str; 2],
        [id, token, verdict]: [&str; 3],
        [v1, v2, v3, v4, v5]: [Vec<u8>; 5],
        chat: Option<&ChatShare>,
    ) -> Self {
        let (counter, backlog, share) = match chat {
            Some(c) => (
                c.queued.clone(),
                c.backlog.clone(),
                [
                    c.share.max_queued_per_chat.unwrap_or(0).to_string().into_bytes(),
                    px_ms(c.share.counter_ttl).to_string().into_bytes(),
                    c.member.clone().into_bytes(),
                ],
            ),
            None => (keys.placeholder(), keys.placeholder(), [b"0".to_vec(), b"1".to_vec(), vec![]]),
        };
        let [max_queued, ttl, member] = share;
        Self {
            keys: [claim_key.to_owned(), chat_lock.to_owned(), counter, backlog],
            args: [
                id.as_bytes().to_vec(),
                token.as_bytes().to_vec(),
                verdict.as_bytes().to_vec(),
                v1,
                v2,
                v3,
                v4,
                v5,
                max_queued,
                ttl,
                member,
            ],
        }
    }
}

/// Settles a batch of one queue's deliveries (and pumps), each as if alone,
/// in order, in one atomic step. `consumer` (the settling worker) is recorded
/// on the dead letters the batch writes.
///
/// # Errors
/// Redis errors, for the whole batch; those entries then stay pending and are
/// reclaimed after the lease, which re-runs their attempts (replies are
/// idempotent, so that is safe).
pub async fn finish<C>(
    conn: &mut C,
    keys: &QueueKeys,
    consumer: &str,
    batch: &[Settlement],
) -> Result<(), redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut inv = scripts::FINISH.prepare_invoke();
    inv.key(keys.stream()).key(keys.delayed()).key(keys.dlq()).key(keys.backlogged()).key(keys.backlog_total());
    inv.arg(crate::keys::GROUP).arg(crate::now_ms()).arg(consumer);
    for s in batch {
        for k in &s.keys {
            inv.key(k);
        }
        for a in &s.args {
            inv.arg(a.as_slice());
        }
    }
    let _: i64 = inv.invoke_async(conn).await?;
    Ok(())
}
