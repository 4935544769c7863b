//! The bots the fake knows, and the credentials it checks against.
//!
//! The fake reads the same botq config the services read, so its credentials
//! cannot drift from what the worker presents: a QQ bot's `app_id` + `secret`
//! (the `clientSecret` of `getAppAccessToken`), a Lark bot's `app_id` +
//! `app_secret`, a OneBot bot's `access_token` and the path of its `api_base`
//! (the fake serves each OneBot bot's actions under that path). Secrets stay
//! `SecretString` and are compared, never printed.

use botq_core::config::{BotConfig, Config, PlatformBot};
use botq_core::envelope::Platform;
use secrecy::{ExposeSecret, SecretString};

/// What a bot authenticates with.
#[derive(Debug, Clone)]
pub enum Credentials {
    Qq {
        app_id: String,
        client_secret: SecretString,
    },
    Lark {
        app_id: String,
        app_secret: SecretString,
    },
    /// `prefix` is the path of the bot's `api_base` (`""` or `/onebot`, no trailing slash).
    Onebot {
        prefix: String,
        access_token: Option<SecretString>,
    },
}

/// One bot of the config, as the fake sees it.
#[derive(Debug, Clone)]
pub struct FakeBot {
    pub id: String,
    pub credentials: Credentials,
}

/// Why a bot of the config cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BotError {
    #[error("bot {bot}: api_base path {path:?} cannot be served (use a plain path such as /onebot)")]
    BadPrefix { bot: String, path: String },
}

impl FakeBot {
    /// The bot's credentials from its checked config.
    ///
    /// # Errors
    /// A OneBot `api_base` whose path the fake cannot route.
    pub fn from_config(bot: &BotConfig) -> Result<Self, BotError> {
        let id = bot.id.as_str().to_owned();
        let credentials = match &bot.platform {
            PlatformBot::Qq(b) => Credentials::Qq { app_id: b.app_id.clone(), client_secret: b.secret.clone() },
            PlatformBot::Lark(b) => Credentials::Lark { app_id: b.app_id.clone(), app_secret: b.app_secret.clone() },
            PlatformBot::Onebot(b) => Credentials::Onebot {
                prefix: onebot_prefix(&b.api_base)
                    .ok_or_else(|| BotError::BadPrefix { bot: id.clone(), path: b.api_base.clone() })?,
                access_token: b.access_token.clone(),
            },
        };
        Ok(Self { id, credentials })
    }

    /// Every bot of a loaded config.
    ///
    /// # Errors
    /// The first bot that cannot be served.
    pub fn all_from_config(cfg: &Config) -> Result<Vec<Self>, BotError> {
        cfg.bots.iter().map(Self::from_config).collect()
    }

    #[must_use]
    pub fn platform(&self) -> Platform {
        match self.credentials {
            Credentials::Qq { .. } => Platform::Qq,
            Credentials::Lark { .. } => Platform::Lark,
            Credentials::Onebot { .. } => Platform::Onebot,
        }
    }

    /// The `app_id` of a QQ or Lark bot.
    #[must_use]
    pub fn app_id(&self) -> Option<&str> {
        match &self.credentials {
            Credentials::Qq { app_id, .. } | Credentials::Lark { app_id, .. } => Some(app_id),
            Credentials::Onebot { .. } => None,
        }
    }

    /// Whether `app_id` + `secret` are this QQ or Lark bot's credentials.
    #[must_use]
    pub fn accepts(&self, platform: Platform, app_id: &str, secret: &str) -> bool {
        match &self.credentials {
            Credentials::Qq { app_id: a, client_secret: s } if platform == Platform::Qq => {
                a == app_id && s.expose_secret() == secret
            }
            Credentials::Lark { app_id: a, app_secret: s } if platform == Platform::Lark => {
                a == app_id && s.expose_secret() == secret
            }
            _ => false,
        }
    }
}

/// The path of a OneBot `api_base` URL: `http://127.0.0.1:8090/onebot/` → `/onebot`,
/// `http://127.0.0.1:5700` → `""`. `None` for paths the router cannot hold.
#[must_use]
pub fn onebot_prefix(api_base: &str) -> Option<String> {
    let rest = api_base.split_once("://").map_or(api_base, |(_, rest)| rest);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("").trim_end_matches('/');
    let routable = path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b))
        && !path.contains("//")
        && !path.starts_with("/_fake");
    routable.then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_onebot_prefix_is_the_path_of_api_base_without_trailing_slash() {
        assert_eq!(onebot_prefix("http://127.0.0.1:8090/onebot").as_deref(), Some("/onebot"));
        assert_eq!(onebot_prefix("http://127.0.0.1:8090/onebot/").as_deref(), Some("/onebot"));
        assert_eq!(onebot_prefix("http://h/a/b?x=1").as_deref(), Some("/a/b"));
        assert_eq!(onebot_prefix("http://127.0.0.1:5700").as_deref(), Some(""));
        assert_eq!(onebot_prefix("http://127.0.0.1:5700/").as_deref(), Some(""));
    }

    #[test]
    fn prefixes_the_router_cannot_hold_are_refused() {
        assert_eq!(onebot_prefix("http://h/{id}"), None);
        assert_eq!(onebot_prefix("http://h/_fake"), None);
        assert_eq!(onebot_prefix("http://h/a//b"), None);
    }
}
