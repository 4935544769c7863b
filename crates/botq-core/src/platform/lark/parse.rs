//! The plaintext body: which schema it is, where its token is, and which
//! normaliser (if any) it goes to.
//!
//! Only the fields botq reads are declared; everything else is skipped by
//! serde. A field of the wrong JSON type or a required field that is absent
//! makes the whole body [`Reject::MalformedPayload`].

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::platform::{HttpAnswer, IgnoredKind, Inbound, Outcome, Reject};

use super::Verified;
use super::message::Base;

const URL_VERIFICATION: &str = "url_verification";
const MESSAGE_RECEIVE_V1: &str = "im.message.receive_v1";

/// The top level of a decrypted Lark body: a challenge, a schema 2.0 event
/// or a schema 1.0 (`event_callback`) event.
#[derive(Deserialize)]
pub(super) struct Payload {
    /// Present when the body is still the encrypted envelope.
    encrypt: Option<IgnoredAny>,
    schema: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    token: Option<String>,
    challenge: Option<String>,
    uuid: Option<String>,
    header: Option<Header>,
    event: Option<serde_json::Value>,
    /// Legacy card callbacks carry these at the top level (`card`).
    open_message_id: Option<IgnoredAny>,
    action: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Header {
    event_id: Option<String>,
    event_type: Option<String>,
    token: Option<String>,
}

impl Payload {
    pub(super) fn from_json(bytes: &[u8]) -> Result<Self, Reject> {
        serde_json::from_slice(bytes).map_err(|_| Reject::MalformedPayload)
    }

    /// Shaped as a legacy message-card callback: no schema, no type, not
    /// encrypted, the card's message and action at the top level. Nothing of
    /// it is trusted before `card::verify`.
    pub(super) fn is_legacy_card(&self) -> bool {
        self.schema.is_none()
            && self.kind.is_none()
            && self.encrypt.is_none()
            && self.open_message_id.is_some()
            && self.action.is_some()
    }

    pub(super) fn is_encrypted(&self) -> bool {
        self.encrypt.is_some()
    }

    pub(super) fn is_url_verification(&self) -> bool {
        self.kind.as_deref() == Some(URL_VERIFICATION)
    }

    /// The verification token where this kind of body carries it: schema 2.0
    /// in `header.token`, challenges and schema 1.0 at the top level. A
    /// challenge that also says `schema` (the SDK's test event does) may carry
    /// it in either place.
    pub(super) fn token(&self) -> Option<&str> {
        let in_header = self.header.as_ref().and_then(|h| h.token.as_deref());
        if self.is_url_verification() {
            self.token.as_deref().or(in_header)
        } else if self.schema.is_some() {
            in_header
        } else {
            self.token.as_deref()
        }
    }
}

/// Turns a verified body into what ingest should do with it.
pub(super) fn normalise(verified: Verified, req: &Inbound<'_>, bot_open_id: Option<&str>) -> Result<Outcome, Reject> {
    let payload = verified.0;
    if payload.is_url_verification() {
        let challenge = payload.challenge.ok_or(Reject::MalformedPayload)?;
        let body = serde_json::json!({ "challenge": challenge }).to_string();
        return Ok(Outcome::Handshake(HttpAnswer::json(200, body)));
    }
    let base = Base { req, bot_open_id };
    if payload.schema.is_some() {
        let header = payload.header.ok_or(Reject::MalformedPayload)?;
        let event_id = header.event_id.ok_or(Reject::MalformedPayload)?;
        let event_type = header.event_type.ok_or(Reject::MalformedPayload)?;
        if event_type != MESSAGE_RECEIVE_V1 {
            return Ok(ignored(IgnoredKind::EventType));
        }
        let event = payload.event.ok_or(Reject::MalformedPayload)?;
        return base.message_v2(event_id, event_type, event);
    }
    if payload.kind.as_deref() == Some("event_callback") {
        let event_id = payload.uuid.ok_or(Reject::MalformedPayload)?;
        let event = payload.event.ok_or(Reject::MalformedPayload)?;
        return base.message_v1(event_id, event);
    }
    match payload.kind {
        Some(_) => Ok(ignored(IgnoredKind::EventType)),
        None => Err(Reject::MalformedPayload),
    }
}

pub(super) fn ignored(kind: IgnoredKind) -> Outcome {
    Outcome::Ignored { kind }
}
