//! A OneBot v11 bot's settings, as checked at load.

use secrecy::SecretString;

#[derive(Debug, Clone)]
pub struct OnebotBot {
    /// The bot's QQ number (`self_id`, `X-Self-ID`); unset: not checked.
    pub self_id: Option<String>,
    /// The HMAC-SHA1 key of `X-Signature`; unset: reports are unsigned.
    pub secret: Option<SecretString>,
    /// `Authorization: Bearer` of the implementation's HTTP API.
    pub access_token: Option<SecretString>,
    /// The implementation's HTTP API: OneBot has no public one.
    pub api_base: String,
}
