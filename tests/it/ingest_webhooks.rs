//! botq-ingest end to end: real redis-server, real HTTP over loopback.
//!
//! Each test starts its own Redis and ingest, sends webhooks signed as the
//! platforms sign them (and tampered, forged and malformed ones), and asserts
//! on the HTTP answer and on what Redis holds afterwards.

use botq_core::envelope::{ChatKind, Envelope, Platform};
use botq_e2e::post;
use botq_testkit::ingest::{IngestHandle, config};
use botq_testkit::redis::RedisServer;
use botq_testkit::sign::{self, Webhook};
use redis::Commands;

use botq_testkit::fixtures::{
    LARK_MAIN_BOT, LARK_TOKEN, NO_FAIR_SHARE, NO_INGEST_RATE_LIMIT, ONEBOT_MAIN_BOT, QQ_MAIN_BOT, QQ_SECRET,
};
const LARK_KEY: &str = "test key";
const ONEBOT_SECRET: &str = "secret";

/// QQ, Lark with an Encrypt Key, Lark without one (token only) and OneBot
/// with a signing secret; limits off, and fair share off so the stream
/// shows every accepted event (fairness has its own tests).
fn toml(extra: &str) -> String {
    format!(
        r#"
{extra}{NO_INGEST_RATE_LIMIT}{NO_FAIR_SHARE}{QQ_MAIN_BOT}timestamp_window_secs = 300
{LARK_MAIN_BOT}encrypt_key = "{LARK_KEY}"
timestamp_window_secs = 300

[[bot]]
id = "lark-plain"
platform = "lark"
app_id = "cli_b0000000000000"
app_secret = "s"
verification_token = "{LARK_TOKEN}"
{ONEBOT_MAIN_BOT}api_base = "http://127.0.0.1:5700"
secret = "{ONEBOT_SECRET}"
"#
    )
}

struct Env {
    redis: RedisServer,
    ingest: IngestHandle,
    http: reqwest::Client,
}

async fn env_with(extra: &str) -> Env {
    let redis = RedisServer::start();
    let ingest = IngestHandle::start(&config(&toml(extra), &redis.url())).await;
    Env { redis, ingest, http: reqwest::Client::new() }
}

async fn env() -> Env {
    env_with("").await
}

fn now_secs() -> i64 {
    botq_core::now_ms() / 1000
}

fn qq_hook(event: &str, msg: &str) -> Webhook {
    let body = sign::qq_group_at_body(event, msg, "GROUP1", "MEMBER1", " /ping");
    sign::qq("102000000", QQ_SECRET, now_secs(), &body)
}

fn lark_hook(event: &str, msg: &str) -> Webhook {
    let body = sign::lark_message_body(LARK_TOKEN, event, msg, "oc_chat1", "group", "ou_sender1", "/ping");
    sign::lark(Some(LARK_KEY), now_secs(), &body)
}

fn onebot_hook(message_id: i64) -> Webhook {
    let body = sign::onebot_group_body("10001000", message_id, 5550001, 123456, "/ping", now_secs());
    sign::onebot("10001000", Some(ONEBOT_SECRET), &body)
}

impl Env {
    async fn send(&self, bot: &str, hook: &Webhook) -> (u16, reqwest::header::HeaderMap, String) {
        post(&self.http, &self.ingest.webhook_url(bot), hook).await
    }

    fn stream(&self) -> Vec<Envelope> {
        let mut c = self.redis.conn();
        let reply: redis::streams::StreamRangeReply = c.xrange_all("botq:{q0}:stream").unwrap();
        reply
            .ids
            .iter()
            .map(|e| {
                let v: Vec<u8> = e.get("env").expect("env field");
                Envelope::decode(&v).expect("envelope")
            })
            .collect()
    }

    /// Keys in Redis, but for ingest's records of itself (its fleet record
    /// and history counts), which it writes whatever the requests.
    fn key_count(&self) -> usize {
        let mut c = self.redis.conn();
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
        keys.iter().filter(|k| !k.contains(":{fleet}:") && !k.contains(":{hist}:")).count()
    }
}

#[tokio::test]
async fn signed_qq_group_message_is_acked_with_op_12_and_lands_in_the_stream() {
    let t = env().await;
    let (status, headers, body) = t.send("qq-main", &qq_hook("e1", "ROBOT1.0_m1")).await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"op":12,"d":0}"#);
    let rid = headers.get("x-request-id").expect("X-Request-Id").to_str().unwrap().to_owned();
    let events = t.stream();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.platform, Platform::Qq);
    assert_eq!(e.bot.as_str(), "qq-main");
    assert_eq!(e.event_id, "GROUP_AT_MESSAGE_CREATE:e1");
    assert_eq!(e.message_id, "ROBOT1.0_m1");
    assert_eq!(e.chat_kind, ChatKind::Group);
    assert_eq!(e.chat_id, "GROUP1");
    assert_eq!(e.sender_id, "MEMBER1");
    assert_eq!(e.text, "/ping", "the text as typed");
    assert!(e.mentions_bot);
    assert_eq!(e.request_id.to_string(), rid, "the stream entry carries the response's request id");
}

#[tokio::test]
async fn encrypted_lark_message_is_acked_and_lands_in_the_stream() {
    let t = env().await;
    let (status, _, body) = t.send("lark-main", &lark_hook("ev-1", "om_1")).await;
    assert_eq!((status, body.as_str()), (200, r#"{"msg":"success"}"#));
    let events = t.stream();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].platform, Platform::Lark);
    assert_eq!(events[0].chat_id, "oc_chat1");
    assert_eq!(events[0].text, "/ping");
    assert_eq!(events[0].sender_id, "ou_sender1");
}

#[tokio::test]
async fn signed_onebot_group_message_gets_204_and_lands_in_the_stream() {
    let t = env().await;
    let (status, _, body) = t.send("onebot-main", &onebot_hook(42)).await;
    assert_eq!((status, body.as_str()), (204, ""));
    let events = t.stream();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].platform, Platform::Onebot);
    assert_eq!(events[0].chat_id, "5550001");
    assert_eq!(events[0].sender_id, "123456");
    assert_eq!(events[0].message_id, "42");
}

#[tokio::test]
async fn duplicate_webhook_is_acked_but_enqueued_once() {
    let t = env().await;
    let qq = qq_hook("dup", "ROBOT1.0_dup");
    let lark = lark_hook("ev-dup", "om_dup");
    let ob = onebot_hook(7);
    for _ in 0..3 {
        assert_eq!(t.send("qq-main", &qq).await.0, 200);
        assert_eq!(t.send("lark-main", &lark).await.0, 200);
        assert_eq!(t.send("onebot-main", &ob).await.0, 204);
    }
    assert_eq!(t.stream().len(), 3, "one entry per event, whatever the number of deliveries");
}

#[tokio::test]
async fn qq_message_redelivered_under_a_new_event_id_is_still_a_duplicate() {
    let t = env().await;
    assert_eq!(t.send("qq-main", &qq_hook("first", "ROBOT1.0_same")).await.0, 200);
    assert_eq!(t.send("qq-main", &qq_hook("second", "ROBOT1.0_same")).await.0, 200);
    assert_eq!(t.stream().len(), 1, "QQ pushes an unacknowledged message again; its message id (d.id) is what dedupes");
}

/// Each bad request gets the documented status and code, and leaves Redis empty.
async fn assert_refused(t: &Env, bot: &str, hook: &Webhook, status: u16, code: &str) {
    let (got, headers, body) = t.send(bot, hook).await;
    assert_eq!(got, status, "{bot}: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("JSON error body: {body}"));
    assert_eq!(json["code"], code, "{bot}: {body}");
    assert!(headers.contains_key("x-request-id"));
    assert_eq!(t.key_count(), 0, "{bot}/{code} left something in Redis");
}

fn tamper(mut h: Webhook) -> Webhook {
    let last = h.body.len() - 2;
    h.body[last] ^= 0x01;
    h
}

fn without(mut h: Webhook, header: &str) -> Webhook {
    h.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(header));
    h
}

fn with_header(mut h: Webhook, header: &str, value: &str) -> Webhook {
    h.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(header));
    h.headers.push((header.to_owned(), value.to_owned()));
    h
}

#[tokio::test]
async fn bad_qq_requests_get_documented_errors_and_touch_nothing() {
    let t = env().await;
    let good = || qq_hook("e", "ROBOT1.0_m");
    assert_refused(&t, "qq-main", &tamper(good()), 401, "invalid_signature").await;
    let body = sign::qq_group_at_body("e", "m", "g", "u", "x");
    assert_refused(
        &t,
        "qq-main",
        &sign::qq("102000000", "another-secret", now_secs(), &body),
        401,
        "invalid_signature",
    )
    .await;
    for h in ["X-Signature-Ed25519", "X-Signature-Timestamp", "X-Bot-Appid"] {
        assert_refused(&t, "qq-main", &without(good(), h), 401, "missing_signature").await;
    }
    assert_refused(&t, "qq-main", &sign::qq("102000000", QQ_SECRET, now_secs() - 3600, &body), 401, "stale_timestamp")
        .await;
    assert_refused(&t, "qq-main", &with_header(good(), "X-Bot-Appid", "999"), 403, "wrong_recipient").await;
    let malformed = sign::qq("102000000", QQ_SECRET, now_secs(), b"{not json");
    assert_refused(&t, "qq-main", &malformed, 400, "malformed_payload").await;
    assert_refused(&t, "nobody", &good(), 404, "unknown_bot").await;
    // Correctly signed, but its group would redirect the reply to a user's DM once the path is normalised.
    let crafted = sign::qq_group_at_body("e2", "ROBOT1.0_m2", "../users/VICTIM", "MEMBER1", " /ping");
    assert_refused(&t, "qq-main", &sign::qq("102000000", QQ_SECRET, now_secs(), &crafted), 400, "invalid_id").await;
}

#[tokio::test]
async fn qq_op13_is_answered_but_a_forged_plain_token_is_refused() {
    let t = env().await;
    let ok = br#"{"d":{"plain_token":"Arq0D5A61EgUu4OxUvOp","event_ts":"1725442341"},"op":13}"#;
    let (status, _, body) = t.send("qq-main", &sign::qq("102000000", QQ_SECRET, now_secs(), ok)).await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["plain_token"], "Arq0D5A61EgUu4OxUvOp");
    assert_eq!(json["signature"].as_str().unwrap().len(), 128);

    // The answer signs event_ts ‖ plain_token: a token shaped like an event body would
    // make botq sign a forged event (docs/TESTING.md, guarantee 11).
    let forged = br#"{"op":13,"d":{"event_ts":"1725442341","plain_token":"{\"op\":0,\"id\":\"x\"}"}}"#;
    assert_refused(&t, "qq-main", &sign::qq("102000000", QQ_SECRET, now_secs(), forged), 400, "invalid_handshake")
        .await;
    let unsigned = Webhook { headers: vec![("X-Bot-Appid".into(), "102000000".into())], body: forged.to_vec() };
    assert_refused(&t, "qq-main", &unsigned, 400, "invalid_handshake").await;
}

#[tokio::test]
async fn bad_lark_requests_get_documented_errors_and_touch_nothing() {
    let t = env().await;
    let good = || lark_hook("ev", "om");
    assert_refused(&t, "lark-main", &tamper(good()), 401, "invalid_signature").await;
    let body = sign::lark_message_body(LARK_TOKEN, "ev", "om", "oc", "group", "ou", "x");
    assert_refused(&t, "lark-main", &sign::lark(Some("wrong key"), now_secs(), &body), 401, "invalid_signature").await;
    for h in ["X-Lark-Signature", "X-Lark-Request-Timestamp", "X-Lark-Request-Nonce"] {
        assert_refused(&t, "lark-main", &without(good(), h), 401, "missing_signature").await;
    }
    assert_refused(&t, "lark-main", &sign::lark(Some(LARK_KEY), now_secs() - 3600, &body), 401, "stale_timestamp")
        .await;
    let wrong_token = sign::lark_message_body("not-the-token", "ev", "om", "oc", "group", "ou", "x");
    assert_refused(&t, "lark-main", &sign::lark(Some(LARK_KEY), now_secs(), &wrong_token), 403, "invalid_token").await;
    assert_refused(&t, "lark-plain", &sign::lark(None, now_secs(), &wrong_token), 403, "invalid_token").await;
    assert_refused(&t, "lark-plain", &sign::lark(None, now_secs(), b"[1,2"), 400, "malformed_payload").await;
    let crafted = sign::lark_message_body(LARK_TOKEN, "ev9", "om_1/../../x", "oc_chat1", "group", "ou_1", "/ping");
    assert_refused(&t, "lark-main", &sign::lark(Some(LARK_KEY), now_secs(), &crafted), 400, "invalid_id").await;
}

/// A legacy message-card callback (the published one, oapi-sdk-go's
/// sample) is signed with the verification token, not an event: a signed
/// one is acknowledged and stores nothing; the token in its body (the card
/// token) proves nothing.
#[tokio::test]
async fn a_signed_legacy_card_callback_is_acknowledged_and_a_forged_one_refused() {
    let t = env().await;
    let card = include_str!("../corpus/lark/16-card-legacy-callback.json").trim().as_bytes();
    for bot in ["lark-plain", "lark-main"] {
        let (status, _, body) = t.send(bot, &sign::lark_card(LARK_TOKEN, now_secs(), card)).await;
        assert_eq!((status, body.as_str()), (200, r#"{"msg":"success"}"#), "{bot}");
    }
    assert_eq!(t.key_count(), 0, "a card action is dropped, not stored");
    let forged = sign::lark_card("c-bb72b8787895b65b7fd5ec2ce18aff2bf8cad2af", now_secs(), card);
    assert_refused(&t, "lark-plain", &forged, 401, "invalid_signature").await;
    assert_refused(&t, "lark-plain", &sign::lark(None, now_secs(), card), 401, "missing_signature").await;
    assert_refused(&t, "lark-plain", &sign::lark_card(LARK_TOKEN, now_secs() - 86_400, card), 401, "stale_timestamp")
        .await;
}

#[tokio::test]
async fn lark_challenges_are_answered_plain_and_encrypted() {
    let t = env().await;
    let challenge = format!(r#"{{"challenge":"ajls384kdjx98XX","token":"{LARK_TOKEN}","type":"url_verification"}}"#);
    for (bot, hook) in [
        ("lark-plain", sign::lark(None, now_secs(), challenge.as_bytes())),
        ("lark-main", sign::lark(Some(LARK_KEY), now_secs(), challenge.as_bytes())),
    ] {
        let (status, _, body) = t.send(bot, &hook).await;
        assert_eq!((status, body.as_str()), (200, r#"{"challenge":"ajls384kdjx98XX"}"#), "{bot}");
    }
    assert_eq!(t.key_count(), 0, "a handshake stores nothing");
}

#[tokio::test]
async fn bad_onebot_requests_get_documented_errors_and_touch_nothing() {
    let t = env().await;
    assert_refused(&t, "onebot-main", &tamper(onebot_hook(1)), 401, "invalid_signature").await;
    let body = sign::onebot_group_body("10001000", 1, 2, 3, "x", now_secs());
    assert_refused(&t, "onebot-main", &sign::onebot("10001000", Some("wrong"), &body), 401, "invalid_signature").await;
    assert_refused(&t, "onebot-main", &without(onebot_hook(1), "X-Signature"), 401, "missing_signature").await;
    assert_refused(&t, "onebot-main", &without(onebot_hook(1), "X-Self-ID"), 401, "missing_signature").await;
    let other = sign::onebot_group_body("20002000", 1, 2, 3, "x", now_secs());
    assert_refused(&t, "onebot-main", &sign::onebot("20002000", Some(ONEBOT_SECRET), &other), 403, "wrong_recipient")
        .await;
    assert_refused(
        &t,
        "onebot-main",
        &sign::onebot("10001000", Some(ONEBOT_SECRET), b"{\"time\":"),
        400,
        "malformed_payload",
    )
    .await;
    let crafted = format!(
        r#"{{"time":{},"self_id":10001000,"post_type":"message","message_type":"group","message_id":1,"group_id":"1/../2","user_id":3,"raw_message":"/ping"}}"#,
        now_secs()
    );
    let hook = sign::onebot("10001000", Some(ONEBOT_SECRET), crafted.as_bytes());
    assert_refused(&t, "onebot-main", &hook, 400, "invalid_id").await;
    // A correctly signed report replayed a month later, or dated hours ahead, is stale.
    for time in [now_secs() - 30 * 86_400, now_secs() + 3 * 3600] {
        let replayed = sign::onebot_group_body("10001000", 1, 2, 3, "x", time);
        let hook = sign::onebot("10001000", Some(ONEBOT_SECRET), &replayed);
        assert_refused(&t, "onebot-main", &hook, 401, "stale_timestamp").await;
    }
}

#[tokio::test]
async fn oversized_bodies_get_413_before_verification() {
    let t = env_with("[ingest]\nbody_limit_bytes = 2048").await;
    let big = vec![b' '; 4096];
    for (bot, hook) in [
        ("qq-main", sign::qq("102000000", QQ_SECRET, now_secs(), &big)),
        ("lark-main", sign::lark(Some(LARK_KEY), now_secs(), &big)),
        ("onebot-main", sign::onebot("10001000", Some(ONEBOT_SECRET), &big)),
    ] {
        assert_refused(&t, bot, &hook, 413, "payload_too_large").await;
    }
}

#[tokio::test]
async fn verified_events_of_unhandled_types_are_acked_and_dropped() {
    let t = env().await;
    let qq = br#"{"op":0,"id":"FRIEND_DEL:x","d":{"openid":"o","timestamp":1},"t":"FRIEND_DEL"}"#;
    assert_eq!(t.send("qq-main", &sign::qq("102000000", QQ_SECRET, now_secs(), qq)).await.0, 200);
    let meta = format!(
        r#"{{"time":{},"self_id":10001000,"post_type":"meta_event","meta_event_type":"heartbeat","status":{{}},"interval":15000}}"#,
        now_secs()
    );
    assert_eq!(t.send("onebot-main", &sign::onebot("10001000", Some(ONEBOT_SECRET), meta.as_bytes())).await.0, 204);
    assert_eq!(t.key_count(), 0);
    let metrics = t.http.get(t.ingest.admin_url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"botq_ingest_requests_total{bot="qq-main",outcome="ignored"}"#), "{metrics}");
}

#[tokio::test]
async fn a_chatty_group_is_acked_but_throttled_at_ingest() {
    let extra = "[[bot]]\nid = \"qq-limited\"\nplatform = \"qq\"\napp_id = \"102000000\"\nsecret = \"naOC0ocQE3shWLAfffVLB1rhYPG7\"\nrate_limit = { group_per_sec = 0.001, group_burst = 3, sender_per_sec = 0.0, sender_burst = 1 }\n";
    let redis = RedisServer::start();
    let text = format!("{}{extra}", toml(""));
    let ingest = IngestHandle::start(&config(&text, &redis.url())).await;
    let http = reqwest::Client::new();
    for i in 0..6 {
        let body = sign::qq_group_at_body(&format!("e{i}"), &format!("m{i}"), "NOISY", &format!("u{i}"), "hi");
        let (status, _, _) =
            post(&http, &ingest.webhook_url("qq-limited"), &sign::qq("102000000", QQ_SECRET, now_secs(), &body)).await;
        assert_eq!(status, 200, "over-limit events are still acknowledged");
    }
    let mut c = redis.conn();
    let len: usize = c.xlen("botq:{q0}:stream").unwrap();
    assert_eq!(len, 3, "the burst passes, the rest is dropped");
    let metrics = http.get(ingest.admin_url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"botq_ingest_requests_total{bot="qq-limited",outcome="rate_limited"} 3"#), "{metrics}");
}

#[tokio::test]
async fn every_response_carries_a_request_id_even_for_unknown_routes() {
    let t = env().await;
    let resp = t.http.post(format!("http://{}/nope", t.ingest.addr)).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let id = resp.headers().get("x-request-id").unwrap().to_str().unwrap();
    assert_eq!(id.len(), 36);
}

#[tokio::test]
async fn admin_listener_serves_health_and_metrics() {
    let t = env().await;
    let live = t.http.get(t.ingest.admin_url("/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready: serde_json::Value =
        t.http.get(t.ingest.admin_url("/health/ready")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["version"], botq_core::build::VERSION, "what is running, in the probe");
    assert_eq!(ready["git_sha"], botq_core::build::GIT_SHA);
    t.send("qq-main", &qq_hook("m", "ROBOT1.0_m")).await;
    let metrics = t.http.get(t.ingest.admin_url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("botq_ingest_ack_duration_seconds_bucket"), "{metrics}");
    assert!(metrics.contains(r#"botq_ingest_requests_total{bot="qq-main",outcome="accepted"}"#), "{metrics}");
    assert!(!metrics.contains(QQ_SECRET));
    let build = format!(
        r#"botq_build_info{{service="ingest",version="{}",git_sha="{}"}} 1"#,
        botq_core::build::VERSION,
        botq_core::build::GIT_SHA
    );
    assert!(metrics.contains(&build), "{metrics}");
}

mod listener;
