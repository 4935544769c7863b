//! The message model end to end: what a user types comes back as they typed
//! it, text never becomes a mention, and a skill's segments (a mention of
//! the sender) arrive as live mentions — on QQ, Lark and OneBot, through
//! real Redis, ingest, the worker and botq-fakeplatform, whose deliveries
//! show what the platform would show (`botq_fakeplatform::shown`).
//!
//! Each webhook carries the text as that platform encodes what the user
//! typed: QQ escapes `&` `<` `>`, OneBot's string form escapes `&` `[` `]`,
//! Lark sends it as it is in a JSON string, and each puts its mention of
//! the bot in front.

use botq_e2e::{REPLY_WORKER, Stack};
use botq_testkit::fixtures::{
    LARK_TOKEN, QQ_SECRET, lark_main_bot_replying_to, onebot_main_bot_replying_to, qq_main_bot_replying_to,
};
use botq_testkit::sign;
use botq_testkit::upstream::Mode;
use botq_testkit::worker::WorkerHandle;
use serde_json::json;

const LARK_BOT: &str = "ou_bot0000000000000000000000000";
const GUILD_BOT: &str = "6528917200927240171";
/// What the user types: markup of all three platforms and their escapes.
const TRICKY: &str = r#"<@!1> @everyone <at user_id="all"></at> R&D [v2]"#;

/// The three platforms' bots, each answering `/greet` with the upstream
/// skill (contract 2: segments) and anything else with `echo`.
fn toml(fake: u16, upstream: &str) -> String {
    let (qq, lark, onebot) =
        (qq_main_bot_replying_to(fake), lark_main_bot_replying_to(fake), onebot_main_bot_replying_to(fake));
    format!(
        r#"{REPLY_WORKER}
[[skill]]
name = "greet"
url = "{upstream}"
contract = 2
timeout_ms = 3000

{qq}commands = {{ greet = "greet" }}
default_skill = "echo"
events = {{ INTERACTION_CREATE = "greet", GROUP_ADD_ROBOT = "greet" }}
{lark}bot_open_id = "{LARK_BOT}"
commands = {{ greet = "greet" }}
default_skill = "echo"
{onebot}commands = {{ greet = "greet" }}
default_skill = "echo"
"#
    )
}

async fn stack() -> Stack {
    Stack::builder().upstream("").start(|at| toml(at.fake_port, at.upstream_url())).await
}

/// A stack whose skill answers with `segments`, and its worker.
async fn answering(segments: serde_json::Value) -> (Stack, WorkerHandle) {
    let s = stack().await;
    s.upstream().set_mode(Mode::Json(json!({"replies": [{"segments": segments}]})));
    let w = s.worker().await;
    (s, w)
}

fn now() -> i64 {
    botq_core::now_ms() / 1000
}

/// A QQ group @-message; `content` as the platform delivers it.
fn qq_group(event: &str, content: &str) -> sign::Webhook {
    let body = sign::qq_group_at_body(event, &format!("ROBOT1.0_{event}"), "GROUP1", "MEMBER1", content);
    sign::qq("102000000", QQ_SECRET, now(), &body)
}

/// A QQ guild `AT_MESSAGE_CREATE` mentioning the bot, shaped as the published captures.
fn qq_guild(event: &str, content: &str) -> sign::Webhook {
    let mentions = json!([{"bot": true, "id": GUILD_BOT, "username": "helper"}]);
    guild_frame("AT_MESSAGE_CREATE", event, content, "mentions", mentions)
}

/// A QQ guild `MESSAGE_CREATE` (a private-domain bot sees every message)
/// mentioning no one and quoting `quoted` (`message_reference`).
fn qq_guild_reply(event: &str, quoted: &str, content: &str) -> sign::Webhook {
    guild_frame("MESSAGE_CREATE", event, content, "message_reference", json!({"message_id": quoted}))
}

/// A signed guild message frame of type `t` from one user in one channel,
/// with `key` = `value` in its `d`.
fn guild_frame(t: &str, event: &str, content: &str, key: &str, value: serde_json::Value) -> sign::Webhook {
    let mut body = json!({
        "op": 0, "s": 3, "t": t, "id": format!("{t}:{event}"),
        "d": {
            "author": {"bot": false, "id": "1792232868513015736", "username": "user"},
            "channel_id": "1940475", "guild_id": "13343424136567982074",
            "content": content, "id": format!("08fa{event}"),
            "seq": 603, "seq_in_channel": "603",
            "timestamp": sign::rfc3339_utc(now()),
        }
    });
    body["d"][key] = value;
    sign::qq("102000000", QQ_SECRET, now(), body.to_string().as_bytes())
}

/// A Lark group text message that @-mentions the bot as `@_user_1`.
fn lark(event: &str, text: &str) -> sign::Webhook {
    let mut body = lark_body(event, &format!("@_user_1 {text}"));
    body["event"]["message"]["mentions"] =
        json!([{"key": "@_user_1", "id": {"open_id": LARK_BOT}, "name": "helper", "tenant_key": "t"}]);
    sign::lark(None, now(), body.to_string().as_bytes())
}

/// A Lark group text message replying to `parent` (Lark's `parent_id`), mentioning no one.
fn lark_reply(event: &str, parent: &str, text: &str) -> sign::Webhook {
    let mut body = lark_body(event, text);
    body["event"]["message"]["parent_id"] = parent.into();
    body["event"]["message"]["root_id"] = parent.into();
    sign::lark(None, now(), body.to_string().as_bytes())
}

fn lark_body(event: &str, text: &str) -> serde_json::Value {
    json!({
        "schema": "2.0",
        "header": {"event_id": event, "event_type": "im.message.receive_v1", "create_time": "1763700000000",
                   "token": LARK_TOKEN, "app_id": "cli_a0000000000000", "tenant_key": "t"},
        "event": {
            "sender": {"sender_id": {"open_id": "ou_sender", "union_id": "on_x", "user_id": "u"}, "sender_type": "user", "tenant_key": "t"},
            "message": {
                "message_id": format!("om_{event}"), "create_time": "1763700000000", "chat_id": "oc_chat",
                "chat_type": "group", "message_type": "text",
                "content": json!({ "text": text }).to_string()
            }
        }
    })
}

/// A OneBot group message in the string form; `message` CQ-escaped by the caller.
fn onebot(message_id: i64, message: &str) -> sign::Webhook {
    sign::onebot("10001000", None, &sign::onebot_group_body("10001000", message_id, 5_550_001, 123_456, message, now()))
}

#[tokio::test]
async fn echo_of_every_platforms_markup_comes_back_literally_on_each() {
    let s = stack().await;
    let w = s.worker().await;
    let qq_escaped = TRICKY.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let cq_escaped = TRICKY.replace('&', "&amp;").replace('[', "&#91;").replace(']', "&#93;");
    assert_eq!(s.send("qq-main", &qq_group("e1", &format!(" /echo {qq_escaped}"))).await, 200);
    assert_eq!(s.send("qq-main", &qq_guild("e2", &format!("<@!{GUILD_BOT}> /echo {qq_escaped}"))).await, 200);
    assert_eq!(s.send("lark-main", &lark("e3", &format!("/echo {TRICKY}"))).await, 200);
    assert_eq!(s.send("onebot-main", &onebot(41, &format!("[CQ:at,qq=10001000] /echo {cq_escaped}"))).await, 204);
    let got = s.replies(4).await;
    for d in &got {
        assert_eq!(d.text, TRICKY, "{} shows the text as typed: {d:?}", d.bot);
        assert!(d.mentions.is_empty(), "{} mentions no one: {d:?}", d.bot);
    }
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_skill_mentions_the_sender_on_each_platform_and_sees_the_segments() {
    let (s, w) = answering(json!([
        {"type": "mention", "user": "sender"},
        {"type": "text", "text": " welcome! <at user_id=\"all\"></at>"},
        {"type": "mention_everyone"}
    ]))
    .await;
    assert_eq!(s.send("qq-main", &qq_group("g1", " /greet")).await, 200);
    assert_eq!(s.send("qq-main", &qq_guild("g2", &format!("<@!{GUILD_BOT}> /greet"))).await, 200);
    assert_eq!(s.send("lark-main", &lark("g3", "/greet")).await, 200);
    assert_eq!(s.send("onebot-main", &onebot(42, "[CQ:at,qq=10001000] /greet")).await, 204);
    let got = s.replies(4).await;
    let by = |target: &str| got.iter().find(|d| d.target == target).unwrap_or_else(|| panic!("{target}: {got:?}"));
    for (target, sender) in
        [("GROUP1", "MEMBER1"), ("1940475", "1792232868513015736"), ("om_g3", "ou_sender"), ("5550001", "123456")]
    {
        let d = by(target);
        assert_eq!(d.mentions, [sender], "the sender is mentioned, and only the sender: {d:?}");
        assert_eq!(d.text, format!("@{sender} welcome! <at user_id=\"all\"></at>"), "{d:?}");
    }
    let requests = s.upstream().received();
    assert_eq!(requests.len(), 4);
    for r in &requests {
        assert_eq!(r.body["schema"], "botq.skill.request/v2");
        assert_eq!(r.body["event"]["text"], "/greet", "the text as typed: {}", r.body);
        let segments = r.body["event"]["segments"].as_array().expect("v2 carries the segments");
        assert!(segments.iter().any(|s| s["type"] == "text"), "{}", r.body);
    }
    let lark_req = requests.iter().find(|r| r.body["event"]["platform"] == "lark").unwrap();
    assert_eq!(
        lark_req.body["event"]["segments"][0],
        json!({"type": "mention", "user": LARK_BOT, "name": "helper", "bot": true}),
        "the bot's own mention, recognised by its id"
    );
    w.shutdown().await.unwrap();
}

/// A signed op-0 frame of `event` with `d`, sent now.
fn qq_frame(event: &str, id: &str, d: &serde_json::Value) -> sign::Webhook {
    let body = json!({ "op": 0, "id": id, "t": event, "d": d });
    sign::qq("102000000", QQ_SECRET, now(), body.to_string().as_bytes())
}

/// QQ events without a message: a button press is acknowledged with
/// `PUT /interactions/{id}` and, like the bot being added to a group, answered
/// by `event_id` through the skill the bot's `events` maps it to.
#[tokio::test]
async fn a_button_press_is_acknowledged_and_events_are_answered_by_event_id() {
    let (s, w) = answering(json!([
        {"type": "mention", "user": "sender"}, {"type": "text", "text": " welcome"}
    ]))
    .await;
    let press = json!({
        "id": "30540ff7-9d8f-4737-83f1-e116ce6afa8b", "type": 11, "scene": "group", "chat_type": 1,
        "timestamp": sign::rfc3339_utc(now()), "group_openid": "GROUP7", "group_member_openid": "PRESSER",
        "data": {"resolved": {"button_data": "vote:yes", "button_id": "21"}, "type": 11}, "version": 1
    });
    assert_eq!(s.send("qq-main", &qq_frame("INTERACTION_CREATE", "INTERACTION_CREATE:b1", &press)).await, 200);
    let added = json!({"timestamp": now(), "group_openid": "GROUP8", "op_member_openid": "ADDER"});
    assert_eq!(s.send("qq-main", &qq_frame("GROUP_ADD_ROBOT", "GROUP_ADD_ROBOT:56d7a1f4", &added)).await, 200);
    let got = s.replies(2).await;
    let by = |target: &str| got.iter().find(|d| d.target == target).unwrap_or_else(|| panic!("{target}: {got:?}"));
    let button = by("GROUP7");
    assert_eq!(
        button.reply_to.as_deref(),
        Some("30540ff7-9d8f-4737-83f1-e116ce6afa8b"),
        "event_id = the interaction id"
    );
    assert_eq!((button.text.as_str(), button.mentions.as_slice()), ("@PRESSER welcome", &["PRESSER".to_owned()][..]));
    let welcome = by("GROUP8");
    assert_eq!(welcome.reply_to.as_deref(), Some("GROUP_ADD_ROBOT:56d7a1f4"), "event_id = the event's id");
    assert_eq!(welcome.mentions, ["ADDER"]);
    assert_eq!(
        s.fake.interactions(),
        [("qq-main".to_owned(), "30540ff7-9d8f-4737-83f1-e116ce6afa8b".to_owned(), 0)],
        "the button press is answered once, with code 0"
    );
    let args: Vec<_> =
        s.upstream().received().iter().map(|r| r.body["args"].as_str().unwrap_or_default().to_owned()).collect();
    assert!(args.contains(&"vote:yes".to_owned()), "the skill sees the button's data: {args:?}");
    w.shutdown().await.unwrap();
}

/// A group message that quotes one of the bot's replies is for the bot, as
/// if it mentioned it; quoting anyone else's message is not. The bots here
/// answer only mentions or commands, with `echo` for anything else.
#[tokio::test]
async fn a_quote_of_the_bots_reply_is_answered_and_a_quote_of_another_message_is_not() {
    let s = stack().await;
    let w = s.worker().await;
    assert_eq!(s.send("qq-main", &qq_guild("q1", &format!("<@!{GUILD_BOT}> /echo first"))).await, 200);
    assert_eq!(s.send("lark-main", &lark("q2", "/echo first")).await, 200);
    assert_eq!(s.send("onebot-main", &onebot(51, "[CQ:at,qq=10001000] /echo first")).await, 204);
    let first = s.replies(3).await;
    let id_on = |bot: &str| first.iter().find(|d| d.bot == bot).map(|d| d.message_id.clone()).unwrap();
    let (qq_id, lark_id, onebot_id) = (id_on("qq-main"), id_on("lark-main"), id_on("onebot-main"));
    // Quotes of the bot's replies, without a mention or the prefix.
    assert_eq!(s.send("qq-main", &qq_guild_reply("q3", &qq_id, "thanks qq")).await, 200);
    assert_eq!(s.send("lark-main", &lark_reply("q4", &lark_id, "thanks lark")).await, 200);
    assert_eq!(s.send("onebot-main", &onebot(52, &format!("[CQ:reply,id={onebot_id}]thanks onebot"))).await, 204);
    // Quotes of other messages (the user's own first message), likewise unaddressed.
    assert_eq!(s.send("qq-main", &qq_guild_reply("q5", "08faq1", "not for you qq")).await, 200);
    assert_eq!(s.send("lark-main", &lark_reply("q6", "om_q2", "not for you lark")).await, 200);
    assert_eq!(s.send("onebot-main", &onebot(53, "[CQ:reply,id=51]not for you onebot")).await, 204);
    let all = s.replies(6).await;
    let mut answered: Vec<_> = all[3..].iter().map(|d| d.text.as_str()).collect();
    answered.sort_unstable();
    assert_eq!(answered, ["thanks lark", "thanks onebot", "thanks qq"], "{all:?}");
    w.shutdown().await.unwrap();
}

/// A skill's image by URL shows as an image: QQ groups take it as an upload
/// first (`POST …/files`, then `msg_type` 7 with its `file_info`), guilds
/// in the message. An upload the platform refuses (it cannot fetch the URL)
/// still delivers the reply, the URL as text.
#[tokio::test]
async fn an_image_reply_is_uploaded_to_a_qq_group_and_shown_as_an_image() {
    let (s, w) = answering(json!([
        {"type": "text", "text": "look "}, {"type": "image", "url": "https://img.example.com/cat.png"}
    ]))
    .await;
    assert_eq!(s.send("qq-main", &qq_group("i1", " /greet")).await, 200);
    assert_eq!(s.send("qq-main", &qq_guild("i2", &format!("<@!{GUILD_BOT}> /greet"))).await, 200);
    let got = s.replies(2).await;
    for d in &got {
        assert_eq!(
            (d.text.as_str(), d.images.as_slice()),
            ("look ", &["https://img.example.com/cat.png".to_owned()][..]),
            "{d:?}"
        );
    }
    s.upstream().set_mode(Mode::Json(json!({"replies": [{"segments": [
        {"type": "text", "text": "look "}, {"type": "image", "url": "https://cat.invalid/cat.png"}
    ]}]})));
    assert_eq!(s.send("qq-main", &qq_group("i3", " /greet")).await, 200);
    let got = s.replies(3).await;
    let last = &got[2];
    assert_eq!((last.text.as_str(), last.images.len()), ("look https://cat.invalid/cat.png", 0), "{last:?}");
    w.shutdown().await.unwrap();
}
