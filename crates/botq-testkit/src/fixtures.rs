//! Credentials and config snippets the tests share: the QQ bot of the
//! published signing vector (`reference/platforms.md`), so a webhook signed
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_bot_table_carries_the_secret() {
        assert!(super::QQ_MAIN_BOT.contains(super::QQ_SECRET));
    }
}
