//! Normalisation of message events into envelopes.

use serde_json::{Value, json};

use super::*;
use crate::envelope::{ChatKind, ENVELOPE_VERSION, Envelope, Platform};
use crate::platform::Event;

/// An `im.message.receive_v1` event as Lark sends it (plaintext).
pub(super) fn receive_v1(chat_type: &str, message_type: &str, content: &Value, mentions: &Value) -> Value {
    json!({
        "schema": "2.0",
        "header": {
            "event_id": "f7984f25108f8137722bb63cee927e66",
            "event_type": "im.message.receive_v1",
            "create_time": "1603977298000000",
            "token": TOKEN,
            "app_id": "cli_a",
            "tenant_key": "t"
        },
        "event": {
            "sender": {
                "sender_id": {"union_id": "on_1", "user_id": "u1", "open_id": "ou_sender"},
                "sender_type": "user",
                "tenant_key": "t"
            },
            "message": {
                "message_id": "om_5ce6d572455d361153b7cb51da133945",
                "root_id": "", "parent_id": "",
                "create_time": "1609073151345",
                "chat_id": "oc_5ce6d572455d361153b7xx51da133945",
                "chat_type": chat_type,
                "message_type": message_type,
                "content": content.to_string(),
                "mentions": mentions
            }
        }
    })
}

fn text(t: &str) -> Value {
    json!({ "text": t })
}

pub(super) fn bot_mention() -> Value {
    json!([{"key": "@_user_1", "id": {"open_id": "ou_bot"}, "name": "botq", "tenant_key": "t",
            "mentioned_type": "bot"}])
}

fn human_mention() -> Value {
    json!([{"key": "@_user_1", "id": {"open_id": "ou_human"}, "name": "Ann", "tenant_key": "t"}])
}

/// Runs `event` through a signed, encrypted request and through the plain
/// adapter, checks that both say the same, and returns the outcome.
pub(super) fn run(event: &Value) -> Result<Outcome, Reject> {
    let plaintext = event.to_string();
    let body = encrypted(&plaintext);
    let out = handle(&encrypted_adapter(), &signed(KEY, TS, &body), &body);
    let mut plain = handle(&plain_adapter(), &HeaderMap::new(), plaintext.as_bytes());
    if let (Ok(Outcome::Event(a)), Ok(Outcome::Event(b))) = (&out, &mut plain) {
        b.envelope.request_id = a.envelope.request_id;
    }
    assert_eq!(out, plain);
    out
}

fn event_of(out: Result<Outcome, Reject>) -> Event {
    match out {
        Ok(Outcome::Event(e)) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

#[test]
fn p2p_text_message_is_normalised() {
    let e = event_of(run(&receive_v1("p2p", "text", &text("hello"), &json!([]))));
    let expected = Envelope {
        version: ENVELOPE_VERSION,
        platform: Platform::Lark,
        bot: BotId::parse("lark-main").unwrap(),
        request_id: e.envelope.request_id,
        event_id: "f7984f25108f8137722bb63cee927e66".into(),
        event_type: "im.message.receive_v1".into(),
        message_id: "om_5ce6d572455d361153b7cb51da133945".into(),
        chat_kind: ChatKind::Private,
        chat_id: "oc_5ce6d572455d361153b7xx51da133945".into(),
        guild_id: None,
        temp_group: None,
        notice: false,
        sender_id: "ou_sender".into(),
        sender_is_bot: false,
        text: "hello".into(),
        segments: vec![crate::message::Segment::text("hello")],
        mentions_bot: true,
        platform_ts_ms: Some(1_609_073_151_345),
        received_at_ms: NOW_MS,
    };
    assert_eq!(e.envelope, expected);
    assert_eq!(e.dedupe_keys(), ["id:f7984f25108f8137722bb63cee927e66", "msg:om_5ce6d572455d361153b7cb51da133945"]);
}

#[test]
fn group_text_message_mentioning_the_bot_is_normalised() {
    let content = text("@_user_1 /ping");
    for chat_type in ["group", "topic_group"] {
        let e = event_of(run(&receive_v1(chat_type, "text", &content, &bot_mention())));
        assert_eq!(e.envelope.chat_kind, ChatKind::Group);
        assert_eq!(e.envelope.chat_id, "oc_5ce6d572455d361153b7xx51da133945");
        assert_eq!(e.envelope.text, "/ping", "the bot's mention is not part of the text as typed");
        assert!(e.envelope.mentions_bot);
    }
}

#[test]
fn group_message_without_a_mention_does_not_mention_the_bot() {
    let e = event_of(run(&receive_v1("group", "text", &text("/ping"), &json!([]))));
    assert!(!e.envelope.mentions_bot);
    let e = event_of(run(&receive_v1("group", "text", &text("hi"), &Value::Null)));
    assert!(!e.envelope.mentions_bot);
}

#[test]
fn group_message_opening_with_a_mention_counts_as_mentioning_the_bot() {
    let opening = receive_v1("group", "text", &text("@_user_1 hi"), &human_mention());
    assert!(event_of(run(&opening)).envelope.mentions_bot);
    let later = receive_v1("group", "text", &text("hi @_user_1"), &human_mention());
    assert!(!event_of(run(&later)).envelope.mentions_bot);
}

#[test]
fn configured_bot_open_id_matches_mentions_exactly() {
    let adapter = plain_adapter().with_bot_open_id("ou_bot".into());
    let mentioned = |mentions: &Value| {
        let body = receive_v1("group", "text", &text("@_user_1 hi"), mentions).to_string();
        event_of(handle(&adapter, &HeaderMap::new(), body.as_bytes())).envelope.mentions_bot
    };
    assert!(mentioned(&bot_mention()));
    assert!(!mentioned(&human_mention()));
}

#[test]
fn message_from_an_app_is_marked_as_from_a_bot() {
    let mut event = receive_v1("group", "text", &text("hi"), &json!([]));
    event["event"]["sender"]["sender_type"] = json!("app");
    assert!(event_of(run(&event)).envelope.sender_is_bot);
}

#[test]
fn post_message_is_flattened_to_its_text() {
    let post = json!({
        "title": "Weekly",
        "content": [
            [{"tag": "at", "user_id": "@_user_1", "user_name": "botq"},
             {"tag": "text", "text": " /echo "}, {"tag": "a", "text": "link", "href": "https://x"}],
            [{"tag": "img", "image_key": "img_1"}, {"tag": "text", "text": "second"}]
        ]
    });
    let e = event_of(run(&receive_v1("group", "post", &post, &bot_mention())));
    assert_eq!(e.envelope.text, "Weekly\n /echo link\nsecond");
    let wrapped = json!({"zh_cn": {"title": "", "content": [[{"tag": "text", "text": "hi"}]]}});
    assert_eq!(event_of(run(&receive_v1("p2p", "post", &wrapped, &json!([])))).envelope.text, "hi");
}

#[test]
fn messages_without_text_are_ignored_as_message_type() {
    let image = receive_v1("p2p", "image", &json!({"image_key": "img_1"}), &json!([]));
    let only_image = json!({"title": "", "content": [[{"tag": "img", "image_key": "i"}]]});
    let post = receive_v1("p2p", "post", &only_image, &json!([]));
    for event in [image, post] {
        assert_eq!(run(&event), Ok(Outcome::Ignored { kind: IgnoredKind::MessageType }));
    }
}

#[test]
fn unknown_chat_type_is_ignored() {
    let event = receive_v1("channel", "text", &text("hi"), &json!([]));
    assert_eq!(run(&event), Ok(Outcome::Ignored { kind: IgnoredKind::EventType }));
}

#[test]
fn message_event_missing_required_fields_is_malformed() {
    let base = receive_v1("p2p", "text", &text("hi"), &json!([]));
    let mut cases = Vec::new();
    for path in [
        "/header/event_id",
        "/event/message/message_id",
        "/event/message/chat_id",
        "/event/sender/sender_id/open_id",
        "/event",
    ] {
        let mut event = base.clone();
        let (parent, field) = path.rsplit_once('/').unwrap();
        let parent = if parent.is_empty() { &mut event } else { event.pointer_mut(parent).unwrap() };
        parent.as_object_mut().unwrap().remove(field);
        cases.push(event);
    }
    let mut bad_content = base.clone();
    bad_content["event"]["message"]["content"] = json!("{not json");
    cases.push(bad_content);
    for event in cases {
        assert_eq!(run(&event), Err(Reject::MalformedPayload), "{event}");
    }
}

fn v1_message(chat_type: &str, is_mention: bool) -> Value {
    json!({
        "ts": "1502199207.7171419",
        "uuid": "bc447199585340d1f3728d26b1c0297a",
        "token": TOKEN,
        "type": "event_callback",
        "event": {
            "type": "message", "app_id": "cli_a", "tenant_key": "t",
            "root_id": "", "parent_id": "",
            "open_chat_id": "oc_v1chat", "chat_type": chat_type, "msg_type": "text",
            "open_id": "ou_v1sender", "open_message_id": "om_v1msg",
            "is_mention": is_mention, "text": "<at open_id=\"ou_bot\">@botq</at> hi",
            "text_without_at_bot": " hi"
        }
    })
}

#[test]
fn schema_1_message_events_are_normalised() {
    let e = event_of(run(&v1_message("group", true)));
    assert_eq!(e.envelope.event_id, "bc447199585340d1f3728d26b1c0297a");
    assert_eq!(e.envelope.event_type, "message");
    assert_eq!(e.envelope.message_id, "om_v1msg");
    assert_eq!(e.envelope.chat_kind, ChatKind::Group);
    assert_eq!(e.envelope.chat_id, "oc_v1chat");
    assert_eq!(e.envelope.sender_id, "ou_v1sender");
    assert_eq!(e.envelope.text, "hi");
    assert!(e.envelope.mentions_bot);
    assert_eq!(e.dedupe_keys(), ["id:bc447199585340d1f3728d26b1c0297a", "msg:om_v1msg"]);
    let e = event_of(run(&v1_message("private", false)));
    assert_eq!((e.envelope.chat_kind, e.envelope.mentions_bot), (ChatKind::Private, true));
    assert!(!event_of(run(&v1_message("group", false))).envelope.mentions_bot);
}

#[test]
fn schema_1_events_of_other_types_are_ignored() {
    let mut other = v1_message("group", false);
    other["event"]["type"] = json!("add_bot");
    assert_eq!(run(&other), Ok(Outcome::Ignored { kind: IgnoredKind::EventType }));
    let mut image = v1_message("group", false);
    image["event"]["msg_type"] = json!("image");
    assert_eq!(run(&image), Ok(Outcome::Ignored { kind: IgnoredKind::MessageType }));
}
