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
//! During a rotation the previous Encrypt Key and verification token (either
//! or both) are accepted until their deadline, each tried only after the
//! current one failed: a body signed by a key is decrypted by that same key.
//!
//! Normalisation (`parse`, `message`) handles `im.message.receive_v1`
//! (schema 2.0) and schema 1.0 `message` events; the rest is `Ignored`.

mod card;
pub mod config;
pub mod content;
mod crypto;
mod message;
mod parse;
pub mod reply;

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use subtle::{Choice, ConstantTimeEq};

use super::previous::{self, Previous};
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
    previous_token: Option<Previous<SecretString>>,
    previous_key: Option<Previous<EncryptKey>>,
}

/// Which checks passed only with a previous credential.
#[derive(Debug, Clone, Copy, Default)]
struct PreviousUsed {
    encrypt_key: bool,
    verification_token: bool,
}

impl PreviousUsed {
    /// The config keys of the previous credentials used, for the log line.
    fn credential(self) -> Option<&'static str> {
        match (self.encrypt_key, self.verification_token) {
            (true, true) => Some("encrypt_key,verification_token"),
            (true, false) => Some("encrypt_key"),
            (false, true) => Some("verification_token"),
            (false, false) => None,
        }
    }
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
            previous_token: None,
            previous_key: None,
        })
    }

    /// Also accepts the verification token and/or Encrypt Key being rotated
    /// out, until `until_ms` (Unix milliseconds, compared with each request's
    /// `now_ms`).
    ///
    /// # Errors
    /// [`KeyError::EmptySecret`] for an empty token, [`KeyError::Invalid`]
    /// for an empty Encrypt Key or a previous key without a current one
    /// (turning encryption on or off is not a rotation).
    pub fn with_previous(
        mut self,
        verification_token: Option<&SecretString>,
        encrypt_key: Option<&SecretString>,
        until_ms: i64,
    ) -> Result<Self, KeyError> {
        if verification_token.is_some_and(|t| t.expose_secret().is_empty()) {
            return Err(KeyError::EmptySecret);
        }
        if let Some(key) = encrypt_key {
            if key.expose_secret().is_empty() {
                return Err(KeyError::Invalid("the previous encrypt_key is empty"));
            }
            if self.encrypt_key.is_none() {
                return Err(KeyError::Invalid("a previous encrypt_key needs a current encrypt_key"));
            }
        }
        self.previous_token = verification_token.map(|t| Previous::new(t.clone(), until_ms));
        self.previous_key = encrypt_key.map(|k| Previous::new(EncryptKey::new(k), until_ms));
        Ok(self)
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
        // One parse of the body as it came: a card callback or a plain event
        // is read from it; an encrypted body is read after decryption.
        let raw = Payload::from_json(req.body);
        if raw.as_ref().is_ok_and(Payload::is_legacy_card) {
            return self.card_callback(req);
        }
        let (verified, used) = self.verify(req, raw)?;
        if let Some(credential) = used.credential() {
            previous::record_use(req, credential);
        }
        parse::normalise(verified, req, self.bot_open_id.as_deref())
    }

    /// A legacy card callback, signed with the verification token (`card`).
    fn card_callback(&self, req: &Inbound<'_>) -> Result<Outcome, Reject> {
        let (Some(ts), Some(nonce), Some(signature)) = (
            header(req.headers, TIMESTAMP_HEADER),
            header(req.headers, NONCE_HEADER),
            header(req.headers, SIGNATURE_HEADER),
        ) else {
            return Err(Reject::MissingSignature);
        };
        let secs = digits(ts).ok_or(Reject::InvalidSignature)?;
        let previous = previous::active(self.previous_token.as_ref(), req.now_ms).map(ExposeSecret::expose_secret);
        let (outcome, used_previous) =
            card::verify(self.verification_token.expose_secret(), previous, ts, nonce, signature, req.body)?;
        if !self.window.admits(secs, req.now_ms) {
            return Err(Reject::StaleTimestamp);
        }
        if used_previous {
            previous::record_use(req, "verification_token");
        }
        Ok(outcome)
    }

    /// `raw`: the body parsed as it came (what a bot without an encrypt key reads).
    fn verify(&self, req: &Inbound<'_>, raw: Result<Payload, Reject>) -> Result<(Verified, PreviousUsed), Reject> {
        let Some(current) = &self.encrypt_key else {
            let payload = raw?;
            if payload.is_encrypted() {
                return Err(Reject::MalformedPayload);
            }
            return self.check_token(payload, req.now_ms, false);
        };
        let old_key = previous::active(self.previous_key.as_ref(), req.now_ms);
        let signed = (
            header(req.headers, TIMESTAMP_HEADER),
            header(req.headers, NONCE_HEADER),
            header(req.headers, SIGNATURE_HEADER),
        );
        match signed {
            (Some(ts), Some(nonce), Some(signature)) => {
                let secs = digits(ts).ok_or(Reject::InvalidSignature)?;
                let matches = |key: &EncryptKey| key.signature_matches(ts, nonce, req.body, signature);
                let (key, used_old) = if matches(current) {
                    (current, false)
                } else {
                    (old_key.filter(|k| matches(k)).ok_or(Reject::InvalidSignature)?, true)
                };
                if !self.window.admits(secs, req.now_ms) {
                    return Err(Reject::StaleTimestamp);
                }
                self.check_token(Payload::from_json(&key.decrypt_body(req.body)?)?, req.now_ms, used_old)
            }
            (None, None, None) => {
                let open = |key: &EncryptKey| key.decrypt_body(req.body).and_then(|plain| Payload::from_json(&plain));
                let (payload, used_old) = match (open(current), old_key) {
                    (Ok(payload), _) => (payload, false),
                    (Err(_), Some(old)) => (open(old).map_err(|_| Reject::MissingSignature)?, true),
                    (Err(_), None) => return Err(Reject::MissingSignature),
                };
                if !payload.is_url_verification() {
                    return Err(Reject::MissingSignature);
                }
                self.check_token(payload, req.now_ms, used_old)
            }
            _ => Err(Reject::MissingSignature),
        }
    }

    /// Both tokens are compared, in constant time, before either result is
    /// looked at. `key_was_previous`: the body was opened by the previous key.
    fn check_token(
        &self,
        payload: Payload,
        now_ms: i64,
        key_was_previous: bool,
    ) -> Result<(Verified, PreviousUsed), Reject> {
        let claimed = payload.token().ok_or(Reject::InvalidToken)?.as_bytes();
        let current = claimed.ct_eq(self.verification_token.expose_secret().as_bytes());
        let old = previous::active(self.previous_token.as_ref(), now_ms)
            .map_or_else(|| Choice::from(0), |t| claimed.ct_eq(t.expose_secret().as_bytes()));
        let verification_token = match (bool::from(current), bool::from(old)) {
            (true, _) => false,
            (false, true) => true,
            (false, false) => return Err(Reject::InvalidToken),
        };
        Ok((Verified(payload), PreviousUsed { encrypt_key: key_was_previous, verification_token }))
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
            .field("previous_token", &self.previous_token)
            .field("previous_key", &self.previous_key)
            .finish()
    }
}

#[cfg(test)]
mod tests;
