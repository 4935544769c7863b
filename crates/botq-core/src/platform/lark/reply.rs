//! Lark/Feishu replies: `POST /open-apis/im/v1/messages/{message_id}/reply`
//! with a tenant access token (`Bearer`), from
//! `POST /open-apis/auth/v3/tenant_access_token/internal`.
//!
//! The idempotency handle is `uuid`: requests with the same uuid succeed at
//! most once within an hour, so the uuid of reply `index` to an event is a
//! UUIDv5 of the event id and the index: a redelivery re-sends the identical
//! request. Rate limits answer HTTP 429 with code 99991400 and
//! `x-ogw-ratelimit-reset` (seconds), or HTTP 400 with 230020 (per chat).

use std::time::Duration;

use serde_json::json;

use crate::envelope::Envelope;
use crate::message::Outgoing;
use crate::reply::{ApiRequest, SendFailure, SendResult, Token, TokenError, generic_failure, refused};

/// Namespace of reply uuids (a fixed random UUID: botq's, for Lark replies).
const UUID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f1c_2a8e_4b7d_4e0f_9a31_c5d2_7e84_b913);

/// The deterministic `uuid` of reply `index` to `env`.
#[must_use]
pub fn reply_uuid(env: &Envelope, index: u32) -> String {
    let name = format!("{}\u{0}{}\u{0}{index}", env.bot, env.event_id);
    uuid::Uuid::new_v5(&UUID_NAMESPACE, name.as_bytes()).to_string()
}

/// The tenant token request for an internal app.
#[must_use]
pub fn token_request(api_base: &str, app_id: &str, app_secret: &str) -> ApiRequest {
    ApiRequest {
        put: false,
        url: format!("{}/open-apis/auth/v3/tenant_access_token/internal", api_base.trim_end_matches('/')),
        authorization: None,
        body: json!({ "app_id": app_id, "app_secret": app_secret }),
    }
}

/// Parses `{"code":0,"tenant_access_token","expire"}`.
///
/// # Errors
/// [`TokenError::Refused`] for a non-zero `code`, else [`TokenError::Malformed`].
pub fn parse_token(body: &[u8]) -> Result<Token, TokenError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| TokenError::Malformed(e.to_string()))?;
    match v.get("code").and_then(serde_json::Value::as_i64) {
        Some(0) => {}
        Some(code) => return Err(TokenError::Refused(code)),
        None => return Err(TokenError::Malformed("missing code".to_owned())),
    }
    let value = v.get("tenant_access_token").and_then(serde_json::Value::as_str);
    Token::from_answer(value, v.get("expire").and_then(serde_json::Value::as_u64), "tenant_access_token or expire")
}

/// Reply number `index` (1-based) to the message of `env`, as a `post`
/// (`platform::lark::content::render`): a `text` message would read
/// `<at user_id="all"></at>` in the text as a mention of everyone. The reply
/// endpoint quotes the message answered, so a quote segment adds nothing.
///
/// # Errors
/// A message id that cannot be a path segment ([`crate::reply::segment`]).
pub fn reply_request(
    api_base: &str,
    token: &str,
    env: &Envelope,
    index: u32,
    reply: &Outgoing,
) -> Result<ApiRequest, crate::reply::InvalidTarget> {
    let content = super::content::render(&reply.segments);
    let message = crate::reply::segment(&env.message_id)?;
    Ok(ApiRequest {
        put: false,
        url: format!("{}/open-apis/im/v1/messages/{message}/reply", api_base.trim_end_matches('/')),
        authorization: Some(format!("Bearer {token}")),
        body: json!({ "content": content, "msg_type": "post", "uuid": reply_uuid(env, index) }),
    })
}

/// Classifies the answer to a reply; `ratelimit_reset` is `x-ogw-ratelimit-reset`.
#[must_use]
pub fn classify(status: u16, ratelimit_reset: Option<Duration>, body: &[u8]) -> SendResult {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let code = v.get("code").and_then(serde_json::Value::as_i64);
    if status == 200 && code == Some(0) {
        let id = v.pointer("/data/message_id").and_then(serde_json::Value::as_str).map(str::to_owned);
        return SendResult::Sent { message_id: id };
    }
    let code = code.unwrap_or(0);
    let failure = match code {
        99_991_663 | 99_991_664 | 99_991_671 => SendFailure::TokenRejected { code },
        99_991_400 | 230_020 | 11_232 => {
            SendFailure::RetryAfter { after: ratelimit_reset.unwrap_or(Duration::from_secs(1)), code }
        }
        _ => generic_failure(status, ratelimit_reset)
            .unwrap_or_else(|| refused(status, code, v.get("msg").and_then(serde_json::Value::as_str))),
    };
    SendResult::Failed(failure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{ChatKind, Platform};

    fn env(event: &str) -> Envelope {
        Envelope {
            event_id: event.into(),
            message_id: "om_1".into(),
            ..crate::envelope::test_envelope(Platform::Lark, ChatKind::Group)
        }
    }

    #[test]
    fn reply_uuids_depend_only_on_the_event_and_the_index() {
        assert_eq!(reply_uuid(&env("e1"), 1), reply_uuid(&env("e1"), 1), "a redelivery sends the same uuid");
        assert_ne!(reply_uuid(&env("e1"), 1), reply_uuid(&env("e1"), 2));
        assert_ne!(reply_uuid(&env("e1"), 1), reply_uuid(&env("e2"), 1));
        assert!(reply_uuid(&env("e1"), 1).len() <= 50, "Lark caps uuid length");
    }

    #[test]
    fn the_message_id_is_one_percent_encoded_path_segment() {
        let mut e = env("e1");
        e.message_id = "om_1/../../chats/oc_x".into();
        let r = reply_request("https://open.feishu.cn", "t", &e, 1, &Outgoing::text("x")).unwrap();
        assert_eq!(
            r.url,
            "https://open.feishu.cn/open-apis/im/v1/messages/om_1%2F%2E%2E%2F%2E%2E%2Fchats%2Foc_x/reply"
        );
        e.message_id = "..".into();
        assert!(reply_request("https://open.feishu.cn", "t", &e, 1, &Outgoing::text("x")).is_err());
    }

    #[test]
    fn replies_go_to_the_message_as_a_post_whose_text_is_literal() {
        let reply = Outgoing::text("say \"hi\" <at user_id=\"all\"></at>");
        let r = reply_request("https://open.feishu.cn/", "t-1", &env("e1"), 1, &reply).unwrap();
        assert_eq!(r.url, "https://open.feishu.cn/open-apis/im/v1/messages/om_1/reply");
        assert_eq!(r.authorization.as_deref(), Some("Bearer t-1"));
        assert_eq!(r.body["msg_type"], "post");
        let content: serde_json::Value = serde_json::from_str(r.body["content"].as_str().unwrap()).unwrap();
        assert_eq!(
            content,
            json!({"zh_cn":{"content":[[{"tag":"text","text":"say \"hi\" <at user_id=\"all\"></at>"}]]}})
        );
    }

    #[test]
    fn tenant_tokens_parse_and_refusals_carry_the_code() {
        let t = parse_token(br#"{"code":0,"msg":"ok","tenant_access_token":"t-x","expire":7200}"#).unwrap();
        assert_eq!(t.expires_in, Duration::from_secs(7200));
        assert_eq!(parse_token(br#"{"code":10014,"msg":"app secret invalid"}"#), Err(TokenError::Refused(10014)));
    }

    #[test]
    fn answers_are_classified_by_platform_code() {
        assert_eq!(
            classify(200, None, br#"{"code":0,"data":{"message_id":"om_2"}}"#),
            SendResult::Sent { message_id: Some("om_2".into()) }
        );
        assert_eq!(
            classify(
                429,
                Some(Duration::from_secs(4)),
                br#"{"code":99991400,"msg":"request trigger frequency limit"}"#
            ),
            SendResult::Failed(SendFailure::RetryAfter { after: Duration::from_secs(4), code: 99_991_400 })
        );
        assert!(matches!(
            classify(400, None, br#"{"code":230020}"#),
            SendResult::Failed(SendFailure::RetryAfter { .. })
        ));
        assert_eq!(
            classify(400, None, br#"{"code":99991663}"#),
            SendResult::Failed(SendFailure::TokenRejected { code: 99_991_663 })
        );
        assert!(matches!(classify(502, None, b"bad gateway"), SendResult::Failed(SendFailure::Transient { .. })));
        assert!(matches!(
            classify(400, None, br#"{"code":230001}"#),
            SendResult::Failed(SendFailure::Permanent { .. })
        ));
    }
}
