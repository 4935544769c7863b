//! A v11 report's JSON: recipient check and message normalisation.
//!
//! Ids are int64 in the spec; some implementations send them as strings, so
//! both are accepted and carried as decimal strings. `message` is either the
//! CQ-code string form or an array of segments, depending on the
//! implementation's `post-format`; it is read as it comes (the array is the
//! structure itself), and `raw_message` (always the string form) only when
//! `message` is missing. The envelope's text is the text as typed (`cq`).

use serde::Deserialize;
use serde_json::Value;

use crate::envelope::{ChatKind, ENVELOPE_VERSION, Envelope, Platform};
use crate::platform::{Event, IgnoredKind, Inbound, Outcome, Reject, TimestampWindow};

use super::cq;

use super::Verified;

#[derive(Deserialize)]
struct Report {
    self_id: Id,
    post_type: String,
    time: Option<i64>,
    message_type: Option<String>,
    sub_type: Option<String>,
    sender: Option<Sender>,
    message_id: Option<Id>,
    user_id: Option<Id>,
    group_id: Option<Id>,
    /// A string in messages; LLOneBot and early NapCat put an array here in pokes.
    raw_message: Option<Value>,
    message: Option<Value>,
}

/// `sender`: go-cqhttp puts a temporary session's source group here.
#[derive(Deserialize)]
struct Sender {
    group_id: Option<Id>,
}

/// A QQ number or message id: a JSON integer, or a string from lenient
/// implementations.
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Int(i64),
    Text(String),
}

impl Id {
    fn into_string(self) -> String {
        match self {
            Self::Int(n) => n.to_string(),
            Self::Text(s) => s,
        }
    }

    fn is(&self, other: &str) -> bool {
        match self {
            Self::Int(n) => n.to_string() == other,
            Self::Text(s) => s == other,
        }
    }
}

/// Turns a verified report into what ingest should do with it.
pub(super) fn normalise(
    verified: &Verified<'_>,
    window: TimestampWindow,
    req: &Inbound<'_>,
) -> Result<Outcome, Reject> {
    let report: Report = serde_json::from_slice(verified.body).map_err(|_| Reject::MalformedPayload)?;
    if !report.self_id.is(verified.self_id) {
        return Err(Reject::WrongRecipient);
    }
    // Every v11 event has `time`; a message without one is malformed (below).
    if report.time.is_some_and(|t| !window.admits(t, req.now_ms)) {
        return Err(Reject::StaleTimestamp);
    }
    match report.post_type.as_str() {
        "message" => message(verified.self_id, report, req),
        // NapCat reports the bot's own sent messages.
        "message_sent" => Ok(Outcome::Ignored { kind: IgnoredKind::OwnMessage }),
        _ => Ok(Outcome::Ignored { kind: IgnoredKind::EventType }),
    }
}

fn message(self_id: &str, mut report: Report, req: &Inbound<'_>) -> Result<Outcome, Reject> {
    let required = |field: Option<Id>| field.map(Id::into_string).ok_or(Reject::MalformedPayload);
    let message_type = report.message_type.ok_or(Reject::MalformedPayload)?;
    let user_id = required(report.user_id)?;
    let (chat_kind, chat_id, event_type) = match message_type.as_str() {
        "group" => (ChatKind::Group, required(report.group_id.take())?, "message.group"),
        "private" => (ChatKind::Private, user_id.clone(), "message.private"),
        _ => {
            return Ok(Outcome::Ignored { kind: IgnoredKind::EventType });
        }
    };
    // A temporary session (`private`, `sub_type` `group`) is answered through
    // the group it came from: NapCat reports it as `group_id`, go-cqhttp as
    // `sender.group_id`; `send_private_msg` takes it as `group_id`.
    let temp_group = (chat_kind == ChatKind::Private && report.sub_type.as_deref() == Some("group"))
        .then(|| report.group_id.or_else(|| report.sender.and_then(|s| s.group_id)))
        .flatten()
        .map(Id::into_string)
        .filter(|g| g != "0");
    let message_id = required(report.message_id)?;
    let time = report.time.ok_or(Reject::MalformedPayload)?;
    let segments = match (&report.message, &report.raw_message) {
        (Some(Value::Array(items)), _) => cq::parse_array(items, self_id),
        (Some(Value::String(s)), _) | (None, Some(Value::String(s))) => cq::parse_string(s, self_id),
        _ => return Err(Reject::MalformedPayload),
    };
    let typed = cq::typed(&segments);
    if typed.text.is_empty() {
        return Ok(Outcome::Ignored { kind: IgnoredKind::MessageType });
    }
    let text = typed.text;
    let mentions_bot = chat_kind == ChatKind::Private || typed.mentions_bot;
    Ok(Outcome::Event(Event {
        // `message_id` alone is not an identity: implementations reuse it
        // after a restart, so the event is `self_id:message_id:time`, for
        // ingest's dedupe and the worker's claim and reply record alike.
        aliases: Vec::new(),
        envelope: Envelope {
            version: ENVELOPE_VERSION,
            platform: Platform::Onebot,
            bot: req.bot.clone(),
            request_id: req.request_id,
            event_id: format!("{self_id}:{message_id}:{time}"),
            event_type: event_type.to_owned(),
            message_id,
            chat_kind,
            chat_id,
            guild_id: None,
            temp_group,
            notice: false,
            sender_is_bot: user_id == self_id,
            sender_id: user_id,
            text,
            segments,
            mentions_bot,
            platform_ts_ms: time.checked_mul(1000),
            received_at_ms: req.now_ms,
        },
    }))
}
