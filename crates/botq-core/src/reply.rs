//! Replies through the platforms' APIs, as pure functions: what to send and
//! what the answer means. This module holds what every platform shares; each
//! platform's own reply API is in its folder (`platform::<name>::reply`).
//!
//! Each platform's `reply` builds the HTTP request for one reply to an event
//! (with its idempotency handle) and classifies the platform's answer into a
//! [`SendResult`]. Executing the request, caching tokens and throttling are
//! the worker's business; keeping this part pure makes every platform rule
//! (error codes, rate-limit headers, dedupe answers) testable without HTTP.
//!
//! Idempotency — a redelivered event must not be answered twice — rests on
//! the handle of reply `index` (1-based) to an
//! event is derived only from the event and the index — QQ `msg_id` = the
//! inbound message id and `msg_seq` = index, Lark `uuid` = UUIDv5 of the
//! event id and index — so a redelivered event re-sends the identical request
//! and the platform drops the copy. OneBot has no such handle; the worker
//! keeps its own record of sent replies for it.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Bytes a path segment keeps as they are: letters, digits, `-` and `_`.
/// Everything else is percent-encoded, `.` included.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// An id from a payload that cannot be a path segment of a request URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the reply target id {0:?} cannot be a URL path segment")]
pub struct InvalidTarget(pub String);

/// `id` as one path segment of a platform URL: percent-encoded, so `/`, `?`
/// or `#` inside it stay inside it. Ingest already refuses ids outside the
/// platform's alphabet (`platform::ids`); this is the second line.
///
/// # Errors
/// An empty or dots-only id: URL parsers treat `..` and its encodings
/// (`%2E%2E`) as "up one level", so no encoding makes it safe.
pub fn segment(id: &str) -> Result<String, InvalidTarget> {
    if id.is_empty() || id.bytes().all(|b| b == b'.') {
        return Err(InvalidTarget(id.to_owned()));
    }
    Ok(utf8_percent_encode(id, SEGMENT).to_string())
}

/// One HTTP request to a platform API: a JSON `POST`, or `PUT` where the
/// API says so (QQ's interaction answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// `PUT` rather than `POST`.
    pub put: bool,
    pub url: String,
    /// The `Authorization` header value, if any.
    pub authorization: Option<String>,
    pub body: serde_json::Value,
}

/// What a platform answered to a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// Delivered now. `message_id`: the id by which users' quotes will
    /// name the message sent (QQ groups: its `REFIDX_…` index).
    Sent { message_id: Option<String> },
    /// The platform recognised the idempotency handle: it was delivered before.
    AlreadySent,
    /// Not delivered; what to do about it.
    Failed(SendFailure),
}

/// Why a send failed, as the worker needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// The access token was refused: drop the cached token and retry at once.
    TokenRejected { code: i64 },
    /// Rate limited: retry no earlier than `after`.
    RetryAfter { after: Duration, code: i64 },
    /// Timeout, 5xx, connection trouble: retry with backoff.
    Transient { reason: String },
    /// The reply can no longer be sent (its window passed, its count is used
    /// up): drop it and count it.
    Expired { code: i64 },
    /// Will never succeed (bad request, unknown chat, no permission).
    Permanent { code: i64, reason: String },
}

impl SendFailure {
    /// A bounded label for metrics.
    #[must_use]
    pub fn class(&self) -> &'static str {
        match self {
            Self::TokenRejected { .. } => "token_rejected",
            Self::RetryAfter { .. } => "rate_limited",
            Self::Transient { .. } => "transient",
            Self::Expired { .. } => "expired",
            Self::Permanent { .. } => "permanent",
        }
    }
}

/// Transport-level failures and statuses every platform shares: 429 without a
/// platform body, 5xx, gateway timeouts.
#[must_use]
pub fn generic_failure(status: u16, retry_after: Option<Duration>) -> Option<SendFailure> {
    match status {
        429 => Some(SendFailure::RetryAfter { after: retry_after.unwrap_or(Duration::from_secs(1)), code: 429 }),
        500..=599 => Some(SendFailure::Transient { reason: format!("HTTP {status}") }),
        _ => None,
    }
}

/// A refusal the platform did not classify further: permanent, with the
/// message of its answer (`refused` when it gave none).
#[must_use]
pub fn refused(status: u16, code: i64, message: Option<&str>) -> SendFailure {
    SendFailure::Permanent { code, reason: format!("HTTP {status}: {}", message.unwrap_or("refused")) }
}

/// A `Retry-After` header value in seconds (the HTTP-date form is not used by these APIs).
#[must_use]
pub fn retry_after_secs(value: Option<&str>) -> Option<Duration> {
    value.and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)
}

/// An access token and how long it lives.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub value: String,
    pub expires_in: Duration,
}

impl Token {
    /// The token from the fields of a platform's answer, both present and
    /// the value non-empty.
    ///
    /// # Errors
    /// [`TokenError::Malformed`] naming the fields (`fields`) otherwise.
    pub fn from_answer(value: Option<&str>, secs: Option<u64>, fields: &str) -> Result<Self, TokenError> {
        match (value.filter(|v| !v.is_empty()), secs) {
            (Some(value), Some(secs)) => Ok(Self { value: value.to_owned(), expires_in: Duration::from_secs(secs) }),
            _ => Err(TokenError::Malformed(format!("missing {fields}"))),
        }
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("value", &"***").field("expires_in", &self.expires_in).finish()
    }
}

/// Why a token could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the platform refused the app credentials (code {0})")]
    Refused(i64),
    #[error("unexpected token answer: {0}")]
    Malformed(String),
}
