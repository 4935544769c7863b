//! The handler `botq-worker` runs: route each event, run its skill, send the
//! replies.
//!
//! Replies are sent in order with indexes 1, 2, …; a retried attempt re-runs
//! the skill and re-sends from index 1, and the platforms' idempotency (or
//! botq's record, for OneBot) turns the replies that already went out into
//! no-ops, so a crash or a failure midway never doubles a reply.

use std::collections::HashMap;
use std::sync::Arc;

use botq_core::config::{Config, Routing};
use botq_core::envelope::Envelope;

use crate::handler::{HandleFuture, Handler, Job};
use crate::metrics::IGNORED;
use crate::reply::Replier;
use crate::skills::{self, Route};

pub struct BotHandler {
    routing: HashMap<String, Routing>,
    replier: Arc<Replier>,
}

impl std::fmt::Debug for BotHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotHandler").field("bots", &self.routing.len()).finish_non_exhaustive()
    }
}

impl BotHandler {
    /// # Errors
    /// When the reply client cannot be built (invalid Redis URL).
    pub fn new(cfg: &Config) -> anyhow::Result<Self> {
        let routing = cfg.bots.iter().map(|b| (b.id.as_str().to_owned(), b.routing.clone())).collect();
        Ok(Self { routing, replier: Arc::new(Replier::new(cfg)?) })
    }

    fn route(&self, env: &Envelope) -> Route {
        match self.routing.get(env.bot.as_str()) {
            Some(r) => skills::route(env, r),
            None => Route::Ignore("unknown_bot"),
        }
    }
}

impl Handler for BotHandler {
    fn skill(&self, env: &Envelope) -> &str {
        match self.route(env) {
            Route::Builtin { skill, .. } => skill.name(),
            Route::Ignore(_) => "ignored",
            Route::Other => "default",
        }
    }

    fn handle(&self, job: Job) -> HandleFuture {
        let route = self.route(&job.envelope);
        let prefix = self.routing.get(job.envelope.bot.as_str()).map(|r| r.command_prefix.clone()).unwrap_or_default();
        let replier = self.replier.clone();
        Box::pin(async move {
            let env = job.envelope;
            let replies = match route {
                Route::Builtin { skill, args } => skill.run(&prefix, &args),
                Route::Ignore(reason) => {
                    metrics::counter!(IGNORED, "bot" => env.bot.as_str().to_owned(), "reason" => reason).increment(1);
                    return Ok(());
                }
                // No upstream agent yet: messages that are not commands are not answered.
                Route::Other => {
                    metrics::counter!(IGNORED, "bot" => env.bot.as_str().to_owned(), "reason" => "no_skill")
                        .increment(1);
                    return Ok(());
                }
            };
            for (i, text) in replies.iter().enumerate() {
                let index = u32::try_from(i + 1).unwrap_or(u32::MAX);
                replier.send(&env, index, text).await?;
            }
            Ok(())
        })
    }
}
