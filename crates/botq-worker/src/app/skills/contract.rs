//! The JSON contract between botq and an upstream `http` skill.
//!
//! Documented with examples in `docs/SKILLS.md`; this file is the source of
//! truth. The request is the normalised event plus what the router decided
//! (skill, command, arguments) and the attempt's deadline; v2 adds the
//! message's segments (`botq_core::message`). The answer is zero or more
//! replies, each plain text or segments (a mention of the sender, a quote of
//! the message, an image by URL), in either version. New optional fields
//! may appear in a request within a version; anything incompatible gets a
//! new `schema` string.

use botq_core::envelope::Envelope;
use botq_core::message::{Outgoing, Segment};
use botq_core::skill::Contract;
use serde::{Deserialize, Serialize};

pub const REQUEST_SCHEMA: &str = "botq.skill.request/v1";
pub const REQUEST_SCHEMA_V2: &str = "botq.skill.request/v2";

/// The `schema` string of a contract version.
#[must_use]
pub fn schema(contract: Contract) -> &'static str {
    match contract {
        Contract::V1 => REQUEST_SCHEMA,
        Contract::V2 => REQUEST_SCHEMA_V2,
    }
}

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
    pub context: Option<crate::app::conversation::ContextView>,
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
    /// The text as the user typed it: unescaped, without the leading quote
    /// and the bot's own mentions.
    pub text: &'a str,
    /// v2: the whole message as segments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<&'a [Segment]>,
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
    /// The event as `contract` shows it.
    #[must_use]
    pub fn of(env: &'a Envelope, contract: Contract) -> Self {
        Self {
            platform: env.platform.as_str(),
            bot: env.bot.as_str(),
            event_id: &env.event_id,
            event_type: &env.event_type,
            message_id: &env.message_id,
            chat: ChatView { kind: env.chat_kind.as_str(), id: &env.chat_id, guild_id: env.guild_id.as_deref() },
            sender: SenderView { id: &env.sender_id, is_bot: env.sender_is_bot },
            text: &env.text,
            segments: (contract == Contract::V2).then_some(env.segments.as_slice()),
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

/// A reply: `"text"`, `{"text": "…"}` or `{"segments": […]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ReplyItem {
    Text(String),
    Segments { segments: Vec<Part> },
    Object { text: String },
}

/// One segment of a reply, as a skill writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Part {
    Text {
        text: String,
    },
    /// `user` is a platform user id, or `"sender"` for the sender of the
    /// message answered.
    Mention {
        user: String,
    },
    /// Sent only when the bot's `mention_everyone` allows it.
    MentionEveryone,
    /// Quotes the message answered, or the `message_id` given.
    Quote {
        #[serde(default)]
        message_id: Option<String>,
    },
    Image {
        url: String,
    },
}

/// Why a reply cannot be sent as the skill wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartError {
    #[error("mention of {0:?}: not a user id (letters, digits, '_' and '-'; everyone is mention_everyone)")]
    User(String),
    #[error("image {0:?}: not an http:// or https:// URL")]
    Image(String),
}

impl ReplyItem {
    /// The reply for `env`: `"sender"` and a bare quote resolved, a mention
    /// of everyone kept only when `mention_everyone` allows it.
    ///
    /// # Errors
    /// A mention that is not a user id, an image that is not a web URL.
    pub fn resolve(self, env: &Envelope, mention_everyone: bool) -> Result<Outgoing, PartError> {
        let parts = match self {
            Self::Text(text) | Self::Object { text } => return Ok(Outgoing::text(text)),
            Self::Segments { segments } => segments,
        };
        let mut out = Vec::with_capacity(parts.len());
        for part in parts {
            out.push(match part {
                Part::Text { text } => Segment::Text { text },
                Part::Mention { user } => {
                    let user = if user == "sender" { env.sender_id.clone() } else { user };
                    // `all` and `everyone` are how platforms spell everyone:
                    // that is `mention_everyone`, under the bot's policy.
                    let ok = !user.is_empty()
                        && user.len() <= 128
                        && user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                        && !botq_core::message::names_everyone(&user);
                    if !ok {
                        return Err(PartError::User(user));
                    }
                    Segment::Mention { user, name: None, bot: false }
                }
                Part::MentionEveryone if mention_everyone => Segment::MentionEveryone,
                Part::MentionEveryone => continue,
                Part::Quote { message_id } => {
                    Segment::Quote { message_id: message_id.unwrap_or_else(|| env.message_id.clone()) }
                }
                Part::Image { url } => {
                    let web = url::Url::parse(&url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
                    if !web {
                        return Err(PartError::Image(url));
                    }
                    Segment::Image { url: Some(url), id: None }
                }
            });
        }
        Ok(Outgoing { segments: out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Envelope {
        botq_core::envelope::test_envelope(botq_core::envelope::Platform::Qq, botq_core::envelope::ChatKind::Group)
    }

    #[test]
    fn replies_may_be_strings_or_objects_and_may_be_absent() {
        let r: SkillResponse = serde_json::from_str(r#"{"replies":["a",{"text":"b"}]}"#).unwrap();
        let texts: Vec<_> = r.replies.into_iter().map(|r| r.resolve(&env(), false).unwrap()).collect();
        assert_eq!(texts, [Outgoing::text("a"), Outgoing::text("b")]);
        assert!(serde_json::from_str::<SkillResponse>("{}").unwrap().replies.is_empty());
        assert!(serde_json::from_str::<SkillResponse>(r#"{"replies":[1]}"#).is_err());
    }

    #[test]
    fn segment_replies_resolve_the_sender_the_quote_and_the_everyone_policy() {
        let r: SkillResponse = serde_json::from_str(
            r#"{"replies":[{"segments":[
                {"type":"quote"},
                {"type":"mention","user":"sender"},
                {"type":"text","text":" hi "},
                {"type":"mention_everyone"},
                {"type":"image","url":"https://img.example/a.png"}
            ]}]}"#,
        )
        .unwrap();
        let item = r.replies.into_iter().next().unwrap();
        let e = env();
        let quiet = item.clone().resolve(&e, false).unwrap();
        assert_eq!(
            quiet.segments,
            [
                Segment::Quote { message_id: e.message_id.clone() },
                Segment::Mention { user: e.sender_id.clone(), name: None, bot: false },
                Segment::text(" hi "),
                Segment::Image { url: Some("https://img.example/a.png".into()), id: None },
            ],
            "everyone is left out unless the bot allows it"
        );
        assert!(item.resolve(&e, true).unwrap().segments.contains(&Segment::MentionEveryone));
        let bad = |json: &str| serde_json::from_str::<ReplyItem>(json).unwrap().resolve(&e, false);
        assert!(matches!(bad(r#"{"segments":[{"type":"mention","user":"a b"}]}"#), Err(PartError::User(_))));
        for everyone in ["all", "ALL", "everyone"] {
            let json = format!(r#"{{"segments":[{{"type":"mention","user":"{everyone}"}}]}}"#);
            assert!(matches!(bad(&json), Err(PartError::User(_))), "{everyone} is not a user");
        }
        assert!(matches!(
            bad(r#"{"segments":[{"type":"image","url":"file:///etc/passwd"}]}"#),
            Err(PartError::Image(_))
        ));
        assert!(serde_json::from_str::<ReplyItem>(r#"{"segments":[{"type":"poll"}]}"#).is_err(), "unknown kinds");
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
            event: EventView::of(&env, Contract::V1),
        };
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["schema"], "botq.skill.request/v1");
        assert_eq!(v["event"]["event_id"], env.event_id.as_str());
        assert_eq!(v["event"]["chat"]["id"], env.chat_id.as_str());
        assert!(v["command"].is_null());
        assert!(v["event"].get("segments").is_none(), "v1 has no segments");
        let v2 = serde_json::to_value(EventView::of(&env, Contract::V2)).unwrap();
        assert_eq!(v2["segments"], serde_json::json!([{"type":"text","text":"/ping"}]));
    }
}
