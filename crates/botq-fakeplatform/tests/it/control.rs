//! Faults (scripted and random), the control API, reset, and in-process waiting.

use std::path::Path;
use std::time::{Duration, Instant};

use botq_core::config::{Config, Service};
use botq_fakeplatform::{FakeState, Options, ScriptStep};
use serde_json::json;

use crate::support::{Fake, ONEBOT_TOKEN};

#[tokio::test]
async fn scripted_faults_apply_to_the_next_message_requests_in_order_and_are_not_deliveries() {
    let fake = Fake::start(Options::default()).await;
    let token = fake.lark_token().await;
    let script = json!([{"status": 503}, {"status": 429, "reset_secs": 2}, {"status": 500, "code": 1234}]);
    let queued = fake.post("/_fake/script", None, &script).await;
    assert_eq!(queued.body, json!({"queued": 3}));
    let first = fake.lark_send(&token, "oc", "a", Some("u-1")).await;
    assert_eq!(first.status, 503);
    let second = fake.lark_send(&token, "oc", "a", Some("u-1")).await;
    assert_eq!((second.status, second.body["code"].clone()), (429, json!(99_991_400)));
    assert_eq!(second.headers["x-ogw-ratelimit-reset"], "2");
    let third = fake.lark_send(&token, "oc", "a", Some("u-1")).await;
    assert_eq!((third.status, third.body["code"].clone()), (500, json!(1234)));
    assert!(fake.state.deliveries().is_empty(), "a scripted failure is not a delivery");
    let fourth = fake.lark_send(&token, "oc", "a", Some("u-1")).await;
    assert_eq!(fourth.status, 200);
    assert_eq!(fake.state.deliveries().len(), 1, "and does not consume the uuid");
    let stats = fake.state.stats();
    assert_eq!((stats.faults.error, stats.faults.throttle, stats.faults.scripted), (2, 1, 3));
    assert_eq!(stats.rejected, 3);
    fake.stop().await;
}

#[tokio::test]
async fn a_script_step_for_one_platform_is_left_for_that_platform() {
    let fake = Fake::start(Options::default()).await;
    fake.state.push_script([ScriptStep {
        platform: Some(botq_core::envelope::Platform::Qq),
        status: Some(503),
        ..ScriptStep::default()
    }]);
    let auth = format!("Bearer {ONEBOT_TOKEN}");
    let ob = fake.post("/onebot/send_group_msg", Some(&auth), &json!({"group_id": 1, "message": "x"})).await;
    assert_eq!(ob.status, 200);
    let token = fake.qq_token().await;
    let qq = fake.qq_group(&token, "G", "m", 1, "x").await;
    assert_eq!(qq.status, 503);
    assert!(qq.body["trace_id"].is_string(), "QQ's error shape");
    fake.stop().await;
}

#[tokio::test]
async fn a_scripted_delay_holds_the_request_then_handles_it_normally() {
    let fake = Fake::start(Options::default()).await;
    fake.post("/_fake/script", None, &json!([{"delay_ms": 300}])).await;
    let token = fake.qq_token().await;
    let started = Instant::now();
    let a = fake.qq_group(&token, "G", "m", 1, "slow").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(a.status, 200);
    assert_eq!(fake.state.stats().faults.delay, 1);
    fake.stop().await;
}

#[tokio::test]
async fn random_faults_hit_message_endpoints_but_never_token_endpoints() {
    let fake = Fake::start(Options { error_rate: 1.0, ..Options::default() }).await;
    let token = fake.qq_token().await;
    let a = fake.qq_group(&token, "G", "m", 1, "x").await;
    assert_eq!(a.status, 503);
    let onebot = fake
        .post(
            "/onebot/send_group_msg",
            Some(&format!("Bearer {ONEBOT_TOKEN}")),
            &json!({"group_id": 1, "message": "x"}),
        )
        .await;
    assert_eq!((onebot.status, onebot.body["status"].clone()), (503, json!("failed")));
    assert!(fake.state.deliveries().is_empty());
    fake.stop().await;
}

#[tokio::test]
async fn an_injected_qq_throttle_is_429_with_22009_and_onebot_is_429_with_retcode_1400() {
    let fake = Fake::start(Options { throttle_rate: 1.0, ..Options::default() }).await;
    let token = fake.qq_token().await;
    let qq = fake.qq_group(&token, "G", "m", 1, "x").await;
    assert_eq!((qq.status, qq.body["code"].clone()), (429, json!(22009)));
    assert!(qq.headers.get("retry-after").is_none(), "QQ documents no retry header");
    let auth = format!("Bearer {ONEBOT_TOKEN}");
    let ob = fake.post("/onebot/send_group_msg", Some(&auth), &json!({"group_id": 1, "message": "x"})).await;
    assert_eq!((ob.status, ob.body["retcode"].clone()), (429, json!(1400)));
    assert_eq!(ob.headers["retry-after"], "1");
    fake.stop().await;
}

#[tokio::test]
async fn an_injected_timeout_holds_the_request_then_answers_504() {
    let opts = Options { timeout_rate: 1.0, timeout_hold: Duration::from_millis(300), ..Options::default() };
    let fake = Fake::start(opts).await;
    let token = fake.qq_token().await;
    let started = Instant::now();
    let a = fake.qq_group(&token, "G", "m", 1, "x").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(a.status, 504);
    assert_eq!(fake.state.stats().faults.timeout, 1);
    fake.stop().await;
}

#[tokio::test]
async fn shutdown_releases_a_held_request_at_once() {
    let opts = Options { timeout_rate: 1.0, timeout_hold: Duration::from_secs(60), ..Options::default() };
    let fake = Fake::start(opts).await;
    let token = fake.qq_token().await;
    let client = fake.client.clone();
    let url = format!("{}/v2/groups/G/messages", fake.base);
    let held = tokio::spawn(async move {
        let body = json!({"content": "x", "msg_type": 0, "msg_id": "m"});
        client
            .post(url)
            .header("Authorization", format!("QQBot {token}"))
            .json(&body)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    while fake.state.stats().faults.timeout == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    fake.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(held.await.unwrap().unwrap(), 504);
}

#[tokio::test]
async fn the_control_api_lists_deliveries_rejections_and_stats_and_reset_keeps_tokens() {
    let fake = Fake::start(Options::default()).await;
    let token = fake.qq_token().await;
    fake.qq_group(&token, "G", "m", 1, "hello").await;
    fake.qq_group(&token, "G", "m", 1, "hello").await;
    let d = fake.get("/_fake/deliveries").await.body;
    assert_eq!(d[0]["platform"], "qq");
    assert_eq!(d[0]["bot"], "qq-main");
    assert_eq!(d[0]["endpoint"], "qq_group");
    assert_eq!(d[0]["target"], "G");
    assert_eq!(d[0]["text"], "hello");
    assert_eq!(d[0]["idempotency_key"], "m:1");
    assert!(d[0]["received_at_ms"].is_i64() && d[0]["message_id"].is_string());
    let r = fake.get("/_fake/rejections").await.body;
    assert_eq!((r[0]["status"].clone(), r[0]["code"].clone()), (json!(400), json!(40_054_005)));
    let s = fake.get("/_fake/stats").await.body;
    assert_eq!(
        (s["deliveries"].clone(), s["deduplicated"].clone(), s["token_requests"]["qq"].clone()),
        (json!(1), json!(1), json!(1))
    );
    assert_eq!(fake.post("/_fake/reset", None, &json!(null)).await.status, 204);
    assert_eq!(fake.get("/_fake/deliveries").await.body, json!([]));
    assert_eq!(fake.get("/_fake/stats").await.body["deliveries"], 0);
    assert_eq!(fake.qq_group(&token, "G", "m", 1, "hello").await.status, 200, "the ledger is cleared, the token kept");
    fake.stop().await;
}

#[tokio::test]
async fn revoked_tokens_get_the_platform_token_error() {
    let fake = Fake::start(Options::default()).await;
    let token = fake.qq_token().await;
    assert_eq!(fake.post("/_fake/tokens/revoke", None, &json!(null)).await.status, 204);
    assert_eq!(fake.qq_group(&token, "G", "m", 1, "x").await.status, 401);
    fake.stop().await;
}

#[tokio::test]
async fn a_control_body_the_fake_cannot_read_is_400_with_a_stable_code() {
    let fake = Fake::start(Options::default()).await;
    let a = fake.post("/_fake/script", None, &json!([{"stauts": 503}])).await;
    assert_eq!((a.status, a.body["code"].clone()), (400, json!("bad_request")));
    let a = fake.post("/_fake/qq/inbound", None, &json!({"msg_id": "m", "chat_kind": "forum"})).await;
    assert_eq!(a.status, 400);
    fake.stop().await;
}

#[tokio::test]
async fn a_test_can_await_deliveries_instead_of_sleeping() {
    let fake = Fake::start(Options::default()).await;
    let state = fake.state.clone();
    let waiter = tokio::spawn(async move { state.wait_for_deliveries(2, Duration::from_secs(5)).await });
    let token = fake.qq_token().await;
    fake.qq_group(&token, "G", "a", 1, "1").await;
    fake.qq_group(&token, "G", "b", 1, "2").await;
    assert_eq!(waiter.await.unwrap().map(|d| d.len()), Some(2));
    assert_eq!(fake.state.wait_for_deliveries(3, Duration::from_millis(50)).await, None);
    fake.stop().await;
}

#[test]
fn the_shipped_example_config_gives_a_fake_serving_every_bot() {
    let text = include_str!("../../../../deploy/botq.example.toml");
    let env = |k: &str| (!k.starts_with("BOTQ_")).then(|| format!("example-secret-for-{k}"));
    let cfg = Config::from_toml(text, Service::Tool, &env, Path::new(".")).unwrap_or_else(|p| panic!("{p}"));
    let state = FakeState::from_config(&cfg, Options::default()).unwrap();
    let served: Vec<_> = state.bots().iter().map(|b| b.id.as_str()).collect();
    let configured: Vec<_> = cfg.bots.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(served, configured);
    let onebot = state.bots().iter().find(|b| b.id == "onebot-main").expect("the example has a OneBot bot");
    assert!(
        matches!(&onebot.credentials, botq_fakeplatform::Credentials::Onebot { prefix, .. } if prefix == "/onebot")
    );
}

#[tokio::test]
async fn a_lost_answer_is_a_delivery_whose_504_comes_after_the_hold_and_a_retry_is_a_duplicate() {
    let opts = Options { lost_answer_rate: 1.0, timeout_hold: Duration::from_millis(300), ..Options::default() };
    let fake = Fake::start(opts).await;
    // Token requests never lose their answers.
    let token = fake.qq_token().await;
    let started = Instant::now();
    let first = fake.qq_group(&token, "G", "m", 1, "x").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(first.status, 504);
    assert_eq!(fake.state.deliveries().len(), 1, "the message went out although the client saw a 504");
    let retry = fake.qq_group(&token, "G", "m", 1, "x").await;
    assert_ne!(retry.status, 200, "the same msg_seq again is refused as a duplicate: {:?}", retry.body);
    assert_eq!(fake.state.deliveries().len(), 1);
    assert_eq!(fake.state.stats().faults.lost_answer, 1, "a refusal's answer is not lost");
    fake.stop().await;
}
