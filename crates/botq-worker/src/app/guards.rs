//! Guards kept in Redis, so every worker replica sees the same state:
//! the per-group cooldown after a skill failed, the per-chat cap on replies
//! per minute (stops bot ping-pong and runaway conversations), and the
//! same-text window (one answer to a message sent twice in a row).
//!
//! Each is one key of the chat's queue with a TTL, so nothing outlives its
//! purpose; a Redis error fails the attempt (it is retried), because a guard
//! that silently stops guarding is how reply storms happen.

use std::time::Duration;

use botq_core::envelope::Envelope;
use botq_core::keys::{Keys, QueueKeys, fnv1a};
use botq_core::redis_conn::Redis;

/// The chat's cap on replies per minute and this minute's counter key.
///
/// The replier reads the counter with its other pre-send reads and counts a
/// reply that went out (not before: deferred and retried attempts must not
/// eat the budget) with its other post-send writes. Replicas racing between
/// check and count may overshoot by a reply each.
///
/// An attempt that holds its chat (`Job::holds_chat`: no other attempt of
/// the chat runs until it settles) is the counter's only writer, so after
/// its first read it keeps the count Redis last answered (the read, or the
/// `INCR` of a reply) in `known`; the replier then does not read it again. A send that fails forgets the count (its
/// write may have landed). Only a fleet that disagrees on per-chat ordering,
/// or a chat moved between lanes while events of both run, has another
/// writer meanwhile: then a chat may get up to one attempt's replies over
/// its cap.
#[derive(Debug, Clone)]
pub struct StormCap {
    /// The chat's counter key of the minute the check was made in; the
    /// reply is counted there too.
    pub key: String,
    pub cap: u32,
    /// The counter's value, when the attempt knows it without a read.
    pub known: Option<u32>,
}

impl StormCap {
    /// A chat's per-minute counter outlives its minute by one.
    pub const TTL_MS: i64 = 120_000;

    /// Whether the replies this minute, as known, use up the chat's budget.
    #[must_use]
    pub fn reached(&self) -> bool {
        self.known.unwrap_or(0) >= self.cap
    }
}

#[derive(Clone)]
pub struct Guards {
    redis: Redis,
    keys: Keys,
}

impl std::fmt::Debug for Guards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guards").finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl Guards {
    #[must_use]
    pub fn new(redis: Redis, keys: Keys) -> Self {
        Self { redis, keys }
    }

    fn queue(&self, env: &Envelope) -> QueueKeys {
        self.keys.chat_home(&env.bot, &env.chat_id)
    }

    /// Whether `skill` is cooling down in the chat of `env`.
    pub async fn cooling_down(&self, env: &Envelope, skill: &str) -> redis::RedisResult<bool> {
        let key = self.queue(env).cooldown(&env.bot, skill, &env.chat_id);
        redis::cmd("EXISTS").arg(key).query_async(&mut self.redis.clone()).await
    }

    /// Starts (or restarts) `skill`'s cooldown in the chat of `env`.
    pub async fn start_cooldown(&self, env: &Envelope, skill: &str, for_: Duration) -> redis::RedisResult<()> {
        let key = self.queue(env).cooldown(&env.bot, skill, &env.chat_id);
        redis::cmd("SET").arg(key).arg(1).arg("PX").arg(ms(for_)).query_async(&mut self.redis.clone()).await
    }

    fn storm_key(&self, env: &Envelope) -> String {
        self.queue(env).storm(&env.bot, &env.chat_id, botq_core::now_ms() / 60_000)
    }

    /// The chat's reply budget for this minute, read: `known` is the count
    /// of replies it had (whether that reaches `cap` is [`StormCap::reached`]).
    pub async fn storm_read(&self, env: &Envelope, cap: u32) -> redis::RedisResult<StormCap> {
        let mut storm = self.storm_cap(env, cap);
        let sent: Option<u32> = redis::cmd("GET").arg(&storm.key).query_async(&mut self.redis.clone()).await?;
        storm.known = Some(sent.unwrap_or(0));
        Ok(storm)
    }

    /// The chat's reply budget for this minute, unread, for the replier: it
    /// checks and counts it in the same round trips as the reply's own
    /// bookkeeping.
    pub fn storm_cap(&self, env: &Envelope, cap: u32) -> StormCap {
        StormCap { key: self.storm_key(env), cap, known: None }
    }

    /// `true` when the same sender sent the same text to the chat within
    /// `window` as another event (this event's own redeliveries pass).
    pub async fn same_text(&self, env: &Envelope, window: Duration) -> redis::RedisResult<bool> {
        let hash = fnv1a(&[env.text.trim().as_bytes()]);
        let key = self.queue(env).same_text(&env.bot, &env.chat_id, &env.sender_id, hash);
        let previous: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(&env.event_id)
            .arg("NX")
            .arg("GET")
            .arg("PX")
            .arg(ms(window))
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(previous.is_some_and(|p| p != env.event_id))
    }
}
