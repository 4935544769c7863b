//! Rotation: the previous Encrypt Key and verification token work until the deadline.

use super::*;

const OLD_TOKEN: &str = "oLd-ToKeN";
const OLD_KEY: &str = "oLd eNcRyPt kEy";
/// One second after [`NOW_MS`]: the previous credentials are still accepted at `NOW_MS`.
const UNTIL_MS: i64 = NOW_MS + 1_000;

fn rotating(token: Option<&str>, key: Option<&str>) -> LarkAdapter {
    let (token, key) = (token.map(SecretString::from), key.map(SecretString::from));
    encrypted_adapter().with_previous(token.as_ref(), key.as_ref(), UNTIL_MS).unwrap()
}

fn handle_at(adapter: &LarkAdapter, headers: &HeaderMap, body: &[u8], now_ms: i64) -> Result<Outcome, Reject> {
    let bot = BotId::parse("lark-main").unwrap();
    let req = Inbound { bot: &bot, headers, body, now_ms, request_id: RequestId::new() };
    adapter.handle(&req)
}

/// `plaintext` encrypted under `key`, as the raw body Lark sends.
fn encrypted_with(key: &str, plaintext: &str) -> Vec<u8> {
    let encrypt = encrypt_for_test(key, [5; 16], plaintext.as_bytes());
    format!(r#"{{"encrypt":"{encrypt}"}}"#).into_bytes()
}

const IGNORED: Result<Outcome, Reject> = Ok(Outcome::Ignored { kind: IgnoredKind::EventType });

#[test]
fn a_body_signed_and_encrypted_with_the_previous_key_is_accepted_until_the_deadline() {
    let a = rotating(None, Some(OLD_KEY));
    let body = encrypted_with(OLD_KEY, &contact_event(TOKEN));
    let h = signed(OLD_KEY, TS, &body);
    assert_eq!(handle_at(&a, &h, &body, UNTIL_MS - 1), IGNORED);
    assert_eq!(handle_at(&a, &h, &body, UNTIL_MS), Err(Reject::InvalidSignature));
}

#[test]
fn the_previous_verification_token_is_accepted_until_the_deadline() {
    let a = rotating(Some(OLD_TOKEN), None);
    let body = encrypted(&contact_event(OLD_TOKEN));
    let h = signed(KEY, TS, &body);
    assert_eq!(handle_at(&a, &h, &body, UNTIL_MS - 1), IGNORED);
    assert_eq!(handle_at(&a, &h, &body, UNTIL_MS), Err(Reject::InvalidToken));

    let plain = plain_adapter().with_previous(Some(&SecretString::from(OLD_TOKEN)), None, UNTIL_MS).unwrap();
    let body = contact_event(OLD_TOKEN);
    assert_eq!(handle_at(&plain, &HeaderMap::new(), body.as_bytes(), UNTIL_MS - 1), IGNORED);
    assert_eq!(handle_at(&plain, &HeaderMap::new(), body.as_bytes(), UNTIL_MS), Err(Reject::InvalidToken));
}

#[test]
fn the_current_credentials_are_accepted_before_and_after_the_deadline() {
    let a = rotating(Some(OLD_TOKEN), Some(OLD_KEY));
    let body = encrypted(&contact_event(TOKEN));
    let h = signed(KEY, TS, &body);
    for now_ms in [NOW_MS, UNTIL_MS, UNTIL_MS + 60_000] {
        assert_eq!(handle_at(&a, &h, &body, now_ms), IGNORED, "{now_ms}");
    }
}

#[test]
fn old_and_new_credentials_may_be_mixed_during_the_window() {
    let a = rotating(Some(OLD_TOKEN), Some(OLD_KEY));
    for (key, token) in [(OLD_KEY, OLD_TOKEN), (OLD_KEY, TOKEN), (KEY, OLD_TOKEN)] {
        let body = encrypted_with(key, &contact_event(token));
        assert_eq!(handle(&a, &signed(key, TS, &body), &body), IGNORED, "{key}/{token}");
    }
}

#[test]
fn a_body_signed_by_one_key_must_be_encrypted_by_the_same_key() {
    let a = rotating(None, Some(OLD_KEY));
    let body = encrypted_with(KEY, &contact_event(TOKEN));
    assert_eq!(handle(&a, &signed(OLD_KEY, TS, &body), &body), Err(Reject::MalformedPayload));
}

#[test]
fn a_third_key_or_token_is_still_refused_during_the_window() {
    let a = rotating(Some(OLD_TOKEN), Some(OLD_KEY));
    let body = encrypted_with("third key", &contact_event(TOKEN));
    assert_eq!(handle(&a, &signed("third key", TS, &body), &body), Err(Reject::InvalidSignature));
    let body = encrypted(&contact_event("third token"));
    assert_eq!(handle(&a, &signed(KEY, TS, &body), &body), Err(Reject::InvalidToken));
}

#[test]
fn an_unsigned_challenge_encrypted_with_the_previous_key_is_answered_until_the_deadline() {
    let a = rotating(Some(OLD_TOKEN), Some(OLD_KEY));
    let body = encrypted_with(OLD_KEY, &challenge(OLD_TOKEN));
    assert_eq!(handle_at(&a, &HeaderMap::new(), &body, UNTIL_MS - 1), Ok(answer("ajls384kdjx98XX")));
    assert_eq!(handle_at(&a, &HeaderMap::new(), &body, UNTIL_MS), Err(Reject::MissingSignature));
}

#[test]
fn a_previous_key_needs_a_current_one_and_empty_previous_values_are_refused() {
    let empty = SecretString::from("");
    let old = SecretString::from(OLD_KEY);
    let err = plain_adapter().with_previous(None, Some(&old), UNTIL_MS).unwrap_err();
    assert!(matches!(err, KeyError::Invalid(_)), "{err:?}");
    let err = encrypted_adapter().with_previous(Some(&empty), None, UNTIL_MS).unwrap_err();
    assert_eq!(err, KeyError::EmptySecret);
    let err = encrypted_adapter().with_previous(None, Some(&empty), UNTIL_MS).unwrap_err();
    assert!(matches!(err, KeyError::Invalid(_)), "{err:?}");
}

#[test]
fn debug_output_hides_the_previous_credentials() {
    let shown = format!("{:?}", rotating(Some(OLD_TOKEN), Some(OLD_KEY)));
    assert!(!shown.contains(OLD_TOKEN) && !shown.contains(OLD_KEY), "{shown}");
    assert!(shown.contains("until"), "{shown}");
}
