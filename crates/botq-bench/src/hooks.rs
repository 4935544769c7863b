//! Signed webhooks for one configured bot, as its platform would send them.
//!
//! The bench reads the same config file as ingest, so the requests it builds
//! carry the bot's real credentials and pass real verification: load that is
//! rejected at the signature check would measure the wrong path. The bytes and
//! signatures come from `botq_testkit::sign`, the helpers the adapters' own
//! tests use, so there is one definition of "signed like the platform" in the
//! workspace; this module only picks the right helper per platform and fills
//! in ids.
//!
//! Every message gets its own event and message ids (derived from
//! [`Message::event`]), because ingest dedupes on them and a repeated id would
//! be acknowledged without touching the queue.

use botq_core::config::{BotConfig, PlatformBot};
use botq_core::envelope::Platform;
use botq_testkit::sign::{self, Webhook};
use secrecy::{ExposeSecret, SecretString};

/// The QQ number a OneBot bot reports as when its config has no `app_id`.
pub const DEFAULT_ONEBOT_SELF_ID: &str = "10001000";

/// Why a webhook cannot be built for a bot.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HookError {
    #[error("OneBot {field} must be a number (a QQ number or group number), got {value:?}")]
    NotANumber { field: &'static str, value: String },
}

/// One message event to sign.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Unique per event; the platform's event and message ids derive from it.
    pub event: u64,
    /// Group id (QQ group openid, Lark chat id, OneBot group number).
    pub chat: &'a str,
    /// Sender id (QQ member openid, Lark open id, OneBot QQ number).
    pub sender: &'a str,
    pub text: &'a str,
    /// The signed timestamp, Unix seconds.
    pub unix_secs: i64,
}

/// Builds signed webhooks for one bot.
#[derive(Debug)]
pub struct Hooks {
    platform: Platform,
    creds: Creds,
}

#[derive(Debug)]
enum Creds {
    Qq { app_id: String, secret: SecretString },
    Lark { token: SecretString, encrypt_key: Option<SecretString> },
    Onebot { self_id: String, secret: Option<SecretString> },
}

impl Hooks {
    /// Takes the credentials of `bot`.
    #[must_use]
    pub fn from_bot(bot: &BotConfig) -> Self {
        let creds = match &bot.platform {
            PlatformBot::Qq(b) => Creds::Qq { app_id: b.app_id.clone(), secret: b.secret.clone() },
            PlatformBot::Lark(b) => {
                Creds::Lark { token: b.verification_token.clone(), encrypt_key: b.encrypt_key.clone() }
            }
            PlatformBot::Onebot(b) => Creds::Onebot {
                self_id: b.self_id.clone().unwrap_or_else(|| DEFAULT_ONEBOT_SELF_ID.to_owned()),
                secret: b.secret.clone(),
            },
        };
        Self { platform: bot.platform(), creds }
    }

    #[must_use]
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The `n`th group id in the platform's own shape (OneBot ids are numbers).
    #[must_use]
    pub fn chat_id(&self, n: u64) -> String {
        match self.platform {
            Platform::Qq => format!("BENCHGROUP{n:08}"),
            Platform::Lark => format!("oc_bench{n:08}"),
            Platform::Onebot => (700_000_000 + n).to_string(),
        }
    }

    /// The `n`th sender id in the platform's own shape.
    #[must_use]
    pub fn sender_id(&self, n: u64) -> String {
        match self.platform {
            Platform::Qq => format!("BENCHMEMBER{n:08}"),
            Platform::Lark => format!("ou_bench{n:08}"),
            Platform::Onebot => (800_000_000 + n).to_string(),
        }
    }

    /// Signs one group message event.
    ///
    /// # Errors
    /// [`HookError::NotANumber`] for a OneBot chat or sender that is not a number.
    pub fn build(&self, m: &Message<'_>) -> Result<Webhook, HookError> {
        let text = m.text;
        let hook = match &self.creds {
            Creds::Qq { app_id, secret } => {
                let body = sign::qq_group_at_body(
                    &format!("bench-{}", m.event),
                    &format!("bench-msg-{}", m.event),
                    m.chat,
                    m.sender,
                    text,
                );
                sign::qq(app_id, secret.expose_secret(), m.unix_secs, &body)
            }
            Creds::Lark { token, encrypt_key } => {
                let body = sign::lark_message_body(
                    token.expose_secret(),
                    &format!("bench-{}", m.event),
                    &format!("om_bench{}", m.event),
                    m.chat,
                    "group",
                    m.sender,
                    text,
                );
                sign::lark(encrypt_key.as_ref().map(ExposeSecret::expose_secret), m.unix_secs, &body)
            }
            Creds::Onebot { self_id, secret } => {
                let number = |field, value: &str| {
                    value.parse::<i64>().map_err(|_| HookError::NotANumber { field, value: value.to_owned() })
                };
                let group = number("group id (--chat)", m.chat)?;
                let user = number("sender id (--sender)", m.sender)?;
                // Message ids are int64 on the wire; wrapping keeps any u64 unique enough.
                let message_id = i64::from_ne_bytes(m.event.to_ne_bytes()) & i64::MAX;
                let body = sign::onebot_group_body(self_id, message_id, group, user, text, m.unix_secs);
                sign::onebot(self_id, secret.as_ref().map(ExposeSecret::expose_secret), &body)
            }
        };
        Ok(hook)
    }
}

#[cfg(test)]
mod tests;
