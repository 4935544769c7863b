//! Platform adapters: verify the raw bytes, then normalise.
//!
//! Each platform module turns one webhook (headers + raw body) into an
//! [`Outcome`] or a [`Reject`]. Verification always runs on the raw bytes
//! before any JSON is parsed, and parsing takes the adapter's `Verified` type,
//! so unverified input cannot reach the queue. The adapters are pure (time is
//! passed in), know nothing of HTTP servers or Redis, and never panic on input.

mod ids;
pub mod lark;
pub mod onebot;
pub mod outbound;
mod previous;
pub mod qq;

use std::time::Duration;

use crate::envelope::{Envelope, Platform};
use crate::ids::{BotId, RequestId};
use lark::config::LarkBot;
use onebot::config::OnebotBot;
use qq::config::QqBot;

/// One webhook delivery as ingest received it.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub bot: &'a BotId,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    /// Wall-clock time of receipt, Unix milliseconds.
    pub now_ms: i64,
    pub request_id: RequestId,
}

/// Checks a platform's timestamp against the configured window.
///
/// The window is asymmetric: a delivery may be old (platforms retry for
/// hours: Lark for about 7 h), but a timestamp from the future only by the
/// clock skew between the platform and this machine. A wide future margin
/// would let a signature made now be replayed long after the dedupe key of
/// its first delivery expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampWindow(Option<WindowBounds>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WindowBounds {
    max_age_ms: i64,
    max_ahead_ms: i64,
}

impl TimestampWindow {
    /// No check: every timestamp is admitted.
    pub const OFF: Self = Self(None);

    /// Admits timestamps at most `max_age` old and at most `max_ahead` in the future.
    #[must_use]
    pub fn new(max_age: Duration, max_ahead: Duration) -> Self {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self(Some(WindowBounds { max_age_ms: ms(max_age), max_ahead_ms: ms(max_ahead) }))
    }

    /// `true` when `signed_secs` is within the window around `now_ms`, or
    /// when no window is configured.
    #[must_use]
    pub fn admits(self, signed_secs: i64, now_ms: i64) -> bool {
        let Some(b) = self.0 else { return true };
        signed_secs.checked_mul(1000).and_then(|signed_ms| now_ms.checked_sub(signed_ms)).is_some_and(|age_ms| {
            if age_ms >= 0 { age_ms <= b.max_age_ms } else { age_ms.checked_neg().is_some_and(|a| a <= b.max_ahead_ms) }
        })
    }
}

/// What to do with a verified webhook.
// `Event` dwarfs the other variants, but an `Outcome` is made once per request
// and moved, never copied or stored in bulk; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Enqueue the event (unless a dedupe key was seen), then answer with the
    /// platform's ack.
    Event(Event),
    /// Answer at once with this body; nothing is stored (QQ op 13, Lark
    /// `url_verification`).
    Handshake(HttpAnswer),
    /// Verified, but not an event this bot handles: ack, drop and count.
    Ignored { kind: IgnoredKind },
}

/// Why a verified webhook is dropped. A bounded set: it becomes a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoredKind {
    /// An event type botq does not handle (notices, meta events, reactions…).
    EventType,
    /// A message type without text (images, stickers, files…).
    MessageType,
    /// The bot's own message echoed back (OneBot `message_sent`).
    OwnMessage,
    /// A Lark legacy message-card callback (botq routes no card actions).
    CardAction,
}

impl IgnoredKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventType => "event_type",
            Self::MessageType => "message_type",
            Self::OwnMessage => "own_message",
            Self::CardAction => "card_action",
        }
    }
}

/// A normalised event plus the platform ids it is deduped on.
///
/// The envelope's `event_id` is the event's one identity: ingest dedupes on
/// it, and the worker claims, marks done and records replies under it. It is
/// always the first dedupe key ([`Event::dedupe_keys`]), so an event that
/// ingest accepted as new cannot be taken for a duplicate by the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub envelope: Envelope,
    /// Other identities of the same event, each `kind:value` (e.g. `msg:<QQ
    /// d.id>` for a message redelivered under a new event id): a delivery is a
    /// duplicate when its event id or any of these was seen inside the dedupe
    /// TTL. Never `id:…`, which is the event id's own kind.
    pub aliases: Vec<String>,
}

impl Event {
    /// The dedupe keys, `id:<event id>` first, then the aliases; the bot id
    /// is added by the key builder.
    #[must_use]
    pub fn dedupe_keys(&self) -> Vec<String> {
        std::iter::once(identity_key(&self.envelope.event_id)).chain(self.aliases.iter().cloned()).collect()
    }
}

/// The dedupe key of an event id: what ingest stores for it.
#[must_use]
pub fn identity_key(event_id: &str) -> String {
    format!("id:{event_id}")
}

/// A bot's platform and its settings.
#[derive(Debug, Clone)]
pub enum PlatformBot {
    Qq(QqBot),
    Lark(LarkBot),
    Onebot(OnebotBot),
}

impl PlatformBot {
    #[must_use]
    pub fn platform(&self) -> Platform {
        match self {
            Self::Qq(_) => Platform::Qq,
            Self::Lark(_) => Platform::Lark,
            Self::Onebot(_) => Platform::Onebot,
        }
    }

    /// The reply API base URL.
    #[must_use]
    pub fn api_base(&self) -> &str {
        match self {
            Self::Qq(b) => &b.api_base,
            Self::Lark(b) => &b.api_base,
            Self::Onebot(b) => &b.api_base,
        }
    }

    /// The app id (QQ appid, Lark `cli_…`, OneBot `self_id`), when the platform has one.
    #[must_use]
    pub fn app_id(&self) -> Option<&str> {
        match self {
            Self::Qq(b) => Some(&b.app_id),
            Self::Lark(b) => Some(&b.app_id),
            Self::Onebot(b) => b.self_id.as_deref(),
        }
    }
}

/// The HTTP answer to a webhook, without the HTTP framework: status and
/// optional JSON body. (A *reply* in botq is always a message to a chat.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// A JSON body, or `None` for an empty body.
    pub body: Option<String>,
}

impl HttpAnswer {
    #[must_use]
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self { status, body: Some(body.into()) }
    }
}

/// The platform's "received" answer once an event is durable (or dropped).
#[must_use]
pub fn ack(platform: Platform) -> HttpAnswer {
    match platform {
        Platform::Qq => HttpAnswer::json(200, r#"{"op":12,"d":0}"#),
        Platform::Lark => HttpAnswer::json(200, r#"{"msg":"success"}"#),
        Platform::Onebot => HttpAnswer { status: 204, body: None },
    }
}

/// Why a webhook is refused. Codes are stable API; details stay vague on
/// purpose so a rejection teaches an attacker nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// A required signature, timestamp or id header is absent.
    #[error("a required authentication header is missing")]
    MissingSignature,
    /// The signature does not verify over the raw body.
    #[error("the request signature is not valid")]
    InvalidSignature,
    /// The signed timestamp is outside the configured window.
    #[error("the request timestamp is outside the accepted window")]
    StaleTimestamp,
    /// The request names another app or account than the bot's (QQ
    /// `X-Bot-Appid`, OneBot `X-Self-ID`).
    #[error("the request is not addressed to this bot")]
    WrongRecipient,
    /// The Lark verification token does not match.
    #[error("the verification token is not valid")]
    InvalidToken,
    /// The body is not the JSON the platform sends (or does not decrypt).
    #[error("the request body is malformed")]
    MalformedPayload,
    /// A handshake that does not look like one the platform sends (QQ op 13
    /// with a token or timestamp of the wrong shape).
    #[error("the validation request is malformed")]
    InvalidHandshake,
    /// An id of the event (chat, sender, message…) is outside the platform's
    /// alphabet (`platform::ids`).
    #[error("an id in the event is not one the platform issues")]
    InvalidId,
}

impl Reject {
    /// The stable machine-readable code for the JSON error body.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::MissingSignature => "missing_signature",
            Self::InvalidSignature => "invalid_signature",
            Self::StaleTimestamp => "stale_timestamp",
            Self::WrongRecipient => "wrong_recipient",
            Self::InvalidToken => "invalid_token",
            Self::MalformedPayload => "malformed_payload",
            Self::InvalidHandshake => "invalid_handshake",
            Self::InvalidId => "invalid_id",
        }
    }

    /// The HTTP status: 401 for missing or bad authentication, 403 for a valid
    /// request meant for someone else, 400 for bytes that cannot be an event.
    #[must_use]
    pub fn status(self) -> u16 {
        match self {
            Self::MissingSignature | Self::InvalidSignature | Self::StaleTimestamp => 401,
            Self::WrongRecipient | Self::InvalidToken => 403,
            Self::MalformedPayload | Self::InvalidHandshake | Self::InvalidId => 400,
        }
    }
}

/// Reads a header as UTF-8 text, treating a non-text value as absent.
#[must_use]
pub fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A configured bot's verifier and normaliser, whichever its platform.
#[derive(Debug)]
pub enum Adapter {
    Qq(qq::QqAdapter),
    Lark(lark::LarkAdapter),
    Onebot(onebot::OnebotAdapter),
}

impl Adapter {
    #[must_use]
    pub fn platform(&self) -> Platform {
        match self {
            Self::Qq(_) => Platform::Qq,
            Self::Lark(_) => Platform::Lark,
            Self::Onebot(_) => Platform::Onebot,
        }
    }

    /// Verifies and normalises one webhook, and checks the event's ids
    /// against the platform's alphabet (`ids`).
    ///
    /// # Errors
    /// A [`Reject`] saying which check failed.
    pub fn handle(&self, req: &Inbound<'_>) -> Result<Outcome, Reject> {
        let outcome = match self {
            Self::Qq(a) => a.handle(req),
            Self::Lark(a) => a.handle(req),
            Self::Onebot(a) => a.handle(req),
        }?;
        if let Outcome::Event(event) = &outcome {
            ids::check(&event.envelope)?;
        }
        Ok(outcome)
    }
}

/// A bot's credentials cannot make a verifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the secret is empty")]
    EmptySecret,
    #[error("{0}")]
    Invalid(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_window_admits_old_deliveries_and_only_clock_skew_ahead() {
        let w = TimestampWindow::new(Duration::from_secs(28_800), Duration::from_secs(300));
        let now_ms = 1_700_000_000_000;
        assert!(w.admits(1_700_000_000, now_ms));
        assert!(w.admits(1_700_000_300, now_ms), "5 min ahead: clock skew");
        assert!(!w.admits(1_700_000_301, now_ms), "more ahead than the skew");
        assert!(!w.admits(1_700_003_600, now_ms), "an hour ahead is not skew");
        assert!(w.admits(1_700_000_000 - 28_800, now_ms), "8 h old: a platform retry");
        assert!(!w.admits(1_700_000_000 - 28_801, now_ms));
        assert!(!w.admits(i64::MAX, now_ms));
        assert!(!w.admits(i64::MIN, now_ms));
        assert!(!w.admits(-1_000_000, now_ms));
        assert!(TimestampWindow::OFF.admits(0, now_ms));
    }

    #[test]
    fn rejections_map_to_documented_statuses() {
        assert_eq!(Reject::InvalidSignature.status(), 401);
        assert_eq!(Reject::WrongRecipient.status(), 403);
        assert_eq!(Reject::MalformedPayload.status(), 400);
    }
}
