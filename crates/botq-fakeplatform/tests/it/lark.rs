//! Lark: token flow, send and reply, auth failures, uuid dedupe, the per-chat
//! rate with its headers, and content validation.

use std::time::Duration;

use botq_fakeplatform::{Endpoint, Options};
use serde_json::json;

use crate::support::{Fake, LARK_APP, LARK_SECRET, ManualClock};

const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";

#[tokio::test]
async fn a_lark_tenant_token_has_code_0_and_an_integer_expire_and_wrong_secrets_get_10014() {
    let fake = Fake::start(Options { token_ttl: Duration::from_secs(3600), ..Options::default() }).await;
    let a = fake.post(TOKEN_PATH, None, &json!({"app_id": LARK_APP, "app_secret": LARK_SECRET})).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        (a.body["code"].clone(), a.body["msg"].clone(), a.body["expire"].clone()),
        (json!(0), json!("ok"), json!(3600))
    );
    assert!(a.body["tenant_access_token"].as_str().unwrap().starts_with("t-"));
    let bad = fake.post(TOKEN_PATH, None, &json!({"app_id": LARK_APP, "app_secret": "nope"})).await;
    assert_eq!(bad.status, 200);
    assert_eq!(bad.body, json!({"code": 10014, "msg": "app secret invalid"}));
    assert_eq!(fake.state.stats().token_requests["lark"], 2);
    fake.stop().await;
}

#[tokio::test]
async fn lark_send_and_reply_deliver_and_answer_om_message_ids() {
    let fake = Fake::start(Options::default()).await;
    let token = fake.lark_token().await;
    let sent = fake.lark_send(&token, "oc_chat", "hello", Some("u-1")).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!((sent.body["code"].clone(), sent.body["msg"].clone()), (json!(0), json!("success")));
    assert!(sent.body["data"]["message_id"].as_str().unwrap().starts_with("om_"));
    assert_eq!(sent.body["data"]["chat_id"], "oc_chat");
    let body = json!({"content": json!({"text": "pong"}).to_string(), "msg_type": "text", "uuid": "u-2", "reply_in_thread": false});
    let replied = fake.post("/open-apis/im/v1/messages/om_in/reply", Some(&format!("Bearer {token}")), &body).await;
    assert_eq!(replied.status, 200, "{}", replied.body);
    assert_eq!(replied.body["data"]["parent_id"], "om_in");
    let d = fake.state.deliveries();
    assert_eq!((d[0].endpoint, d[0].target.as_str(), d[0].text.as_str()), (Endpoint::LarkSend, "oc_chat", "hello"));
    assert_eq!((d[1].endpoint, d[1].target.as_str(), d[1].text.as_str()), (Endpoint::LarkReply, "om_in", "pong"));
    assert_eq!(d[1].idempotency_key.as_deref(), Some("u-2"));
    assert_eq!(d[1].bot, "lark-main");
    fake.stop().await;
}

#[tokio::test]
async fn a_lark_message_with_a_missing_or_invalid_token_is_http_400_with_the_token_codes() {
    let fake = Fake::start(Options::default()).await;
    let body = json!({"receive_id": "oc", "msg_type": "text", "content": "{\"text\":\"x\"}"});
    let missing = fake.post("/open-apis/im/v1/messages?receive_id_type=chat_id", None, &body).await;
    assert_eq!((missing.status, missing.body["code"].clone()), (400, json!(99_991_661)));
    let invalid = fake.lark_send("t-bogus", "oc", "x", None).await;
    assert_eq!((invalid.status, invalid.body["code"].clone()), (400, json!(99_991_663)));
    assert_eq!(invalid.body["msg"], "Invalid access token");
    fake.stop().await;
}

#[tokio::test]
async fn the_same_lark_uuid_returns_the_first_message_id_and_is_delivered_once() {
    let fake = Fake::start(Options::default()).await;
    let token = fake.lark_token().await;
    let first = fake.lark_send(&token, "oc_chat", "hello", Some("reply-1")).await;
    let second = fake.lark_send(&token, "oc_chat", "hello", Some("reply-1")).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body["data"]["message_id"], first.body["data"]["message_id"]);
    assert_eq!(fake.state.deliveries().len(), 1);
    assert_eq!(fake.state.stats().deduplicated, 1);
    assert!(fake.state.rejections().is_empty(), "a replay is a success, not a refusal");
    let other = fake.lark_send(&token, "oc_chat", "hello", Some("reply-2")).await;
    assert_ne!(other.body["data"]["message_id"], first.body["data"]["message_id"]);
    fake.stop().await;
}

#[tokio::test]
async fn a_lark_uuid_is_forgotten_after_an_hour() {
    let clock = ManualClock::new();
    let fake =
        Fake::start_with_clock(Options { token_ttl: Duration::from_secs(86_400), ..Options::default() }, &clock).await;
    let token = fake.lark_token().await;
    let first = fake.lark_send(&token, "oc", "x", Some("u")).await;
    clock.advance_ms(3_600_000);
    let later = fake.lark_send(&token, "oc", "x", Some("u")).await;
    assert_ne!(later.body["data"]["message_id"], first.body["data"]["message_id"]);
    assert_eq!(fake.state.deliveries().len(), 2);
    fake.stop().await;
}

#[tokio::test]
async fn a_sixth_lark_message_a_second_to_one_chat_gets_429_99991400_with_ratelimit_headers() {
    let clock = ManualClock::new();
    let fake = Fake::start_with_clock(Options::default(), &clock).await;
    let token = fake.lark_token().await;
    for i in 0..5 {
        assert_eq!(fake.lark_send(&token, "oc_busy", &format!("m{i}"), None).await.status, 200);
        clock.advance_ms(100);
    }
    let limited = fake.lark_send(&token, "oc_busy", "m5", Some("u-5")).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body, json!({"code": 99_991_400, "msg": "request trigger frequency limit"}));
    assert_eq!(limited.headers["x-ogw-ratelimit-limit"], "5");
    assert_eq!(limited.headers["x-ogw-ratelimit-reset"], "1");
    assert_eq!(fake.lark_send(&token, "oc_quiet", "m", None).await.status, 200, "other chats are not limited");
    clock.advance_ms(500);
    let retried = fake.lark_send(&token, "oc_busy", "m5", Some("u-5")).await;
    assert_eq!(retried.status, 200, "a throttled uuid was not consumed");
    assert_eq!(fake.state.stats().throttled, 1);
    fake.stop().await;
}

#[tokio::test]
async fn lark_replies_share_the_rate_limit_of_their_registered_chat() {
    let clock = ManualClock::new();
    let fake = Fake::start_with_clock(Options { lark_chat_qps: 1, ..Options::default() }, &clock).await;
    let token = fake.lark_token().await;
    let reg = fake.post("/_fake/lark/inbound", None, &json!({"message_id": "om_in", "chat_id": "oc_grp"})).await;
    assert_eq!(reg.status, 204);
    assert_eq!(fake.lark_send(&token, "oc_grp", "first", None).await.status, 200);
    let body = json!({"content": "{\"text\":\"second\"}", "msg_type": "text"});
    let reply = fake.post("/open-apis/im/v1/messages/om_in/reply", Some(&format!("Bearer {token}")), &body).await;
    assert_eq!(reply.status, 429);
    let unregistered =
        fake.post("/open-apis/im/v1/messages/om_other/reply", Some(&format!("Bearer {token}")), &body).await;
    assert_eq!(unregistered.status, 200, "an unknown message's replies are limited by its own id");
    fake.stop().await;
}

#[tokio::test]
async fn lark_text_content_that_is_not_a_json_object_with_text_is_refused_with_230001() {
    let fake = Fake::start(Options::default()).await;
    let auth = format!("Bearer {}", fake.lark_token().await);
    for content in ["hello", "\"hello\"", "{\"txt\":\"x\"}", "[1]"] {
        let body = json!({"receive_id": "oc", "msg_type": "text", "content": content});
        let a = fake.post("/open-apis/im/v1/messages?receive_id_type=chat_id", Some(&auth), &body).await;
        assert_eq!((a.status, a.body["code"].clone()), (400, json!(230_001)), "{content}");
    }
    let body = json!({"receive_id": "oc", "msg_type": "text", "content": "{\"text\":\"x\"}"});
    let a = fake.post("/open-apis/im/v1/messages?receive_id_type=bogus", Some(&auth), &body).await;
    assert_eq!((a.status, a.body["code"].clone()), (400, json!(99_992_402)));
    assert!(fake.state.deliveries().is_empty());
    fake.stop().await;
}
