//! The QQ payloads of the corpus as deliveries: signed now, with their expectations.

use super::*;

/// The delivery of the payload `e` of the index names, signed at `now`.
pub(super) fn case(e: &Value, now: i64) -> Case {
    let file = str_of(e, "file").to_owned();
    let n = number(&file);
    let bot = format!("qq-{n}");
    let raw = payload("qq", &file);
    let published: Value = serde_json::from_str(&raw).unwrap_or_else(|err| panic!("{file}: {err}"));
    let event = str_of(e, "event");
    let body = if str_of(e, "frame") == "d-only" {
        let d = fresh_qq_timestamp(&raw, &published, now);
        let stem = file.trim_end_matches(".json");
        format!(r#"{{"op":0,"id":"{event}:{stem}","d":{d},"t":"{event}"}}"#)
    } else {
        fresh_qq_timestamp(&raw, &published["d"], now)
    };
    let docs_sample = file == "01-op13-validation-docs.json";
    let (app_id, secret) =
        if docs_sample { (QQ_DOCS_APP_ID.to_owned(), QQ_DOCS_SECRET) } else { (format!("1020000{n}"), QQ_SECRET) };
    let bot_table = format!(
        "[[bot]]\nid = \"{bot}\"\nplatform = \"qq\"\napp_id = \"{app_id}\"\nsecret = \"{secret}\"\n\
         api_base = \"http://127.0.0.1:{{fake}}\"\ntoken_url = \"http://127.0.0.1:{{fake}}/app/getAppAccessToken\"\n{BOT_KEYS}"
    );
    let ack = if e["op"].as_i64() == Some(13) {
        let d = &published["d"];
        let token = d["plain_token"].as_str().expect("op 13 plain_token");
        let event_ts = d["event_ts"].as_str().map_or_else(|| d["event_ts"].to_string(), str::to_owned);
        let signature = botq_core::platform::qq::sign_webhook(&sign::qq_key(secret), &event_ts, token.as_bytes());
        if docs_sample {
            assert_eq!(signature, QQ_DOCS_SIGNATURE, "harness: the expected answer is the one the docs publish");
        }
        Ack::Json(200, json!({ "plain_token": token, "signature": signature }))
    } else {
        Ack::Json(200, json!({ "op": 12, "d": 0 }))
    };
    let text = str_of(e, "text_as_typed");
    let answer = if e["addressed"].as_bool() == Some(true) && !text.is_empty() {
        let private = matches!(event, "C2C_MESSAGE_CREATE" | "DIRECT_MESSAGE_CREATE");
        Answer::Agent(SkillCall::of(text, if private { Some(true) } else { e["mentions_bot"].as_bool() }))
    } else {
        Answer::Nothing
    };
    let webhook = sign::qq(&app_id, secret, now, body.as_bytes());
    Case { file, bot, bot_table, webhook, ack, answer, deviation: None }
}

/// The payload text with `d.timestamp` (when `d` has one) set to `now`, in the form it has.
fn fresh_qq_timestamp(raw: &str, d: &Value, now: i64) -> String {
    match d.get("timestamp") {
        Some(ts @ Value::String(_)) => replace_value(raw, "timestamp", ts, &json!(sign::rfc3339_utc(now)).to_string()),
        Some(ts @ Value::Number(_)) => replace_value(raw, "timestamp", ts, &now.to_string()),
        _ => raw.to_owned(),
    }
}
