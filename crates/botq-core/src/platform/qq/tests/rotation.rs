//! Secret rotation: the previous secret verifies until its deadline, never signs.

use super::*;

const OLD: &str = "the-rotated-out-qq-secret";
/// One second after [`NOW_MS`]: the previous secret is still accepted at `NOW_MS`.
const UNTIL_MS: i64 = NOW_MS + 1_000;

fn rotating(current: &str, previous: &str) -> QqAdapter {
    let window = TimestampWindow::new(Duration::from_secs(300), Duration::from_secs(300));
    QqAdapter::new(APP_ID.into(), &SecretString::from(current), window)
        .unwrap()
        .with_previous_secret(&SecretString::from(previous), UNTIL_MS)
        .unwrap()
}

fn run_at(adapter: &QqAdapter, headers: &HeaderMap, body: &str, now_ms: i64) -> Result<Outcome, Reject> {
    let bot = BotId::parse("qq-main").unwrap();
    let req = Inbound { bot: &bot, headers, body: body.as_bytes(), now_ms, request_id: RequestId::new() };
    adapter.handle(&req)
}

#[test]
fn a_signature_by_the_previous_secret_is_accepted_until_the_deadline() {
    let a = rotating(SECRET, OLD);
    let h = signed(OLD, TS, GROUP_AT);
    assert!(matches!(run_at(&a, &h, GROUP_AT, UNTIL_MS - 1), Ok(Outcome::Event(_))));
    assert_eq!(run_at(&a, &h, GROUP_AT, UNTIL_MS), Err(Reject::InvalidSignature));
    assert_eq!(run_at(&a, &h, GROUP_AT, UNTIL_MS + 60_000), Err(Reject::InvalidSignature));
}

#[test]
fn the_current_secret_is_accepted_before_and_after_the_deadline() {
    let a = rotating(SECRET, OLD);
    let h = signed(SECRET, TS, GROUP_AT);
    for now_ms in [NOW_MS, UNTIL_MS, UNTIL_MS + 60_000] {
        assert!(matches!(run_at(&a, &h, GROUP_AT, now_ms), Ok(Outcome::Event(_))), "{now_ms}");
    }
}

#[test]
fn a_third_secret_or_a_tampered_body_is_still_refused_during_the_window() {
    let a = rotating(SECRET, OLD);
    assert_eq!(run(&a, &signed("neither-secret", TS, GROUP_AT), GROUP_AT), Err(Reject::InvalidSignature));
    let tampered = GROUP_AT.replace(" lssv", " rm -rf");
    assert_eq!(run(&a, &signed(OLD, TS, GROUP_AT), &tampered), Err(Reject::InvalidSignature));
}

#[test]
fn a_previous_secret_signature_outside_the_timestamp_window_is_stale() {
    let old_ts = (NOW_MS / 1000 - 301).to_string();
    assert_eq!(run(&rotating(SECRET, OLD), &signed(OLD, &old_ts, GROUP_AT), GROUP_AT), Err(Reject::StaleTimestamp));
}

#[test]
fn op_13_signed_with_the_previous_secret_is_answered_with_the_current_key() {
    // Current = the V-QQ-1 secret: the published answer is the current key's signature.
    let a = rotating("DG5g3B4j9X2KOErG", OLD);
    let answer = Ok(Outcome::Handshake(HttpAnswer::json(200, V_QQ_1_ANSWER)));
    assert_eq!(run(&a, &signed(OLD, TS, V_QQ_1), V_QQ_1), answer);
    assert_eq!(run(&a, &headers(&[("X-Bot-Appid", APP_ID)]), V_QQ_1), answer);
}

#[test]
fn op_13_is_never_answered_with_the_previous_key() {
    // Previous = the V-QQ-1 secret: its published signature must not come back.
    let a = rotating(SECRET, "DG5g3B4j9X2KOErG");
    for h in [signed("DG5g3B4j9X2KOErG", TS, V_QQ_1), signed(SECRET, TS, V_QQ_1), headers(&[("X-Bot-Appid", APP_ID)])] {
        let Ok(Outcome::Handshake(HttpAnswer { status: 200, body: Some(body) })) = run(&a, &h, V_QQ_1) else {
            panic!("not answered");
        };
        assert_ne!(body, V_QQ_1_ANSWER);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let sig = json["signature"].as_str().unwrap();
        assert_eq!(sig, sign_webhook(&key(SECRET), "1725442341", b"Arq0D5A61EgUu4OxUvOp"));
    }
}

#[test]
fn an_empty_previous_secret_cannot_make_an_adapter() {
    let got = adapter().with_previous_secret(&SecretString::from(""), UNTIL_MS);
    assert_eq!(got.err(), Some(KeyError::EmptySecret));
}

#[test]
fn debug_output_hides_the_previous_key_and_shows_its_deadline() {
    let a = rotating(SECRET, OLD);
    let shown = format!("{a:?}");
    assert!(!shown.contains(OLD), "{shown}");
    assert!(!shown.contains(&hex::encode(key(OLD).verifying_key().to_bytes())), "{shown}");
    assert!(shown.contains("until"), "{shown}");
}
