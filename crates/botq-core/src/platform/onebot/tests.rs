//! The adapter end to end: signed reports in, outcomes out.

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{Value, json};
use sha1::Sha1;

use super::*;
use crate::ids::{BotId, RequestId};

mod corpus;
mod messages;
mod rotation;

const SECRET: &str = "secret";
const SELF_ID: &str = "10001000";
const NOW_MS: i64 = 1_515_204_254_500;

/// V-OB-1: the body and its signature under `secret`.
const V_OB_1_BODY: &str = r#"{"time":1515204254,"self_id":10001000,"post_type":"message","message_type":"private","sub_type":"friend","message_id":12,"user_id":12345678,"message":"hello","raw_message":"hello","font":456,"sender":{"nickname":"test","sex":"male","age":18}}"#;
const V_OB_1_SIGNATURE: &str = "sha1=4d041030f3f58466e16ccffd60bf6a7717a15807";

/// The default window: 8 h old, 5 min ahead.
fn window() -> TimestampWindow {
    TimestampWindow::new(std::time::Duration::from_secs(28_800), std::time::Duration::from_secs(300))
}

fn adapter() -> OnebotAdapter {
    OnebotAdapter::new(Some(SELF_ID.into()), Some(&SecretString::from(SECRET)), window()).unwrap()
}

fn unsigned_adapter() -> OnebotAdapter {
    OnebotAdapter::new(None, None, window()).unwrap()
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

fn headers(self_id: Option<&str>, signature: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(id) = self_id {
        h.insert(SELF_ID_HEADER, HeaderValue::from_str(id).unwrap());
    }
    if let Some(sig) = signature {
        h.insert(SIGNATURE_HEADER, HeaderValue::from_str(sig).unwrap());
    }
    h
}

fn handle(adapter: &OnebotAdapter, headers: &HeaderMap, body: &[u8]) -> Result<Outcome, Reject> {
    let bot = BotId::parse("onebot-main").unwrap();
    let req = Inbound { bot: &bot, headers, body, now_ms: NOW_MS, request_id: RequestId::new() };
    adapter.handle(&req)
}

/// `body` as the implementation sends it: signed with [`SECRET`], from [`SELF_ID`].
fn send(body: &Value) -> Result<Outcome, Reject> {
    let body = body.to_string();
    let h = headers(Some(SELF_ID), Some(&sign(SECRET, body.as_bytes())));
    handle(&adapter(), &h, body.as_bytes())
}

fn group_message(message: &Value) -> Value {
    json!({
        "time": 1_515_204_254, "self_id": 10_001_000, "post_type": "message",
        "message_type": "group", "sub_type": "normal", "message_id": -2_147_483_000_i64,
        "group_id": 123_456, "user_id": 12_345_678, "anonymous": null, "message": message,
        "font": 0, "sender": {"user_id": 12_345_678, "nickname": "Ann", "role": "member"}
    })
}

#[test]
fn hmac_sha1_matches_the_well_known_vector() {
    let mut mac = Hmac::<Sha1>::new_from_slice(b"key").unwrap();
    mac.update(b"The quick brown fox jumps over the lazy dog");
    let hex = hex::encode(mac.finalize().into_bytes());
    assert_eq!(hex, "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9");
}

#[test]
fn derived_vector_signature_is_accepted_in_either_case() {
    let secret = SecretString::from(SECRET);
    assert!(signature_matches(&secret, V_OB_1_BODY.as_bytes(), V_OB_1_SIGNATURE));
    let upper = format!("sha1={}", V_OB_1_SIGNATURE["sha1=".len()..].to_ascii_uppercase());
    assert!(signature_matches(&secret, V_OB_1_BODY.as_bytes(), &upper));
    assert_eq!(sign(SECRET, V_OB_1_BODY.as_bytes()), V_OB_1_SIGNATURE);
    for sig in [V_OB_1_SIGNATURE, upper.as_str()] {
        let out = handle(&adapter(), &headers(Some(SELF_ID), Some(sig)), V_OB_1_BODY.as_bytes());
        assert!(matches!(out, Ok(Outcome::Event(_))), "{out:?}");
    }
}

#[test]
fn tampered_body_fails_the_signature() {
    let tampered = V_OB_1_BODY.replace("hello", "hellp");
    let h = headers(Some(SELF_ID), Some(V_OB_1_SIGNATURE));
    assert_eq!(handle(&adapter(), &h, tampered.as_bytes()), Err(Reject::InvalidSignature));
}

#[test]
fn signature_with_the_wrong_key_or_shape_fails() {
    let body = V_OB_1_BODY.as_bytes();
    let wrong_key = sign("other", body);
    let bare = V_OB_1_SIGNATURE.trim_start_matches("sha1=").to_owned();
    let short = &V_OB_1_SIGNATURE[..44];
    let sha256 = V_OB_1_SIGNATURE.replace("sha1=", "sha256=");
    for sig in [wrong_key.as_str(), bare.as_str(), short, sha256.as_str(), "sha1=", "sha1=zz"] {
        let out = handle(&adapter(), &headers(Some(SELF_ID), Some(sig)), body);
        assert_eq!(out, Err(Reject::InvalidSignature), "{sig}");
    }
}

#[test]
fn missing_signature_or_self_id_header_is_refused() {
    let body = V_OB_1_BODY.as_bytes();
    let out = handle(&adapter(), &headers(Some(SELF_ID), None), body);
    assert_eq!(out, Err(Reject::MissingSignature));
    let out = handle(&adapter(), &headers(None, Some(V_OB_1_SIGNATURE)), body);
    assert_eq!(out, Err(Reject::MissingSignature));
    assert_eq!(handle(&unsigned_adapter(), &headers(None, None), body), Err(Reject::MissingSignature));
}

#[test]
fn report_for_another_account_is_refused() {
    let body = V_OB_1_BODY.as_bytes();
    let out = handle(&adapter(), &headers(Some("20002000"), Some(V_OB_1_SIGNATURE)), body);
    assert_eq!(out, Err(Reject::WrongRecipient));
    // Without a configured self_id the header still has to match the body.
    let out = handle(&unsigned_adapter(), &headers(Some("20002000"), None), body);
    assert_eq!(out, Err(Reject::WrongRecipient));
    let out = handle(&unsigned_adapter(), &headers(Some(SELF_ID), None), body);
    assert!(matches!(out, Ok(Outcome::Event(_))), "{out:?}");
}

#[test]
fn malformed_reports_are_refused() {
    let mut missing = Vec::new();
    for field in ["self_id", "post_type", "message_id", "user_id", "time", "group_id", "message"] {
        let mut report = group_message(&json!("hi"));
        report.as_object_mut().unwrap().remove(field);
        missing.push(report.to_string());
    }
    let odd_message = group_message(&json!({"not": "a message"})).to_string();
    let float_id = V_OB_1_BODY.replace("\"message_id\":12", "\"message_id\":1.5");
    let bodies = ["", "{", "[]", "null", "{\"self_id\":10001000}", &odd_message, &float_id];
    for body in missing.iter().map(String::as_str).chain(bodies) {
        let h = headers(Some(SELF_ID), Some(&sign(SECRET, body.as_bytes())));
        assert_eq!(handle(&adapter(), &h, body.as_bytes()), Err(Reject::MalformedPayload), "{body}");
    }
}

#[test]
fn construction_validates_its_inputs_and_debug_hides_the_secret() {
    let empty = SecretString::from("");
    assert_eq!(OnebotAdapter::new(None, Some(&empty), window()).unwrap_err(), KeyError::EmptySecret);
    for bad in ["", "12a", "-1"] {
        assert!(matches!(OnebotAdapter::new(Some(bad.into()), None, window()), Err(KeyError::Invalid(_))));
    }
    let shown = format!("{:?}", adapter());
    assert!(shown.contains(SELF_ID) && shown.contains("***") && !shown.contains("\"secret\""));
}

fn header_value() -> impl Strategy<Value = Option<HeaderValue>> {
    proptest::option::of(
        proptest::collection::vec(any::<u8>(), 0..60)
            .prop_filter_map("not a header value", |b| HeaderValue::from_bytes(&b).ok()),
    )
}

proptest! {
    #[test]
    fn arbitrary_bodies_and_headers_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        self_id in header_value(),
        signature in header_value(),
    ) {
        let mut h = HeaderMap::new();
        if let Some(v) = self_id { h.insert(SELF_ID_HEADER, v); }
        if let Some(v) = signature { h.insert(SIGNATURE_HEADER, v); }
        let _ = handle(&adapter(), &h, &body);
        let _ = handle(&unsigned_adapter(), &h, &body);
    }

    #[test]
    fn signed_reports_with_odd_fields_never_panic(
        field in "time|self_id|post_type|message_type|message_id|user_id|group_id|message|raw_message",
        value in prop_oneof![
            Just(Value::Null), any::<i64>().prop_map(Value::from), any::<f64>().prop_map(Value::from),
            "\\PC{0,40}".prop_map(Value::from),
            Just(json!([{"type": "at"}, {"type": "text", "data": 5}, {"data": {"text": "x"}}, 7])),
        ],
    ) {
        let mut report = group_message(&json!("[CQ:at,qq=10001000] hi"));
        report[field.as_str()] = value;
        let _ = send(&report);
    }
}

/// `time` is the only timestamp a report has: outside the window the report
/// is stale, signed or not, so bytes replayed after their dedupe key expired
/// are refused instead of becoming a second event.
#[test]
fn a_report_whose_time_is_outside_the_window_is_stale() {
    let at = |time: i64| {
        let mut body: Value = serde_json::from_str(V_OB_1_BODY).unwrap();
        body["time"] = json!(time);
        body
    };
    let now = NOW_MS / 1000;
    assert!(matches!(send(&at(now - 28_799)), Ok(Outcome::Event(_))), "8 h old: a platform retry");
    assert!(matches!(send(&at(now + 300)), Ok(Outcome::Event(_))), "5 min ahead: clock skew");
    for stale in [now - 30 * 86_400, now - 28_801, now + 301, now + 3_600, i64::MIN, 0] {
        assert_eq!(send(&at(stale)), Err(Reject::StaleTimestamp), "time {stale}");
    }
    let mut heartbeat = json!({"time": now - 30 * 86_400, "self_id": 10_001_000, "post_type": "meta_event", "meta_event_type": "heartbeat"});
    assert_eq!(send(&heartbeat), Err(Reject::StaleTimestamp), "every report, not only messages");
    heartbeat["time"] = json!(now);
    assert_eq!(send(&heartbeat), Ok(Outcome::Ignored { kind: crate::platform::IgnoredKind::EventType }));
}
