//! Running an `http` skill: cache, cooldown, breaker, the call with its
//! "working on it" acknowledgement, and what each answer leads to.

use std::time::Instant;

use botq_core::audit::Outcome;
use tracing::{debug, info, warn};

use super::{Attempt, Invocation, access, elapsed_ms, idempotency_key};
use crate::app::skills::breaker::{Admit, Gauge};
use crate::handler::HandleError;
use crate::metrics::SKILL_CACHE;
use botq_core::message::Outgoing;

use crate::app::skills::contract::{EventView, SkillRequest, schema};

impl Attempt {
    pub(super) async fn run_http(&self, inv: &Invocation<'_>) -> Result<(), HandleError> {
        let (skill, env) = (inv.skill, &*self.env);
        let name = skill.cfg.name.as_str();
        let started = Instant::now();
        if let Some(ttl) = skill.cfg.cache_ttl {
            let hit = self.conversations.cached(name, inv.command.as_deref(), &inv.args).await?;
            metrics::counter!(SKILL_CACHE, "skill" => name.to_owned(), "result" => if hit.is_some() { "hit" } else { "miss" })
                .increment(1);
            if let Some(texts) = hit {
                let replies: Vec<Outgoing> = texts.into_iter().map(Outgoing::text).collect();
                debug!(skill = name, ttl_s = ttl.as_secs(), "answered from the skill cache");
                let mut entry = self.entry(inv, Outcome::Ok, "cache_hit");
                entry.duration_ms = elapsed_ms(started);
                self.finish_entry(&mut entry, inv, &replies);
                self.audit.record(&entry);
                self.send_all(inv.routing, 2, replies.clone()).await?;
                return self.remember(inv, &replies).await;
            }
        }
        if self.job.attempt == 1 && skill.cfg.cooldown.is_some() && self.guards.cooling_down(env, name).await? {
            return self.degraded(inv, "cooldown", started).await;
        }
        if skill.breaker.admit(started) == Admit::Open {
            return self.degraded(inv, "breaker_open", started).await;
        }
        let Some(upstream) = &skill.upstream else {
            return Err(HandleError::Permanent(format!("skill {name:?} has no upstream")));
        };
        let context = match (&inv.routing.context, skill.cfg.context) {
            (Some(_), Some(budget)) => Some(self.conversations.read(env, budget).await?),
            _ => None,
        };
        let request = SkillRequest {
            schema: schema(upstream.contract()),
            request_id: env.request_id.to_string(),
            attempt: self.job.attempt,
            skill: name,
            access: access(skill).as_str(),
            command: inv.command.as_deref(),
            args: &inv.args,
            deadline_ms: u64::try_from(skill.cfg.timeout.as_millis()).unwrap_or(u64::MAX),
            context,
            event: EventView::of(env, upstream.contract()),
        };
        let key = idempotency_key(env, name);
        let call = upstream.call(&request, &key);
        let call = match &skill.cfg.slow_ack {
            Some(ack) => {
                tokio::pin!(call);
                tokio::select! {
                    c = &mut call => c,
                    () = tokio::time::sleep(ack.after) => {
                        let (c, sent) = tokio::join!(call, self.send_all(inv.routing, 1, vec![Outgoing::text(ack.text.clone())]));
                        if let Err(e) = sent {
                            debug!(error = %e, "the working-on-it acknowledgement did not go out");
                        }
                        c
                    }
                }
            }
            None => call.await,
        };
        if let Some(state) = skill.breaker.record(call.healthy, Instant::now()) {
            match state {
                Gauge::Open => warn!(skill = name, "upstream failing; circuit breaker opened"),
                Gauge::Closed => info!(skill = name, "upstream answered again; circuit breaker closed"),
                Gauge::HalfOpen => {}
            }
        }
        let mut entry = self.entry(inv, Outcome::Ok, call.reason);
        entry.duration_ms = elapsed_ms(started);
        entry.request_bytes = call.request_bytes;
        entry.response_bytes = call.response_bytes;
        let resolved = call.result.and_then(|items| {
            items
                .into_iter()
                .map(|item| item.resolve(env, inv.routing.mention_everyone))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| HandleError::Permanent(format!("upstream answer is not the skill contract: {e}")))
        });
        match resolved {
            Ok(mut replies) => {
                replies.retain(|r| !r.is_empty());
                let max = usize::try_from(skill.cfg.max_replies).unwrap_or(usize::MAX);
                if replies.len() > max {
                    warn!(
                        skill = name,
                        replies = replies.len(),
                        max,
                        "upstream sent more replies than allowed; extra ones dropped"
                    );
                    replies.truncate(max);
                }
                self.finish_entry(&mut entry, inv, &replies);
                self.audit.record(&entry);
                // Only text is cached: a mention or a quote names this sender and message.
                let texts: Option<Vec<String>> = replies.iter().map(|r| r.as_text().map(str::to_owned)).collect();
                if let (Some(ttl), Some(texts)) = (skill.cfg.cache_ttl, texts)
                    && let Err(e) = self.conversations.cache(name, inv.command.as_deref(), &inv.args, &texts, ttl).await
                {
                    debug!(error.kind = ?e.kind(), "cannot store the answer in the skill cache");
                }
                self.send_all(inv.routing, 2, replies.clone()).await?;
                self.remember(inv, &replies).await
            }
            Err(e) => {
                if let Some(cooldown) = skill.cfg.cooldown {
                    self.guards.start_cooldown(env, name, cooldown).await?;
                }
                let last = self.job.attempt >= skill.cfg.max_attempts.unwrap_or(self.setup.max_attempts);
                match e {
                    HandleError::Transient(_) | HandleError::RetryAfter(..) if last => {
                        warn!(skill = name, error = %e, "upstream failed on the last attempt; answering degraded");
                        self.degraded(inv, call.reason, started).await
                    }
                    HandleError::Permanent(_) => {
                        entry.outcome = Outcome::Failed;
                        self.audit.record(&entry);
                        Err(e)
                    }
                    _ => {
                        entry.outcome = Outcome::Retry;
                        self.audit.record(&entry);
                        Err(e)
                    }
                }
            }
        }
    }

    /// Answers with the skill's explain-only text instead of running it.
    pub(super) async fn degraded(
        &self,
        inv: &Invocation<'_>,
        reason: &'static str,
        started: Instant,
    ) -> Result<(), HandleError> {
        let text = Outgoing::text(inv.skill.cfg.degraded_text.clone());
        let mut entry = self.entry(inv, Outcome::Degraded, reason);
        entry.duration_ms = elapsed_ms(started);
        self.finish_entry(&mut entry, inv, std::slice::from_ref(&text));
        self.audit.record(&entry);
        debug!(skill = %inv.skill.cfg.name, reason, "answering degraded");
        self.send_all(inv.routing, 2, vec![text]).await
    }
}
