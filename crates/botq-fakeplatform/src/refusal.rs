//! A refused request: the answer the client gets and the record a test reads.
//!
//! Every platform refuses for the same kinds of reasons (bad token, bad body,
//! duplicate, over a limit, injected fault) but answers in its own JSON shape,
//! so a refusal is a small platform-neutral value ([`Refusal`]) that each
//! platform module renders, plus the request context ([`Seen`]) that makes it
//! a [`Rejection`] record. Recording and rendering are separate so a handler
//! can record while it already holds the state lock.

use axum::http::StatusCode;
use botq_core::envelope::Platform;

use crate::records::{Endpoint, Rejection};
use crate::state::{Book, FakeState};

/// What to answer: status, platform code, message, and how long to wait (for 429s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl Refusal {
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after_secs: None }
    }

    #[must_use]
    pub fn retry_after(mut self, secs: Option<u64>) -> Self {
        self.retry_after_secs = secs;
        self
    }
}

/// What the fake knows about a request so far, for its record.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub platform: Platform,
    pub bot: Option<String>,
    pub endpoint: Option<Endpoint>,
    pub target: Option<String>,
    pub key: Option<String>,
    pub at_ms: i64,
}

impl Seen {
    pub fn new(platform: Platform, at_ms: i64) -> Self {
        Self { platform, bot: None, endpoint: None, target: None, key: None, at_ms }
    }

    pub fn message(endpoint: Endpoint, target: &str, at_ms: i64) -> Self {
        Self { endpoint: Some(endpoint), target: Some(target.to_owned()), ..Self::new(endpoint.platform(), at_ms) }
    }

    /// Records `r` as a rejection of this request (the caller holds the book).
    pub fn record(&self, book: &mut Book, r: &Refusal) {
        tracing::debug!(
            platform = self.platform.as_str(),
            bot = self.bot.as_deref().unwrap_or("-"),
            endpoint = self.endpoint.map_or("-", Endpoint::as_str),
            status = r.status.as_u16(),
            code = r.code,
            reason = %r.message,
            "request refused"
        );
        book.records.rejected(Rejection {
            platform: self.platform,
            bot: self.bot.clone(),
            endpoint: self.endpoint,
            target: self.target.clone(),
            idempotency_key: self.key.clone(),
            status: r.status.as_u16(),
            code: r.code,
            reason: r.message.clone(),
            received_at_ms: self.at_ms,
        });
    }

    /// Records `r`, taking the lock itself.
    pub fn record_now(&self, state: &FakeState, r: &Refusal) {
        self.record(&mut state.book(), r);
    }
}

/// Random lowercase hex, for message ids and trace ids.
pub(crate) fn random_hex(len: usize) -> String {
    use rand::Rng;
    const HEX: &[u8] = b"0123456789abcdef";
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(HEX[rng.random_range(0..16)])).collect()
}

/// Random alphanumerics, for tokens.
pub(crate) fn random_token(len: usize) -> String {
    use rand::Rng;
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(len).map(char::from).collect()
}
