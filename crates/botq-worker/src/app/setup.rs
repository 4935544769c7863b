//! The reloadable part of the worker: bots' routing, skills, reply settings.
//!
//! A [`BotSetup`] is built from a checked config and never changes; a reload
//! builds a new one and swaps it in (`arc_swap`). An attempt takes the setup
//! that is current when it starts and keeps it to its end, so in-flight work
//! finishes under the config it began with and nothing is dropped. The engine
//! settings (`[worker]`, Redis, queues) are not part of it: those need a
//! restart, and a reload that changes them says so.

use std::collections::HashMap;
use std::sync::Arc;

use botq_core::config::{AppSettings, Config};
use botq_core::history::Counters;
use botq_core::redis_conn::Redis;
use botq_core::routing::Routing;

use crate::app::reply::Replier;
use crate::app::skills::{self, Skill};

#[derive(Debug)]
pub struct BotSetup {
    pub bots: HashMap<String, Routing>,
    pub skills: HashMap<String, Arc<Skill>>,
    pub replier: Replier,
    /// The worker's `max_attempts`, for skills without their own.
    pub max_attempts: u32,
}

impl BotSetup {
    /// Replies sent are counted in `history`.
    ///
    /// # Errors
    /// The reply HTTP client cannot be built.
    pub fn build(
        app: &AppSettings<'_>,
        previous: Option<&Self>,
        redis: Redis,
        upstream_http: &reqwest::Client,
        history: &Arc<Counters>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            bots: app.bots.iter().map(|b| (b.id.as_str().to_owned(), b.routing.clone())).collect(),
            skills: skills::build(app.skills, previous.map(|p| &p.skills), upstream_http),
            replier: Replier::new(app.bots, app.queue.keys(), app.replies, redis, history.clone())?,
            max_attempts: app.max_attempts,
        })
    }
}

/// What a reload cannot change, by key, when it differs between `old` and `new`.
#[must_use]
pub fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    use secrecy::ExposeSecret;
    let mut keys = Vec::new();
    if old.queue.redis_url.expose_secret() != new.queue.redis_url.expose_secret() {
        keys.push("redis_url");
    }
    if old.queue.key_prefix != new.queue.key_prefix {
        keys.push("key_prefix");
    }
    if old.queue.queues != new.queue.queues {
        keys.push("queues");
    }
    if old.worker != new.worker {
        keys.push("worker");
    }
    if old.dedupe_ttl != new.dedupe_ttl {
        keys.push("dedupe");
    }
    if old.audit != new.audit {
        keys.push("audit");
    }
    if old.history != new.history {
        keys.push("history");
    }
    keys
}
