//! The Lark payloads of the corpus as deliveries: signed now, with their expectations.

use super::*;

/// The delivery of the payload `e` of the index names, signed at `now`.
pub(super) fn case(e: &Value, now: i64) -> Case {
    let file = str_of(e, "file").to_owned();
    let n = number(&file);
    let bot = format!("lark-{n}");
    let raw = payload("lark", &file);
    let token = match str_of(e, "token") {
        "" => LARK_TOKEN_NOT_IN_PAYLOAD,
        t => t,
    };
    let encrypt_key = str_of(e, "encrypt_key");
    let addressed = str_of(e, "addressed");
    let mentions = e["mentions"].as_array().expect("mentions is an array");
    // "unknown": the payload does not say which mention is the bot; configured
    // as the bot, its one mention is.
    let bot_open_id = (addressed == "unknown").then(|| {
        assert_eq!(mentions.len(), 1, "harness: {file} is \"unknown\" with one mention to be the bot");
        str_of(&mentions[0], "open_id").to_owned()
    });
    let mut bot_table = format!(
        "[[bot]]\nid = \"{bot}\"\nplatform = \"lark\"\napp_id = \"cli_corpus{n}\"\napp_secret = \"lark-app-secret\"\n\
         verification_token = {}\napi_base = \"http://127.0.0.1:{{fake}}\"\n{BOT_KEYS}",
        json!(token)
    );
    if !encrypt_key.is_empty() {
        bot_table.push_str(&format!("encrypt_key = {}\n", json!(encrypt_key)));
    }
    if let Some(id) = &bot_open_id {
        bot_table.push_str(&format!("bot_open_id = {}\n", json!(id)));
    }
    // A legacy card callback has no schema and no header: Lark signs it with
    // `X-Lark-Signature` over the verification token instead.
    let published: Value = serde_json::from_str(&raw).unwrap_or_else(|err| panic!("{file}: {err}"));
    let legacy_card = str_of(e, "schema") == "card" && published.get("header").is_none();
    let webhook = if legacy_card {
        sign::lark_card(token, now, raw.as_bytes())
    } else if encrypt_key.is_empty() {
        sign::lark(None, now, raw.as_bytes())
    } else {
        // The published ciphertext, as it is; the signature headers are made now.
        let (ts, nonce) = (now.to_string(), format!("corpus-{n}"));
        let signature = sign::lark_signature(&ts, &nonce, encrypt_key, raw.as_bytes());
        Webhook {
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-Lark-Request-Timestamp".into(), ts),
                ("X-Lark-Request-Nonce".into(), nonce),
                ("X-Lark-Signature".into(), signature),
            ],
            body: raw.into_bytes(),
        }
    };
    let ack = if str_of(e, "schema") == "challenge" {
        Ack::Json(200, json!({ "challenge": published["challenge"] }))
    } else {
        Ack::Json(200, json!({ "msg": "success" }))
    };
    let text = str_of(e, "text_as_typed");
    let answer = if (addressed == "yes" || bot_open_id.is_some()) && !text.is_empty() {
        // The Lark index has no mentions_bot; a private chat is `true` (module doc).
        Answer::Agent(SkillCall::of(text, (str_of(e, "chat_type") == "p2p").then_some(true)))
    } else {
        Answer::Nothing
    };
    Case { file, bot, bot_table, webhook, ack, answer, deviation: None }
}
