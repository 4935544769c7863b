//! Credentials and config snippets the tests share: the QQ bot of the
//! signing vector the QQ bot docs publish ("签名校验": secret, body and
//! signature), so a webhook signed
//! by [`crate::sign::qq`] with [`QQ_SECRET`] verifies against [`QQ_MAIN_BOT`];
//! a Lark and a OneBot bot beside it; and the switches that turn off the
//! limits a test is not about (ingest's rate limits, fair share, a bot's
//! reply throttle), so a test that counts events or replies counts what it
//! sent and not what a limit held back.
//!
//! Each snippet is TOML text that starts on a fresh line and ends with a
//! newline, so snippets and a test's own lines concatenate. A `[[bot]]`
//! table may be followed by more keys of that bot; a table switch
//! (`[ingest.rate_limit]`, `[fair_share]`) holds only its own keys, so put
//! it where a new table may start.

/// The QQ bot secret of the published Ed25519 test vector.
pub const QQ_SECRET: &str = "naOC0ocQE3shWLAfffVLB1rhYPG7";

/// A `[[bot]]` table: QQ bot `qq-main`, appid 102000000, [`QQ_SECRET`].
pub const QQ_MAIN_BOT: &str = r#"
[[bot]]
id = "qq-main"
platform = "qq"
app_id = "102000000"
secret = "naOC0ocQE3shWLAfffVLB1rhYPG7"
"#;

/// [`QQ_MAIN_BOT`] with its reply API and token URL at botq-fakeplatform on
/// `fake_port`; more keys of the table may follow.
#[must_use]
pub fn qq_main_bot_replying_to(fake_port: u16) -> String {
    format!(
        "{QQ_MAIN_BOT}api_base = \"http://127.0.0.1:{fake_port}\"\ntoken_url = \"http://127.0.0.1:{fake_port}/app/getAppAccessToken\"\n"
    )
}

/// A `[[bot]]` table: Lark bot `lark-main`, app `cli_a0000000000000`,
/// verification token [`LARK_TOKEN`], no Encrypt Key; more keys of the
/// table may follow (`encrypt_key`, `api_base`…).
pub const LARK_MAIN_BOT: &str = r#"
[[bot]]
id = "lark-main"
platform = "lark"
app_id = "cli_a0000000000000"
app_secret = "lark-app-secret"
verification_token = "v-token"
"#;

/// The verification token of [`LARK_MAIN_BOT`]: what a webhook to it carries.
pub const LARK_TOKEN: &str = "v-token";

/// [`LARK_MAIN_BOT`] with its reply API at botq-fakeplatform on `fake_port`;
/// more keys of the table may follow.
#[must_use]
pub fn lark_main_bot_replying_to(fake_port: u16) -> String {
    format!("{LARK_MAIN_BOT}api_base = \"http://127.0.0.1:{fake_port}\"\n")
}

/// A `[[bot]]` table: OneBot bot `onebot-main`, `self_id` 10001000; its
/// `api_base` and credentials follow.
pub const ONEBOT_MAIN_BOT: &str = r#"
[[bot]]
id = "onebot-main"
platform = "onebot"
app_id = "10001000"
"#;

/// [`ONEBOT_MAIN_BOT`] with access token `onebot-access` and its reply API
/// at botq-fakeplatform's OneBot prefix on `fake_port`; more keys of the
/// table may follow.
#[must_use]
pub fn onebot_main_bot_replying_to(fake_port: u16) -> String {
    format!("{ONEBOT_MAIN_BOT}access_token = \"onebot-access\"\napi_base = \"http://127.0.0.1:{fake_port}/onebot\"\n")
}

/// A `[[skill]]` table: the http skill `agent` at `url` (an upstream the
/// test runs), answering within 3 s; more keys of the table may follow.
#[must_use]
pub fn agent_skill_at(url: &str) -> String {
    format!("\n[[skill]]\nname = \"agent\"\nurl = \"{url}\"\ntimeout_ms = 3000\n")
}

/// `[ingest.rate_limit]` with the group and sender limits off: every
/// webhook a test sends is accepted, however fast it sends them.
pub const NO_INGEST_RATE_LIMIT: &str = "
[ingest.rate_limit]
group_per_sec = 0.0
sender_per_sec = 0.0
";

/// `[fair_share]` off: every accepted event is in the stream, none waits
/// in its chat's backlog.
pub const NO_FAIR_SHARE: &str = "
[fair_share]
max_queued_per_chat = 0
";

/// A key of a `[[bot]]` table: the bot's reply throttle off (per chat and
/// for the whole bot), so replies go out as fast as the worker makes them.
pub const NO_REPLY_LIMIT: &str = "reply_limit = { chat_per_sec = 0.0, bot_per_sec = 0.0 }\n";

#[cfg(test)]
mod tests {
    #[test]
    fn the_bot_table_carries_the_secret() {
        assert!(super::QQ_MAIN_BOT.contains(super::QQ_SECRET));
    }

    #[test]
    fn the_replying_bot_points_both_urls_at_the_fake() {
        let t = super::qq_main_bot_replying_to(8090);
        assert!(t.starts_with(super::QQ_MAIN_BOT));
        assert!(t.contains("api_base = \"http://127.0.0.1:8090\"\n"));
        assert!(t.contains("token_url = \"http://127.0.0.1:8090/app/getAppAccessToken\"\n"));
    }

    #[test]
    fn the_lark_bot_carries_its_token() {
        assert!(super::LARK_MAIN_BOT.contains(&format!("verification_token = \"{}\"", super::LARK_TOKEN)));
    }

    /// The snippets, put together as the tests put them, are one valid
    /// config with the limits off.
    #[test]
    fn the_snippets_make_one_config_with_the_limits_off() {
        use super::*;
        let text = format!(
            "{NO_INGEST_RATE_LIMIT}{NO_FAIR_SHARE}{}{}{}{NO_REPLY_LIMIT}{}",
            agent_skill_at("http://127.0.0.1:8091/agent"),
            qq_main_bot_replying_to(8090),
            lark_main_bot_replying_to(8090),
            onebot_main_bot_replying_to(8090)
        );
        let env = |k: &str| (k == "BOTQ_REDIS_URL").then(|| "redis://127.0.0.1:6379".to_owned());
        let cfg = botq_core::config::Config::from_toml(&text, botq_core::config::Service::Worker, &env, ".".as_ref())
            .unwrap_or_else(|p| panic!("{text}\n{p}"));
        assert_eq!(cfg.bots.len(), 3);
        assert!(cfg.skills.iter().any(|s| s.name == "agent"), "the agent beside the built-ins");
        assert!(cfg.bots.iter().all(|b| b.rate_limit.group.is_none() && b.rate_limit.sender.is_none()));
        assert_eq!(cfg.fair_share.max_queued_per_chat, None);
        let lark = &cfg.bots[1];
        assert!(lark.reply_limit.chat.is_none() && lark.reply_limit.bot.is_none(), "{:?}", lark.reply_limit);
    }
}
