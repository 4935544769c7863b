//! Keeping the conversation window: what was said goes in after the
//! replies went out; what falls out is summarised when the bot asks for it.
//! Window trouble never fails an event: the answer already went out, and a
//! retry would answer twice for the sake of a note.

use std::time::Instant;

use botq_core::audit::Outcome;
use tracing::{debug, warn};

use super::{Attempt, Invocation, elapsed_ms};
use crate::app::conversation::{ContextView, Message};
use crate::app::skills::contract::{EventView, SkillRequest, schema};
use crate::handler::HandleError;
use botq_core::message::Outgoing;

impl Attempt {
    /// Adds the user's message and `replies` to the chat's window.
    pub(super) async fn remember(&self, inv: &Invocation<'_>, replies: &[Outgoing]) -> Result<(), HandleError> {
        let Some(window) = &inv.routing.context else { return Ok(()) };
        let mut messages = vec![Message::from_user(&self.env)];
        messages.extend(replies.iter().map(|r| Message::from_bot(&self.env, &r.plain())));
        match self.conversations.append(&self.env, window, &messages).await {
            Ok(dropped) if !dropped.is_empty() => self.summarize(inv, dropped).await,
            Ok(_) => {}
            Err(e) => warn!(error.kind = ?e.kind(), "cannot add to the conversation window"),
        }
        Ok(())
    }

    /// A group message not addressed to the bot, kept as context only.
    pub(super) async fn remember_unaddressed(&self, routing: &botq_core::routing::Routing) {
        let Some(window) = routing.context.as_ref().filter(|w| w.include_unaddressed) else { return };
        if let Err(e) = self.conversations.append(&self.env, window, &[Message::from_user(&self.env)]).await {
            debug!(error.kind = ?e.kind(), "cannot add to the conversation window");
        }
    }

    /// Condenses the old summary and the messages that fell out of the
    /// window into a new summary with the bot's `summarize_with` skill.
    async fn summarize(&self, inv: &Invocation<'_>, dropped: Vec<Message>) {
        let Some(window) = &inv.routing.context else { return };
        let Some(summarizer) = window.summarize_with.as_deref().and_then(|s| self.setup.skills.get(s)) else { return };
        let Some(upstream) = &summarizer.upstream else { return };
        let started = Instant::now();
        let old = self.conversations.summary(&self.env).await.unwrap_or_default();
        let name = summarizer.cfg.name.as_str();
        let request = SkillRequest {
            schema: schema(upstream.contract()),
            request_id: self.env.request_id.to_string(),
            attempt: self.job.attempt,
            skill: name,
            access: "read",
            command: None,
            args: "",
            deadline_ms: u64::try_from(summarizer.cfg.timeout.as_millis()).unwrap_or(u64::MAX),
            context: Some(ContextView { summary: old, messages: dropped }),
            event: EventView::of(&self.env, upstream.contract()),
        };
        let key = format!("{}:summary", super::idempotency_key(&self.env, name));
        let call = upstream.call(&request, &key).await;
        let summary_inv = Invocation { routing: inv.routing, skill: summarizer, command: None, args: String::new() };
        let mut entry = self.entry(&summary_inv, Outcome::Ok, call.reason);
        entry.duration_ms = elapsed_ms(started);
        entry.request_bytes = call.request_bytes;
        entry.response_bytes = call.response_bytes;
        match call.result {
            Ok(parts) if !parts.is_empty() => {
                let texts: Vec<String> =
                    parts.into_iter().filter_map(|p| p.resolve(&self.env, false).ok()).map(|o| o.plain()).collect();
                let summary = texts.join("\n");
                if let Err(e) = self.conversations.set_summary(&self.env, window, &summary).await {
                    warn!(error.kind = ?e.kind(), "cannot store the conversation summary");
                }
            }
            Ok(_) => entry.reason = "empty_summary".into(),
            Err(e) => {
                warn!(skill = name, error = %e, "summarising the conversation failed; the old summary stays");
                entry.outcome = Outcome::Failed;
            }
        }
        self.audit.record(&entry);
    }
}
