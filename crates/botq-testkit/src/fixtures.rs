//! Credentials and config snippets the tests share: the QQ bot of the
//! signing vector the QQ bot docs publish ("签名校验": secret, body and
//! signature), so a webhook signed
//! by [`crate::sign::qq`] with [`QQ_SECRET`] verifies against [`QQ_MAIN_BOT`].

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
}
