//! Per-chat conversation windows for upstream skills, and the skill cache.
//!
//! **Window.** With `[bot.context]`, each chat keeps its recent messages —
//! the users' and botq's replies — in a Redis list under the bot's budget
//! (count and bytes, oldest out first) with a TTL, so nothing is kept longer
//! than configured. An `http` skill with a `context` budget receives the
//! newest part of it (and the summary) in its request. Appending is one
//! script (`context.lua`) that returns what fell out; with `summarize_with`,
//! that skill condenses the fallen-out messages and the old summary into the
//! new summary, so long conversations keep their gist in bounded space.
//!
//! **Cache.** A deterministic read skill with `cache_ttl_secs` has its
//! answers stored under a hash of skill, command and whitespace-normalised
//! arguments; a hit answers without calling the upstream.

use botq_core::envelope::Envelope;
use botq_core::keys::{Keys, fnv1a};
use botq_core::redis_conn::Redis;
use botq_core::routing::ContextWindow;
use botq_core::skill::ContextBudget;
use serde::{Deserialize, Serialize};

/// Appends to a conversation window within its budget, atomically. See `conversation.lua`.
static CONTEXT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("conversation.lua")));

/// One message of a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `user` or `bot`.
    pub role: String,
    pub sender: String,
    pub text: String,
    pub ts_ms: i64,
}

/// What a skill receives of the window (the `context` field of the request).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContextView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub messages: Vec<Message>,
}

#[derive(Clone)]
pub struct Conversations {
    redis: Redis,
    keys: Keys,
}

impl std::fmt::Debug for Conversations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversations").finish_non_exhaustive()
    }
}

impl Message {
    #[must_use]
    pub fn from_user(env: &Envelope) -> Self {
        Self { role: "user".into(), sender: env.sender_id.clone(), text: env.text.clone(), ts_ms: env.received_at_ms }
    }

    #[must_use]
    pub fn from_bot(env: &Envelope, text: &str) -> Self {
        Self {
            role: "bot".into(),
            sender: env.bot.as_str().to_owned(),
            text: text.to_owned(),
            ts_ms: botq_core::now_ms(),
        }
    }
}

impl Conversations {
    #[must_use]
    pub fn new(redis: Redis, keys: Keys) -> Self {
        Self { redis, keys }
    }

    fn window_keys(&self, env: &Envelope) -> (String, String) {
        self.keys.chat_home(&env.bot, &env.chat_id).context(&env.bot, &env.chat_id)
    }

    /// The newest messages within `budget`, oldest first, and the summary.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn read(&self, env: &Envelope, budget: ContextBudget) -> redis::RedisResult<ContextView> {
        let (window, summary_key) = self.window_keys(env);
        let count = i64::from(budget.messages);
        let (raw, summary): (Vec<String>, Option<String>) = redis::pipe()
            .cmd("LRANGE")
            .arg(&window)
            .arg(-count)
            .arg(-1)
            .cmd("GET")
            .arg(&summary_key)
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(ContextView { summary, messages: within_bytes(&raw, budget.bytes) })
    }

    /// Appends `messages` to the chat's window; returns what fell out.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn append(
        &self,
        env: &Envelope,
        window: &ContextWindow,
        messages: &[Message],
    ) -> redis::RedisResult<Vec<Message>> {
        let (key, _) = self.window_keys(env);
        let mut inv = CONTEXT.prepare_invoke();
        inv.key(&key).arg(window.messages).arg(window.bytes).arg(ttl_ms(window));
        for m in messages {
            inv.arg(serde_json::to_string(m).unwrap_or_default());
        }
        let dropped: Vec<String> = inv.invoke_async(&mut self.redis.clone()).await?;
        Ok(dropped.iter().filter_map(|e| serde_json::from_str(e).ok()).collect())
    }

    /// The chat's summary, if one was made.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn summary(&self, env: &Envelope) -> redis::RedisResult<Option<String>> {
        let (_, key) = self.window_keys(env);
        redis::cmd("GET").arg(key).query_async(&mut self.redis.clone()).await
    }

    /// Stores the chat's new summary for as long as the window lives.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn set_summary(&self, env: &Envelope, window: &ContextWindow, summary: &str) -> redis::RedisResult<()> {
        let (_, key) = self.window_keys(env);
        redis::cmd("SET").arg(key).arg(summary).arg("PX").arg(ttl_ms(window)).query_async(&mut self.redis.clone()).await
    }

    /// A cached answer of `skill` for this input, if any.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn cached(
        &self,
        skill: &str,
        command: Option<&str>,
        args: &str,
    ) -> redis::RedisResult<Option<Vec<String>>> {
        let key = self.keys.cache(skill, input_hash(command, args));
        let hit: Option<String> = redis::cmd("GET").arg(key).query_async(&mut self.redis.clone()).await?;
        Ok(hit.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Caches `replies` of `skill` for this input for `ttl`.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn cache(
        &self,
        skill: &str,
        command: Option<&str>,
        args: &str,
        replies: &[String],
        ttl: std::time::Duration,
    ) -> redis::RedisResult<()> {
        let key = self.keys.cache(skill, input_hash(command, args));
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let json = serde_json::to_string(replies).unwrap_or_default();
        redis::cmd("SET").arg(key).arg(json).arg("PX").arg(ms).query_async(&mut self.redis.clone()).await
    }
}

fn ttl_ms(window: &ContextWindow) -> u64 {
    u64::try_from(window.ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// The newest entries whose text fits in `bytes` (the newest always, even
/// alone over it), oldest first.
fn within_bytes(raw: &[String], bytes: u32) -> Vec<Message> {
    let mut out = Vec::new();
    let mut used = 0usize;
    for m in raw.iter().rev().filter_map(|e| serde_json::from_str::<Message>(e).ok()) {
        used += m.text.len();
        if used > bytes as usize && !out.is_empty() {
            break;
        }
        out.push(m);
    }
    out.reverse();
    out
}

/// Skill input as the cache sees it: the command and the arguments with
/// runs of whitespace collapsed and the ends trimmed.
fn input_hash(command: Option<&str>, args: &str) -> u64 {
    let normal = args.split_whitespace().collect::<Vec<_>>().join(" ");
    fnv1a(&[command.unwrap_or("").as_bytes(), b"\0", normal.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> String {
        serde_json::to_string(&Message { role: "user".into(), sender: "u".into(), text: text.into(), ts_ms: 0 })
            .unwrap()
    }

    #[test]
    fn the_byte_budget_keeps_the_newest_messages_and_always_the_last() {
        let raw = [msg("aaaa"), msg("bbbb"), msg("cccc")];
        let texts = |v: Vec<Message>| v.into_iter().map(|m| m.text).collect::<Vec<_>>();
        assert_eq!(texts(within_bytes(&raw, 8)), ["bbbb", "cccc"]);
        assert_eq!(texts(within_bytes(&raw, 100)), ["aaaa", "bbbb", "cccc"]);
        assert_eq!(texts(within_bytes(&raw, 1)), ["cccc"], "the newest even when alone over budget");
    }

    #[test]
    fn cache_input_ignores_whitespace_runs_but_not_case_or_command() {
        assert_eq!(input_hash(Some("w"), "  rain  in  Paris "), input_hash(Some("w"), "rain in Paris"));
        assert_ne!(input_hash(Some("w"), "Paris"), input_hash(Some("w"), "paris"));
        assert_ne!(input_hash(Some("w"), "x"), input_hash(Some("v"), "x"));
        assert_ne!(input_hash(None, "x"), input_hash(Some("x"), ""));
    }
}
