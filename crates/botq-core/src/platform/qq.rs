//! QQ Official Bot webhooks (bot.q.qq.com, webhook mode).
//!
//! Order of checks, each before any JSON beyond what it needs is read:
//! `X-Bot-Appid` names this bot; the Ed25519 signature over
//! `X-Signature-Timestamp || body` verifies (`qq/verify.rs`); then op 13 is
//! answered (`qq/handshake.rs`) and op-0 message events are normalised
//! (`qq/parse.rs`). Every other verified payload is acknowledged and dropped.
//!
//! Whether the platform signs op 13 is unconfirmed, so an op 13 without
//! signature headers is still answered; its token and timestamp shapes are
//! what keep that answer from being a signing oracle. Nothing else is ever
//! read from an unsigned body.
//!
//! During a secret rotation a signature may also verify under the previous
//! secret's public key until its deadline (`previous`); only the verifying
//! half of that key is kept, so op 13 is always answered with the current one.

pub mod config;
pub mod content;
mod handshake;
mod notice;
mod parse;
pub mod reply;
mod verify;

#[cfg(test)]
mod tests;

use std::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use secrecy::SecretString;

pub use self::verify::{derive_signing_key, sign_webhook};
use super::previous::{self, Previous};
use super::{Inbound, KeyError, Outcome, Reject, TimestampWindow, header};
use parse::Frame;
use verify::SignatureHeaders;

/// Dispatch: an event.
const OP_DISPATCH: u64 = 0;
/// Callback URL validation.
const OP_VALIDATION: u64 = 13;

/// Verifies and normalises one QQ bot's webhooks.
pub struct QqAdapter {
    app_id: String,
    /// Signs op-13 answers and holds the verifying key, expanded once. Boxed
    /// because it is ~220 bytes and the adapter sits in an enum beside much
    /// smaller siblings.
    signing_key: Box<SigningKey>,
    /// The rotated-out secret's public key: it verifies, it never signs.
    previous: Option<Previous<VerifyingKey>>,
    window: TimestampWindow,
}

impl QqAdapter {
    /// Builds the adapter for the bot with this appid and secret.
    ///
    /// # Errors
    /// [`KeyError::EmptySecret`] when the secret is empty.
    pub fn new(app_id: String, secret: &SecretString, window: TimestampWindow) -> Result<Self, KeyError> {
        let signing_key = Box::new(derive_signing_key(secret)?);
        Ok(Self { app_id, signing_key, previous: None, window })
    }

    /// Also accepts signatures by `secret`, the one being rotated out, until
    /// `until_ms` (Unix milliseconds, compared with each request's `now_ms`).
    ///
    /// # Errors
    /// [`KeyError::EmptySecret`] when the secret is empty.
    pub fn with_previous_secret(mut self, secret: &SecretString, until_ms: i64) -> Result<Self, KeyError> {
        let key = derive_signing_key(secret)?.verifying_key();
        self.previous = Some(Previous::new(key, until_ms));
        Ok(self)
    }

    /// The appid that `X-Bot-Appid` must carry.
    #[must_use]
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The public key the platform's signatures verify under.
    #[must_use]
    pub fn verifying_key(&self) -> &VerifyingKey {
        (*self.signing_key).as_ref()
    }

    /// Verifies and normalises one webhook.
    ///
    /// # Errors
    /// A [`Reject`] saying which check failed.
    pub fn handle(&self, req: &Inbound<'_>) -> Result<Outcome, Reject> {
        let app_id = header(req.headers, "x-bot-appid").ok_or(Reject::MissingSignature)?;
        if app_id != self.app_id {
            return Err(Reject::WrongRecipient);
        }
        let Some(sig_headers) = SignatureHeaders::from_request(req)? else {
            return self.handle_unsigned(req);
        };
        let verified = match verify::verify(self.verifying_key(), self.window, sig_headers, req) {
            Err(Reject::InvalidSignature) => {
                let old = previous::active(self.previous.as_ref(), req.now_ms).ok_or(Reject::InvalidSignature)?;
                let verified = verify::verify(old, self.window, sig_headers, req)?;
                previous::record_use(req, "secret");
                verified
            }
            other => other?,
        };
        let frame = Frame::parse(verified.body())?;
        match frame.op {
            OP_DISPATCH => parse::dispatch(verified, frame, req),
            OP_VALIDATION => handshake::answer(&self.signing_key, verified.body()),
            _ => Ok(Outcome::Ignored { kind: super::IgnoredKind::EventType }),
        }
    }

    /// Only a validation request may come without a signature; to anyone
    /// else an unsigned body is simply unauthenticated, whatever it holds.
    fn handle_unsigned(&self, req: &Inbound<'_>) -> Result<Outcome, Reject> {
        match Frame::parse(req.body) {
            Ok(frame) if frame.op == OP_VALIDATION => handshake::answer(&self.signing_key, req.body),
            _ => Err(Reject::MissingSignature),
        }
    }
}

impl fmt::Debug for QqAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QqAdapter")
            .field("app_id", &self.app_id)
            .field("signing_key", &format_args!("***"))
            .field("previous", &self.previous)
            .field("window", &self.window)
            .finish()
    }
}
