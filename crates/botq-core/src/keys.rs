//! Every Redis key botq uses, built in one place.
//!
//! Layout (prefix `botq`, shard 0):
//!
//! | key | type | what |
//! |---|---|---|
//! | `botq:{q0}:stream` | stream | normalised events waiting for or in handling |
//! | `botq:{q0}:dd:<bot>:<kind>:<id>` | string, TTL = dedupe TTL | a platform event id seen at ingest |
//! | `botq:{q0}:rl:g:<bot>:<chat>` | string (GCRA TAT µs), TTL | ingest per-group limit |
//! | `botq:{q0}:rl:s:<bot>:<sender>` | string (GCRA TAT µs), TTL | ingest per-sender limit |
//! | `botq:{q0}:claim:<bot>:<event id>` | string, TTL | worker claim: a consumer's lease while handling, `done` after |
//! | `botq:{q0}:chat:<bot>:<chat>` | string, TTL = lease | per-chat ordering lock across worker replicas |
//! | `botq:{q0}:delayed` | sorted set (score = due ms) | events waiting for a retry |
//! | `botq:{q0}:dlq` | stream | dead letters: events that failed for good, with the reason |
//! | `botq:{q0}:rt:<bot>:<chat>` | string (GCRA TAT µs), TTL | reply rate of one chat |
//! | `botq:{q0}:sent:<bot>:<event>` | set, TTL | OneBot: reply indexes already sent |
//! | `botq:{b:<bot>}:rt` | string (GCRA TAT µs), TTL | reply rate of a whole bot |
//! | `botq:{b:<bot>}:token`, `…:token-lock` | string, TTL | the bot's platform access token, shared |
//! | `botq:{q0}:cd:<bot>:<skill>:<chat>` | string, TTL = cooldown | a skill failed in this chat: answer degraded until it expires |
//! | `botq:{q0}:storm:<bot>:<chat>:<minute>` | counter, TTL 120 s | replies sent to one chat in one minute (runaway-conversation cap) |
//! | `botq:{q0}:same:<bot>:<chat>:<sender>:<hash>` | string, TTL | the same text from the same sender was just handled |
//! | `botq:audit` | stream, capped | tool-call audit log (`botq_core::audit`) |
//!
//! The stream's consumer group is [`GROUP`].
//! Every key of one shard carries the same `{q<n>}` hash tag, so a shard's
//! keys live in one Redis Cluster slot and one Lua script may touch them all.
//! Events of one chat always map to the same shard (a stable FNV-1a hash of
//! bot and chat), which keeps per-chat order and per-group limits in one place.
//! Per-sender limits are therefore per shard when `shards > 1`.

use crate::ids::BotId;

/// The consumer group every worker replica joins on every shard stream.
pub const GROUP: &str = "botq-workers";

/// Key builder for a deployment: the configured prefix and shard count.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    shards: u16,
}

/// The keys of one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardKeys {
    base: String,
}

impl Keys {
    #[must_use]
    pub fn new(prefix: &str, shards: u16) -> Self {
        Self { prefix: prefix.to_owned(), shards: shards.max(1) }
    }

    #[must_use]
    pub fn shards(&self) -> u16 {
        self.shards
    }

    /// The shard that holds the events of `chat_id` on `bot`.
    #[must_use]
    pub fn shard_of(&self, bot: &BotId, chat_id: &str) -> u16 {
        let h = fnv1a(&[bot.as_str().as_bytes(), b"\0", chat_id.as_bytes()]);
        // The modulo is < shards ≤ u16::MAX, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let s = (h % u64::from(self.shards)) as u16;
        s
    }

    #[must_use]
    pub fn shard(&self, shard: u16) -> ShardKeys {
        ShardKeys { base: format!("{}:{{q{shard}}}", self.prefix) }
    }

    /// The reply-rate key of a whole bot. Its own hash tag: a bot's replies
    /// span every shard, and the limit must hold across all of them.
    #[must_use]
    pub fn bot_reply_limit(&self, bot: &BotId) -> String {
        format!("{}:{{b:{bot}}}:rt", self.prefix)
    }

    /// A bot's cached platform access token (shared by every replica), and
    /// the lock that lets one replica fetch it.
    #[must_use]
    pub fn token(&self, bot: &BotId) -> (String, String) {
        (format!("{}:{{b:{bot}}}:token", self.prefix), format!("{}:{{b:{bot}}}:token-lock", self.prefix))
    }

    /// The tool-call audit stream (one key: entries come from every shard).
    #[must_use]
    pub fn audit(&self) -> String {
        format!("{}:audit", self.prefix)
    }

    /// All shards, for samplers and tools that look at every stream.
    pub fn all_shards(&self) -> impl Iterator<Item = ShardKeys> + '_ {
        (0..self.shards).map(|s| self.shard(s))
    }
}

impl ShardKeys {
    #[must_use]
    pub fn stream(&self) -> String {
        format!("{}:stream", self.base)
    }

    /// `kind_and_id` is one of an event's dedupe keys, e.g. `id:<event id>`.
    #[must_use]
    pub fn dedupe(&self, bot: &BotId, kind_and_id: &str) -> String {
        format!("{}:dd:{bot}:{kind_and_id}", self.base)
    }

    #[must_use]
    pub fn claim(&self, bot: &BotId, event_id: &str) -> String {
        format!("{}:claim:{bot}:{event_id}", self.base)
    }

    #[must_use]
    pub fn chat_lock(&self, bot: &BotId, chat_id: &str) -> String {
        format!("{}:chat:{bot}:{chat_id}", self.base)
    }

    /// A key of this shard that botq never writes: stands in for a claim or
    /// chat key in scripts when an entry has no readable envelope.
    #[must_use]
    pub fn placeholder(&self) -> String {
        format!("{}:none", self.base)
    }

    #[must_use]
    pub fn delayed(&self) -> String {
        format!("{}:delayed", self.base)
    }

    #[must_use]
    pub fn dlq(&self) -> String {
        format!("{}:dlq", self.base)
    }

    /// The reply-rate key of one chat.
    #[must_use]
    pub fn chat_reply_limit(&self, bot: &BotId, chat_id: &str) -> String {
        format!("{}:rt:{bot}:{chat_id}", self.base)
    }

    /// OneBot has no idempotency handle: the reply indexes already sent for an event.
    #[must_use]
    pub fn sent_replies(&self, bot: &BotId, event_id: &str) -> String {
        format!("{}:sent:{bot}:{event_id}", self.base)
    }

    /// Present while `skill` is cooling down in `chat_id` after a failure.
    #[must_use]
    pub fn cooldown(&self, bot: &BotId, skill: &str, chat_id: &str) -> String {
        format!("{}:cd:{bot}:{skill}:{chat_id}", self.base)
    }

    /// Replies sent to `chat_id` in the minute `minute` (Unix ms / 60 000).
    #[must_use]
    pub fn storm(&self, bot: &BotId, chat_id: &str, minute: i64) -> String {
        format!("{}:storm:{bot}:{chat_id}:{minute}", self.base)
    }

    /// Marks that `sender_id` just sent text hashing to `text_hash` in `chat_id`.
    #[must_use]
    pub fn same_text(&self, bot: &BotId, chat_id: &str, sender_id: &str, text_hash: u64) -> String {
        format!("{}:same:{bot}:{chat_id}:{sender_id}:{text_hash:016x}", self.base)
    }

    #[must_use]
    pub fn group_limit(&self, bot: &BotId, chat_id: &str) -> String {
        format!("{}:rl:g:{bot}:{chat_id}", self.base)
    }

    #[must_use]
    pub fn sender_limit(&self, bot: &BotId, sender_id: &str) -> String {
        format!("{}:rl:s:{bot}:{sender_id}", self.base)
    }
}

/// FNV-1a, 64 bit: stable across builds and Rust versions, unlike `DefaultHasher`,
/// so every replica and every release maps a chat to the same shard.
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_a_shard_share_its_hash_tag() {
        let keys = Keys::new("botq", 4);
        let bot = BotId::parse("qq-main").unwrap();
        let s = keys.shard(keys.shard_of(&bot, "group-1"));
        for k in [
            s.stream(),
            s.dedupe(&bot, "id:x"),
            s.group_limit(&bot, "g"),
            s.sender_limit(&bot, "u"),
            s.claim(&bot, "e"),
            s.chat_lock(&bot, "c"),
            s.delayed(),
            s.dlq(),
        ] {
            let tag = &k[k.find('{').unwrap()..=k.find('}').unwrap()];
            assert_eq!(tag, &s.stream()[5..9], "{k}");
        }
    }

    #[test]
    fn shard_choice_is_stable_and_spread() {
        let keys = Keys::new("botq", 8);
        let bot = BotId::parse("b").unwrap();
        assert_eq!(keys.shard_of(&bot, "chat-42"), keys.shard_of(&bot, "chat-42"));
        let used: std::collections::HashSet<u16> = (0..200).map(|i| keys.shard_of(&bot, &format!("c{i}"))).collect();
        assert_eq!(used.len(), 8);
        assert_eq!(fnv1a(&[b"a"]), 0xaf63_dc4c_8601_ec8c, "published FNV-1a 64 vector");
    }

    #[test]
    fn stream_key_is_documented_layout() {
        assert_eq!(Keys::new("botq", 1).shard(0).stream(), "botq:{q0}:stream");
    }
}
