//! QQ payloads: the `{"id","op","d","s","t"}` frame and op-0 message events.
//!
//! The frame is read first without materialising `d`; only the five message
//! types botq handles have `d` deserialised, into just the fields the envelope
//! needs. Every other verified event is acknowledged and dropped, so a shape
//! botq does not know can never make the platform retry forever.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::verify::Verified;
use super::{content, notice};
use crate::envelope::{ChatKind, ENVELOPE_VERSION, Envelope, Platform};
use crate::message::Segment;
use crate::platform::{Event, IgnoredKind, Inbound, Outcome, Reject};

/// The payload frame; `d` is only checked for presence here.
#[derive(Debug, Deserialize)]
pub(super) struct Frame {
    pub(super) op: u64,
    pub(super) id: Option<String>,
    pub(super) t: Option<String>,
    pub(super) d: Option<IgnoredAny>,
}

impl Frame {
    pub(super) fn parse(body: &[u8]) -> Result<Self, Reject> {
        serde_json::from_slice(body).map_err(|_| Reject::MalformedPayload)
    }
}

/// The message types botq normalises.
#[derive(Debug, Clone, Copy)]
enum Kind {
    GroupAt,
    C2c,
    GuildAt,
    Guild,
    GuildDirect,
}

impl Kind {
    fn from_event_type(t: &str) -> Option<Self> {
        match t {
            "GROUP_AT_MESSAGE_CREATE" => Some(Self::GroupAt),
            "C2C_MESSAGE_CREATE" => Some(Self::C2c),
            "AT_MESSAGE_CREATE" => Some(Self::GuildAt),
            "MESSAGE_CREATE" => Some(Self::Guild),
            "DIRECT_MESSAGE_CREATE" => Some(Self::GuildDirect),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Body<T> {
    d: T,
}

/// The union of the message fields of the five types.
#[derive(Deserialize)]
struct Message {
    id: Option<String>,
    content: Option<String>,
    /// RFC 3339 text; advisory, so another JSON type is tolerated and ignored.
    timestamp: Option<serde_json::Value>,
    group_openid: Option<String>,
    channel_id: Option<String>,
    guild_id: Option<String>,
    author: Option<Author>,
    mentions: Option<Vec<Mention>>,
    attachments: Option<Vec<Attachment>>,
    /// Guild replies: the message quoted.
    message_reference: Option<Reference>,
    /// Group and C2C quotes: `ext` holds `ref_msg_idx=REFIDX_…`.
    message_scene: Option<Scene>,
}

#[derive(Deserialize)]
struct Attachment {
    url: Option<String>,
    filename: Option<String>,
    content_type: Option<String>,
}

#[derive(Deserialize)]
struct Reference {
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct Scene {
    ext: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct Author {
    id: Option<String>,
    member_openid: Option<String>,
    user_openid: Option<String>,
    bot: Option<bool>,
}

#[derive(Deserialize)]
struct Mention {
    id: Option<String>,
    username: Option<String>,
    bot: Option<bool>,
}

/// Normalises a verified op-0 dispatch.
///
/// The event type decides first: a verified frame of a type botq does not
/// handle is acknowledged whatever else it lacks (READY and RESUMED, as the
/// docs print them, have no top-level `id`), and only the message types
/// need an `id` to dedupe on and a `d` to read.
pub(super) fn dispatch(verified: Verified<'_>, frame: Frame, req: &Inbound<'_>) -> Result<Outcome, Reject> {
    if let Some(kind) = frame.t.as_deref().and_then(notice::Kind::from_event_type) {
        return notice::normalise(kind, &verified, frame, req);
    }
    let Some(kind) = frame.t.as_deref().and_then(Kind::from_event_type) else {
        return Ok(Outcome::Ignored { kind: IgnoredKind::EventType });
    };
    let event_type = frame.t.unwrap_or_default();
    let event_id = required(frame.id)?;
    if frame.d.is_none() {
        return Err(Reject::MalformedPayload);
    }
    let Body { d } = serde_json::from_slice::<Body<Message>>(verified.body()).map_err(|_| Reject::MalformedPayload)?;

    let message_id = required(d.id)?;
    let author = d.author.ok_or(Reject::MalformedPayload)?;
    let sender_is_bot = author.bot.unwrap_or(false);
    let guild = d.guild_id.is_some();
    let (chat_kind, chat_id, guild_id, sender_id, mentions_bot) = match kind {
        Kind::GroupAt => (ChatKind::Group, required(d.group_openid)?, None, required(author.member_openid)?, true),
        Kind::C2c => {
            let user = required(author.user_openid)?;
            (ChatKind::Private, user.clone(), None, user, true)
        }
        Kind::GuildAt | Kind::Guild => {
            // Every @-message mentions the bot; in the all-messages feed only a
            // mention of a bot counts (the bot's own guild user id is not
            // configured, so any bot mention is taken as this one).
            let mentions_bot =
                matches!(kind, Kind::GuildAt) || d.mentions.iter().flatten().any(|m| m.bot == Some(true));
            let channel = required(d.channel_id)?;
            let guild = required(d.guild_id)?;
            (ChatKind::Channel, channel, Some(guild), required(author.id)?, mentions_bot)
        }
        Kind::GuildDirect => {
            let sender = required(author.id)?;
            (ChatKind::Private, sender.clone(), Some(required(d.guild_id)?), sender, true)
        }
    };
    let known: Vec<content::Known<'_>> = d
        .mentions
        .iter()
        .flatten()
        .filter_map(|m| {
            Some(content::Known { id: m.id.as_deref()?, name: m.username.as_deref(), bot: m.bot == Some(true) })
        })
        .collect();
    let mut segments = Vec::new();
    if let Some(quoted) = quote_of(d.message_reference.as_ref(), d.message_scene.as_ref()) {
        segments.push(Segment::Quote { message_id: quoted });
    }
    segments.extend(content::parse(d.content.as_deref().unwrap_or_default(), &known, guild));
    segments.extend(d.attachments.iter().flatten().map(attachment));
    let typed = crate::message::typed(&segments, content::SHOWN);
    // A message without text (an image or a file) has nothing for a command.
    if typed.text.is_empty() {
        return Ok(Outcome::Ignored { kind: IgnoredKind::MessageType });
    }
    let platform_ts_ms = d.timestamp.as_ref().and_then(|v| v.as_str()).and_then(crate::rfc3339::parse_unix_ms);

    let aliases = vec![format!("msg:{message_id}")];
    let envelope = Envelope {
        version: ENVELOPE_VERSION,
        platform: Platform::Qq,
        bot: req.bot.clone(),
        request_id: req.request_id,
        event_id,
        event_type,
        message_id,
        chat_kind,
        chat_id,
        guild_id,
        temp_group: None,
        notice: false,
        sender_id,
        sender_is_bot,
        text: typed.text,
        segments,
        mentions_bot: mentions_bot || typed.mentions_bot,
        platform_ts_ms,
        received_at_ms: req.now_ms,
    };
    Ok(Outcome::Event(Event { envelope, aliases }))
}

/// The quoted message: a guild `message_reference`, or the `ref_msg_idx=`
/// of a group or C2C quote (message type 103) in `message_scene.ext`.
fn quote_of(reference: Option<&Reference>, scene: Option<&Scene>) -> Option<String> {
    if let Some(id) = reference.and_then(|r| r.message_id.clone()).filter(|id| !id.is_empty()) {
        return Some(id);
    }
    scene?
        .ext
        .iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .find_map(|e| e.strip_prefix("ref_msg_idx=").filter(|id| !id.is_empty()).map(str::to_owned))
}

/// An attachment as a segment: images by their `content_type`, the rest as files.
fn attachment(a: &Attachment) -> Segment {
    let url = a.url.clone().filter(|u| !u.is_empty());
    if a.content_type.as_deref().is_some_and(|t| t.starts_with("image/")) {
        Segment::Image { url, id: a.filename.clone() }
    } else {
        Segment::File { url, id: None, name: a.filename.clone() }
    }
}

/// An id the event cannot be routed or deduped without.
pub(super) fn required(value: Option<String>) -> Result<String, Reject> {
    value.filter(|s| !s.is_empty()).ok_or(Reject::MalformedPayload)
}
