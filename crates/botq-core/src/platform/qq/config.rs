//! A QQ bot's settings, as checked at load: everything its webhooks and
//! replies need is here, so nothing is found missing at run time.

use secrecy::SecretString;

/// QQ's public reply API and token endpoint (bot docs, "接口调用与鉴权").
pub const API_BASE: &str = "https://api.sgroup.qq.com";
pub const TOKEN_URL: &str = "https://bots.qq.com/app/getAppAccessToken";

#[derive(Debug, Clone)]
pub struct QqBot {
    /// `X-Bot-Appid`, and the `appId` of the token request.
    pub app_id: String,
    /// The bot secret: the Ed25519 seed of webhook signatures and the
    /// `clientSecret` of the token request.
    pub secret: SecretString,
    pub api_base: String,
    pub token_url: String,
}
