//! Message events to envelopes: `im.message.receive_v1` and schema 1.0
//! `message`.
//!
//! `content` of a 2.0 message is a JSON document inside a string, shaped by
//! `message_type`: text and rich-text posts have text, everything else
//! (images, files, stickers, cards) is ignored as a message type.

use serde::Deserialize;

use crate::envelope::{ChatKind, ENVELOPE_VERSION, Envelope, Platform};
use crate::platform::{Event, IgnoredKind, Inbound, Outcome, Reject};

use super::parse::ignored;

/// `event` of `im.message.receive_v1`.
#[derive(Deserialize)]
struct MessageReceiveV1 {
    sender: Sender,
    message: Message,
}

#[derive(Deserialize)]
struct Sender {
    sender_id: UserId,
    sender_type: String,
}

#[derive(Deserialize)]
struct UserId {
    open_id: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    message_id: String,
    chat_id: String,
    chat_type: String,
    message_type: String,
    /// A JSON document inside a string, shaped by `message_type`.
    content: String,
    create_time: Option<String>,
    mentions: Option<Vec<Mention>>,
}

#[derive(Deserialize)]
struct Mention {
    key: Option<String>,
    id: Option<UserId>,
    mentioned_type: Option<String>,
}

/// `event` of a schema 1.0 `message` event.
#[derive(Deserialize)]
struct MessageV1 {
    #[serde(rename = "type")]
    kind: String,
    msg_type: Option<String>,
    open_chat_id: Option<String>,
    open_id: Option<String>,
    open_message_id: Option<String>,
    chat_type: Option<String>,
    text: Option<String>,
    text_without_at_bot: Option<String>,
    #[serde(default)]
    is_mention: bool,
}

/// What every envelope of one request shares.
pub(super) struct Base<'r, 'a> {
    pub(super) req: &'r Inbound<'a>,
    pub(super) bot_open_id: Option<&'r str>,
}

/// The fields that differ between messages.
struct Parts {
    event_id: String,
    event_type: String,
    message_id: String,
    chat_kind: ChatKind,
    chat_id: String,
    sender_id: String,
    sender_is_bot: bool,
    text: String,
    mentions_bot: bool,
    platform_ts_ms: Option<i64>,
}

impl Base<'_, '_> {
    pub(super) fn message_v2(
        &self,
        event_id: String,
        event_type: String,
        event: serde_json::Value,
    ) -> Result<Outcome, Reject> {
        let ev = MessageReceiveV1::deserialize(event).map_err(|_| Reject::MalformedPayload)?;
        let msg = ev.message;
        let sender_id = ev.sender.sender_id.open_id.ok_or(Reject::MalformedPayload)?;
        let chat_kind = match msg.chat_type.as_str() {
            "p2p" => ChatKind::Private,
            "group" | "topic_group" => ChatKind::Group,
            _ => return Ok(ignored(IgnoredKind::EventType)),
        };
        let Some(text) = message_text(&msg.message_type, &msg.content)? else {
            return Ok(ignored(IgnoredKind::MessageType));
        };
        let mentions = msg.mentions.unwrap_or_default();
        let mentions_bot = chat_kind == ChatKind::Private || self.mentions_bot(&mentions, &text);
        Ok(self.event(Parts {
            event_id,
            event_type,
            message_id: msg.message_id,
            chat_kind,
            chat_id: msg.chat_id,
            sender_id,
            sender_is_bot: ev.sender.sender_type != "user",
            text,
            mentions_bot,
            platform_ts_ms: msg.create_time.and_then(|t| t.parse().ok()),
        }))
    }

    /// With `bot_open_id` configured, exactly "a mention names the bot".
    /// Without it, a heuristic: a mention the platform marks as a bot, or a
    /// message that opens with a mention. Lark only delivers group messages
    /// that @ the bot unless the app may read all group messages, so in the
    /// default setup a leading mention is almost always the bot.
    fn mentions_bot(&self, mentions: &[Mention], text: &str) -> bool {
        if let Some(bot) = self.bot_open_id {
            return mentions.iter().any(|m| m.id.as_ref().and_then(|id| id.open_id.as_deref()) == Some(bot));
        }
        let opening = text.trim_start();
        mentions.iter().any(|m| {
            m.mentioned_type.as_deref() == Some("bot")
                || m.key.as_deref().is_some_and(|k| !k.is_empty() && opening.starts_with(k))
        })
    }

    pub(super) fn message_v1(&self, event_id: String, event: serde_json::Value) -> Result<Outcome, Reject> {
        let ev = MessageV1::deserialize(event).map_err(|_| Reject::MalformedPayload)?;
        if ev.kind != "message" {
            return Ok(ignored(IgnoredKind::EventType));
        }
        if ev.msg_type.as_deref().is_some_and(|t| t != "text") {
            return Ok(ignored(IgnoredKind::MessageType));
        }
        let chat_kind = match ev.chat_type.as_deref() {
            Some("private") => ChatKind::Private,
            Some("group") => ChatKind::Group,
            _ => return Ok(ignored(IgnoredKind::EventType)),
        };
        let required = |field: Option<String>| field.ok_or(Reject::MalformedPayload);
        Ok(self.event(Parts {
            event_id,
            event_type: ev.kind,
            message_id: required(ev.open_message_id)?,
            chat_kind,
            chat_id: required(ev.open_chat_id)?,
            sender_id: required(ev.open_id)?,
            sender_is_bot: false,
            text: required(ev.text_without_at_bot.or(ev.text))?,
            mentions_bot: chat_kind == ChatKind::Private || ev.is_mention,
            platform_ts_ms: None,
        }))
    }

    fn event(&self, p: Parts) -> Outcome {
        let aliases = vec![format!("msg:{}", p.message_id)];
        Outcome::Event(Event {
            envelope: Envelope {
                version: ENVELOPE_VERSION,
                platform: Platform::Lark,
                bot: self.req.bot.clone(),
                request_id: self.req.request_id,
                event_id: p.event_id,
                event_type: p.event_type,
                message_id: p.message_id,
                chat_kind: p.chat_kind,
                chat_id: p.chat_id,
                guild_id: None,
                sender_id: p.sender_id,
                sender_is_bot: p.sender_is_bot,
                text: p.text,
                mentions_bot: p.mentions_bot,
                platform_ts_ms: p.platform_ts_ms,
                received_at_ms: self.req.now_ms,
            },
            aliases,
        })
    }
}

/// The text of a message, `None` for message types without text.
fn message_text(message_type: &str, content: &str) -> Result<Option<String>, Reject> {
    #[derive(Deserialize)]
    struct Text {
        text: String,
    }
    match message_type {
        "text" => {
            let c: Text = serde_json::from_str(content).map_err(|_| Reject::MalformedPayload)?;
            Ok(Some(c.text))
        }
        "post" => {
            let c: serde_json::Value = serde_json::from_str(content).map_err(|_| Reject::MalformedPayload)?;
            Ok(post_text(&c).filter(|t| !t.trim().is_empty()))
        }
        _ => Ok(None),
    }
}

/// A rich-text post flattened: the title, then one line per paragraph of its
/// `text` and link elements, with `at` elements as their `@_user_N` keys so a
/// post reads like a text message. Received posts are `{title, content}`;
/// the per-language wrapper of the send API (`{"zh_cn":{…}}`) is accepted too.
fn post_text(post: &serde_json::Value) -> Option<String> {
    let post = if post.get("content").is_some() {
        post
    } else {
        post.as_object()?.values().find(|v| v.get("content").is_some())?
    };
    let mut lines = Vec::new();
    if let Some(title) = post.get("title").and_then(|t| t.as_str()).filter(|t| !t.is_empty()) {
        lines.push(title.to_owned());
    }
    for paragraph in post.get("content")?.as_array()? {
        let mut line = String::new();
        for element in paragraph.as_array().into_iter().flatten() {
            let piece = match element.get("tag").and_then(|t| t.as_str()) {
                Some("text" | "a") => element.get("text").and_then(|t| t.as_str()),
                Some("at") => element.get("user_id").and_then(|t| t.as_str()).filter(|k| k.starts_with('@')),
                _ => None,
            };
            line.push_str(piece.unwrap_or_default());
        }
        lines.push(line);
    }
    Some(lines.join("\n"))
}
