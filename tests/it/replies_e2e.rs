//! Webhook in, reply out: real Redis, ingest, worker (the bot handler) and
//! botq-fakeplatform over loopback (docs/TESTING.md, guarantees 4 and 8).

use std::sync::Arc;
use std::time::Duration;

use botq_e2e::{REPLY_WORKER, Stack, eventually};
use botq_fakeplatform::{Options, ScriptStep};
use botq_testkit::fixtures::{
    LARK_TOKEN, QQ_SECRET, lark_main_bot_replying_to, onebot_main_bot_replying_to, qq_main_bot_replying_to,
};
use botq_testkit::sign;
use botq_worker::{BotHandler, Handler};

/// The three platforms' bots, `extra_bot_keys` added to each.
fn toml(fake: u16, extra_bot_keys: &str) -> String {
    let (qq, lark, onebot) =
        (qq_main_bot_replying_to(fake), lark_main_bot_replying_to(fake), onebot_main_bot_replying_to(fake));
    format!("{REPLY_WORKER}\n{qq}{extra_bot_keys}\n{lark}{extra_bot_keys}\n{onebot}{extra_bot_keys}\n")
}

async fn stack(extra_bot_keys: &str) -> Stack {
    stack_with(extra_bot_keys, Options::default()).await
}

async fn stack_with(extra_bot_keys: &str, opts: Options) -> Stack {
    Stack::builder().options(opts).start(|at| toml(at.fake_port, extra_bot_keys)).await
}

fn now() -> i64 {
    botq_core::now_ms() / 1000
}

fn qq(event: &str, text: &str) -> sign::Webhook {
    sign::qq(
        "102000000",
        QQ_SECRET,
        now(),
        &sign::qq_group_at_body(event, &format!("ROBOT1.0_{event}"), "GROUP1", "M1", text),
    )
}

fn lark(event: &str, chat: &str, text: &str) -> sign::Webhook {
    let body = sign::lark_message_body(LARK_TOKEN, event, &format!("om_{event}"), chat, "group", "ou_1", text);
    sign::lark(None, now(), &body)
}

fn onebot(message_id: i64, text: &str) -> sign::Webhook {
    sign::onebot("10001000", None, &sign::onebot_group_body("10001000", message_id, 5_550_001, 123_456, text, now()))
}

#[tokio::test]
async fn each_platform_gets_exactly_one_correct_reply() {
    let s = stack("").await;
    let w = s.worker().await;
    assert_eq!(s.send("qq-main", &qq("e1", " /ping")).await, 200);
    assert_eq!(s.send("lark-main", &lark("e2", "oc_1", "/echo hi there")).await, 200);
    assert_eq!(s.send("onebot-main", &onebot(42, "/ping")).await, 204);
    let got = s.deliveries(3).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let by = |bot: &str| got.iter().find(|d| d.bot == bot).unwrap_or_else(|| panic!("no reply for {bot}: {got:?}"));
    assert_eq!((by("qq-main").text.as_str(), by("qq-main").target.as_str()), ("pong", "GROUP1"));
    assert_eq!(by("qq-main").idempotency_key.as_deref(), Some("ROBOT1.0_e1:1"));
    assert_eq!((by("lark-main").text.as_str(), by("lark-main").target.as_str()), ("hi there", "om_e2"));
    assert_eq!((by("onebot-main").text.as_str(), by("onebot-main").target.as_str()), ("pong", "5550001"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.fake.deliveries().len(), 3, "nothing more arrives");
    w.shutdown().await.unwrap();
}

/// OneBot implementations reuse `message_id` after a restart: a report with
/// the same id but another `time` is a new message, accepted by ingest and
/// answered by the worker (its claim and sent record are keyed as ingest's dedupe).
#[tokio::test]
async fn a_onebot_message_reusing_a_message_id_is_answered_too() {
    let s = stack("").await;
    let w = s.worker().await;
    let report = |time: i64, text: &str| {
        sign::onebot("10001000", None, &sign::onebot_group_body("10001000", 77, 5_550_001, 123_456, text, time))
    };
    assert_eq!(s.send("onebot-main", &report(now() - 30, "/echo before the restart")).await, 204);
    assert_eq!(s.send("onebot-main", &report(now(), "/echo after the restart")).await, 204);
    let got = s.deliveries(2).await;
    let mut texts: Vec<&str> = got.iter().map(|d| d.text.as_str()).collect();
    texts.sort_unstable();
    assert_eq!(texts, ["after the restart", "before the restart"], "neither was taken for a duplicate: {got:?}");
    w.shutdown().await.unwrap();
}

/// A OneBot user replies to the bot's message with `/echo R&D [v2]`: the
/// string form puts the quote and the bot's mention first and escapes the
/// text; the command is recognised and the echo is what the user typed.
#[tokio::test]
async fn a_quoted_escaped_onebot_command_is_answered_with_the_text_as_typed() {
    let s = stack("").await;
    let w = s.worker().await;
    let raw = "[CQ:reply,id=-2147437996][CQ:at,qq=10001000] /echo R&amp;D &#91;v2&#93;";
    let body = sign::onebot_group_body("10001000", 78, 5_550_001, 123_456, raw, now());
    assert_eq!(s.send("onebot-main", &sign::onebot("10001000", None, &body)).await, 204);
    let got = s.deliveries(1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].text, "R&D [v2]");
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn three_duplicate_deliveries_get_one_reply() {
    let s = stack("").await;
    let w = s.worker().await;
    let hook = lark("dup", "oc_1", "/ping");
    for _ in 0..3 {
        assert_eq!(s.send("lark-main", &hook).await, 200);
    }
    s.deliveries(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.fake.deliveries().len(), 1);
    w.shutdown().await.unwrap();
}

/// A worker that sent the reply and died before acknowledging leaves the event
/// to be handled again; the resent request carries the same idempotency handle.
#[tokio::test]
async fn a_redelivery_after_a_sent_reply_does_not_reply_twice() {
    let s = stack("").await;
    for (bot, hook) in [
        ("qq-main", qq("crash", " /ping")),
        ("lark-main", lark("crash", "oc_1", "/ping")),
        ("onebot-main", onebot(7, "/ping")),
    ] {
        assert!(s.send(bot, &hook).await < 300);
    }
    // The "crashed" worker: it ran the handler (sending each reply) and never settled.
    let handler = BotHandler::new(&s.cfg.app()).unwrap();
    let mut c = s.redis.conn();
    let entries: redis::streams::StreamRangeReply = redis::Commands::xrange_all(&mut c, "botq:{q0}:stream").unwrap();
    for e in &entries.ids {
        let env = botq_core::envelope::Envelope::decode(&e.get::<Vec<u8>>("env").unwrap()).unwrap();
        let job = botq_worker::Job {
            envelope: Arc::new(env),
            attempt: 1,
            stream_id: e.id.clone(),
            replica: "worker-test".into(),
            holds_chat: false,
        };
        handler.handle(job).await.unwrap();
    }
    assert_eq!(s.fake.deliveries().len(), 3);
    // A real worker now handles the same, still unsettled, events.
    let w = s.worker().await;
    assert!(
        eventually(Duration::from_secs(10), || redis::Commands::xlen::<_, usize>(
            &mut s.redis.conn(),
            "botq:{q0}:stream"
        )
        .unwrap()
            == 0)
        .await
    );
    assert_eq!(s.fake.deliveries().len(), 3, "each reply was delivered once: {:?}", s.fake.deliveries());
    assert_eq!(s.fake.stats().deduplicated, 2, "QQ and Lark dropped the resent copy themselves");
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_platform_5xx_twice_is_delivered_on_the_third_attempt() {
    let s = stack("").await;
    s.fake.push_script([
        ScriptStep { status: Some(503), ..ScriptStep::default() },
        ScriptStep { status: Some(503), ..ScriptStep::default() },
    ]);
    let w = s.worker().await;
    assert_eq!(s.send("onebot-main", &onebot(9, "/ping")).await, 204);
    let got = s.deliveries(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(s.fake.stats().faults.scripted, 2);
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_429_with_a_reset_time_is_retried_after_it_not_before() {
    let s = stack("").await;
    s.fake.push_script([ScriptStep { status: Some(429), reset_secs: Some(2), ..ScriptStep::default() }]);
    let w = s.worker().await;
    let sent = std::time::Instant::now();
    assert_eq!(s.send("lark-main", &lark("slow", "oc_1", "/ping")).await, 200);
    let got = s.deliveries(1).await;
    assert_eq!(got.len(), 1);
    assert!(sent.elapsed() >= Duration::from_secs(2), "retried only after the reset: {:?}", sent.elapsed());
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn two_workers_together_never_exceed_a_chats_reply_rate() {
    let s = stack("reply_limit = { chat_per_sec = 4.0, chat_burst = 1, bot_per_sec = 0.0 }").await;
    let (a, b) = (s.worker().await, s.worker().await);
    for i in 0..8 {
        assert_eq!(s.send("lark-main", &lark(&format!("r{i}"), "oc_busy", "/ping")).await, 200);
    }
    let mut got = s.deliveries(8).await;
    assert_eq!(got.len(), 8);
    got.sort_by_key(|d| d.received_at_ms);
    // 4/s with burst 1: sends are ≥ 250 ms apart at the workers. Receive times
    // add network jitter, so check what jitter cannot fake: no one-second
    // window holds more than the limit allows, and the whole run is spread out.
    let times: Vec<i64> = got.iter().map(|d| d.received_at_ms).collect();
    for &t in &times {
        let in_window = times.iter().filter(|&&u| u >= t && u < t + 1000).count();
        assert!(in_window <= 5, "{in_window} replies within one second of {t}: {times:?}");
    }
    let span = times[7] - times[0];
    assert!(span >= 1500, "8 replies at 4/s take ≥ 1.75 s, less jitter; took {span} ms");
    assert_eq!(s.fake.stats().throttled, 0, "the platform never had to refuse");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn replicas_fetch_a_token_once_per_expiry() {
    let s = stack("").await;
    let workers = [s.worker().await, s.worker().await, s.worker().await];
    for i in 0..12 {
        assert_eq!(s.send("qq-main", &qq(&format!("t{i}"), " /ping")).await, 200);
    }
    assert_eq!(s.deliveries(12).await.len(), 12);
    assert_eq!(s.fake.stats().token_requests.get("qq").copied(), Some(1), "{:?}", s.fake.stats());
    for w in workers {
        w.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_qq_reply_past_its_window_is_dropped_and_counted() {
    let s = stack("").await;
    let w = s.worker().await;
    let now_s = now();
    let fresh = sign::qq_group_at_body("late", "ROBOT1.0_late", "GROUP1", "M1", " /ping");
    let old = String::from_utf8(fresh)
        .unwrap()
        .replace(&sign::rfc3339_utc(now_s), &sign::rfc3339_utc(now_s - 600))
        .into_bytes();
    let metrics = w.admin_url("/metrics");
    // The recorder is shared by every test of this binary: count what this event adds.
    let dropped = || async {
        let scrape = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
        botq_e2e::metric(&scrape, r#"botq_replies_total{bot="qq-main",outcome="dropped_window"}"#)
    };
    let before = dropped().await;
    // Delivered (and signed) now, but the message itself is 10 minutes old: past the 5-minute group window.
    assert_eq!(s.send("qq-main", &sign::qq("102000000", QQ_SECRET, now_s, &old)).await, 200);
    let mut seen = false;
    for _ in 0..100 {
        if dropped().await == before + 1 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the expired reply was counted");
    assert!(s.fake.deliveries().is_empty(), "and not sent");
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn tokens_are_refreshed_before_the_platform_expires_them() {
    let opts = Options { token_ttl: Duration::from_secs(3), ..Options::default() };
    let s = stack_with("", opts).await;
    let w = s.worker().await;
    assert_eq!(s.send("lark-main", &lark("t1", "oc_1", "/ping")).await, 200);
    assert_eq!(s.deliveries(1).await.len(), 1);
    // Past the token's lifetime: botq must have dropped it a margin before the platform does.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(s.send("lark-main", &lark("t2", "oc_1", "/ping")).await, 200);
    assert_eq!(s.deliveries(2).await.len(), 2);
    assert!(s.fake.rejections().is_empty(), "no request went out with an expired token: {:?}", s.fake.rejections());
    assert_eq!(s.fake.stats().token_requests.get("lark").copied(), Some(2));
    w.shutdown().await.unwrap();
}
