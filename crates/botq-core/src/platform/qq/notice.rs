//! QQ events that are not messages but may be answered: a button press
//! (`INTERACTION_CREATE`), the bot added to a group (`GROUP_ADD_ROBOT`), a
//! user adding it as a friend (`FRIEND_ADD`).
//!
//! The platform's rules (bot docs, "消息按钮" and "发送消息"):
//! - they carry no `msg_id`; a passive reply names the event instead with
//!   `event_id` (the send APIs list exactly these events). For a button that
//!   is the interaction's own `d.id`; for the others the frame's `id`;
//! - an interaction must be answered with `PUT /interactions/{d.id}`
//!   `{"code":0}`, or the user's client shows "loading" until it times out
//!   (the worker does, as soon as it takes the event).
//!
//! Each becomes an envelope with `notice` set, routed by its event type
//! (a bot's `events` table) rather than by text. A button's text is its
//! `button_data`, so a skill can tell the buttons apart.

use serde::Deserialize;
use serde_json::Value;

use super::parse::{Frame, required};
use super::verify::Verified;
use crate::envelope::{ChatKind, ENVELOPE_VERSION, Envelope, Platform};
use crate::message::Segment;
use crate::platform::{Event, IgnoredKind, Inbound, Outcome, Reject};

/// The answerable events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Interaction,
    GroupAddRobot,
    FriendAdd,
}

impl Kind {
    pub(super) fn from_event_type(t: &str) -> Option<Self> {
        match t {
            "INTERACTION_CREATE" => Some(Self::Interaction),
            "GROUP_ADD_ROBOT" => Some(Self::GroupAddRobot),
            "FRIEND_ADD" => Some(Self::FriendAdd),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Body {
    d: Notice,
}

/// The union of the three events' fields.
#[derive(Deserialize)]
struct Notice {
    id: Option<String>,
    /// RFC 3339 text (interactions) or Unix seconds (the others).
    timestamp: Option<Value>,
    /// 0 guild, 1 group, 2 C2C (interactions).
    chat_type: Option<u8>,
    group_openid: Option<String>,
    group_member_openid: Option<String>,
    user_openid: Option<String>,
    guild_id: Option<String>,
    channel_id: Option<String>,
    /// Who added the bot to the group.
    op_member_openid: Option<String>,
    /// Who added the bot as a friend.
    openid: Option<String>,
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    resolved: Option<Resolved>,
}

#[derive(Deserialize)]
struct Resolved {
    button_data: Option<String>,
    /// The guild user who pressed (guild scene; the docs' C2C sample has it too).
    user_id: Option<String>,
}

/// Normalises one answerable event.
pub(super) fn normalise(
    kind: Kind,
    verified: &Verified<'_>,
    frame: Frame,
    req: &Inbound<'_>,
) -> Result<Outcome, Reject> {
    let event_type = frame.t.unwrap_or_default();
    let Body { d } = serde_json::from_slice::<Body>(verified.body()).map_err(|_| Reject::MalformedPayload)?;
    let resolved = d.data.and_then(|x| x.resolved);
    let (presser, text) = resolved.map_or((None, None), |r| (r.user_id, r.button_data));
    let (chat_kind, chat_id, guild_id, sender_id, reply_handle) = match kind {
        Kind::Interaction => {
            let id = required(d.id)?;
            match d.chat_type {
                Some(0) => {
                    let sender = required(presser)?;
                    (ChatKind::Channel, required(d.channel_id)?, Some(required(d.guild_id)?), sender, id)
                }
                Some(1) => {
                    let group = required(d.group_openid)?;
                    (ChatKind::Group, group, None, required(d.group_member_openid)?, id)
                }
                Some(2) => {
                    let user = required(d.user_openid.or(presser))?;
                    (ChatKind::Private, user.clone(), None, user, id)
                }
                _ => return Ok(Outcome::Ignored { kind: IgnoredKind::EventType }),
            }
        }
        Kind::GroupAddRobot => {
            let group = required(d.group_openid)?;
            (ChatKind::Group, group, None, required(d.op_member_openid)?, required(frame.id.clone())?)
        }
        Kind::FriendAdd => {
            let user = required(d.openid)?;
            (ChatKind::Private, user.clone(), None, user, required(frame.id.clone())?)
        }
    };
    // The frame id identifies the delivery; an interaction's own id is the
    // fallback where a frame lacks one.
    let event_id = required(frame.id.or_else(|| (kind == Kind::Interaction).then(|| reply_handle.clone())))?;
    let text = text.unwrap_or_default();
    let platform_ts_ms = match &d.timestamp {
        Some(Value::String(s)) => crate::rfc3339::parse_unix_ms(s),
        Some(Value::Number(n)) => n.as_i64().and_then(|secs| secs.checked_mul(1000)),
        _ => None,
    };
    let segments = if text.is_empty() { Vec::new() } else { vec![Segment::text(text.clone())] };
    Ok(Outcome::Event(Event {
        envelope: Envelope {
            version: ENVELOPE_VERSION,
            platform: Platform::Qq,
            bot: req.bot.clone(),
            request_id: req.request_id,
            event_id,
            event_type,
            message_id: reply_handle,
            chat_kind,
            chat_id,
            guild_id,
            temp_group: None,
            notice: true,
            sender_id,
            sender_is_bot: false,
            text,
            segments,
            mentions_bot: true,
            platform_ts_ms,
            received_at_ms: req.now_ms,
        },
        aliases: Vec::new(),
    }))
}
