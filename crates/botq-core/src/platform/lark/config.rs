//! A Lark bot's settings, as checked at load.

use secrecy::SecretString;

/// Feishu's open platform; a Lark (international) tenant sets
/// `api_base = "https://open.larksuite.com"`.
pub const API_BASE: &str = "https://open.feishu.cn";

#[derive(Debug, Clone)]
pub struct LarkBot {
    pub app_id: String,
    /// For the tenant access token.
    pub app_secret: SecretString,
    /// In every event, and the key of legacy card-callback signatures.
    pub verification_token: SecretString,
    /// Encrypts and signs events; without it nothing is signed.
    pub encrypt_key: Option<SecretString>,
    pub api_base: String,
    /// The bot's own `open_id`, so a group mention counts only when it names the bot.
    pub bot_open_id: Option<String>,
}
