//! Lark / Feishu event subscription: verify, decrypt, normalise.
//!
//! Verification runs in this order, so each check sees only what the one
//! before it vouched for:
//!
//! 1. With an Encrypt Key, the three `X-Lark-Request-*` headers and the
//!    SHA-256 signature over the raw body (`crypto`), then the timestamp
//!    window, then decryption of `{"encrypt":…}`. A plain body that is signed
//!    is malformed (Lark encrypts everything once a key is set). An
//!    `{"encrypt":…}` body with no key configured is malformed too.
//! 2. The verification token, on every request, in constant time.
//!
//! Whether Lark signs the `url_verification` challenge is unconfirmed and
//! the SDKs skip the check for it, so a request with none of the three
//! headers is still decrypted, and accepted only if it is a challenge with
//! the right token. Anything else unsigned (including a body that does not
//! decrypt) is `MissingSignature`; a challenge with the wrong token is
//! `InvalidToken`, which only someone holding the Encrypt Key can provoke.
//!
//! Normalisation (`parse`, `message`) handles `im.message.receive_v1`
//! (schema 2.0) and schema 1.0 `message` events; the rest is `Ignored`.

mod crypto;
mod message;
mod parse;

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::{Inbound, KeyError, Outcome, Reject, TimestampWindow, header};
use crypto::EncryptKey;
use parse::Payload;

const TIMESTAMP_HEADER: &str = "x-lark-request-timestamp";
const NONCE_HEADER: &str = "x-lark-request-nonce";
const SIGNATURE_HEADER: &str = "x-lark-signature";

/// Verifies and normalises one Lark app's event subscription webhooks.
pub struct LarkAdapter {
    app_id: String,
    verification_token: SecretString,
    encrypt_key: Option<EncryptKey>,
    window: TimestampWindow,
    bot_open_id: Option<String>,
}

/// A body whose signature (when the app signs), decryption and verification
/// token have been checked. Only [`LarkAdapter::verify`] makes one.
struct Verified(Payload);

impl LarkAdapter {
    /// Builds the adapter for one app.
    ///
    /// # Errors
    /// [`KeyError::EmptySecret`] for an empty verification token,
    /// [`KeyError::Invalid`] for an empty Encrypt Key (leave it out instead).
    pub fn new(
        app_id: String,
        verification_token: &SecretString,
        encrypt_key: Option<&SecretString>,
        window: TimestampWindow,
    ) -> Result<Self, KeyError> {
        if verification_token.expose_secret().is_empty() {
            return Err(KeyError::EmptySecret);
        }
        if encrypt_key.is_some_and(|k| k.expose_secret().is_empty()) {
            return Err(KeyError::Invalid("encrypt_key is empty"));
        }
        Ok(Self {
            app_id,
            verification_token: verification_token.clone(),
            encrypt_key: encrypt_key.map(EncryptKey::new),
            window,
            bot_open_id: None,
        })
    }

    /// Sets the bot's own `open_id`, so group mentions are matched exactly
    /// instead of by the heuristic described on `mentions_bot` in `message`.
    #[must_use]
    pub fn with_bot_open_id(mut self, open_id: String) -> Self {
        self.bot_open_id = Some(open_id);
        self
    }

    /// The app id (`cli_…`) this adapter was built for.
    #[must_use]
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Verifies and normalises one webhook.
    ///
    /// # Errors
    /// A [`Reject`] saying which check failed.
    pub fn handle(&self, req: &Inbound<'_>) -> Result<Outcome, Reject> {
        let verified = self.verify(req)?;
        parse::normalise(verified, req, self.bot_open_id.as_deref())
    }

    fn verify(&self, req: &Inbound<'_>) -> Result<Verified, Reject> {
        let Some(key) = &self.encrypt_key else {
            let payload = Payload::from_json(req.body)?;
            if payload.is_encrypted() {
                return Err(Reject::MalformedPayload);
            }
            return self.check_token(payload);
        };
        let signed = (
            header(req.headers, TIMESTAMP_HEADER),
            header(req.headers, NONCE_HEADER),
            header(req.headers, SIGNATURE_HEADER),
        );
        match signed {
            (Some(ts), Some(nonce), Some(signature)) => {
                let secs = digits(ts).ok_or(Reject::InvalidSignature)?;
                if !key.signature_matches(ts, nonce, req.body, signature) {
                    return Err(Reject::InvalidSignature);
                }
                if !self.window.admits(secs, req.now_ms) {
                    return Err(Reject::StaleTimestamp);
                }
                self.check_token(Payload::from_json(&key.decrypt_body(req.body)?)?)
            }
            (None, None, None) => {
                let payload = key
                    .decrypt_body(req.body)
                    .and_then(|plain| Payload::from_json(&plain))
                    .map_err(|_| Reject::MissingSignature)?;
                if !payload.is_url_verification() {
                    return Err(Reject::MissingSignature);
                }
                self.check_token(payload)
            }
            _ => Err(Reject::MissingSignature),
        }
    }

    fn check_token(&self, payload: Payload) -> Result<Verified, Reject> {
        let expected = self.verification_token.expose_secret().as_bytes();
        let claimed = payload.token().ok_or(Reject::InvalidToken)?;
        if bool::from(claimed.as_bytes().ct_eq(expected)) { Ok(Verified(payload)) } else { Err(Reject::InvalidToken) }
    }
}

/// A non-empty all-digit timestamp that fits an `i64`.
fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl fmt::Debug for LarkAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LarkAdapter")
            .field("app_id", &self.app_id)
            .field("verification_token", &"***")
            .field("encrypt_key", &self.encrypt_key.as_ref().map(|_| "***"))
            .field("window", &self.window)
            .field("bot_open_id", &self.bot_open_id)
            .finish()
    }
}

#[cfg(test)]
mod tests;
