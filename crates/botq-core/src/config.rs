//! botq's configuration: one TOML file plus a few environment overrides.
//!
//! Loading is all-or-nothing and happens before any port is bound: the file is
//! parsed, every key checked, every secret resolved, every bot's verifier
//! built. All problems are collected (not just the first) with the key path
//! they concern, which is what `botqctl config check` prints. Deployment-level
//! values can be overridden from the environment: `BOTQ_REDIS_URL`,
//! `BOTQ_REDIS_CLUSTER`,
//! `BOTQ_LISTEN` (ingest's webhook address), `BOTQ_ADMIN_LISTEN` (the admin
//! address of the service being started), `BOTQ_LOG_FORMAT` and `BOTQ_LOG`.

mod bot;
mod ingest;
mod listener;
mod raw;
mod rotation;
mod routing;
mod secret;
mod sections;
mod skill;
mod worker;

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;

pub use crate::platform::PlatformBot;
pub use crate::queue::{FairShare, LEASE_MARGIN, RateLimit};
use crate::skill::SkillConfig;
pub use crate::telemetry::{LogConfig, LogFormat};
pub use crate::throttle::Gcra;
pub use bot::{BotConfig, DEFAULT_TIMESTAMP_WINDOW_SECS, ReplyLimit};
pub use listener::{ClientAddress, ListenerConfig, RejectionBudget};
pub use raw::RawRateLimit;
pub use rotation::PreviousCredentials;
pub use secret::SecretSource;
pub use worker::{Backoff, HandlerKind, WorkerConfig};

/// Which service is loading the config (decides what `BOTQ_ADMIN_LISTEN` overrides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ingest,
    Worker,
    /// `botqctl` and tools: no listener overrides apply.
    Tool,
}

/// The whole checked configuration.
#[derive(Debug)]
pub struct Config {
    /// Where the queues are: Redis, key prefix, queues, lanes.
    pub queue: QueueSettings,
    pub ingest: IngestConfig,
    pub worker: WorkerConfig,
    /// How long ingest remembers a platform event id, and how long the worker's
    /// "done" marker lasts.
    pub dedupe_ttl: Duration,
    pub log: LogConfig,
    pub audit: AuditConfig,
    pub history: HistoryConfig,
    pub bots: Vec<BotConfig>,
    /// Every skill, the built-ins included, sorted by name.
    pub skills: Vec<SkillConfig>,
    pub fair_share: FairShare,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditConfig {
    /// The audit stream keeps about this many entries (`XADD MAXLEN ~`).
    pub max_len: u64,
    /// Entries older than this are trimmed (`XTRIM MINID`).
    pub max_age: Duration,
}

/// The time series the console charts (`botq_core::history`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryConfig {
    /// How long a step is kept: the longest span a chart can show.
    pub retention: Duration,
}

impl HistoryConfig {
    /// The retention bounds, seconds: ten minutes to one day.
    pub const RETENTION_SECS: std::ops::RangeInclusive<u64> = 600..=86_400;
}

#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub body_limit_bytes: usize,
    pub max_backlog: u64,
    pub retry_after_secs: u32,
    pub redis_timeout: Duration,
    pub shutdown_grace: Duration,
    /// The public listener's bounds (`[ingest.listener]`).
    pub listener: ListenerConfig,
}

/// One thing wrong with a config file, at a key path like `bot[1].secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

/// Everything wrong with a config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    fn push(&mut self, path: String, message: String) {
        self.0.push(Problem { path, message });
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if p.path.is_empty() {
                write!(f, "{}", p.message)?;
            } else {
                write!(f, "{}: {}", p.path, p.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl Config {
    /// What is allowed but weakens the webhook path (a bot whose webhooks
    /// can be replayed or forged), each at its key path: ingest logs them at
    /// start and `botqctl config check` prints them.
    #[must_use]
    pub fn warnings(&self) -> Vec<Problem> {
        let mut found = Vec::new();
        for (i, bot) in self.bots.iter().enumerate() {
            for message in bot.warnings() {
                found.push(Problem { path: format!("bot[{i}]"), message: message.to_owned() });
            }
        }
        found
    }

    /// Loads and checks the file at `path`, reading overrides from the process environment.
    ///
    /// # Errors
    /// Every problem found, each with its key path.
    pub fn load(path: &Path, service: Service) -> Result<Self, Problems> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Problems(vec![Problem { path: String::new(), message: format!("cannot read {}: {e}", path.display()) }])
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::from_toml(&text, service, &|k| std::env::var(k).ok(), base)
    }

    /// Checks config text with an explicit environment (tests pass their own).
    ///
    /// # Errors
    /// Every problem found, each with its key path.
    pub fn from_toml(
        text: &str,
        service: Service,
        env: &dyn Fn(&str) -> Option<String>,
        base_dir: &Path,
    ) -> Result<Self, Problems> {
        let mut problems = Problems::default();
        let mut raw = parse_raw(text)?;
        apply_env(&mut raw, service, env);
        let queue = queue_settings(&mut raw, env, &mut problems);
        let ingest = ingest::check(&raw.ingest, &mut problems);
        let dedupe_ttl = sections::dedupe(&raw.dedupe, &mut problems);
        let log = sections::log(&raw.log, &mut problems);
        let worker = worker::check(&raw.worker, &mut problems);
        let fair_share = sections::fair_share(&raw.fair_share, &mut problems);
        let handler_timeout = Duration::from_secs(raw.worker.handler_timeout_secs.max(1));
        let skills = skill::check_skills(raw.skills, handler_timeout, env, base_dir, &mut problems);
        let lanes: Vec<String> = queue.lanes.iter().map(|l| l.0.clone()).collect();
        let context = bot::Context {
            default_limit: &raw.ingest.rate_limit,
            dedupe_ttl_secs: raw.dedupe.ttl_secs,
            skills: &skills,
            lanes: &lanes,
        };
        let bots = bot::check_bots(raw.bots, &context, env, base_dir, &mut problems);
        let audit = sections::audit(&raw.audit, &mut problems);
        let history = sections::history(&raw.history, &mut problems);
        if let Some(w) = &worker {
            for s in skills.iter().filter(|s| s.concurrency.is_some() && w.skill_concurrency.contains_key(&s.name)) {
                problems.push(
                    format!("worker.skill_concurrency.{}", s.name),
                    "the skill sets its own concurrency; set it in one place".into(),
                );
            }
        }
        if bots.is_empty() && problems.len() == 0 {
            problems.push("bot".into(), "at least one [[bot]] table is required".into());
        }
        if problems.len() > 0 {
            return Err(problems);
        }
        let (Some(ingest), Some(worker)) = (ingest, worker) else {
            return Err(problems);
        };
        Ok(Self { queue, ingest, worker, dedupe_ttl, log, audit, history, bots, skills, fair_share })
    }

    /// Only what a tool needs to reach the queues ([`Config::queue`], with
    /// the same `BOTQ_REDIS_URL` / `BOTQ_REDIS_CLUSTER` overrides and checks
    /// as the services). Bots' secrets are not resolved, so an operator can
    /// inspect queues without them.
    ///
    /// # Errors
    /// Unreadable or malformed TOML, or a bad Redis URL, prefix or queue count.
    pub fn load_queue_settings(path: &Path) -> Result<QueueSettings, Problems> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Problems(vec![Problem { path: String::new(), message: format!("cannot read {}: {e}", path.display()) }])
        })?;
        let mut raw = parse_raw(&text)?;
        let mut problems = Problems::default();
        let queue = queue_settings(&mut raw, &|k| std::env::var(k).ok(), &mut problems);
        if problems.len() > 0 {
            return Err(problems);
        }
        Ok(queue)
    }

    #[must_use]
    pub fn bot(&self, id: &str) -> Option<&BotConfig> {
        self.bots.iter().find(|b| b.id.as_str() == id)
    }

    #[must_use]
    pub fn skill(&self, name: &str) -> Option<&SkillConfig> {
        self.skills.iter().find(|s| s.name == name)
    }

    /// The queue (global number) that holds the events of `chat_id` on `bot`:
    /// the lane routing of the bot (and of the group) picks the lane.
    #[must_use]
    pub fn queue_of(&self, keys: &crate::keys::Keys, bot: &BotConfig, chat_id: &str) -> u16 {
        let lane = bot.routing.lane_in(chat_id).and_then(|l| keys.lane_index(l)).unwrap_or(0);
        keys.queue_of(lane, &bot.id, chat_id)
    }

    /// What the worker's bot application runs on: the bots, the skills and
    /// how replies go out, with the queues it reads its state from.
    #[must_use]
    pub fn app(&self) -> AppSettings<'_> {
        AppSettings {
            queue: &self.queue,
            bots: &self.bots,
            skills: &self.skills,
            replies: ReplySettings { timeout: self.worker.reply_timeout, sent_ttl: self.dedupe_ttl },
            max_attempts: self.worker.max_attempts,
            audit_max_len: self.audit.max_len,
        }
    }

    /// The sections ingest runs on.
    #[must_use]
    pub fn ingest_service(&self) -> IngestSettings<'_> {
        IngestSettings {
            ingest: &self.ingest,
            queue: &self.queue,
            bots: &self.bots,
            dedupe_ttl: self.dedupe_ttl,
            fair_share: self.fair_share,
            history_retention: self.history.retention,
        }
    }

    /// What the worker's queue engine runs on: its `[worker]` table, the
    /// queues, and the queue-wide settings it keeps. The bots and skills are
    /// the bot application's, not the engine's.
    #[must_use]
    pub fn engine(&self) -> EngineSettings {
        EngineSettings {
            worker: self.worker.clone(),
            queue: self.queue.clone(),
            fair_share: self.fair_share,
            done_ttl: self.dedupe_ttl,
            audit_max_age: self.audit.max_age,
            history_retention: self.history.retention,
        }
    }
}

/// The bot application's part of the config ([`Config::app`]): what the
/// worker's handler routes, runs and replies with. A view of the config:
/// what is built from it copies what it keeps.
#[derive(Debug, Clone, Copy)]
pub struct AppSettings<'a> {
    /// Where the queues are (the handler's Redis and keys).
    pub queue: &'a QueueSettings,
    pub bots: &'a [BotConfig],
    /// Every skill, the built-ins included, sorted by name.
    pub skills: &'a [SkillConfig],
    pub replies: ReplySettings,
    /// The worker's `max_attempts`, for skills without their own.
    pub max_attempts: u32,
    /// The audit stream keeps about this many entries.
    pub audit_max_len: u64,
}

/// How replies go out ([`AppSettings::replies`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplySettings {
    /// One reply request's bound, connecting included (`[worker] reply_timeout_secs`).
    pub timeout: Duration,
    /// How long a sent reply's record lasts (`[dedupe] ttl_secs`): a
    /// redelivered event within it sends nothing twice.
    pub sent_ttl: Duration,
}

/// Ingest's part of the config ([`Config::ingest_service`]), a view like
/// [`AppSettings`].
#[derive(Debug, Clone, Copy)]
pub struct IngestSettings<'a> {
    pub ingest: &'a IngestConfig,
    pub queue: &'a QueueSettings,
    pub bots: &'a [BotConfig],
    /// How long an event id is remembered against platform retries.
    pub dedupe_ttl: Duration,
    pub fair_share: FairShare,
    /// How long the history keeps a step (ingest writes its counts there).
    pub history_retention: Duration,
}

/// The worker's queue engine's part of the config ([`Config::engine`]).
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub worker: WorkerConfig,
    pub queue: QueueSettings,
    pub fair_share: FairShare,
    /// How long a done event's marker lasts (`[dedupe] ttl_secs`).
    pub done_ttl: Duration,
    /// The audit stream's age bound, which the engine's trimmer keeps.
    pub audit_max_age: Duration,
    /// How long the history keeps a step, which the engine's sampler writes.
    pub history_retention: Duration,
}

/// `worker.lanes` names a lane the queues do not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no lane named {0:?}")]
pub struct UnknownLane(pub String);

/// The queue settings of `raw` with the Redis overrides of `env`
/// (`BOTQ_REDIS_URL`, `BOTQ_REDIS_CLUSTER`), checked: what the services and
/// the tools share.
fn queue_settings(
    raw: &mut raw::RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> QueueSettings {
    if let Some(url) = env("BOTQ_REDIS_URL") {
        raw.redis_url = url;
    }
    if let Some(cluster) = env("BOTQ_REDIS_CLUSTER") {
        match cluster.as_str() {
            "true" | "1" => raw.redis_cluster = true,
            "false" | "0" => raw.redis_cluster = false,
            _ => problems.push("BOTQ_REDIS_CLUSTER".into(), "must be true or false".into()),
        }
    }
    check_queue_keys(raw, problems);
    QueueSettings {
        redis_url: SecretString::from(raw.redis_url.clone()),
        redis_cluster: raw.redis_cluster,
        lanes: check_lanes(raw, problems),
        key_prefix: raw.key_prefix.clone(),
        queues: raw.queues,
    }
}

/// Checks `[[lane]]` tables and `worker.lanes`; returns (name, queues).
fn check_lanes(raw: &raw::RawConfig, problems: &mut Problems) -> Vec<(String, u16)> {
    let mut lanes: Vec<(String, u16)> = Vec::new();
    for (i, l) in raw.lanes.iter().enumerate() {
        let ok = (1..=32).contains(&l.name.len())
            && l.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok || l.name == crate::keys::DEFAULT_LANE {
            problems.push(format!("lane[{i}].name"), "must be 1 to 32 characters of [a-z0-9-], not \"default\"".into());
        } else if lanes.iter().any(|(n, _)| *n == l.name) {
            problems.push(format!("lane[{i}].name"), format!("duplicate lane {:?}", l.name));
        }
        if l.queues == 0 {
            problems.push(format!("lane[{i}].queues"), "must be ≥ 1".into());
        }
        lanes.push((l.name.clone(), l.queues.max(1)));
    }
    for name in &raw.worker.lanes {
        if name != crate::keys::DEFAULT_LANE && !lanes.iter().any(|(n, _)| n == name) {
            problems.push("worker.lanes".into(), format!("no lane named {name:?}"));
        }
    }
    lanes
}

/// Where the queues are: what the services and the tools need to reach them
/// (see [`Config::load_queue_settings`]).
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// May carry a password, so it is a secret; see [`QueueSettings::redis_url_redacted`].
    pub redis_url: SecretString,
    /// `redis_url` is a seed node of a Redis Cluster.
    pub redis_cluster: bool,
    /// Lanes besides the default one: (name, queues).
    pub lanes: Vec<(String, u16)>,
    pub key_prefix: String,
    pub queues: u16,
}

impl QueueSettings {
    /// The queues a worker serving `lanes` reads (empty = every lane).
    ///
    /// # Errors
    /// A lane name that is not configured.
    pub fn served_queues(&self, lanes: &[String]) -> Result<Vec<u16>, UnknownLane> {
        let keys = self.keys();
        if lanes.is_empty() {
            return Ok((0..keys.queue_count()).collect());
        }
        let mut queues = Vec::new();
        for name in lanes {
            let i = keys.lane_index(name).ok_or_else(|| UnknownLane(name.clone()))?;
            queues.extend(keys.lane_queues(i));
        }
        queues.sort_unstable();
        queues.dedup();
        Ok(queues)
    }

    /// The key builder: prefix, default lane, lanes.
    #[must_use]
    pub fn keys(&self) -> crate::keys::Keys {
        crate::keys::Keys::with_lanes(&self.key_prefix, self.queues, &self.lanes)
    }

    /// Where Redis is, for [`crate::redis_conn`].
    #[must_use]
    pub fn redis_target(&self) -> crate::redis_conn::Target {
        crate::redis_conn::Target { url: self.redis_url.clone(), cluster: self.redis_cluster }
    }

    /// The Redis URL with every credential replaced, for messages.
    #[must_use]
    pub fn redis_url_redacted(&self) -> String {
        use secrecy::ExposeSecret;
        crate::redis_url::redact(self.redis_url.expose_secret())
    }
}

/// The environment overrides of deployment-level values (`BOTQ_LISTEN`,
/// `BOTQ_ADMIN_LISTEN` for `service`, `BOTQ_LOG_FORMAT`, `BOTQ_LOG`); the
/// Redis ones are read with the queue settings.
fn apply_env(raw: &mut raw::RawConfig, service: Service, env: &dyn Fn(&str) -> Option<String>) {
    if let Some(addr) = env("BOTQ_LISTEN") {
        raw.ingest.listen = addr;
    }
    if let Some(addr) = env("BOTQ_ADMIN_LISTEN") {
        match service {
            Service::Ingest => raw.ingest.admin_listen = addr,
            Service::Worker => raw.worker.admin_listen = addr,
            Service::Tool => {}
        }
    }
    if let Some(f) = env("BOTQ_LOG_FORMAT") {
        raw.log.format = f;
    }
    if let Some(l) = env("BOTQ_LOG") {
        raw.log.level = l;
    }
}

/// The settings in effect for `text`: every key with its default filled in
/// and the environment overrides applied, as TOML, with each literal secret
/// and the Redis URL's credentials as `***`. For the console's Config page;
/// it checks nothing beyond parsing (that is [`Config::from_toml`]).
///
/// # Errors
/// The text is not valid TOML or has a key of the wrong type.
pub fn effective_toml(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, Problems> {
    let mut raw = parse_raw(text)?;
    apply_env(&mut raw, Service::Tool, env);
    let mut ignored = Problems::default();
    let _ = queue_settings(&mut raw, env, &mut ignored);
    raw.redis_url = crate::redis_url::redact(&raw.redis_url);
    toml::to_string_pretty(&raw).map_err(|e| {
        Problems(vec![Problem { path: String::new(), message: format!("cannot write the settings: {e}") }])
    })
}

/// The TOML text as serde reads it, with the key path of a wrong type or unknown key.
fn parse_raw(text: &str) -> Result<raw::RawConfig, Problems> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map_or(0, |s| text[..s.start.min(text.len())].lines().count().max(1));
        Problems(vec![Problem {
            path: String::new(),
            message: format!("not valid TOML (line {line}): {}", e.message()),
        }])
    })?;
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        Problems(vec![Problem { path, message: e.into_inner().to_string() }])
    })
}

fn check_queue_keys(raw: &raw::RawConfig, problems: &mut Problems) {
    let url = &raw.redis_url;
    if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://")) {
        problems.push("redis_url".into(), "must be a redis://, rediss:// or unix:// URL".into());
    }
    let prefix_ok = raw.key_prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b':');
    if raw.key_prefix.is_empty() || !prefix_ok {
        problems.push("key_prefix".into(), "must be non-empty and use only [A-Za-z0-9_:-]".into());
    }
    if raw.queues == 0 {
        problems.push("queues".into(), "must be ≥ 1".into());
    }
}

#[cfg(test)]
mod tests;
