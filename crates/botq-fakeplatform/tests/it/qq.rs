//! QQ: token flow, the four message endpoints, auth failures, msg_seq
//! dedupe, the reply cap, the reply window and the per-chat rate.

use std::time::Duration;

use botq_fakeplatform::{Endpoint, Options, QqLimits};
use serde_json::json;

use crate::support::{Fake, ManualClock, QQ_APP, QQ_SECRET};

#[tokio::test]
async fn a_qq_token_is_a_string_with_expires_in_as_a_string_and_authorises_replies() {
    let fake = Fake::start(Options::default()).await;
    let a = fake.post("/app/getAppAccessToken", None, &json!({"appId": QQ_APP, "clientSecret": QQ_SECRET})).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["expires_in"], "7200");
    let token = a.body["access_token"].as_str().unwrap();
    let again = fake.qq_token().await;
    assert_eq!(again, token, "the same token comes back until its last minute");
    let sent = fake.qq_group(token, "G1", "in-1", 1, "pong").await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(sent.body["timestamp"].is_i64());
    fake.stop().await;
}

#[tokio::test]
async fn wrong_qq_credentials_get_code_100016_with_http_200_and_no_token() {
    let fake = Fake::start(Options::default()).await;
    let a = fake.post("/app/getAppAccessToken", None, &json!({"appId": QQ_APP, "clientSecret": "wrong"})).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, json!({"code": 100_016, "message": "invalid appid or secret"}));
    let a = fake.post("/app/getAppAccessToken", None, &json!({"appId": "999", "clientSecret": QQ_SECRET})).await;
    assert_eq!(a.body["code"], 100_016);
    let stats = fake.state.stats();
    assert_eq!(stats.token_requests["qq"], 2);
    assert_eq!(stats.token_requests_by_app[QQ_APP], 1);
    assert_eq!(stats.token_requests_by_app["unknown"], 1);
    assert_eq!(stats.token_failures, 2);
    fake.stop().await;
}

#[tokio::test]
async fn a_qq_reply_without_a_token_or_with_an_unknown_one_is_401_code_11244() {
    let fake = Fake::start(Options::default()).await;
    let body = json!({"content": "x", "msg_type": 0, "msg_id": "m", "msg_seq": 1});
    let a = fake.post("/v2/groups/G/messages", None, &body).await;
    assert_eq!((a.status, a.body["code"].clone()), (401, json!(11244)));
    let a = fake.post("/v2/groups/G/messages", Some("QQBot not-a-token"), &body).await;
    assert_eq!((a.status, a.body["code"].clone()), (401, json!(11244)));
    assert_eq!(a.body["message"], "token not exist or expire");
    let lark = fake.lark_token().await;
    let a = fake.post("/v2/groups/G/messages", Some(&format!("QQBot {lark}")), &body).await;
    assert_eq!(a.status, 401, "another platform's token is not a QQ token");
    assert!(fake.state.deliveries().is_empty());
    fake.stop().await;
}

#[tokio::test]
async fn an_expired_qq_token_is_refused_and_a_fresh_one_is_issued() {
    let clock = ManualClock::new();
    let fake =
        Fake::start_with_clock(Options { token_ttl: Duration::from_secs(120), ..Options::default() }, &clock).await;
    let old = fake.qq_token().await;
    clock.advance_ms(120_000);
    assert_eq!(fake.qq_group(&old, "G", "m1", 1, "x").await.status, 401);
    let new = fake.qq_token().await;
    assert_ne!(new, old);
    assert_eq!(fake.qq_group(&new, "G", "m1", 1, "x").await.status, 200);
    fake.stop().await;
}

#[tokio::test]
async fn each_qq_endpoint_delivers_with_its_kind_target_and_idempotency_key() {
    let fake = Fake::start(Options::default()).await;
    let auth = format!("QQBot {}", fake.qq_token().await);
    for (path, n) in [
        ("/v2/groups/G1/messages", 1),
        ("/v2/users/U1/messages", 2),
        ("/channels/C1/messages", 3),
        ("/dms/D1/messages", 4),
    ] {
        let body = json!({"content": format!("hello {n}"), "msg_type": 0, "msg_id": format!("in-{n}"), "msg_seq": 1});
        let a = fake.post(path, Some(&auth), &body).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
    }
    let d = fake.state.deliveries();
    let seen: Vec<_> = d.iter().map(|d| (d.endpoint, d.target.as_str(), d.text.as_str())).collect();
    assert_eq!(
        seen,
        [
            (Endpoint::QqGroup, "G1", "hello 1"),
            (Endpoint::QqC2c, "U1", "hello 2"),
            (Endpoint::QqChannel, "C1", "hello 3"),
            (Endpoint::QqDm, "D1", "hello 4"),
        ]
    );
    assert_eq!(d[0].bot, "qq-main");
    assert_eq!(d[0].idempotency_key.as_deref(), Some("in-1:1"));
    assert_eq!(d[0].reply_to.as_deref(), Some("in-1"));
    fake.stop().await;
}

#[tokio::test]
async fn a_repeated_msg_id_and_msg_seq_is_refused_with_40054005_and_delivered_once() {
    let fake = Fake::start(Options::default()).await;
    let token = fake.qq_token().await;
    assert_eq!(fake.qq_group(&token, "G", "in-1", 1, "pong").await.status, 200);
    let again = fake.qq_group(&token, "G", "in-1", 1, "pong").await;
    assert_eq!(again.status, 400);
    assert_eq!(again.body["code"], 40_054_005);
    assert_eq!(again.body["message"], "消息被去重，请检查请求msgseq");
    let body = json!({"content": "pong", "msg_type": 0, "msg_id": "in-1"});
    let default_seq = fake.post("/v2/groups/G/messages", Some(&format!("QQBot {token}")), &body).await;
    assert_eq!(default_seq.body["code"], 40_054_005, "msg_seq defaults to 1");
    assert_eq!(fake.state.deliveries().len(), 1);
    assert_eq!(fake.state.stats().deduplicated, 2);
    let r = fake.state.rejections();
    assert_eq!(r[0].idempotency_key.as_deref(), Some("in-1:1"));
    assert_eq!(r[0].code, 40_054_005);
    fake.stop().await;
}

#[tokio::test]
async fn a_sixth_distinct_reply_to_one_message_is_refused_with_40034128() {
    let fake = Fake::start(Options::default()).await;
    let token = fake.qq_token().await;
    for seq in 1..=5 {
        // Different groups keep the per-chat rate out of this test.
        assert_eq!(fake.qq_group(&token, &format!("G{seq}"), "in-1", seq, "r").await.status, 200);
    }
    let sixth = fake.qq_group(&token, "G6", "in-1", 6, "r").await;
    assert_eq!((sixth.status, sixth.body["code"].clone()), (400, json!(40_034_128)));
    assert_eq!(fake.state.deliveries().len(), 5);
    fake.stop().await;
}

#[tokio::test]
async fn a_reply_after_the_registered_group_window_is_refused_with_40034128() {
    let clock = ManualClock::new();
    let fake = Fake::start_with_clock(Options::default(), &clock).await;
    let token = fake.qq_token().await;
    let at = clock.now();
    let reg = fake.post("/_fake/qq/inbound", None, &json!({"msg_id": "in-1", "chat_kind": "group", "at_ms": at})).await;
    assert_eq!(reg.status, 204);
    clock.advance_ms(299_000);
    assert_eq!(fake.qq_group(&token, "G", "in-1", 1, "in time").await.status, 200);
    clock.advance_ms(2_000);
    let late = fake.qq_group(&token, "G", "in-1", 2, "too late").await;
    assert_eq!((late.status, late.body["code"].clone()), (400, json!(40_034_128)));
    fake.stop().await;
}

#[tokio::test]
async fn a_burst_to_one_group_gets_429_with_22009_and_the_next_second_is_admitted() {
    let clock = ManualClock::new();
    let opts = Options { qq: QqLimits { chat_rate: 2, ..QqLimits::default() }, ..Options::default() };
    let fake = Fake::start_with_clock(opts, &clock).await;
    let token = fake.qq_token().await;
    assert_eq!(fake.qq_group(&token, "G", "a", 1, "1").await.status, 200);
    assert_eq!(fake.qq_group(&token, "G", "b", 1, "2").await.status, 200);
    let third = fake.qq_group(&token, "G", "c", 1, "3").await;
    assert_eq!((third.status, third.body["code"].clone()), (429, json!(22009)));
    assert_eq!(third.body["message"], "msg limit exceed");
    clock.advance_ms(1_000);
    assert_eq!(fake.qq_group(&token, "G", "c", 1, "3").await.status, 200, "a throttled reply is not a duplicate later");
    assert_eq!(fake.state.stats().throttled, 1);
    fake.stop().await;
}

#[tokio::test]
async fn a_qq_message_without_msg_id_is_refused_because_proactive_push_is_gone() {
    let fake = Fake::start(Options::default()).await;
    let auth = format!("QQBot {}", fake.qq_token().await);
    let a = fake.post("/v2/groups/G/messages", Some(&auth), &json!({"content": "hi", "msg_type": 0})).await;
    assert_eq!((a.status, a.body["code"].clone()), (400, json!(40_034_100)));
    let a = fake.post("/v2/groups/G/messages", Some(&auth), &json!({"msg_type": 0, "msg_id": "m"})).await;
    assert_eq!(a.status, 400, "text messages need content");
    fake.stop().await;
}

#[tokio::test]
async fn guild_replies_in_the_guild_body_shape_are_accepted_and_without_msg_seq_never_deduplicated() {
    let fake = Fake::start(Options::default()).await;
    let auth = format!("QQBot {}", fake.qq_token().await);
    let body = json!({"content": "pong", "msg_id": "guild-in"});
    assert_eq!(fake.post("/channels/C1/messages", Some(&auth), &body).await.status, 200);
    assert_eq!(fake.post("/channels/C1/messages", Some(&auth), &body).await.status, 200);
    assert_eq!(fake.post("/dms/D1/messages", Some(&auth), &body).await.status, 200);
    let d = fake.state.deliveries();
    assert_eq!(d.len(), 3);
    assert!(d.iter().all(|d| d.idempotency_key.is_none()));
    let with_seq = json!({"content": "pong", "msg_id": "guild-in", "msg_seq": 1});
    assert_eq!(fake.post("/channels/C1/messages", Some(&auth), &with_seq).await.status, 200);
    assert_eq!(fake.post("/channels/C1/messages", Some(&auth), &with_seq).await.body["code"], 40_054_005);
    fake.stop().await;
}
