//! The normalised event: one shape for QQ, Lark and OneBot.
//!
//! Ingest turns each verified webhook into an [`Envelope`] and stores it as a
//! single stream field; the worker never sees platform JSON again. Field names
//! are one or two letters on the wire because millions of these sit in Redis;
//! the Rust names are the documentation. Optional fields are omitted when empty.

use serde::{Deserialize, Serialize};

use crate::ids::{BotId, RequestId};
use crate::message::Segment;

/// Version of the wire format below; bumped on any incompatible change.
/// 2: `x` is the text as typed and `sg` the segments (1: `x` was the
/// platform's text, markup and escapes included; a worker of this version
/// still routes those).
pub const ENVELOPE_VERSION: u8 = 2;

/// Envelopes of this version and older carry the platform's text (`x`) and no segments.
pub const LEGACY_TEXT_VERSION: u8 = 1;

/// Which platform an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Qq,
    Lark,
    Onebot,
}

impl Platform {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qq => "qq",
            Self::Lark => "lark",
            Self::Onebot => "onebot",
        }
    }
}

/// Where the message was said, which decides where the reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    /// A group chat (QQ group, Lark group or topic group, OneBot group).
    Group,
    /// A one-to-one chat (QQ C2C, Lark p2p, OneBot private, QQ guild DM).
    Private,
    /// A QQ guild (频道) text sub-channel.
    Channel,
}

impl ChatKind {
    /// The name as serialised: `group`, `private`, `channel`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Group => "group",
            Self::Private => "private",
            Self::Channel => "channel",
        }
    }
}

/// One normalised inbound message event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "v")]
    pub version: u8,
    #[serde(rename = "p")]
    pub platform: Platform,
    #[serde(rename = "b")]
    pub bot: BotId,
    /// botq's id for the webhook delivery that carried this event (UUIDv7).
    #[serde(rename = "r")]
    pub request_id: RequestId,
    /// The platform's event id: QQ top-level `id`, Lark `header.event_id` or
    /// v1 `uuid`, OneBot `self_id:message_id:time`. The event's one identity:
    /// ingest dedupes on it, the worker claims and records replies under it.
    #[serde(rename = "e")]
    pub event_id: String,
    /// The platform's event type, e.g. `GROUP_AT_MESSAGE_CREATE`,
    /// `im.message.receive_v1`, `message.group`.
    #[serde(rename = "t")]
    pub event_type: String,
    /// The platform's message id: QQ `d.id` (the passive-reply `msg_id`),
    /// Lark `message_id`, OneBot `message_id`.
    #[serde(rename = "m")]
    pub message_id: String,
    #[serde(rename = "k")]
    pub chat_kind: ChatKind,
    /// Group openid, Lark chat id, OneBot group id, QQ channel id, or for
    /// private chats the peer's id.
    #[serde(rename = "c")]
    pub chat_id: String,
    /// QQ guild id, needed to answer a guild DM.
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<String>,
    /// The group a OneBot temporary session came from: a private reply to a
    /// non-friend is sent through it.
    #[serde(rename = "tg", default, skip_serializing_if = "Option::is_none")]
    pub temp_group: Option<String>,
    /// Not a message but an event that may be answered (QQ
    /// `INTERACTION_CREATE`, `GROUP_ADD_ROBOT`, `FRIEND_ADD`): routed by its
    /// type (a bot's `events`), answered with `event_id` = `message_id`.
    #[serde(rename = "nt", default, skip_serializing_if = "is_false")]
    pub notice: bool,
    #[serde(rename = "s")]
    pub sender_id: String,
    /// The sender is a bot (or this bot itself); replies to bots are off by default.
    #[serde(rename = "sb", default, skip_serializing_if = "is_false")]
    pub sender_is_bot: bool,
    /// The text as the user typed it (`message::typed`): unescaped, without
    /// the leading quote and the bot's own mentions. Routing reads commands from it.
    #[serde(rename = "x")]
    pub text: String,
    /// The whole message as segments, the bot's mention and the quote included.
    #[serde(rename = "sg", default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// The message mentions this bot (QQ group @-messages always do).
    #[serde(rename = "mb", default, skip_serializing_if = "is_false")]
    pub mentions_bot: bool,
    /// When the platform says the message was sent, Unix milliseconds.
    #[serde(rename = "pt", default, skip_serializing_if = "Option::is_none")]
    pub platform_ts_ms: Option<i64>,
    /// When ingest received the webhook, Unix milliseconds.
    #[serde(rename = "ra")]
    pub received_at_ms: i64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}

/// Why stored bytes are not an envelope.
#[derive(Debug, thiserror::Error)]
#[error("stored event is not a valid envelope: {0}")]
pub struct DecodeError(#[from] serde_json::Error);

impl Envelope {
    /// The compact JSON stored in the stream entry.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        // Serialising a struct of strings, ints and bools cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses what [`Envelope::encode`] wrote.
    ///
    /// # Errors
    /// [`DecodeError`] when the bytes are not an envelope of this version.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// The id of the message this one quotes (replies to), if any: what the
    /// platform gives (a QQ guild message id or group `REFIDX_…` index, a
    /// Lark `parent_id`, a OneBot reply segment's id).
    #[must_use]
    pub fn quoted(&self) -> Option<&str> {
        self.segments.iter().find_map(|s| match s {
            Segment::Quote { message_id } => Some(message_id.as_str()),
            _ => None,
        })
    }
}

/// An envelope for unit tests (of this and other crates): a group message
/// "/ping" that mentions the bot.
#[doc(hidden)]
#[must_use]
pub fn test_envelope(platform: Platform, chat_kind: ChatKind) -> Envelope {
    Envelope {
        version: ENVELOPE_VERSION,
        platform,
        bot: BotId::parse(&format!("{}-main", platform.as_str())).unwrap_or_else(|_| unreachable!()),
        request_id: RequestId::new(),
        event_id: "event-1".into(),
        event_type: "message".into(),
        message_id: "message-1".into(),
        chat_kind,
        chat_id: "CHAT".into(),
        guild_id: None,
        temp_group: None,
        notice: false,
        sender_id: "USER".into(),
        sender_is_bot: false,
        text: "/ping".into(),
        segments: vec![Segment::text("/ping")],
        mentions_bot: true,
        platform_ts_ms: None,
        received_at_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            version: ENVELOPE_VERSION,
            platform: Platform::Qq,
            bot: BotId::parse("qq-main").unwrap(),
            request_id: RequestId::new(),
            event_id: "GROUP_AT_MESSAGE_CREATE:abc".into(),
            event_type: "GROUP_AT_MESSAGE_CREATE".into(),
            message_id: "ROBOT1.0_x".into(),
            chat_kind: ChatKind::Group,
            chat_id: "82B3".into(),
            guild_id: None,
            temp_group: None,
            notice: false,
            sender_id: "0BA1".into(),
            sender_is_bot: false,
            text: "/ping".into(),
            segments: vec![Segment::text(" /ping")],
            mentions_bot: true,
            platform_ts_ms: Some(1_757_344_414_000),
            received_at_ms: 1_757_344_414_123,
        }
    }

    #[test]
    fn envelope_round_trips_through_its_wire_form() {
        let e = sample();
        assert_eq!(Envelope::decode(&e.encode()).unwrap(), e);
    }

    #[test]
    fn wire_form_is_compact_and_omits_empty_fields() {
        let json = String::from_utf8(sample().encode()).unwrap();
        assert!(json.starts_with(r#"{"v":2,"p":"qq","b":"qq-main","#), "{json}");
        assert!(!json.contains("\"g\""), "{json}");
        assert!(!json.contains("\"sb\""), "{json}");
    }
}
