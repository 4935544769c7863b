//! The reply side of every platform behind one interface: the requests a
//! bot's replies, tokens and acknowledgements take, what the answers mean,
//! and the platform's rules on what may still be sent.
//!
//! Each platform's `reply.rs` holds its own API; this is the one place that
//! dispatches to them, so the worker that executes the requests (HTTP,
//! token cache, throttles) has no platform arms, and a new platform is
//! registered here rather than in the worker.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::PlatformBot;
use super::{lark, onebot, qq};
use crate::envelope::{Envelope, Platform};
use crate::message::Outgoing;
use crate::reply::{ApiRequest, InvalidTarget, SendFailure, SendResult, Token, TokenError};

/// How to obtain a bot's access token: the request, and how to read the answer.
#[derive(Debug)]
pub struct TokenFetch {
    pub request: ApiRequest,
    pub parse: fn(&[u8]) -> Result<Token, TokenError>,
}

impl PlatformBot {
    /// The token request of a platform whose API takes an access token
    /// (QQ, Lark); `None` for one that takes the configured secret as it is
    /// (OneBot's `access_token`).
    #[must_use]
    pub fn token_fetch(&self) -> Option<TokenFetch> {
        match self {
            Self::Qq(b) => Some(TokenFetch {
                request: qq::reply::token_request(&b.token_url, &b.app_id, b.secret.expose_secret()),
                parse: qq::reply::parse_token,
            }),
            Self::Lark(b) => Some(TokenFetch {
                request: lark::reply::token_request(&b.api_base, &b.app_id, b.app_secret.expose_secret()),
                parse: lark::reply::parse_token,
            }),
            Self::Onebot(_) => None,
        }
    }

    /// Reply number `index` (1-based) to `env`; `token` is what
    /// [`PlatformBot::token_fetch`] obtained (`None` for OneBot), `media`
    /// what the reply's upload answered ([`PlatformBot::upload_request`]).
    ///
    /// # Errors
    /// An id of the event that cannot be a URL path segment.
    pub fn reply_request(
        &self,
        token: Option<&str>,
        env: &Envelope,
        index: u32,
        reply: &Outgoing,
        media: Option<&str>,
    ) -> Result<ApiRequest, InvalidTarget> {
        let token = token.unwrap_or_default();
        match self {
            Self::Qq(b) => qq::reply::reply_request(&b.api_base, token, env, index, reply, media),
            Self::Lark(b) => lark::reply::reply_request(&b.api_base, token, env, index, reply),
            Self::Onebot(b) => {
                let access = b.access_token.as_ref().map(|t| t.expose_secret().to_owned());
                Ok(onebot::reply::reply_request(&b.api_base, access.as_deref(), env, reply))
            }
        }
    }

    /// The upload a reply needs before it is sent, if any: an image in a QQ
    /// group or C2C chat, which the platform fetches by URL and then takes
    /// as `media` ([`read_upload`] reads the answer).
    ///
    /// # Errors
    /// A chat id that cannot be a URL path segment.
    pub fn upload_request(
        &self,
        token: Option<&str>,
        env: &Envelope,
        reply: &Outgoing,
    ) -> Option<Result<ApiRequest, InvalidTarget>> {
        match self {
            Self::Qq(b) => qq::reply::media_upload(&b.api_base, token.unwrap_or_default(), env, reply),
            Self::Lark(_) | Self::Onebot(_) => None,
        }
    }

    /// The acknowledgement an event needs before anything else, if any: a
    /// QQ button press (`INTERACTION_CREATE`), without which the user's
    /// client shows "loading" until it times out.
    ///
    /// # Errors
    /// An interaction id that cannot be a URL path segment.
    pub fn acknowledgement(&self, token: Option<&str>, env: &Envelope) -> Option<Result<ApiRequest, InvalidTarget>> {
        match self {
            Self::Qq(b) if env.notice && env.event_type == "INTERACTION_CREATE" => {
                Some(qq::reply::interaction_ack(&b.api_base, token.unwrap_or_default(), env))
            }
            _ => None,
        }
    }
}

/// What the platform's answer to a request means; `reset` is its rate-limit
/// reset hint (`x-ogw-ratelimit-reset` or `Retry-After`).
#[must_use]
pub fn classify(platform: Platform, status: u16, reset: Option<Duration>, body: &[u8]) -> SendResult {
    match platform {
        Platform::Qq => qq::reply::classify(status, reset, body),
        Platform::Lark => lark::reply::classify(status, reset, body),
        Platform::Onebot => onebot::reply::classify(status, reset, body),
    }
}

/// What an upload answered: the handle the reply then carries.
///
/// # Errors
/// Why there is none, classified like a failed send.
pub fn read_upload(
    platform: Platform,
    status: u16,
    reset: Option<Duration>,
    body: &[u8],
) -> Result<String, SendFailure> {
    match platform {
        Platform::Qq => qq::reply::read_media(status, reset, body),
        Platform::Lark | Platform::Onebot => {
            Err(SendFailure::Permanent { code: 0, reason: format!("{} has no uploads", platform.as_str()) })
        }
    }
}

/// Whether a repeated reply request is dropped by the platform itself (an
/// idempotency handle: QQ `msg_id` + `msg_seq`, Lark `uuid`). Without one
/// (OneBot) the worker keeps its own record of the replies it sent.
#[must_use]
pub fn dedupes_replies(platform: Platform) -> bool {
    match platform {
        Platform::Qq | Platform::Lark => true,
        Platform::Onebot => false,
    }
}

/// Why reply `index` to `env` can no longer be sent at `now_ms`, as a
/// metric outcome: QQ accepts passive replies only within a window after
/// the message and at most five per message. `None`: it can be sent.
#[must_use]
pub fn unsendable(env: &Envelope, index: u32, now_ms: i64) -> Option<&'static str> {
    match env.platform {
        Platform::Qq => {
            if index > qq::reply::MAX_REPLIES {
                return Some("dropped_count");
            }
            let sent_at = env.platform_ts_ms.unwrap_or(env.received_at_ms);
            let window = i64::try_from(qq::reply::reply_window(env).as_millis()).unwrap_or(i64::MAX);
            (now_ms - sent_at > window).then_some("dropped_window")
        }
        Platform::Lark | Platform::Onebot => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{ChatKind, test_envelope};

    #[test]
    fn qq_replies_stop_past_the_window_and_the_count() {
        let mut env = test_envelope(Platform::Qq, ChatKind::Group);
        env.platform_ts_ms = Some(1_000_000);
        assert_eq!(unsendable(&env, 1, 1_000_000 + 60_000), None);
        assert_eq!(unsendable(&env, 6, 1_000_000), Some("dropped_count"));
        assert_eq!(unsendable(&env, 1, 1_000_000 + 5 * 60_000 + 1), Some("dropped_window"));
        let lark = test_envelope(Platform::Lark, ChatKind::Group);
        assert_eq!(unsendable(&lark, 99, i64::MAX), None);
    }

    #[test]
    fn only_onebot_needs_botqs_own_record_of_sent_replies() {
        assert!(dedupes_replies(Platform::Qq) && dedupes_replies(Platform::Lark));
        assert!(!dedupes_replies(Platform::Onebot));
    }
}
