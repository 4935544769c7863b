//! The adapter end to end: headers and signed bodies in, outcomes out.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use secrecy::SecretString;

use super::*;
use crate::envelope::{ChatKind, ENVELOPE_VERSION, Envelope, Platform};
use crate::ids::{BotId, RequestId};
use crate::platform::{Event, HttpAnswer, IgnoredKind};

mod messages;
mod rotation;

const SECRET: &str = "naOC0ocQE3shWLAfffVLB1rhYPG7";
const APP_ID: &str = "102000000";
const TS: &str = "1725442341";
const NOW_MS: i64 = 1_725_442_341_500;

fn adapter() -> QqAdapter {
    let window = TimestampWindow::new(Duration::from_secs(300), Duration::from_secs(300));
    QqAdapter::new(APP_ID.into(), &SecretString::from(SECRET), window).unwrap()
}

fn key(secret: &str) -> SigningKey {
    derive_signing_key(&SecretString::from(secret)).unwrap()
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

/// Headers the platform would send for `body` signed by `secret` at `ts`.
fn signed(secret: &str, ts: &str, body: &str) -> HeaderMap {
    let sig = sign_webhook(&key(secret), ts, body.as_bytes());
    headers(&[("X-Bot-Appid", APP_ID), ("X-Signature-Ed25519", &sig), ("X-Signature-Timestamp", ts)])
}

fn run(adapter: &QqAdapter, headers: &HeaderMap, body: &str) -> Result<Outcome, Reject> {
    let bot = BotId::parse("qq-main").unwrap();
    let req = Inbound { bot: &bot, headers, body: body.as_bytes(), now_ms: NOW_MS, request_id: RequestId::new() };
    adapter.handle(&req)
}

fn handle_signed(body: &str) -> Result<Outcome, Reject> {
    run(&adapter(), &signed(SECRET, TS, body), body)
}

fn event(body: &str) -> Event {
    match handle_signed(body) {
        Ok(Outcome::Event(event)) => event,
        other => panic!("not an event: {other:?}"),
    }
}

const GROUP_AT: &str = r#"{"op":0,"id":"GROUP_AT_MESSAGE_CREATE:yit7","d":{"id":"ROBOT1.0_yiT7pd","content":" lssv","timestamp":"2025-09-08T23:13:34+08:00","author":{"id":"0BA1","member_openid":"0BA1M","union_openid":"0BA1U"},"group_id":"82B3","group_openid":"82B3G","message_scene":{"source":"default"},"message_type":0},"t":"GROUP_AT_MESSAGE_CREATE"}"#;

#[test]
fn a_tampered_body_is_an_invalid_signature() {
    let headers = signed(SECRET, TS, GROUP_AT);
    let tampered = GROUP_AT.replace(" lssv", " rm -rf");
    assert_eq!(run(&adapter(), &headers, &tampered), Err(Reject::InvalidSignature));
}

#[test]
fn a_signature_by_another_key_is_invalid() {
    let headers = signed("some-other-bot-secret", TS, GROUP_AT);
    assert_eq!(run(&adapter(), &headers, GROUP_AT), Err(Reject::InvalidSignature));
}

#[test]
fn each_missing_header_is_a_missing_signature() {
    let full = signed(SECRET, TS, GROUP_AT);
    for name in ["x-bot-appid", "x-signature-ed25519", "x-signature-timestamp"] {
        let mut h = full.clone();
        h.remove(name);
        assert_eq!(run(&adapter(), &h, GROUP_AT), Err(Reject::MissingSignature), "{name}");
    }
    let mut unsigned = full;
    unsigned.remove("x-signature-ed25519");
    unsigned.remove("x-signature-timestamp");
    assert_eq!(run(&adapter(), &unsigned, GROUP_AT), Err(Reject::MissingSignature));
}

#[test]
fn header_names_match_in_any_case() {
    let sig = sign_webhook(&key(SECRET), TS, GROUP_AT.as_bytes());
    let h = headers(&[("x-BOT-appid", APP_ID), ("X-SIGNATURE-ED25519", &sig), ("x-signature-timestamp", TS)]);
    assert!(matches!(run(&adapter(), &h, GROUP_AT), Ok(Outcome::Event(_))));
}

#[test]
fn a_timestamp_outside_the_window_is_stale() {
    let old = (NOW_MS / 1000 - 301).to_string();
    assert_eq!(run(&adapter(), &signed(SECRET, &old, GROUP_AT), GROUP_AT), Err(Reject::StaleTimestamp));
    let future = (NOW_MS / 1000 + 400).to_string();
    assert_eq!(run(&adapter(), &signed(SECRET, &future, GROUP_AT), GROUP_AT), Err(Reject::StaleTimestamp));
    let no_window = QqAdapter::new(APP_ID.into(), &SecretString::from(SECRET), TimestampWindow::OFF).unwrap();
    assert!(run(&no_window, &signed(SECRET, "1", GROUP_AT), GROUP_AT).is_ok());
}

/// The default window takes retries hours old, but a signature from the
/// future only within the clock skew: hours ahead would outlive its dedupe key.
#[test]
fn the_window_is_hours_into_the_past_and_minutes_into_the_future() {
    let window = TimestampWindow::new(Duration::from_secs(8 * 3600), Duration::from_secs(300));
    let adapter = QqAdapter::new(APP_ID.into(), &SecretString::from(SECRET), window).unwrap();
    let at = |offset: i64| (NOW_MS / 1000 + offset).to_string();
    assert!(run(&adapter, &signed(SECRET, &at(-7 * 3600), GROUP_AT), GROUP_AT).is_ok());
    assert!(run(&adapter, &signed(SECRET, &at(299), GROUP_AT), GROUP_AT).is_ok());
    for ahead in [301, 3600, 7 * 3600] {
        let got = run(&adapter, &signed(SECRET, &at(ahead), GROUP_AT), GROUP_AT);
        assert_eq!(got, Err(Reject::StaleTimestamp), "{ahead} s ahead");
    }
}

#[test]
fn another_appid_is_the_wrong_recipient() {
    let mut h = signed(SECRET, TS, GROUP_AT);
    h.insert("x-bot-appid", HeaderValue::from_static("102000001"));
    assert_eq!(run(&adapter(), &h, GROUP_AT), Err(Reject::WrongRecipient));
}

const V_QQ_1: &str = r#"{"d":{"plain_token":"Arq0D5A61EgUu4OxUvOp","event_ts":"1725442341"},"op":13}"#;
const V_QQ_1_ANSWER: &str = r#"{"plain_token":"Arq0D5A61EgUu4OxUvOp","signature":"87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d01bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706"}"#;

fn v_qq_1_adapter() -> QqAdapter {
    QqAdapter::new(APP_ID.into(), &SecretString::from("DG5g3B4j9X2KOErG"), TimestampWindow::OFF).unwrap()
}

#[test]
fn v_qq_1_unsigned_validation_gets_the_published_answer() {
    let h = headers(&[("X-Bot-Appid", APP_ID)]);
    assert_eq!(run(&v_qq_1_adapter(), &h, V_QQ_1), Ok(Outcome::Handshake(HttpAnswer::json(200, V_QQ_1_ANSWER))));
}

#[test]
fn v_qq_1_signed_validation_gets_the_published_answer_only_if_the_signature_verifies() {
    let good = signed("DG5g3B4j9X2KOErG", TS, V_QQ_1);
    assert_eq!(run(&v_qq_1_adapter(), &good, V_QQ_1), Ok(Outcome::Handshake(HttpAnswer::json(200, V_QQ_1_ANSWER))));
    let forged = signed(SECRET, TS, V_QQ_1);
    assert_eq!(run(&v_qq_1_adapter(), &forged, V_QQ_1), Err(Reject::InvalidSignature));
}

#[test]
fn a_validation_token_shaped_like_an_event_is_refused_even_when_signed() {
    let forged_event = r#"{"op":0,"id":"x","d":{},"t":"C2C_MESSAGE_CREATE"}"#;
    let body = serde_json::json!({"op": 13, "d": {"plain_token": forged_event, "event_ts": "1725442341"}}).to_string();
    assert_eq!(handle_signed(&body), Err(Reject::InvalidHandshake));
    assert_eq!(run(&adapter(), &headers(&[("X-Bot-Appid", APP_ID)]), &body), Err(Reject::InvalidHandshake));
}

#[test]
fn a_validation_timestamp_that_is_not_digits_is_refused() {
    let body = r#"{"op":13,"d":{"plain_token":"Arq0D5A61EgUu4OxUvOp","event_ts":"1725442341 "}}"#;
    assert_eq!(handle_signed(body), Err(Reject::InvalidHandshake));
}

#[test]
fn debug_output_hides_the_keys() {
    let a = adapter();
    let shown = format!("{a:?}");
    assert!(shown.contains(APP_ID) && shown.contains("***"), "{shown}");
    assert!(!shown.contains(SECRET) && !shown.contains("naOC"), "{shown}");
    assert!(!shown.contains(&hex::encode(a.verifying_key().to_bytes())), "{shown}");
    assert!(!shown.to_lowercase().contains("[215"), "{shown}");
}

#[test]
fn an_empty_secret_cannot_make_an_adapter() {
    let got = QqAdapter::new(APP_ID.into(), &SecretString::from(""), TimestampWindow::OFF);
    assert_eq!(got.err(), Some(KeyError::EmptySecret));
}

/// Frames that reach the parsers: a complete message whose fields are each
/// kept, dropped or replaced by an arbitrary JSON value.
fn body_strategy() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just("null".to_owned()),
        Just("{}".to_owned()),
        Just("[{}]".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| serde_json::json!(n).to_string()),
        any::<String>().prop_map(|s| serde_json::Value::String(s).to_string()),
    ];
    let fields: [(&str, &str); 12] = [
        ("id", r#""ROBOT1.0_m""#),
        ("content", r#"" /ping""#),
        ("timestamp", r#""2025-09-08T23:13:34.5-08:00""#),
        ("group_openid", r#""G""#),
        ("guild_id", r#""GU""#),
        ("channel_id", r#""C""#),
        ("author", r#"{"id":"A","bot":true,"user_openid":"U","member_openid":"M"}"#),
        ("mentions", r#"[{"id":"B","bot":true}]"#),
        ("plain_token", r#""Arq0D5A61EgUu4OxUvOp""#),
        ("event_ts", r#""1725442341""#),
        ("x", "1"),
        ("y", "[]"),
    ];
    // Per field: 0 keep, 1 drop, 2 replace.
    let edit = prop_oneof![6 => Just(0u8), 1 => Just(1), 1 => Just(2)];
    let edits = prop::collection::vec((edit, value.clone()), fields.len());
    let d = edits.prop_map(move |edits| {
        let kept: Vec<String> = fields
            .iter()
            .zip(edits)
            .filter_map(|((k, v), (edit, other))| match edit {
                0 => Some(format!(r#""{k}":{v}"#)),
                1 => None,
                _ => Some(format!(r#""{k}":{other}"#)),
            })
            .collect();
        format!("{{{}}}", kept.join(","))
    });
    let t = prop_oneof![
        Just(r#""GROUP_AT_MESSAGE_CREATE""#.to_owned()),
        Just(r#""C2C_MESSAGE_CREATE""#.to_owned()),
        Just(r#""AT_MESSAGE_CREATE""#.to_owned()),
        Just(r#""MESSAGE_CREATE""#.to_owned()),
        Just(r#""DIRECT_MESSAGE_CREATE""#.to_owned()),
        value.clone(),
    ];
    let id = prop_oneof![3 => Just(r#""E:1""#.to_owned()), 1 => value];
    let op = prop_oneof![3 => Just(0u64), 1 => Just(13), 1 => any::<u64>()];
    let frame = (op, id, t, d).prop_map(|(op, id, t, d)| format!(r#"{{"op":{op},"id":{id},"t":{t},"d":{d}}}"#));
    prop_oneof![4 => frame, 1 => any::<String>()]
}

proptest! {
    #[test]
    fn arbitrary_headers_and_bodies_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..256),
        appid in prop::option::of(prop_oneof![Just(APP_ID.to_owned()), "[ -~]{0,12}"]),
        sig in prop::option::of("[0-9a-fA-F]{0,130}|[ -~]{0,20}"),
        ts in prop::option::of("[0-9]{0,25}|[ -~]{0,12}"),
    ) {
        let mut h = HeaderMap::new();
        for (name, value) in [("x-bot-appid", appid), ("x-signature-ed25519", sig), ("x-signature-timestamp", ts)] {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                h.insert(name, v);
            }
        }
        let bot = BotId::parse("qq-main").unwrap();
        let req = Inbound { bot: &bot, headers: &h, body: &body, now_ms: NOW_MS, request_id: RequestId::new() };
        let _ = adapter().handle(&req);
    }

    #[test]
    fn arbitrary_signed_payloads_never_panic(body in body_strategy()) {
        let _ = handle_signed(&body);
        let _ = run(&adapter(), &headers(&[("X-Bot-Appid", APP_ID)]), &body);
    }
}
