//! The JSON contract between botq and an upstream `http` skill, version 1.
//!
//! Documented with examples in `docs/SKILLS.md`; this file is the source of
//! truth. The request is the normalised event plus what the router decided
//! (skill, command, arguments) and the attempt's deadline. The answer is zero
//! or more replies. New optional fields may appear in a request within v1;
//! anything incompatible gets a new `schema` string.

use botq_core::envelope::Envelope;
use serde::{Deserialize, Serialize};

pub const REQUEST_SCHEMA: &str = "botq.skill.request/v1";

/// What botq POSTs.
#[derive(Debug, Serialize)]
pub struct SkillRequest<'a> {
    pub schema: &'static str,
    /// The webhook's request id (also in `X-Request-Id`): quote it in logs.
    pub request_id: String,
    /// 1 for the first attempt; a retry sends the same event again with the
    /// same `Idempotency-Key` header.
    pub attempt: u32,
    pub skill: &'a str,
    /// `"read"` or `"write"`.
    pub access: &'static str,
    /// The command as typed without the prefix, or `null` for a message that
    /// is not a command (the chat's default skill).
    pub command: Option<&'a str>,
    /// The text after the command, or the whole message for the default skill.
    pub args: &'a str,
    /// Milliseconds the upstream has before botq gives up on this attempt.
    pub deadline_ms: u64,
    /// The chat's recent conversation (oldest first) and its summary, when
    /// the bot keeps a window and the skill has a `context` budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<crate::conversation::ContextView>,
    pub event: EventView<'a>,
}

#[derive(Debug, Serialize)]
pub struct EventView<'a> {
    pub platform: &'static str,
    pub bot: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub message_id: &'a str,
    pub chat: ChatView<'a>,
    pub sender: SenderView<'a>,
    /// The message text as the platform sent it (mention markup included).
    pub text: &'a str,
    pub mentions_bot: bool,
    pub platform_ts_ms: Option<i64>,
    pub received_at_ms: i64,
}

#[derive(Debug, Serialize)]
pub struct ChatView<'a> {
    /// `"group"`, `"private"` or `"channel"`.
    pub kind: &'static str,
    pub id: &'a str,
    pub guild_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct SenderView<'a> {
    pub id: &'a str,
    pub is_bot: bool,
}

impl<'a> EventView<'a> {
    #[must_use]
    pub fn of(env: &'a Envelope) -> Self {
        Self {
            platform: env.platform.as_str(),
            bot: env.bot.as_str(),
            event_id: &env.event_id,
            event_type: &env.event_type,
            message_id: &env.message_id,
            chat: ChatView { kind: env.chat_kind.as_str(), id: &env.chat_id, guild_id: env.guild_id.as_deref() },
            sender: SenderView { id: &env.sender_id, is_bot: env.sender_is_bot },
            text: &env.text,
            mentions_bot: env.mentions_bot,
            platform_ts_ms: env.platform_ts_ms,
            received_at_ms: env.received_at_ms,
        }
    }
}

/// What the upstream answers with status 200. `204 No Content` means no reply.
#[derive(Debug, Deserialize)]
pub struct SkillResponse {
    #[serde(default)]
    pub replies: Vec<ReplyItem>,
}

/// A reply: `"text"` or `{"text": "…"}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ReplyItem {
    Text(String),
    Object { text: String },
}

impl ReplyItem {
    #[must_use]
    pub fn into_text(self) -> String {
        match self {
            Self::Text(t) | Self::Object { text: t } => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_may_be_strings_or_objects_and_may_be_absent() {
        let r: SkillResponse = serde_json::from_str(r#"{"replies":["a",{"text":"b"}]}"#).unwrap();
        let texts: Vec<_> = r.replies.into_iter().map(ReplyItem::into_text).collect();
        assert_eq!(texts, ["a", "b"]);
        assert!(serde_json::from_str::<SkillResponse>("{}").unwrap().replies.is_empty());
        assert!(serde_json::from_str::<SkillResponse>(r#"{"replies":[1]}"#).is_err());
    }

    #[test]
    fn the_request_carries_the_schema_and_the_event() {
        let env = botq_core::envelope::test_envelope(
            botq_core::envelope::Platform::Lark,
            botq_core::envelope::ChatKind::Group,
        );
        let req = SkillRequest {
            schema: REQUEST_SCHEMA,
            request_id: env.request_id.to_string(),
            attempt: 1,
            skill: "agent",
            access: "read",
            command: None,
            args: "hi",
            deadline_ms: 1000,
            context: None,
            event: EventView::of(&env),
        };
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["schema"], "botq.skill.request/v1");
        assert_eq!(v["event"]["event_id"], env.event_id.as_str());
        assert_eq!(v["event"]["chat"]["id"], env.chat_id.as_str());
        assert!(v["command"].is_null());
    }
}
