//! The config file as serde reads it: every key, its default, nothing checked yet.
//!
//! `deny_unknown_fields` everywhere, so a typo is an error with its key path
//! instead of a silently ignored setting. `validate` turns these into the
//! checked types in `config.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::secret::SecretSource;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default = "default_redis_url")]
    pub redis_url: String,
    /// `redis_url` is a seed node of a Redis Cluster.
    #[serde(default)]
    pub redis_cluster: bool,
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// Queues of the default lane (or of this lane); `shards` is its
    /// former name, still read so older files load.
    #[serde(default = "default_queues", alias = "shards")]
    pub queues: u16,
    #[serde(default)]
    pub ingest: RawIngest,
    #[serde(default)]
    pub worker: RawWorker,
    #[serde(default)]
    pub dedupe: RawDedupe,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub audit: RawAudit,
    #[serde(default)]
    pub history: RawHistory,
    #[serde(default, rename = "bot")]
    pub bots: Vec<RawBot>,
    #[serde(default, rename = "skill")]
    pub skills: Vec<RawSkill>,
    #[serde(default, rename = "lane")]
    pub lanes: Vec<RawLane>,
    #[serde(default)]
    pub fair_share: RawFairShare,
}

/// One `[[lane]]`: its own streams and consumer groups.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLane {
    pub name: String,
    /// Queues of the default lane (or of this lane); `shards` is its
    /// former name, still read so older files load.
    #[serde(default = "default_queues", alias = "shards")]
    pub queues: u16,
}

/// The `[fair_share]` table.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawFairShare {
    pub max_queued_per_chat: u32,
    pub counter_ttl_secs: u64,
}

impl Default for RawFairShare {
    fn default() -> Self {
        Self { max_queued_per_chat: 1, counter_ttl_secs: 600 }
    }
}

fn default_redis_url() -> String {
    "redis://127.0.0.1:6379".into()
}
fn default_key_prefix() -> String {
    "botq".into()
}
const fn default_queues() -> u16 {
    1
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIngest {
    pub listen: String,
    pub admin_listen: String,
    pub body_limit_bytes: usize,
    pub max_backlog: u64,
    pub retry_after_secs: u32,
    pub redis_timeout_ms: u64,
    pub shutdown_grace_secs: u64,
    pub rate_limit: RawRateLimit,
    pub listener: super::listener::RawListener,
}

impl Default for RawIngest {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8080".into(),
            admin_listen: "127.0.0.1:9090".into(),
            body_limit_bytes: 64 * 1024,
            max_backlog: 100_000,
            retry_after_secs: 5,
            redis_timeout_ms: 1_000,
            shutdown_grace_secs: 10,
            rate_limit: RawRateLimit::default(),
            listener: super::listener::RawListener::default(),
        }
    }
}

/// Ingest abuse limits (GCRA, shared by every ingest replica through Redis).
/// A rate of 0 turns that limit off.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRateLimit {
    pub group_per_sec: f64,
    pub group_burst: u32,
    pub sender_per_sec: f64,
    pub sender_burst: u32,
}

impl Default for RawRateLimit {
    fn default() -> Self {
        Self { group_per_sec: 20.0, group_burst: 60, sender_per_sec: 3.0, sender_burst: 15 }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawWorker {
    pub admin_listen: String,
    pub concurrency: u32,
    pub per_chat_ordering: bool,
    pub handler_timeout_secs: u64,
    pub lease_secs: u64,
    pub max_attempts: u32,
    pub max_deliveries: u32,
    pub shutdown_grace_secs: u64,
    pub read_block_ms: u64,
    pub promote_interval_ms: u64,
    pub reclaim_interval_ms: u64,
    pub sample_interval_ms: u64,
    pub dlq_max_len: u64,
    pub dlq_max_age_secs: u64,
    pub max_event_age_secs: u64,
    pub reply_timeout_secs: u64,
    pub handler: String,
    pub backoff: RawBackoff,
    pub skill_concurrency: std::collections::BTreeMap<String, u32>,
    /// Lanes this worker serves; empty = all.
    pub lanes: Vec<String>,
}

impl Default for RawWorker {
    fn default() -> Self {
        Self {
            admin_listen: "127.0.0.1:9091".into(),
            concurrency: 64,
            per_chat_ordering: true,
            handler_timeout_secs: 30,
            lease_secs: 60,
            max_attempts: 5,
            max_deliveries: 5,
            shutdown_grace_secs: 20,
            read_block_ms: 1_000,
            promote_interval_ms: 100,
            reclaim_interval_ms: 1_000,
            sample_interval_ms: 5_000,
            dlq_max_len: 100_000,
            dlq_max_age_secs: 14 * 86_400,
            max_event_age_secs: 86_400,
            reply_timeout_secs: 10,
            handler: "bots".into(),
            backoff: RawBackoff::default(),
            skill_concurrency: std::collections::BTreeMap::new(),
            lanes: Vec::new(),
        }
    }
}

/// Retry delays: exponential from `initial_ms` by `multiplier`, capped at
/// `max_ms`, each randomised by ± `jitter` (a fraction).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawBackoff {
    pub initial_ms: u64,
    pub max_ms: u64,
    pub multiplier: f64,
    pub jitter: f64,
}

impl Default for RawBackoff {
    fn default() -> Self {
        Self { initial_ms: 1_000, max_ms: 300_000, multiplier: 2.0, jitter: 0.2 }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDedupe {
    pub ttl_secs: u64,
}

impl Default for RawDedupe {
    fn default() -> Self {
        Self { ttl_secs: 24 * 3600 }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub format: String,
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self { format: "auto".into(), level: "info".into() }
    }
}

/// One `[[bot]]` table. Platform-specific keys are optional here and checked
/// per platform in `config/bot.rs`, so a Lark key on a QQ bot is an error.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawBot {
    pub id: String,
    pub platform: String,
    pub app_id: Option<String>,
    pub secret: Option<SecretSource>,
    pub api_base: Option<String>,
    pub token_url: Option<String>,
    pub app_secret: Option<SecretSource>,
    pub verification_token: Option<SecretSource>,
    pub encrypt_key: Option<SecretSource>,
    pub access_token: Option<SecretSource>,
    pub bot_open_id: Option<String>,
    /// Credentials being rotated out, accepted until `until` (`config/rotation.rs`).
    pub previous: Option<RawPrevious>,
    pub command_prefix: Option<String>,
    pub respond_to_bots: Option<bool>,
    pub mention_everyone: Option<bool>,
    pub reply_addresses_bot: Option<bool>,
    pub group_mode: Option<String>,
    pub reply_limit: Option<RawReplyLimit>,
    pub timestamp_window_secs: Option<u64>,
    pub clock_skew_secs: Option<u64>,
    pub rate_limit: Option<RawRateLimit>,
    /// Command → skill name, on top of the built-in `ping`, `echo`, `help`.
    #[serde(default)]
    pub commands: BTreeMap<String, String>,
    /// Answerable event type → skill name (QQ `GROUP_ADD_ROBOT`, …).
    #[serde(default)]
    pub events: BTreeMap<String, String>,
    /// The skill for messages addressed to the bot that are not commands.
    pub default_skill: Option<String>,
    #[serde(default)]
    pub disabled_skills: Vec<String>,
    #[serde(default)]
    pub access: RawAccess,
    #[serde(default)]
    pub guard: RawGuard,
    #[serde(default, rename = "group")]
    pub groups: Vec<RawGroup>,
    /// The lane of this bot's events (default: the default lane).
    pub lane: Option<String>,
    #[serde(default)]
    pub context: RawContext,
}

/// Who may talk to a bot, and who may use its write skills.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAccess {
    pub allow_users: Vec<String>,
    pub deny_users: Vec<String>,
    pub allow_groups: Vec<String>,
    pub deny_groups: Vec<String>,
    pub write_users: Vec<String>,
    pub write_groups: Vec<String>,
    pub write_refusal: Option<String>,
}

/// Loop and storm guards of one bot.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGuard {
    pub chat_replies_per_min: Option<u32>,
    pub same_text_window_secs: Option<u64>,
}

/// Per-group overrides of one bot (`[[bot.group]]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub id: String,
    pub enabled_skills: Option<Vec<String>>,
    #[serde(default)]
    pub disabled_skills: Vec<String>,
    pub default_skill: Option<String>,
    pub group_mode: Option<String>,
    pub lane: Option<String>,
}

/// The `[audit]` table.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudit {
    pub max_len: u64,
    pub max_age_secs: u64,
}

impl Default for RawAudit {
    fn default() -> Self {
        Self { max_len: 100_000, max_age_secs: 30 * 86_400 }
    }
}

/// The `[history]` table.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHistory {
    pub retention_secs: u64,
}

impl Default for RawHistory {
    fn default() -> Self {
        Self { retention_secs: 3600 }
    }
}

/// One `[[skill]]` table; kind-specific keys are checked in `config/skill.rs`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSkill {
    pub name: String,
    #[serde(default = "default_skill_kind")]
    pub kind: String,
    pub builtin: Option<String>,
    pub url: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub writes: bool,
    pub timeout_ms: Option<u64>,
    pub concurrency: Option<u32>,
    pub max_attempts: Option<u32>,
    pub slow_ack_ms: Option<u64>,
    pub slow_ack_text: Option<String>,
    pub degraded_text: Option<String>,
    pub breaker_failures: Option<u32>,
    pub breaker_open_secs: Option<u64>,
    pub cooldown_secs: Option<u64>,
    pub max_replies: Option<u32>,
    #[serde(default)]
    pub headers: BTreeMap<String, SecretSource>,
    pub signing_secret: Option<SecretSource>,
    pub contract: Option<u8>,
    #[serde(default)]
    pub audit_content: bool,
    /// Cache the skill's answers for this long (deterministic skills only).
    pub cache_ttl_secs: Option<u64>,
    /// How much of the chat's conversation window to send: `{ messages, bytes }`.
    pub context: Option<RawContextBudget>,
}

/// What part of the conversation window a skill receives.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawContextBudget {
    pub messages: u32,
    pub bytes: u32,
}

/// A bot's conversation window (`[bot.context]`): what is kept per chat.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawContext {
    pub messages: u32,
    pub bytes: u32,
    pub ttl_secs: u64,
    /// Also keep group messages not addressed to the bot (as context only).
    pub include_unaddressed: bool,
    /// When the window overflows, this skill condenses what falls out.
    pub summarize_with: Option<String>,
}

impl Default for RawContext {
    fn default() -> Self {
        Self { messages: 0, bytes: 16 * 1024, ttl_secs: 3600, include_unaddressed: false, summarize_with: None }
    }
}

fn default_skill_kind() -> String {
    "http".into()
}

/// Reply throttle of one bot (GCRA in Redis, shared by every worker replica).
/// Omitted keys take the platform's default; a rate of 0 turns that limit off.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplyLimit {
    pub chat_per_sec: Option<f64>,
    pub chat_burst: Option<u32>,
    pub bot_per_sec: Option<f64>,
    pub bot_burst: Option<u32>,
}

/// A bot's credentials being rotated out (`previous = { … }`), accepted beside
/// the current ones until `until`. Which keys a platform takes is checked in
/// `config/rotation.rs`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrevious {
    pub secret: Option<SecretSource>,
    pub verification_token: Option<SecretSource>,
    pub encrypt_key: Option<SecretSource>,
    /// Optional here so that a missing one is reported at its own key path.
    pub until: Option<RawInstant>,
}

/// An instant as TOML allows it: a string, or a bare TOML date-time.
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawInstant {
    Text(String),
    Toml(toml::value::Datetime),
}
