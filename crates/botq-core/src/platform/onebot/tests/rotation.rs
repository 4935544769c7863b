//! Rotation: a signature by the previous secret is accepted until the deadline.

use super::*;

const OLD: &str = "old-secret";
/// One second after [`NOW_MS`]: the previous secret is still accepted at `NOW_MS`.
const UNTIL_MS: i64 = NOW_MS + 1_000;

fn rotating() -> OnebotAdapter {
    adapter().with_previous_secret(&SecretString::from(OLD), UNTIL_MS).unwrap()
}

fn handle_at(adapter: &OnebotAdapter, headers: &HeaderMap, body: &[u8], now_ms: i64) -> Result<Outcome, Reject> {
    let bot = BotId::parse("onebot-main").unwrap();
    let req = Inbound { bot: &bot, headers, body, now_ms, request_id: RequestId::new() };
    adapter.handle(&req)
}

#[test]
fn a_signature_by_the_previous_secret_is_accepted_until_the_deadline() {
    let body = V_OB_1_BODY.as_bytes();
    let h = headers(Some(SELF_ID), Some(&sign(OLD, body)));
    assert!(matches!(handle_at(&rotating(), &h, body, UNTIL_MS - 1), Ok(Outcome::Event(_))));
    assert_eq!(handle_at(&rotating(), &h, body, UNTIL_MS), Err(Reject::InvalidSignature));
    assert_eq!(handle_at(&adapter(), &h, body, NOW_MS), Err(Reject::InvalidSignature), "no previous configured");
}

#[test]
fn the_current_secret_is_accepted_before_and_after_the_deadline() {
    let body = V_OB_1_BODY.as_bytes();
    let h = headers(Some(SELF_ID), Some(V_OB_1_SIGNATURE));
    for now_ms in [NOW_MS, UNTIL_MS, UNTIL_MS + 60_000] {
        assert!(matches!(handle_at(&rotating(), &h, body, now_ms), Ok(Outcome::Event(_))), "{now_ms}");
    }
}

#[test]
fn a_third_secret_or_the_wrong_account_is_still_refused_during_the_window() {
    let body = V_OB_1_BODY.as_bytes();
    let h = headers(Some(SELF_ID), Some(&sign("third", body)));
    assert_eq!(handle(&rotating(), &h, body), Err(Reject::InvalidSignature));
    let h = headers(Some("20002000"), Some(&sign(OLD, body)));
    assert_eq!(handle(&rotating(), &h, body), Err(Reject::WrongRecipient));
}

#[test]
fn a_previous_secret_needs_a_current_one_and_may_not_be_empty() {
    let old = SecretString::from(OLD);
    let err = unsigned_adapter().with_previous_secret(&old, UNTIL_MS).unwrap_err();
    assert!(matches!(err, KeyError::Invalid(_)), "{err:?}");
    let err = adapter().with_previous_secret(&SecretString::from(""), UNTIL_MS).unwrap_err();
    assert_eq!(err, KeyError::EmptySecret);
}

#[test]
fn debug_output_hides_the_previous_secret() {
    let shown = format!("{:?}", rotating());
    assert!(!shown.contains(OLD) && shown.contains("until"), "{shown}");
}
