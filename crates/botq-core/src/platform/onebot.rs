//! OneBot v11 "HTTP POST" event reports (go-cqhttp, NapCat, Lagrange, LLOneBot).
//!
//! With a `secret` configured, the body must carry `X-Signature: sha1=<hex>`,
//! HMAC-SHA1 of the raw body. The hex is compared case-insensitively because
//! Lagrange sends it in upper case. `X-Self-ID` names the QQ account the
//! report is from: it is required, must match the configured `self_id` when
//! there is one, and must match the body's `self_id` (`parse`), so one
//! implementation's reports cannot be replayed as another account's.
//!
//! Reports are signed (when at all) without a timestamp header, but every
//! v11 event carries `time`, the Unix seconds it happened: a report whose
//! `time` is outside the bot's timestamp window is refused as stale, so the
//! same bytes replayed after their dedupe key expired are not a new event.
//!
//! During a rotation a signature by the previous secret is accepted too,
//! until its deadline, when the current secret's does not match.
//!
//! v11 has no event id. A message is identified by `self_id:message_id:time`
//! (deduped, claimed and answered under it), because `message_id` is a short
//! int that an implementation may reuse after a restart.

pub mod config;
mod cq;
mod parse;
pub mod reply;

use std::fmt;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;

use super::previous::{self, Previous};
use super::{Inbound, KeyError, Outcome, Reject, TimestampWindow, header};

const SIGNATURE_HEADER: &str = "x-signature";
const SELF_ID_HEADER: &str = "x-self-id";

/// Verifies and normalises one OneBot v11 implementation's event reports.
pub struct OnebotAdapter {
    self_id: Option<String>,
    secret: Option<SecretString>,
    previous_secret: Option<Previous<SecretString>>,
    window: TimestampWindow,
}

/// A report whose signature (when a secret is set) and `X-Self-ID` have been
/// checked. Only [`OnebotAdapter::verify`] makes one.
struct Verified<'a> {
    /// The account named by `X-Self-ID`.
    self_id: &'a str,
    body: &'a [u8],
}

impl OnebotAdapter {
    /// Builds the adapter for one OneBot account.
    ///
    /// # Errors
    /// [`KeyError::EmptySecret`] for `Some` empty secret (leave it out
    /// instead), [`KeyError::Invalid`] for a `self_id` that is not a QQ number.
    pub fn new(
        self_id: Option<String>,
        secret: Option<&SecretString>,
        window: TimestampWindow,
    ) -> Result<Self, KeyError> {
        if secret.is_some_and(|s| s.expose_secret().is_empty()) {
            return Err(KeyError::EmptySecret);
        }
        if let Some(id) = &self_id
            && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(KeyError::Invalid("self_id must be the bot's QQ number (digits)"));
        }
        Ok(Self { self_id, secret: secret.cloned(), previous_secret: None, window })
    }

    /// Also accepts signatures by `secret`, the one being rotated out, until
    /// `until_ms` (Unix milliseconds, compared with each request's `now_ms`).
    ///
    /// # Errors
    /// [`KeyError::EmptySecret`] for an empty secret, [`KeyError::Invalid`]
    /// when there is no current secret (reports are then not signed at all).
    pub fn with_previous_secret(mut self, secret: &SecretString, until_ms: i64) -> Result<Self, KeyError> {
        if secret.expose_secret().is_empty() {
            return Err(KeyError::EmptySecret);
        }
        if self.secret.is_none() {
            return Err(KeyError::Invalid("a previous secret needs a current secret"));
        }
        self.previous_secret = Some(Previous::new(secret.clone(), until_ms));
        Ok(self)
    }

    /// Verifies and normalises one webhook.
    ///
    /// # Errors
    /// A [`Reject`] saying which check failed.
    pub fn handle(&self, req: &Inbound<'_>) -> Result<Outcome, Reject> {
        let verified = self.verify(req)?;
        parse::normalise(&verified, self.window, req)
    }

    fn verify<'a>(&self, req: &Inbound<'a>) -> Result<Verified<'a>, Reject> {
        let mut used_previous = false;
        if let Some(secret) = &self.secret {
            let signature = header(req.headers, SIGNATURE_HEADER).ok_or(Reject::MissingSignature)?;
            if !signature_matches(secret, req.body, signature) {
                let old = previous::active(self.previous_secret.as_ref(), req.now_ms);
                if !old.is_some_and(|old| signature_matches(old, req.body, signature)) {
                    return Err(Reject::InvalidSignature);
                }
                used_previous = true;
            }
        }
        let self_id = header(req.headers, SELF_ID_HEADER).ok_or(Reject::MissingSignature)?;
        if self.self_id.as_deref().is_some_and(|want| want != self_id) {
            return Err(Reject::WrongRecipient);
        }
        if used_previous {
            previous::record_use(req, "secret");
        }
        Ok(Verified { self_id, body: req.body })
    }
}

/// Whether `header` is `sha1=<hex>` of HMAC-SHA1(secret, body), the hex in
/// either case. Constant time.
fn signature_matches(secret: &SecretString, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha1=") else {
        return false;
    };
    let mut claimed = [0u8; 20];
    if hex::decode_to_slice(hex_sig, &mut claimed).is_err() {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.expose_secret().as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&claimed).is_ok()
}

impl fmt::Debug for OnebotAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnebotAdapter")
            .field("self_id", &self.self_id)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("previous_secret", &self.previous_secret)
            .field("window", &self.window)
            .finish()
    }
}

#[cfg(test)]
mod tests;
