//! Message events to envelopes: `im.message.receive_v1` and schema 1.0
//! `message`.
//!
//! `content` of a 2.0 message is a JSON document inside a string, shaped by
//! `message_type`, read into segments by `content`; a message without text
//! (an image, a file, a sticker, a card) is ignored as a message type.

use serde::Deserialize;

use crate::envelope::{ChatKind, ENVELOPE_VERSION, Envelope, Platform};
use crate::message::{self, Segment};
use crate::platform::{Event, IgnoredKind, Inbound, Outcome, Reject};

use super::content::{self, Mention};
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
    /// The message replied to, if any.
    parent_id: Option<String>,
    mentions: Option<Vec<Mention>>,
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
    segments: Vec<Segment>,
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
        let mentions = msg.mentions.unwrap_or_default();
        let bot = content::BotIs { open_id: self.bot_open_id };
        let parsed = content::parse(&msg.message_type, &msg.content, &mentions, bot);
        let Some(body) = parsed.map_err(|()| Reject::MalformedPayload)? else {
            return Ok(ignored(IgnoredKind::MessageType));
        };
        let mut segments = Vec::with_capacity(body.len() + 1);
        if let Some(parent) = msg.parent_id.filter(|p| !p.is_empty()) {
            segments.push(Segment::Quote { message_id: parent });
        }
        segments.extend(body);
        let typed = message::typed(&segments, content::SHOWN);
        if typed.text.is_empty() {
            return Ok(ignored(IgnoredKind::MessageType));
        }
        let mentions_bot = chat_kind == ChatKind::Private || typed.mentions_bot;
        Ok(self.event(Parts {
            event_id,
            event_type,
            message_id: msg.message_id,
            chat_kind,
            chat_id: msg.chat_id,
            sender_id,
            sender_is_bot: ev.sender.sender_type != "user",
            text: typed.text,
            segments,
            mentions_bot,
            platform_ts_ms: msg.create_time.and_then(|t| t.parse().ok()),
        }))
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
            // Schema 1.0 gives the text without the bot's mention, and no ids for other mentions.
            segments: Vec::new(),
            text: required(ev.text_without_at_bot.or(ev.text))?.trim().to_owned(),
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
                temp_group: None,
                notice: false,
                sender_id: p.sender_id,
                sender_is_bot: p.sender_is_bot,
                text: p.text,
                segments: p.segments,
                mentions_bot: p.mentions_bot,
                platform_ts_ms: p.platform_ts_ms,
                received_at_ms: self.req.now_ms,
            },
            aliases,
        })
    }
}
