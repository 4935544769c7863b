//! The handler `botq-worker` runs: route the event, apply the guards and the
//! access policy, run the skill, send the replies, audit the invocation.
//!
//! Reply indexes are fixed per slot, so a retried attempt (which re-runs the
//! skill and re-sends) lands on the same idempotency keys and the platforms
//! (or botq's record, for OneBot) drop what already went out:
//! - built-in skills, refusals and "unknown command" answer from index 1;
//! - `http` skills keep index 1 for the "working on it" acknowledgement and
//!   answer from index 2, so an acknowledgement sent by a slow first attempt
//!   never collides with the answer of a fast second one. The degraded answer
//!   is an answer: index 2.
//!
//! When an `http` skill cannot answer — its breaker is open, its cooldown
//! runs in this group, or the last attempt failed — the chat gets the
//! skill's degraded (explain-only) answer instead of silence, and the event
//! is done. A permanent failure (the upstream refused the request) goes to
//! the dead-letter queue for an operator to look at and replay.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use botq_core::audit::{Access, Entry, Outcome};
use botq_core::config::{AppSettings, Config};
use botq_core::envelope::Envelope;
use botq_core::fleet::Breaker;
use botq_core::history::Counters;
use botq_core::message::Outgoing;
use botq_core::redis_conn::Redis;
use botq_core::routing::Routing;
use botq_core::skill::{BuiltinSkill, SkillKind};
use tracing::{debug, info, warn};

mod http_skill;
mod memory;

use crate::app::audit::AuditSink;
use crate::app::conversation::Conversations;
use crate::app::guards::{Guards, StormCap};
use crate::app::reply::{DROPPED_STORM, Delivered};
use crate::app::route::{self, Route};
use crate::app::setup::{self, BotSetup};
use crate::app::skills::{Skill, builtin};
use crate::handler::{HandleError, HandleFuture, Handler, Job, SkillPlan};
use crate::metrics::IGNORED;

pub struct BotHandler {
    setup: ArcSwap<BotSetup>,
    redis: Redis,
    /// Replies sent; the engine adds its dead letters and flushes them.
    history: Arc<Counters>,
    guards: Guards,
    audit: AuditSink,
    conversations: Conversations,
    upstream_http: reqwest::Client,
}

impl std::fmt::Debug for BotHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotHandler").field("bots", &self.setup.load().bots.len()).finish_non_exhaustive()
    }
}

impl BotHandler {
    /// # Errors
    /// An invalid Redis URL, or an HTTP client that cannot be built.
    ///
    /// # Panics
    /// Outside a Tokio runtime: it starts the audit writer on the current one.
    pub fn new(app: &AppSettings<'_>) -> anyhow::Result<Self> {
        let redis = botq_core::redis_conn::connect_lazy(&app.queue.redis_target(), std::time::Duration::from_secs(2))?;
        let keys = app.queue.keys();
        let upstream_http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
        let history = Arc::new(Counters::default());
        let setup = BotSetup::build(app, None, redis.clone(), &upstream_http, &history)?;
        Ok(Self {
            setup: ArcSwap::from_pointee(setup),
            history,
            guards: Guards::new(redis.clone(), keys.clone()),
            audit: AuditSink::new(redis.clone(), keys.audit(), app.audit_max_len),
            conversations: Conversations::new(redis.clone(), keys.clone()),
            redis,
            upstream_http,
        })
    }

    /// Applies the bots and skills of `new` (a config that passed every
    /// check); attempts already running finish with the old ones. Returns
    /// the settings that differ from `old` but need a restart.
    ///
    /// # Errors
    /// The reply HTTP client cannot be built; the old setup stays.
    pub fn reload(&self, old: &Config, new: &Config) -> anyhow::Result<Vec<&'static str>> {
        let current = self.setup.load_full();
        let next = BotSetup::build(&new.app(), Some(&current), self.redis.clone(), &self.upstream_http, &self.history)?;
        self.setup.store(Arc::new(next));
        Ok(setup::needs_restart(old, new))
    }
}

/// Applies every config that arrives on `reloads` (SIGHUP) to `handler`
/// (`None`: the noop handler, which has nothing to reload). `running` is the
/// config the process started with: settings that differ from it need a
/// restart, and each reload names them in a warning.
pub fn apply_reloads(handler: Option<Arc<BotHandler>>, running: Config, reloads: botq_service::Reloads) {
    botq_service::reload::apply_each(reloads, move |new| match &handler {
        Some(handler) => handler.reload(&running, new),
        None => {
            warn!("SIGHUP: worker.handler is noop; nothing to reload");
            Ok(Vec::new())
        }
    });
}

impl Handler for BotHandler {
    fn skill(&self, env: &Envelope) -> SkillPlan {
        let setup = self.setup.load();
        // Planned as addressed when it might be: whether a quote is of the
        // bot's reply is a Redis lookup, left to `handle`.
        let route = setup.bots.get(env.bot.as_str()).map(|r| {
            let first = route::route(env, r, false);
            if route::needs_quote_lookup(env, r, &first).is_some() { route::route(env, r, true) } else { first }
        });
        match route {
            Some(Route::Run { skill, .. }) => match setup.skills.get(&skill) {
                Some(s) => SkillPlan { name: skill, concurrency: s.cfg.concurrency, max_attempts: s.cfg.max_attempts },
                None => SkillPlan::named("unknown_skill"),
            },
            Some(Route::Unknown { .. }) => SkillPlan::named("unknown_command"),
            Some(Route::Ignore(_)) | None => SkillPlan::named("ignored"),
        }
    }

    fn handle(&self, job: Job) -> HandleFuture {
        let attempt = Attempt {
            setup: self.setup.load_full(),
            guards: self.guards.clone(),
            audit: self.audit.clone(),
            conversations: self.conversations.clone(),
            env: job.envelope.clone(),
            storm_seen: Mutex::new(None),
            job,
        };
        Box::pin(attempt.run())
    }

    fn breakers(&self) -> Vec<Breaker> {
        let setup = self.setup.load();
        let mut breakers: Vec<Breaker> = setup
            .skills
            .iter()
            .filter(|(_, s)| s.upstream.is_some())
            .map(|(name, s)| Breaker { skill: name.clone(), state: s.breaker.gauge().as_str().to_owned() })
            .collect();
        breakers.sort_by(|a, b| a.skill.cmp(&b.skill));
        breakers
    }

    fn history(&self) -> Option<Arc<Counters>> {
        Some(self.history.clone())
    }

    fn flush(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(self.audit.flush())
    }
}

/// One attempt at one event, with the setup it started with.
struct Attempt {
    setup: Arc<BotSetup>,
    guards: Guards,
    audit: AuditSink,
    conversations: Conversations,
    env: Arc<Envelope>,
    /// The chat's replies this minute as this attempt last read or counted
    /// them (key and count), kept only while it holds the chat
    /// ([`Job::holds_chat`]): the replier needs no read of its own then.
    storm_seen: Mutex<Option<(String, u32)>>,
    job: Job,
}

/// What the router picked, resolved against the setup.
struct Invocation<'a> {
    routing: &'a Routing,
    skill: &'a Skill,
    command: Option<String>,
    args: String,
}

impl Attempt {
    async fn run(self) -> Result<(), HandleError> {
        let env = &self.env;
        let Some(routing) = self.setup.bots.get(env.bot.as_str()) else {
            self.ignore("unknown_bot");
            return Ok(());
        };
        // A button press is answered first, whatever the route: until then
        // the user's client shows "loading".
        self.setup.replier.acknowledge(env).await?;
        let mut route = route::route(env, routing, false);
        if let Some(quoted) = route::needs_quote_lookup(env, routing, &route)
            && self.setup.replier.is_own_reply(env, quoted).await?
        {
            route = route::route(env, routing, true);
        }
        let (skill, command, args) = match route {
            Route::Ignore(reason) => {
                self.ignore(reason);
                if reason == route::NOT_ADDRESSED {
                    self.remember_unaddressed(routing).await;
                }
                return Ok(());
            }
            Route::Unknown { .. } => {
                if !self.storm_reached(routing).await? {
                    self.send_all(routing, 1, vec![Outgoing::text(builtin::unknown(&routing.command_prefix))]).await?;
                }
                return Ok(());
            }
            Route::Run { skill, command, args } => (skill, command, args),
        };
        if self.storm_reached(routing).await? {
            return Ok(());
        }
        if let Some(window) = routing.guard.same_text_window
            && self.guards.same_text(env, window).await?
        {
            self.ignore("same_text");
            return Ok(());
        }
        let skill = self
            .setup
            .skills
            .get(&skill)
            .ok_or_else(|| HandleError::Permanent(format!("no skill named {skill:?} in this worker's config")))?;
        let inv = Invocation { routing, skill, command, args };
        if skill.cfg.writes && !routing.access.may_write(&env.sender_id, route::group_of(env)) {
            return self.refuse(&inv).await;
        }
        match &skill.cfg.kind {
            SkillKind::Builtin(b) => self.run_builtin(&inv, *b).await,
            SkillKind::Http(_) => self.run_http(&inv).await,
        }
    }

    fn ignore(&self, reason: &'static str) {
        metrics::counter!(IGNORED, "bot" => self.env.bot.as_str().to_owned(), "reason" => reason).increment(1);
        debug!(reason, "not answered");
    }

    /// The chat already had its replies for this minute: stay quiet.
    async fn storm_reached(&self, routing: &Routing) -> Result<bool, HandleError> {
        let Some(cap) = routing.guard.chat_replies_per_min else { return Ok(false) };
        let storm = self.guards.storm_read(&self.env, cap).await?;
        let reached = storm.reached();
        if reached {
            self.ignore("chat_storm");
        }
        self.storm_seen(storm);
        Ok(reached)
    }

    /// The chat's budget for a reply now, with the count when this attempt
    /// knows it for the current minute.
    fn storm_budget(&self, cap: u32) -> StormCap {
        let mut storm = self.guards.storm_cap(&self.env, cap);
        if let Some((key, count)) = &*self.storm_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
            && *key == storm.key
        {
            storm.known = Some(*count);
        }
        storm
    }

    /// Keeps what the attempt now knows of the chat's count, if it holds the chat.
    fn storm_seen(&self, storm: StormCap) {
        if let (true, Some(count)) = (self.job.holds_chat, storm.known) {
            *self.storm_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((storm.key, count));
        }
    }

    async fn refuse(&self, inv: &Invocation<'_>) -> Result<(), HandleError> {
        let typed = format!("{}{}", inv.routing.command_prefix, inv.command.as_deref().unwrap_or(&inv.skill.cfg.name));
        let text = inv.routing.access.write_refusal.replace("{command}", &typed);
        let mut entry = self.entry(inv, Outcome::Denied, "not_allow_listed");
        entry.replies = 1;
        self.audit.record(&entry);
        info!(skill = %inv.skill.cfg.name, "write skill refused: sender and chat are not allow-listed");
        self.send_all(inv.routing, 1, vec![Outgoing::text(text)]).await
    }

    async fn run_builtin(&self, inv: &Invocation<'_>, b: BuiltinSkill) -> Result<(), HandleError> {
        let started = Instant::now();
        let commands: Vec<(&str, &str)> = route::commands_in(&self.env, inv.routing)
            .into_iter()
            .map(|(c, s)| (c, self.setup.skills.get(s).map_or("", |k| k.cfg.description.as_str())))
            .collect();
        let replies: Vec<Outgoing> = builtin::run(b, &inv.routing.command_prefix, &inv.args, &commands)
            .into_iter()
            .map(Outgoing::text)
            .collect();
        let mut entry = self.entry(inv, Outcome::Ok, "");
        entry.duration_ms = elapsed_ms(started);
        self.finish_entry(&mut entry, inv, &replies);
        self.audit.record(&entry);
        self.send_all(inv.routing, 1, replies.clone()).await?;
        self.remember(inv, &replies).await
    }

    /// Sends `texts` as replies `first`, `first + 1`, …, each checked
    /// against and counted in the chat's replies-per-minute cap (by the
    /// replier, in the round trips it makes anyway).
    async fn send_all(&self, routing: &Routing, first: u32, replies: Vec<Outgoing>) -> Result<(), HandleError> {
        let cap = routing.guard.chat_replies_per_min;
        for (i, reply) in replies.iter().enumerate() {
            // Asked per reply: the budget is the current minute's.
            let mut storm = cap.map(|cap| self.storm_budget(cap));
            let index = first.saturating_add(u32::try_from(i).unwrap_or(u32::MAX));
            let sent = self.setup.replier.send(&self.env, index, reply, storm.as_mut()).await;
            if sent.is_err() {
                // Its count may have been written or not: read it again.
                *self.storm_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
            }
            if sent? == Delivered::Dropped(DROPPED_STORM) {
                warn!(cap, "chat reached its replies per minute; staying quiet there until the next minute");
                return Ok(());
            }
            // The count as Redis answered it (read, or counted with the reply).
            if let Some(storm) = storm {
                self.storm_seen(storm);
            }
        }
        Ok(())
    }

    fn entry(&self, inv: &Invocation<'_>, outcome: Outcome, reason: &str) -> Entry {
        let env = &self.env;
        Entry {
            id: String::new(),
            ts_ms: botq_core::now_ms(),
            request_id: env.request_id.to_string(),
            event_id: env.event_id.clone(),
            bot: env.bot.as_str().to_owned(),
            platform: env.platform.as_str().to_owned(),
            chat_kind: env.chat_kind.as_str().to_owned(),
            chat_id: env.chat_id.clone(),
            sender_id: env.sender_id.clone(),
            skill: inv.skill.cfg.name.clone(),
            kind: inv.skill.cfg.kind_name().to_owned(),
            access: access(inv.skill),
            outcome,
            reason: reason.to_owned(),
            attempt: self.job.attempt,
            replica: self.job.replica.to_string(),
            duration_ms: 0,
            request_bytes: 0,
            response_bytes: 0,
            replies: 0,
            text: None,
            answer: None,
        }
    }

    /// Reply count, and the content when the skill is configured to keep it.
    fn finish_entry(&self, entry: &mut Entry, inv: &Invocation<'_>, replies: &[Outgoing]) {
        entry.replies = u32::try_from(replies.len()).unwrap_or(u32::MAX);
        if inv.skill.cfg.audit_content {
            entry.text = Some(self.env.text.clone());
            entry.answer = Some(replies.iter().map(Outgoing::plain).collect::<Vec<_>>().join("\n"));
        }
    }
}

fn access(skill: &Skill) -> Access {
    if skill.cfg.writes { Access::Write } else { Access::Read }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The same for every attempt at one event and skill, so the upstream can
/// drop a repeated attempt of a write.
fn idempotency_key(env: &Envelope, skill: &str) -> String {
    let name = format!("{}\0{}\0{skill}", env.bot, env.event_id);
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}
