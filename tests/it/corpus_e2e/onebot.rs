//! The OneBot payloads of the corpus as deliveries: signed now, with their expectations.

use super::*;

/// The delivery of the payload `e` of the index names, signed at `now`.
pub(super) fn case(e: &Value, now: i64) -> Case {
    let file = str_of(e, "file").to_owned();
    let n = number(&file);
    let bot = format!("ob-{n}");
    let raw = payload("onebot", &file);
    let published: Value = serde_json::from_str(&raw).unwrap_or_else(|err| panic!("{file}: {err}"));
    let self_id = e["self_id"].as_i64().expect("self_id is an integer").to_string();
    let body = replace_value(&raw, "time", &published["time"], &now.to_string());
    let bot_table = format!(
        "[[bot]]\nid = \"{bot}\"\nplatform = \"onebot\"\napp_id = \"{self_id}\"\naccess_token = \"onebot-access\"\n\
         api_base = \"http://127.0.0.1:{{fake}}/ob{n}\"\n{BOT_KEYS}"
    );
    let text = e["text_as_typed"].as_str().unwrap_or_default();
    let answer = if e["addressed"].as_str() == Some("yes") && !text.is_empty() {
        let private = e["message_type"].as_str() == Some("private");
        Answer::Agent(SkillCall::of(text, if private { Some(true) } else { e["mentions_bot"].as_bool() }))
    } else {
        Answer::Nothing
    };
    let webhook = sign::onebot(&self_id, None, body.as_bytes());
    Case { file, bot, bot_table, webhook, ack: Ack::Empty(204), answer, deviation: None }
}
