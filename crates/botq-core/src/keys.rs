//! Every Redis key botq uses, built in one place.
//!
//! Layout (prefix `botq`, queue 0):
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
//! | `botq:{q0}:botmsg:<bot>:<chat>` | list, TTL | ids of the bot's latest replies in a group (quotes address the bot) |
//! | `botq:{b:<bot>}:rt` | string (GCRA TAT µs), TTL | reply rate of a whole bot |
//! | `botq:{b:<bot>}:token`, `…:token-lock` | string, TTL | the bot's platform access token, shared |
//! | `botq:{q0}:inq:<bot>:<chat>` | counter, TTL | fair share: the chat's events in the stream or delayed set |
//! | `botq:{q0}:backlog:<bot>:<chat>` | list | fair share: the chat's events waiting for room in the stream |
//! | `botq:{q0}:backlog-total` | counter | fair share: events in all chat backlogs of the queue |
//! | `botq:{q0}:backlogged` | sorted set | fair share: chats with a backlog (`<bot>:<chat>`, score = last pump) |
//! | `botq:{q0}:ctx:<bot>:<chat>`, `…:ctx-sum:…` | list, string; TTL | conversation window and its summary |
//! | `botq:cache:<skill>:<hash>` | string, TTL | a cached answer of a deterministic skill |
//! | `botq:{q0}:cd:<bot>:<skill>:<chat>` | string, TTL = cooldown | a skill failed in this chat: answer degraded until it expires |
//! | `botq:{q0}:storm:<bot>:<chat>:<minute>` | counter, TTL 120 s | replies sent to one chat in one minute (runaway-conversation cap) |
//! | `botq:{q0}:same:<bot>:<chat>:<sender>:<hash>` | string, TTL | the same text from the same sender was just handled |
//! | `botq:audit` | stream, capped | tool-call audit log (`botq_core::audit`) |
//! | `botq:{fleet}:replicas` | hash: replica name → JSON record | every ingest and worker process, its last heartbeat (`botq_core::fleet`) |
//! | `botq:{fleet}:hb:<replica>` | string, TTL = heartbeat TTL | present while the replica is alive |
//! | `botq:{hist}:<step start, Unix s>` | hash, TTL = history retention + one step | counts and gauges of one 10-second step (`botq_core::history`) |
//!
//! The stream's consumer group is [`GROUP`].
//! Every key of one queue carries the same `{q<n>}` hash tag, so a queue's
//! keys live in one Redis Cluster slot and one Lua script may touch them all.
//! Events of one chat always map to the same queue (a stable FNV-1a hash of
//! bot and chat), which keeps per-chat order and per-group limits in one place.
//! Per-sender limits are therefore per queue when `queues > 1`.
//!
//! **Lanes.** Queues are grouped in lanes: the default lane has `queues`
//! queues tagged `{q0}`, `{q1}`, …; a lane configured as `[[lane]] name =
//! "noisy"` has its own queues tagged `{q:noisy:0}`, … Each queue has its
//! own stream and consumer group, and a worker serves the lanes it is given,
//! so a noisy group can run on its own replicas. Queues are numbered
//! globally (default lane first, then each lane in config order): a queue
//! number is what a delivery carries through the worker.
//!
//! **Fair share.** Per chat, at most `max_queued_per_chat` events sit in the
//! shared stream (`inq` counts them); later ones wait in the chat's own list
//! (`backlog`) and move into the stream one by one as the chat's events
//! finish, so a chat's burst cannot fill the stream ahead of everyone else.
//! `backlogged` (a sorted set, score = last pump) lists the chats with a
//! backlog, for the promoter's self-healing pump and the gauges.
//!
//! The worker's per-chat side keys (reply rate, OneBot sent set, storm
//! counter, cooldown, same-text marker) live in the chat's default-lane
//! queue whatever its lane: each is used on its own, and moving a group to
//! another lane keeps them.
//!
//! **Fleet and history.** The replicas' records and heartbeats share the
//! `{fleet}` tag, so a heartbeat (record and liveness key) is one `MULTI`
//! on Redis Cluster too. The history's step hashes share `{hist}`: a read
//! of the last hour is one pipeline to one node.

use crate::ids::BotId;

/// The consumer group every worker replica joins on every queue stream.
pub const GROUP: &str = "botq-workers";

/// Key builder for a deployment: the configured prefix, the default lane's
/// queue count, and the other lanes.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    /// `lanes[0]` is the default lane.
    lanes: Vec<Lane>,
}

#[derive(Debug, Clone)]
struct Lane {
    name: String,
    queues: u16,
    /// Global number of the lane's first queue.
    first: u16,
}

/// The name of the default lane.
pub const DEFAULT_LANE: &str = "default";

/// The keys of one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueKeys {
    base: String,
}

impl Keys {
    /// Keys with the default lane only.
    #[must_use]
    pub fn new(prefix: &str, queues: u16) -> Self {
        Self::with_lanes(prefix, queues, &[])
    }

    /// Keys with the default lane of `queues` queues and `lanes` (name,
    /// queues) after it. The total is capped at `u16::MAX` queues.
    #[must_use]
    pub fn with_lanes(prefix: &str, queues: u16, lanes: &[(String, u16)]) -> Self {
        let mut all = vec![Lane { name: DEFAULT_LANE.to_owned(), queues: queues.max(1), first: 0 }];
        let mut next = queues.max(1);
        for (name, n) in lanes {
            let n = (*n).max(1).min(u16::MAX - next);
            all.push(Lane { name: name.clone(), queues: n, first: next });
            next += n;
        }
        Self { prefix: prefix.to_owned(), lanes: all }
    }

    /// The number of queues in all lanes.
    #[must_use]
    pub fn queue_count(&self) -> u16 {
        self.lanes.last().map_or(1, |l| l.first + l.queues)
    }

    /// The index of lane `name` (0 = default), if configured.
    #[must_use]
    pub fn lane_index(&self, name: &str) -> Option<usize> {
        self.lanes.iter().position(|l| l.name == name)
    }

    /// The global numbers of the queues of lane `index`.
    #[must_use]
    pub fn lane_queues(&self, index: usize) -> std::ops::Range<u16> {
        self.lanes.get(index).map_or(0..0, |l| l.first..l.first + l.queues)
    }

    /// The lane a queue belongs to (for metric labels).
    #[must_use]
    pub fn lane_of_queue(&self, queue: u16) -> &str {
        self.lanes.iter().rev().find(|l| queue >= l.first).map_or(DEFAULT_LANE, |l| l.name.as_str())
    }

    /// The queue of the default lane that holds the events of `chat_id` on `bot`.
    #[must_use]
    pub fn home_queue(&self, bot: &BotId, chat_id: &str) -> u16 {
        self.queue_of(0, bot, chat_id)
    }

    /// The keys of the chat's default-lane queue: where the chat's events
    /// live without lanes, and where the worker's per-chat side keys live
    /// whatever the lane (see the module doc).
    #[must_use]
    pub fn chat_home(&self, bot: &BotId, chat_id: &str) -> QueueKeys {
        self.queue(self.home_queue(bot, chat_id))
    }

    /// The queue of lane `lane` that holds the events of `chat_id` on `bot`.
    #[must_use]
    pub fn queue_of(&self, lane: usize, bot: &BotId, chat_id: &str) -> u16 {
        let l = self.lanes.get(lane).unwrap_or(&self.lanes[0]);
        let h = fnv1a(&[bot.as_str().as_bytes(), b"\0", chat_id.as_bytes()]);
        // The modulo is < queues ≤ u16::MAX, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let s = (h % u64::from(l.queues)) as u16;
        l.first + s
    }

    /// The keys of queue `queue` (a global number).
    #[must_use]
    pub fn queue(&self, queue: u16) -> QueueKeys {
        let lane = self.lanes.iter().rev().find(|l| queue >= l.first).unwrap_or(&self.lanes[0]);
        if lane.first == 0 {
            QueueKeys { base: format!("{}:{{q{queue}}}", self.prefix) }
        } else {
            QueueKeys { base: format!("{}:{{q:{}:{}}}", self.prefix, lane.name, queue - lane.first) }
        }
    }

    /// The reply-rate key of a whole bot. Its own hash tag: a bot's replies
    /// span every queue, and the limit must hold across all of them.
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

    /// A cached answer of `skill` for the input hashing to `input_hash`.
    #[must_use]
    pub fn cache(&self, skill: &str, input_hash: u64) -> String {
        format!("{}:cache:{skill}:{input_hash:016x}", self.prefix)
    }

    /// The tool-call audit stream (one key: entries come from every queue).
    #[must_use]
    pub fn audit(&self) -> String {
        format!("{}:audit", self.prefix)
    }

    /// A signed-in console session, by a digest of its id (the console's
    /// HMAC, keyed by its token): every console replica sees the same
    /// sessions, and Redis never holds an id a browser could present.
    #[must_use]
    pub fn console_session(&self, sid_digest: &str) -> String {
        format!("{}:console:session:{sid_digest}", self.prefix)
    }

    /// Console sign-in tries of the current minute (a success gives its
    /// try back), counted by every console replica together.
    #[must_use]
    pub fn console_login_failures(&self) -> String {
        format!("{}:console:login-failures", self.prefix)
    }

    /// The fleet's records: a hash of replica name → JSON record.
    #[must_use]
    pub fn fleet_replicas(&self) -> String {
        format!("{}:{{fleet}}:replicas", self.prefix)
    }

    /// Present (with a TTL) while replica `name` is alive.
    #[must_use]
    pub fn fleet_heartbeat(&self, name: &str) -> String {
        format!("{}:{{fleet}}:hb:{name}", self.prefix)
    }

    /// The history hash of the step starting at `step_start_secs` (Unix seconds).
    #[must_use]
    pub fn history_step(&self, step_start_secs: i64) -> String {
        format!("{}:{{hist}}:{step_start_secs}", self.prefix)
    }

    /// All queues of all lanes, for tools that look at every stream.
    pub fn all_queues(&self) -> impl Iterator<Item = QueueKeys> + '_ {
        (0..self.queue_count()).map(|s| self.queue(s))
    }
}

impl QueueKeys {
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

    /// A key of this queue that botq never writes: stands in for a claim or
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

    /// The ids of the bot's latest replies in `chat_id`, newest first, so a
    /// message quoting one of them counts as addressed to the bot.
    #[must_use]
    pub fn bot_messages(&self, bot: &BotId, chat_id: &str) -> String {
        format!("{}:botmsg:{bot}:{chat_id}", self.base)
    }

    /// How many events of `chat_id` are in this queue's stream or delayed set (fair share).
    #[must_use]
    pub fn queued(&self, bot: &BotId, chat_id: &str) -> String {
        format!("{}:inq:{bot}:{chat_id}", self.base)
    }

    /// The events of `chat_id` waiting for room in the stream (fair share).
    #[must_use]
    pub fn backlog(&self, bot: &BotId, chat_id: &str) -> String {
        format!("{}:backlog:{bot}:{chat_id}", self.base)
    }

    /// How many events wait in all chat backlogs of this queue (with the
    /// stream length, what `ingest.max_backlog` bounds).
    #[must_use]
    pub fn backlog_total(&self) -> String {
        format!("{}:backlog-total", self.base)
    }

    /// The chats of this queue with a backlog: members `<bot>:<chat>`, score = when it was last pumped (ms).
    #[must_use]
    pub fn backlogged(&self) -> String {
        format!("{}:backlogged", self.base)
    }

    /// The chat's conversation window (newest last) and its summary.
    #[must_use]
    pub fn context(&self, bot: &BotId, chat_id: &str) -> (String, String) {
        (format!("{}:ctx:{bot}:{chat_id}", self.base), format!("{}:ctx-sum:{bot}:{chat_id}", self.base))
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

/// The member of a queue's `backlogged` set for a chat: `<bot>:<chat>` (bot
/// ids have no `:`, so the first one splits it).
#[must_use]
pub fn backlog_member(bot: &BotId, chat_id: &str) -> String {
    format!("{bot}:{chat_id}")
}

/// FNV-1a, 64 bit: stable across builds and Rust versions, unlike `DefaultHasher`,
/// so every replica and every release maps a chat to the same queue.
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
    fn keys_of_a_queue_share_its_hash_tag() {
        let keys = Keys::new("botq", 4);
        let bot = BotId::parse("qq-main").unwrap();
        let s = keys.chat_home(&bot, "group-1");
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
    fn queue_choice_is_stable_and_spread() {
        let keys = Keys::new("botq", 8);
        let bot = BotId::parse("b").unwrap();
        assert_eq!(keys.home_queue(&bot, "chat-42"), keys.home_queue(&bot, "chat-42"));
        let used: std::collections::HashSet<u16> = (0..200).map(|i| keys.home_queue(&bot, &format!("c{i}"))).collect();
        assert_eq!(used.len(), 8);
        assert_eq!(fnv1a(&[b"a"]), 0xaf63_dc4c_8601_ec8c, "published FNV-1a 64 vector");
    }

    #[test]
    fn stream_key_is_documented_layout() {
        assert_eq!(Keys::new("botq", 1).queue(0).stream(), "botq:{q0}:stream");
    }

    #[test]
    fn fleet_and_history_keys_are_documented_layout() {
        let keys = Keys::new("botq", 1);
        assert_eq!(keys.fleet_replicas(), "botq:{fleet}:replicas");
        assert_eq!(keys.fleet_heartbeat("w-1"), "botq:{fleet}:hb:w-1");
        assert_eq!(keys.history_step(1_700_000_000), "botq:{hist}:1700000000");
    }

    #[test]
    fn lanes_number_their_queues_after_the_default_lane_and_tag_them_by_name() {
        let keys = Keys::with_lanes("botq", 2, &[("noisy".into(), 1), ("vip".into(), 2)]);
        assert_eq!(keys.queue_count(), 5);
        assert_eq!(keys.lane_queues(0), 0..2);
        assert_eq!(keys.lane_queues(keys.lane_index("noisy").unwrap()), 2..3);
        assert_eq!(keys.lane_queues(keys.lane_index("vip").unwrap()), 3..5);
        assert_eq!(keys.queue(1).stream(), "botq:{q1}:stream");
        assert_eq!(keys.queue(2).stream(), "botq:{q:noisy:0}:stream");
        assert_eq!(keys.queue(4).stream(), "botq:{q:vip:1}:stream");
        assert_eq!(keys.lane_of_queue(3), "vip");
        assert_eq!(keys.lane_of_queue(1), "default");
        let bot = BotId::parse("b").unwrap();
        assert_eq!(keys.queue_of(1, &bot, "g"), 2);
        assert!((3..5).contains(&keys.queue_of(2, &bot, "g")));
        assert_eq!(keys.home_queue(&bot, "g"), keys.queue_of(0, &bot, "g"));
    }
}
