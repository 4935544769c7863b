//! Skills, the bot application's domain model: what each skill is, and its
//! policies.
//!
//! A skill is either a built-in (`ping`, `echo`, `help`, always present
//! under those names unless a table redefines the name) or an `http` skill
//! that POSTs the event to an upstream service. Every skill carries its
//! policies in one checked value: read or write, timeout, concurrency cap,
//! retry budget, the "working on it" acknowledgement, the circuit breaker,
//! the per-group cooldown and the degraded answer. `config` builds them from
//! the `[[skill]]` tables; the worker's bot application runs them.

use std::time::Duration;

use secrecy::SecretString;

/// A checked skill.
#[derive(Debug, Clone)]
pub struct SkillConfig {
    pub name: String,
    pub kind: SkillKind,
    /// One line for `/help`.
    pub description: String,
    /// Changes something outside botq (tickets, data): only allow-listed
    /// users and groups may run it.
    pub writes: bool,
    /// Bound on one upstream call.
    pub timeout: Duration,
    /// In-flight invocations per worker process.
    pub concurrency: Option<u32>,
    /// Attempts (first try included) before the event is given up; the
    /// worker's `max_attempts` when unset.
    pub max_attempts: Option<u32>,
    /// Send `text` first when the skill has not answered after `after`.
    pub slow_ack: Option<SlowAck>,
    /// The explain-only answer while the upstream is unavailable.
    pub degraded_text: String,
    pub breaker: BreakerConfig,
    /// After a failure in a group, answer there with `degraded_text` for this
    /// long instead of calling the skill again.
    pub cooldown: Option<Duration>,
    /// At most this many replies per answer (platform limits: QQ takes 5
    /// replies to one message, and the acknowledgement is one of them).
    pub max_replies: u32,
    /// Record the message text and the answer in the audit log.
    pub audit_content: bool,
    /// Answers are cached for this long, keyed by skill, command and
    /// normalised arguments (deterministic read skills only).
    pub cache_ttl: Option<Duration>,
    /// How much of the chat's conversation window the skill receives.
    pub context: Option<ContextBudget>,
}

/// A skill's share of the conversation window: the newest `messages`, at most `bytes` of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextBudget {
    pub messages: u32,
    pub bytes: u32,
}

#[derive(Debug, Clone)]
pub enum SkillKind {
    Builtin(BuiltinSkill),
    Http(HttpSkill),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinSkill {
    Ping,
    Echo,
    Help,
}

/// Where an `http` skill sends events, and how it authenticates.
#[derive(Debug, Clone)]
pub struct HttpSkill {
    pub url: String,
    /// Extra request headers (e.g. `Authorization`); values are secrets.
    pub headers: Vec<(String, SecretString)>,
    /// When set, requests carry `X-Botq-Signature: v1=<hex HMAC-SHA256>` of
    /// `<X-Botq-Timestamp>.<body>`, so the upstream can check they are botq's.
    pub signing_secret: Option<SecretString>,
    /// The request schema the upstream speaks (`contract`, default 1).
    pub contract: Contract,
}

/// The version of the skill request: v2 adds the message's segments. Both
/// versions may answer with segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Contract {
    #[default]
    V1,
    V2,
}

#[derive(Debug, Clone)]
pub struct SlowAck {
    pub after: Duration,
    pub text: String,
}

/// Opens after `failures` consecutive failures; after `open_for`, one probe
/// call is let through, and its success closes the breaker again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    pub failures: u32,
    pub open_for: Duration,
}

pub const DEFAULT_SKILL_TIMEOUT_MS: u64 = 15_000;
pub const DEFAULT_DEGRADED_TEXT: &str =
    "Sorry, I can't answer that right now: the assistant is unavailable. Built-in commands still work; try /help.";
pub const DEFAULT_SLOW_ACK_TEXT: &str = "Working on it…";

impl BuiltinSkill {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Echo => "echo",
            Self::Help => "help",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Self::Ping, Self::Echo, Self::Help].into_iter().find(|b| b.name() == s)
    }

    pub(crate) fn description(self) -> &'static str {
        match self {
            Self::Ping => "check that the bot answers",
            Self::Echo => "repeat the text",
            Self::Help => "this list",
        }
    }
}

impl SkillConfig {
    /// The built-in skill under its own name, with default policies.
    #[must_use]
    pub fn builtin(b: BuiltinSkill) -> Self {
        Self {
            name: b.name().to_owned(),
            kind: SkillKind::Builtin(b),
            description: b.description().to_owned(),
            writes: false,
            timeout: Duration::from_millis(DEFAULT_SKILL_TIMEOUT_MS),
            concurrency: None,
            max_attempts: None,
            slow_ack: None,
            degraded_text: DEFAULT_DEGRADED_TEXT.to_owned(),
            breaker: BreakerConfig { failures: 5, open_for: Duration::from_secs(30) },
            cooldown: None,
            max_replies: 3,
            audit_content: false,
            cache_ttl: None,
            context: None,
        }
    }

    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            SkillKind::Builtin(_) => "builtin",
            SkillKind::Http(_) => "http",
        }
    }
}
