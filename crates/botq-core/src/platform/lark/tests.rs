//! The adapter end to end: verification, decryption and the challenge.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use secrecy::SecretString;

use super::crypto::{V_LARK_2_ENCRYPT, encrypt_for_test, sign_for_test};
use super::*;
use crate::ids::{BotId, RequestId};
use crate::platform::{HttpAnswer, IgnoredKind};

mod messages;
mod props;
mod rotation;

const TOKEN: &str = "vErIfIcAtIoN";
const KEY: &str = "eNcRyPt kEy";
const TS: &str = "1700000000";
const NONCE: &str = "533226633";
const NOW_MS: i64 = 1_700_000_001_000;

fn window() -> TimestampWindow {
    TimestampWindow::new(Duration::from_secs(300), Duration::from_secs(300))
}

fn encrypted_adapter() -> LarkAdapter {
    let key = SecretString::from(KEY);
    LarkAdapter::new("cli_a".into(), &SecretString::from(TOKEN), Some(&key), window()).unwrap()
}

fn plain_adapter() -> LarkAdapter {
    LarkAdapter::new("cli_a".into(), &SecretString::from(TOKEN), None, window()).unwrap()
}

fn handle(adapter: &LarkAdapter, headers: &HeaderMap, body: &[u8]) -> Result<Outcome, Reject> {
    let bot = BotId::parse("lark-main").unwrap();
    let req = Inbound { bot: &bot, headers, body, now_ms: NOW_MS, request_id: RequestId::new() };
    adapter.handle(&req)
}

/// `plaintext` encrypted under [`KEY`], as the raw body Lark sends.
fn encrypted(plaintext: &str) -> Vec<u8> {
    let encrypt = encrypt_for_test(KEY, [9; 16], plaintext.as_bytes());
    format!(r#"{{"encrypt":"{encrypt}"}}"#).into_bytes()
}

/// The headers Lark sends with `body` signed by `key` at `ts`.
fn signed(key: &str, ts: &str, body: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(TIMESTAMP_HEADER, HeaderValue::from_str(ts).unwrap());
    h.insert(NONCE_HEADER, HeaderValue::from_static(NONCE));
    let sig = sign_for_test(key, ts, NONCE, body);
    h.insert(SIGNATURE_HEADER, HeaderValue::from_str(&sig).unwrap());
    h
}

fn challenge(token: &str) -> String {
    format!(r#"{{"challenge":"ajls384kdjx98XX","token":"{token}","type":"url_verification"}}"#)
}

fn answer(challenge: &str) -> Outcome {
    Outcome::Handshake(HttpAnswer::json(200, format!(r#"{{"challenge":"{challenge}"}}"#)))
}

fn contact_event(token: &str) -> String {
    format!(
        r#"{{"schema":"2.0","header":{{"event_id":"e1","event_type":"contact.user.created_v3","token":"{token}"}},"event":{{}}}}"#
    )
}

#[test]
fn signed_encrypted_challenge_is_answered_with_the_exact_challenge() {
    let body = encrypted(&challenge(TOKEN));
    let out = handle(&encrypted_adapter(), &signed(KEY, TS, &body), &body);
    assert_eq!(out, Ok(answer("ajls384kdjx98XX")));
}

#[test]
fn unsigned_encrypted_challenge_is_answered_with_the_exact_challenge() {
    let body = encrypted(&challenge(TOKEN));
    let out = handle(&encrypted_adapter(), &HeaderMap::new(), &body);
    assert_eq!(out, Ok(answer("ajls384kdjx98XX")));
}

#[test]
fn sdk_test_ciphertext_is_a_challenge_answered_with_its_challenge() {
    let adapter = LarkAdapter::new("cli_x".into(), &"v".into(), Some(&"1212121212".into()), window()).unwrap();
    let body = format!(r#"{{"encrypt":"{V_LARK_2_ENCRYPT}"}}"#);
    let out = handle(&adapter, &HeaderMap::new(), body.as_bytes());
    assert_eq!(out, Ok(answer("1212")));
}

#[test]
fn plain_challenge_is_answered_with_the_challenge_escaped_as_json() {
    let body = format!(r#"{{"challenge":"a\"b\\c","token":"{TOKEN}","type":"url_verification"}}"#);
    let out = handle(&plain_adapter(), &HeaderMap::new(), body.as_bytes());
    assert_eq!(out, Ok(answer(r#"a\"b\\c"#)));
}

#[test]
fn challenge_with_the_wrong_token_is_refused() {
    let body = encrypted(&challenge("nope"));
    let adapter = encrypted_adapter();
    assert_eq!(handle(&adapter, &HeaderMap::new(), &body), Err(Reject::InvalidToken));
    assert_eq!(handle(&adapter, &signed(KEY, TS, &body), &body), Err(Reject::InvalidToken));
    let plain = challenge("nope");
    let out = handle(&plain_adapter(), &HeaderMap::new(), plain.as_bytes());
    assert_eq!(out, Err(Reject::InvalidToken));
}

#[test]
fn unsigned_event_is_refused_even_when_it_decrypts() {
    let body = encrypted(&contact_event(TOKEN));
    let out = handle(&encrypted_adapter(), &HeaderMap::new(), &body);
    assert_eq!(out, Err(Reject::MissingSignature));
    let out = handle(&encrypted_adapter(), &HeaderMap::new(), b"{\"encrypt\":\"garbage\"}");
    assert_eq!(out, Err(Reject::MissingSignature));
}

#[test]
fn signed_verified_event_of_another_type_is_ignored() {
    let body = encrypted(&contact_event(TOKEN));
    let out = handle(&encrypted_adapter(), &signed(KEY, TS, &body), &body);
    assert_eq!(out, Ok(Outcome::Ignored { kind: IgnoredKind::EventType }));
}

#[test]
fn any_missing_signature_header_is_refused() {
    let body = encrypted(&contact_event(TOKEN));
    for name in [TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER] {
        let mut h = signed(KEY, TS, &body);
        h.remove(name);
        assert_eq!(handle(&encrypted_adapter(), &h, &body), Err(Reject::MissingSignature));
    }
}

#[test]
fn tampered_body_fails_the_signature() {
    let body = encrypted(&contact_event(TOKEN));
    let headers = signed(KEY, TS, &body);
    let mut tampered = body.clone();
    tampered.insert(1, b' ');
    assert_eq!(handle(&encrypted_adapter(), &headers, &tampered), Err(Reject::InvalidSignature));
}

#[test]
fn signature_made_with_another_key_fails() {
    let body = encrypted(&contact_event(TOKEN));
    let out = handle(&encrypted_adapter(), &signed("other key", TS, &body), &body);
    assert_eq!(out, Err(Reject::InvalidSignature));
}

#[test]
fn uppercase_signature_hex_is_accepted() {
    let body = encrypted(&contact_event(TOKEN));
    let mut h = signed(KEY, TS, &body);
    let upper = h[SIGNATURE_HEADER].to_str().unwrap().to_ascii_uppercase();
    h.insert(SIGNATURE_HEADER, HeaderValue::from_str(&upper).unwrap());
    let out = handle(&encrypted_adapter(), &h, &body);
    assert_eq!(out, Ok(Outcome::Ignored { kind: IgnoredKind::EventType }));
}

#[test]
fn timestamp_that_is_not_digits_fails_the_signature() {
    let body = encrypted(&contact_event(TOKEN));
    for ts in ["", "-1700000000", "+1700000000", "17e8", "99999999999999999999"] {
        let h = signed(KEY, ts, &body);
        assert_eq!(handle(&encrypted_adapter(), &h, &body), Err(Reject::InvalidSignature), "{ts}");
    }
}

#[test]
fn stale_timestamp_is_refused_after_the_signature_checks_out() {
    let body = encrypted(&contact_event(TOKEN));
    let out = handle(&encrypted_adapter(), &signed(KEY, "1699999000", &body), &body);
    assert_eq!(out, Err(Reject::StaleTimestamp));
}

#[test]
fn event_with_the_wrong_or_no_token_is_refused() {
    for plaintext in [
        contact_event("nope"),
        contact_event(""),
        r#"{"schema":"2.0","header":{"event_id":"e1","event_type":"x"},"token":"vErIfIcAtIoN"}"#.into(),
    ] {
        let body = encrypted(&plaintext);
        let out = handle(&encrypted_adapter(), &signed(KEY, TS, &body), &body);
        assert_eq!(out, Err(Reject::InvalidToken), "{plaintext}");
        let out = handle(&plain_adapter(), &HeaderMap::new(), plaintext.as_bytes());
        assert_eq!(out, Err(Reject::InvalidToken), "{plaintext}");
    }
}

#[test]
fn signed_body_that_is_not_an_encrypted_envelope_is_malformed() {
    let adapter = encrypted_adapter();
    for body in [contact_event(TOKEN), "{\"encrypt\":\"AAAA\"}".into(), "not json".into()] {
        let out = handle(&adapter, &signed(KEY, TS, body.as_bytes()), body.as_bytes());
        assert_eq!(out, Err(Reject::MalformedPayload), "{body}");
    }
    let body = encrypted("{ not json");
    assert_eq!(handle(&adapter, &signed(KEY, TS, &body), &body), Err(Reject::MalformedPayload));
}

#[test]
fn malformed_json_without_encryption_is_malformed() {
    for body in ["", "{", "[]", "null", r#"{"token":5}"#, r#"{"schema":"2.0","header":7}"#] {
        let out = handle(&plain_adapter(), &HeaderMap::new(), body.as_bytes());
        assert_eq!(out, Err(Reject::MalformedPayload), "{body}");
    }
}

#[test]
fn encrypted_body_without_a_configured_key_is_malformed() {
    let body = encrypted(&challenge(TOKEN));
    assert_eq!(handle(&plain_adapter(), &HeaderMap::new(), &body), Err(Reject::MalformedPayload));
}

#[test]
fn empty_secrets_are_refused_at_construction() {
    let empty = SecretString::from("");
    let token = SecretString::from(TOKEN);
    let err = LarkAdapter::new("cli_a".into(), &empty, None, window()).unwrap_err();
    assert_eq!(err, KeyError::EmptySecret);
    let err = LarkAdapter::new("cli_a".into(), &token, Some(&empty), window()).unwrap_err();
    assert_eq!(err, KeyError::Invalid("encrypt_key is empty"));
}

#[test]
fn debug_output_hides_both_secrets() {
    let shown = format!("{:?}", encrypted_adapter());
    assert!(shown.contains("cli_a") && shown.contains("***"), "{shown}");
    assert!(!shown.contains(TOKEN) && !shown.contains(KEY), "{shown}");
}
