//! OneBot v11 replies: `POST {api_base}/send_group_msg` or
//! `/send_private_msg`, with `Authorization: Bearer <access_token>` when the
//! bot has one.
//!
//! OneBot has no idempotency handle, so a repeated request is a repeated
//! message; the worker records each sent reply index per event and skips
//! what it already sent. Messages go in the array form, whose text segments
//! are never read as CQ codes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::envelope::{ChatKind, Envelope};
use crate::message::{Outgoing, Segment};
use crate::reply::{ApiRequest, SendFailure, SendResult, generic_failure};

/// A reply to the chat of `env`, its message in the array form (v11
/// `message/array.md`): text segments are literal by definition, so no text
/// can become a CQ code, and mentions, the quote and images are segments of
/// their own. A temporary session is answered through its source group.
#[must_use]
pub fn reply_request(api_base: &str, access_token: Option<&str>, env: &Envelope, reply: &Outgoing) -> ApiRequest {
    let base = api_base.trim_end_matches('/');
    // Ids are int64 in the spec; send numbers when they are numbers.
    let id = |s: &str| s.parse::<i64>().map_or_else(|_| json!(s), |n| json!(n));
    let message = render(&reply.segments);
    let (url, body) = match env.chat_kind {
        ChatKind::Group | ChatKind::Channel => {
            (format!("{base}/send_group_msg"), json!({ "group_id": id(&env.chat_id), "message": message }))
        }
        ChatKind::Private => {
            let mut body = json!({ "user_id": id(&env.chat_id), "message": message });
            if let Some(group) = &env.temp_group {
                body["group_id"] = id(group);
            }
            (format!("{base}/send_private_msg"), body)
        }
    };
    ApiRequest { put: false, url, authorization: access_token.map(|t| format!("Bearer {t}")), body }
}

/// Segments as the array form; the quote goes first, as clients put it.
fn render(segments: &[Segment]) -> Value {
    let seg = |kind: &str, data: Value| json!({ "type": kind, "data": data });
    let mut out: Vec<Value> = Vec::with_capacity(segments.len());
    if let Some(Segment::Quote { message_id }) = segments.iter().find(|s| matches!(s, Segment::Quote { .. })) {
        out.push(seg("reply", json!({ "id": message_id })));
    }
    for s in segments {
        match s {
            Segment::Text { text } if !text.is_empty() => out.push(seg("text", json!({ "text": text }))),
            Segment::Mention { user, .. } if !crate::message::names_everyone(user) => {
                out.push(seg("at", json!({ "qq": user })));
            }
            Segment::MentionEveryone => out.push(seg("at", json!({ "qq": "all" }))),
            Segment::Image { url: Some(url), .. } => out.push(seg("image", json!({ "file": url }))),
            _ => {}
        }
    }
    Value::Array(out)
}

/// Classifies the answer: `{"status":"ok"|"async"|"failed","retcode":…}`.
#[must_use]
pub fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> SendResult {
    if let Some(f) = generic_failure(status, retry_after) {
        return SendResult::Failed(f);
    }
    if matches!(status, 401 | 403) {
        return SendResult::Failed(SendFailure::Permanent {
            code: i64::from(status),
            reason: "the OneBot implementation refused the access token".to_owned(),
        });
    }
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let retcode = v.get("retcode").and_then(serde_json::Value::as_i64).unwrap_or(-1);
    match (status, v.get("status").and_then(serde_json::Value::as_str), retcode) {
        (200, Some("ok"), 0) | (200, Some("async"), 1) => SendResult::Sent {
            message_id: v.pointer("/data/message_id").map(|m| m.to_string().trim_matches('"').to_owned()),
        },
        (200, _, 1400) => SendResult::Failed(SendFailure::RetryAfter {
            after: retry_after.unwrap_or(Duration::from_secs(1)),
            code: 1400,
        }),
        _ => SendResult::Failed(SendFailure::Permanent {
            code: retcode,
            reason: format!("HTTP {status}, retcode {retcode}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Platform;

    fn env(kind: ChatKind) -> Envelope {
        Envelope { chat_id: "5550001".into(), ..crate::envelope::test_envelope(Platform::Onebot, kind) }
    }

    #[test]
    fn group_and_private_replies_use_their_actions_with_numeric_ids() {
        let g = reply_request("http://127.0.0.1:5700/", Some("tok"), &env(ChatKind::Group), &Outgoing::text("pong"));
        assert_eq!(g.url, "http://127.0.0.1:5700/send_group_msg");
        assert_eq!(g.body, json!({"group_id":5_550_001,"message":[{"type":"text","data":{"text":"pong"}}]}));
        assert_eq!(g.authorization.as_deref(), Some("Bearer tok"));
        let p = reply_request("http://h", None, &env(ChatKind::Private), &Outgoing::text("pong"));
        assert_eq!(p.url, "http://h/send_private_msg");
        assert_eq!(p.body["user_id"], 5_550_001);
        assert_eq!(p.authorization, None);
    }

    #[test]
    fn segments_are_sent_as_segments_and_a_temporary_session_through_its_group() {
        let reply = Outgoing {
            segments: vec![
                Segment::Mention { user: "123".into(), name: None, bot: false },
                Segment::text(" [CQ:at,qq=all] R&D"),
                Segment::Quote { message_id: "-77".into() },
                Segment::Image { url: Some("https://img/a.png".into()), id: None },
            ],
        };
        let temp = Envelope { temp_group: Some("456".into()), ..env(ChatKind::Private) };
        let r = reply_request("http://h", None, &temp, &reply);
        assert_eq!(
            r.body,
            json!({"user_id":5_550_001,"group_id":456,"message":[
                {"type":"reply","data":{"id":"-77"}},
                {"type":"at","data":{"qq":"123"}},
                {"type":"text","data":{"text":" [CQ:at,qq=all] R&D"}},
                {"type":"image","data":{"file":"https://img/a.png"}},
            ]})
        );
    }

    proptest::proptest! {
        /// Any literal text, sent in the array form and read back as an
        /// implementation reads it, is the same text and never a code or a mention.
        #[test]
        fn literal_text_round_trips_and_never_becomes_a_code(text in "(\\[CQ:at,qq=all\\]|\\[|\\]|&amp;|&#91;|,| |x)*|\\PC*") {
            let sent = render(&[Segment::text(text.clone())]);
            let back = super::super::cq::parse_array(sent.as_array().unwrap(), "10001000");
            if text.is_empty() {
                proptest::prop_assert!(back.is_empty());
            } else {
                proptest::prop_assert_eq!(back, vec![Segment::text(text)]);
            }
        }
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(
            classify(200, None, br#"{"status":"ok","retcode":0,"data":{"message_id":77}}"#),
            SendResult::Sent { message_id: Some("77".into()) }
        );
        assert!(matches!(classify(403, None, b""), SendResult::Failed(SendFailure::Permanent { code: 403, .. })));
        assert!(matches!(classify(503, None, b""), SendResult::Failed(SendFailure::Transient { .. })));
        assert!(matches!(
            classify(200, None, br#"{"status":"failed","retcode":100}"#),
            SendResult::Failed(SendFailure::Permanent { code: 100, .. })
        ));
    }
}
