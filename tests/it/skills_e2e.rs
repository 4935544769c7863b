//! Skills against a real upstream service on loopback: the agent's answer,
//! the slow acknowledgement, the breaker and degraded answers, cooldown,
//! write-skill refusal, the audit log, and the storm guard that stops a
//! bot-to-bot ping-pong. Real Redis, ingest, worker (the bot
//! handler), botq-fakeplatform and `botq_testkit::upstream`.

use std::ops::Deref;
use std::time::Duration;

use botq_core::audit::{Access, Entry, Outcome};
use botq_e2e::{Addrs, REPLY_WORKER, Stack};
use botq_fakeplatform::Delivery;
use botq_testkit::fixtures::{NO_REPLY_LIMIT, agent_skill_at};
use botq_testkit::sign;
use botq_testkit::upstream::Mode;

const GROUP: i64 = 5_550_001;
const STRANGER: i64 = 123_456;
const WRITER: i64 = 777;

/// One OneBot bot whose default skill is the upstream `agent`, and a write
/// skill `ticket` on the same upstream that only user 777 may use.
fn toml(fake: u16, upstream: &str, agent_keys: &str, bot_keys: &str) -> String {
    let agent_keys = agent_keys.replace("{upstream}", upstream);
    let agent = agent_skill_at(upstream);
    format!(
        r#"{REPLY_WORKER}{agent}signing_secret = "upstream-signing-secret"
{agent_keys}

[[skill]]
name = "ticket"
url = "{upstream}"
writes = true
description = "open a ticket"

[[skill]]
name = "weather"
url = "{upstream}"
cache_ttl_secs = 60

[[bot]]
id = "ob"
platform = "onebot"
app_id = "10001000"
access_token = "onebot-access"
api_base = "http://127.0.0.1:{fake}/onebot"
group_mode = "all"
default_skill = "agent"
commands = {{ ticket = "ticket", weather = "weather" }}
{NO_REPLY_LIMIT}{bot_keys}
[bot.access]
write_users = ["{WRITER}"]
"#
    )
}

/// The stack of these tests, seen from bot `ob`: the upstream answers as
/// the agent (`agent: ` and the arguments), one worker runs, and a reply
/// arrived is checked for extras for 200 ms. Its `send` and `send_to` post
/// OneBot messages to `ob` (so they stand in for [`Stack::send`]).
struct Skills(Stack);

impl Deref for Skills {
    type Target = Stack;

    fn deref(&self) -> &Stack {
        &self.0
    }
}

async fn stack(agent_keys: &str, bot_keys: &str) -> Skills {
    let s = Stack::builder().upstream("agent: ").with_worker().quiet(Duration::from_millis(200));
    Skills(s.start(|at| toml(at.fake_port, at.upstream_url(), agent_keys, bot_keys)).await)
}

fn message(id: i64, user: i64, group: i64, text: &str) -> sign::Webhook {
    let now = botq_core::now_ms() / 1000;
    sign::onebot("10001000", None, &sign::onebot_group_body("10001000", id, group, user, text, now))
}

impl Skills {
    async fn send(&self, id: i64, user: i64, text: &str) {
        self.send_to(id, user, GROUP, text).await;
    }

    async fn send_to(&self, id: i64, user: i64, group: i64, text: &str) {
        let status = self.0.send("ob", &message(id, user, group, text)).await;
        assert_eq!(status, 204, "ingest accepts the message");
    }

    async fn audit(&self) -> Vec<Entry> {
        let mut conn = self.redis.async_conn().await;
        let key = botq_core::keys::Keys::new("botq", 1).audit();
        let entries = botq_core::audit::before(&mut conn, &key, None, 1000).await.unwrap();
        entries.into_iter().rev().map(|r| r.entry.unwrap()).collect()
    }

    async fn stop(self) {
        self.0.stop().await;
    }
}

fn texts(d: &[Delivery]) -> Vec<&str> {
    d.iter().map(|d| d.text.as_str()).collect()
}

#[tokio::test]
async fn the_agents_answer_is_delivered_and_audited_without_message_text() {
    let s = stack("", "").await;
    s.send(1, STRANGER, "[CQ:at,qq=10001000] what is botq?").await;
    let got = s.replies(1).await;
    assert_eq!(texts(&got), ["agent: what is botq?"]);

    let calls = s.upstream().received();
    assert_eq!(calls.len(), 1);
    let body = &calls[0].body;
    assert_eq!(body["schema"], "botq.skill.request/v1");
    assert_eq!(body["skill"], "agent");
    assert_eq!(body["access"], "read");
    assert!(body["command"].is_null());
    assert_eq!(body["event"]["chat"]["id"], GROUP.to_string());
    assert_eq!(body["event"]["sender"]["id"], STRANGER.to_string());
    assert!(calls[0].header("idempotency-key").is_some());
    let ts = calls[0].header("x-botq-timestamp").expect("signed");
    assert_eq!(
        calls[0].header("x-botq-signature"),
        Some(botq_worker::app::skills::upstream::sign("upstream-signing-secret", ts, &calls[0].raw).as_str()),
        "the signature covers timestamp and body"
    );

    let audit = s.audit().await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    let e = &audit[0];
    assert_eq!((e.skill.as_str(), e.kind.as_str(), e.access, e.outcome), ("agent", "http", Access::Read, Outcome::Ok));
    assert_eq!((e.bot.as_str(), e.attempt, e.replies), ("ob", 1, 1));
    assert!(e.request_bytes > 0 && e.response_bytes > 0);
    assert!(e.text.is_none() && e.answer.is_none(), "no content unless configured: {e:?}");
    assert!(!e.request_id.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn content_is_audited_only_when_the_skill_says_so() {
    let s = stack("audit_content = true", "").await;
    s.send(1, STRANGER, "remember this").await;
    s.replies(1).await;
    let audit = s.audit().await;
    assert_eq!(audit[0].text.as_deref(), Some("remember this"));
    assert_eq!(audit[0].answer.as_deref(), Some("agent: remember this"));
    s.stop().await;
}

#[tokio::test]
async fn a_slow_agent_gets_a_working_on_it_acknowledgement_then_the_answer() {
    let s = stack("slow_ack_ms = 300\nslow_ack_text = \"thinking…\"", "").await;
    s.upstream().set_mode(Mode::Slow { prefix: "agent: ".into(), delay: Duration::from_millis(1200) });
    s.send(1, STRANGER, "a hard question").await;
    let mut got = s.replies(2).await;
    got.sort_by_key(|d| d.received_at_ms);
    assert_eq!(texts(&got), ["thinking…", "agent: a hard question"]);
    assert!(got[1].received_at_ms - got[0].received_at_ms >= 500, "the answer follows the acknowledgement");
    s.upstream().set_mode(Mode::Answer { prefix: "agent: ".into() });
    s.send(2, STRANGER, "an easy one").await;
    assert_eq!(texts(&s.replies(3).await)[2], "agent: an easy one", "a fast answer needs no acknowledgement");
    s.stop().await;
}

#[tokio::test]
async fn a_dead_agent_opens_the_breaker_gets_explain_only_answers_and_recovers() {
    let agent = "max_attempts = 1\nbreaker_failures = 2\nbreaker_open_secs = 1\ndegraded_text = \"The assistant is down; /ticket and /help still work.\"";
    let s = stack(agent, "").await;
    let degraded = "The assistant is down; /ticket and /help still work.";
    s.upstream().down();
    s.send(1, STRANGER, "one").await;
    s.replies(1).await;
    s.send(2, STRANGER, "two").await;
    s.replies(2).await;
    // Two failures: the breaker is open, so the next message does not even try.
    s.upstream().up().await;
    s.send(3, STRANGER, "three").await;
    assert_eq!(texts(&s.replies(3).await), [degraded, degraded, degraded]);
    assert!(s.upstream().received().is_empty(), "no call while the breaker is open");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.send(4, STRANGER, "four").await;
    s.replies(4).await;
    s.send(5, STRANGER, "five").await;
    assert_eq!(texts(&s.replies(5).await)[3..], ["agent: four", "agent: five"], "closed again after recovery");

    let audit = s.audit().await;
    let outcomes: Vec<_> = audit.iter().map(|e| (e.outcome, e.reason.as_str())).collect();
    assert_eq!(
        outcomes,
        [
            (Outcome::Degraded, "connect"),
            (Outcome::Degraded, "connect"),
            (Outcome::Degraded, "breaker_open"),
            (Outcome::Ok, ""),
            (Outcome::Ok, ""),
        ]
    );
    s.stop().await;
}

#[tokio::test]
async fn a_failing_agent_is_retried_and_its_answer_delivered_once() {
    let s = stack("max_attempts = 3", "").await;
    s.upstream().set_mode(Mode::Fail(502));
    s.send(1, STRANGER, "flaky").await;
    botq_e2e::eventually(Duration::from_secs(5), || !s.upstream().received().is_empty()).await;
    s.upstream().set_mode(Mode::Answer { prefix: "agent: ".into() });
    assert_eq!(texts(&s.replies(1).await), ["agent: flaky"]);
    let calls = s.upstream().received();
    assert!(calls.len() >= 2);
    let keys: Vec<_> = calls.iter().map(|c| c.header("idempotency-key").unwrap().to_owned()).collect();
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "one idempotency key for every attempt: {keys:?}");
    let audit = s.audit().await;
    assert_eq!(audit.first().map(|e| (e.outcome, e.reason.as_str())), Some((Outcome::Retry, "upstream_5xx")));
    assert_eq!(audit.last().map(|e| e.outcome), Some(Outcome::Ok));
    s.stop().await;
}

#[tokio::test]
async fn a_cooldown_after_a_failure_answers_degraded_in_that_group_only() {
    let s = stack("max_attempts = 1\ncooldown_secs = 30\nbreaker_failures = 100", "").await;
    s.upstream().set_mode(Mode::Fail(500));
    s.send(1, STRANGER, "breaks it").await;
    s.replies(1).await;
    s.upstream().set_mode(Mode::Answer { prefix: "agent: ".into() });
    s.send(2, STRANGER, "again").await;
    s.replies(2).await;
    assert_eq!(s.upstream().received().len(), 1, "no call in the cooling group");
    s.send_to(3, STRANGER, 5_550_002, "elsewhere").await;
    assert_eq!(texts(&s.replies(3).await)[2], "agent: elsewhere");
    let reasons: Vec<_> = s.audit().await.into_iter().map(|e| e.reason).collect();
    assert_eq!(reasons, ["upstream_5xx", "cooldown", ""]);
    s.stop().await;
}

#[tokio::test]
async fn a_write_skill_is_refused_for_a_stranger_and_runs_for_an_allow_listed_user() {
    let s = stack("", "").await;
    s.send(1, STRANGER, "/ticket printer on fire").await;
    let got = s.replies(1).await;
    assert!(got[0].text.contains("/ticket") && got[0].text.contains("allow-listed"), "{:?}", got[0].text);
    assert!(s.upstream().received().is_empty(), "a refused write skill is never called");

    s.send(2, WRITER, "/ticket printer on fire").await;
    assert_eq!(texts(&s.replies(2).await)[1], "agent: printer on fire");
    let body = &s.upstream().received()[0].body;
    assert_eq!(
        (body["skill"].as_str(), body["access"].as_str(), body["command"].as_str()),
        (Some("ticket"), Some("write"), Some("ticket"))
    );

    let audit = s.audit().await;
    let seen: Vec<_> = audit.iter().map(|e| (e.skill.as_str(), e.access, e.outcome, e.sender_id.as_str())).collect();
    assert_eq!(
        seen,
        [("ticket", Access::Write, Outcome::Denied, "123456"), ("ticket", Access::Write, Outcome::Ok, "777")]
    );
    assert!(audit.iter().all(|e| e.text.is_none()));
    s.stop().await;
}

#[tokio::test]
async fn builtins_are_audited_and_help_lists_the_configured_commands() {
    let s = stack("", "").await;
    s.send(1, STRANGER, "/help").await;
    let help = &s.replies(1).await[0].text;
    assert!(help.contains("/ticket: open a ticket") && help.contains("/ping"), "{help}");
    let audit = s.audit().await;
    assert_eq!((audit[0].skill.as_str(), audit[0].kind.as_str(), audit[0].outcome), ("help", "builtin", Outcome::Ok));
    s.stop().await;
}

#[tokio::test]
async fn the_same_text_twice_in_a_row_is_answered_once() {
    let s = stack("", "[bot.guard]\nsame_text_window_secs = 30").await;
    s.send(1, STRANGER, "/ping").await;
    s.send(2, STRANGER, "/ping").await;
    s.send(3, WRITER, "/ping").await;
    assert_eq!(texts(&s.replies(2).await), ["pong", "pong"], "one per sender");
    s.stop().await;
}

/// The chat's replies-per-minute cap counts every reply of every event,
/// the second one of an event included: with a cap of 3 and two replies per
/// answer, the chat gets both of the first answer, the first of the second,
/// and nothing of the third. The attempt, holding the chat, knows the count
/// after its first read, so a reply it forgot to count would let a fourth out.
#[tokio::test]
async fn the_chat_cap_counts_each_reply_of_a_multi_reply_answer() {
    // Clear of a minute boundary, where the cap starts again.
    let into_minute = botq_core::now_ms() % 60_000;
    if into_minute > 45_000 {
        tokio::time::sleep(Duration::from_millis(u64::try_from(60_100 - into_minute).unwrap())).await;
    }
    let s = stack("", "[bot.guard]\nchat_replies_per_min = 3").await;
    s.upstream().set_mode(Mode::Json(serde_json::json!({ "replies": ["one", "two"] })));
    s.send(1, STRANGER, "hello").await;
    assert_eq!(texts(&s.replies(2).await), ["one", "two"]);
    s.send(2, STRANGER, "again").await;
    assert_eq!(texts(&s.replies(3).await), ["one", "two", "one"], "the cap stops the second reply");
    s.send(3, STRANGER, "and again").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.fake.deliveries().len(), 3, "the chat had its replies this minute: {:?}", texts(&s.fake.deliveries()));
    assert_eq!(s.upstream().received().len(), 2, "the third message did not reach the agent");
    s.stop().await;
}

/// Two bots in one group, each answering every message (OneBot cannot tell
/// a bot from a person): each reply is fed to the other bot as a message,
/// the way the platform would. The per-chat reply cap ends the loop.
#[tokio::test]
async fn a_bot_to_bot_ping_pong_stops_at_the_chat_cap() {
    let bot = |id: &str, qq: &str, fake_port: u16| {
        format!(
            r#"
[[bot]]
id = "{id}"
platform = "onebot"
app_id = "{qq}"
api_base = "http://127.0.0.1:{fake_port}/{id}"
group_mode = "all"
respond_to_bots = true
default_skill = "agent"
{NO_REPLY_LIMIT}[bot.guard]
chat_replies_per_min = 4
"#
        )
    };
    let text = |at: &Addrs| {
        format!(
            "[worker]\npromote_interval_ms = 10\nread_block_ms = 100\n[[skill]]\nname = \"agent\"\nurl = \"{}\"\n{}{}",
            at.upstream_url(),
            bot("alice", "20001", at.fake_port),
            bot("bob", "20002", at.fake_port)
        )
    };
    let s = Stack::builder().upstream("re: ").with_worker().start(text).await;
    let now = || botq_core::now_ms() / 1000;
    let body = |self_id: &str, id: i64, user: i64, text: &str| {
        sign::onebot(self_id, None, &sign::onebot_group_body(self_id, id, GROUP, user, text, now()))
    };

    // A person starts it by talking to alice.
    assert_eq!(s.send("alice", &body("20001", 1, STRANGER, "hi")).await, 204);
    let mut relayed = 0;
    let mut next_id = 100;
    loop {
        let fresh = s.fake.wait_for_deliveries(relayed + 1, Duration::from_secs(2)).await;
        let Some(all) = fresh else { break };
        assert!(all.len() < 40, "the loop did not stop: {} replies", all.len());
        for d in &all[usize::try_from(relayed).unwrap()..] {
            // alice's reply reaches bob as a message from alice, and back.
            let (to, to_qq, from_qq) =
                if d.bot == "alice" { ("bob", "20002", 20001) } else { ("alice", "20001", 20002) };
            next_id += 1;
            let hook = body(to_qq, next_id, from_qq, &d.text.replace('"', ""));
            assert_eq!(s.send(to, &hook).await, 204);
            relayed += 1;
        }
    }
    let all = s.fake.deliveries();
    let per_bot = |b: &str| all.iter().filter(|d| d.bot == b).count();
    assert!(all.len() >= 6, "the bots did talk to each other: {:?}", texts(&all));
    // The cap is per minute: a run that crosses a minute boundary may see two windows.
    assert!(per_bot("alice") <= 8 && per_bot("bob") <= 8, "{} / {}", per_bot("alice"), per_bot("bob"));
    s.stop().await;
}

#[tokio::test]
async fn the_agent_receives_the_recent_conversation_within_its_budget() {
    let s = stack("context = { messages = 3, bytes = 4096 }", "[bot.context]\nmessages = 4\nttl_secs = 600").await;
    for (i, text) in ["one", "two", "three"].into_iter().enumerate() {
        s.send(i64::try_from(i).unwrap() + 1, STRANGER, text).await;
        s.replies(u64::try_from(i).unwrap() + 1).await;
    }
    let calls = s.upstream().received();
    assert!(calls[0].body.get("context").unwrap()["messages"].as_array().unwrap().is_empty(), "nothing said yet");
    let third = &calls[2].body["context"]["messages"];
    let seen: Vec<(&str, &str)> =
        third.as_array().unwrap().iter().map(|m| (m["role"].as_str().unwrap(), m["text"].as_str().unwrap())).collect();
    assert_eq!(seen, [("bot", "agent: one"), ("user", "two"), ("bot", "agent: two")], "the newest 3, oldest first");
    let mut c = s.redis.conn();
    let window: Vec<String> =
        redis::cmd("LRANGE").arg("botq:{q0}:ctx:ob:5550001").arg(0).arg(-1).query(&mut c).unwrap();
    assert_eq!(window.len(), 4, "the bot keeps 4 messages");
    let ttl: i64 = redis::cmd("PTTL").arg("botq:{q0}:ctx:ob:5550001").query(&mut c).unwrap();
    assert!(ttl > 590_000 && ttl <= 600_000, "the window expires: {ttl}");
    s.stop().await;
}

#[tokio::test]
async fn messages_falling_out_of_the_window_are_summarised_and_sent_as_the_summary() {
    let bot = "[bot.context]\nmessages = 2\nsummarize_with = \"summarizer\"";
    let agent = "context = { messages = 2, bytes = 4096 }\n[[skill]]\nname = \"summarizer\"\nurl = \"{upstream}\"";
    let s = stack(agent, bot).await;
    s.send(1, STRANGER, "first").await;
    s.replies(1).await;
    s.send(2, STRANGER, "second").await;
    s.replies(2).await;
    s.send(3, STRANGER, "third").await;
    s.replies(3).await;
    let agent_calls: Vec<_> = s.upstream().received().into_iter().filter(|r| r.body["skill"] == "agent").collect();
    assert_eq!(agent_calls[2].body["context"]["summary"], "summary of: first | agent: first");
    let audit = s.audit().await;
    assert!(audit.iter().any(|e| e.skill == "summarizer" && e.outcome == Outcome::Ok), "{audit:?}");
    s.stop().await;
}

#[tokio::test]
async fn a_cacheable_skill_answers_repeated_input_from_the_cache() {
    let s = stack("", "").await;
    s.send(1, STRANGER, "/weather  Paris ").await;
    s.replies(1).await;
    s.send(2, WRITER, "/weather Paris").await;
    let got = s.replies(2).await;
    assert_eq!(texts(&got), ["agent: Paris", "agent: Paris"]);
    assert_eq!(s.upstream().received().len(), 1, "the second answer came from the cache");
    let reasons: Vec<_> = s.audit().await.into_iter().map(|e| (e.skill, e.reason)).collect();
    assert_eq!(reasons, [("weather".to_owned(), String::new()), ("weather".to_owned(), "cache_hit".to_owned())]);
    s.stop().await;
}
