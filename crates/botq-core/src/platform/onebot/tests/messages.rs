//! Normalisation of reports into envelopes.

use serde_json::json;

use super::*;
use crate::envelope::{ChatKind, ENVELOPE_VERSION, Envelope, Platform};
use crate::platform::{Event, IgnoredKind};

fn event_of(out: Result<Outcome, Reject>) -> Event {
    match out {
        Ok(Outcome::Event(e)) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

#[test]
fn private_message_is_normalised() {
    let out = handle(&adapter(), &headers(Some(SELF_ID), Some(V_OB_1_SIGNATURE)), V_OB_1_BODY.as_bytes());
    let e = event_of(out);
    let expected = Envelope {
        version: ENVELOPE_VERSION,
        platform: Platform::Onebot,
        bot: BotId::parse("onebot-main").unwrap(),
        request_id: e.envelope.request_id,
        event_id: "10001000:12:1515204254".into(),
        event_type: "message.private".into(),
        message_id: "12".into(),
        chat_kind: ChatKind::Private,
        chat_id: "12345678".into(),
        guild_id: None,
        temp_group: None,
        notice: false,
        sender_id: "12345678".into(),
        sender_is_bot: false,
        text: "hello".into(),
        segments: vec![crate::message::Segment::text("hello")],
        mentions_bot: true,
        platform_ts_ms: Some(1_515_204_254_000),
        received_at_ms: NOW_MS,
    };
    assert_eq!(e.envelope, expected);
    assert_eq!(e.dedupe_keys(), ["id:10001000:12:1515204254"]);
}

#[test]
fn group_message_in_string_form_is_normalised() {
    let mut report = group_message(&json!("[CQ:at,qq=10001000] /ping"));
    report["raw_message"] = json!("[CQ:at,qq=10001000] /ping");
    let e = event_of(send(&report));
    assert_eq!(e.envelope.chat_kind, ChatKind::Group);
    assert_eq!(e.envelope.chat_id, "123456");
    assert_eq!(e.envelope.sender_id, "12345678");
    assert_eq!(e.envelope.message_id, "-2147483000");
    assert_eq!(e.envelope.event_id, "10001000:-2147483000:1515204254");
    assert_eq!(e.envelope.event_type, "message.group");
    assert_eq!(e.envelope.text, "/ping", "the text as typed: the bot's mention is markup, not text");
    assert!(e.envelope.mentions_bot);
    assert_eq!(e.dedupe_keys(), ["id:10001000:-2147483000:1515204254"]);
}

#[test]
fn group_message_in_segment_form_is_normalised() {
    let segments = json!([
        {"type": "at", "data": {"qq": "10001000"}},
        {"type": "text", "data": {"text": " /echo "}},
        {"type": "face", "data": {"id": "1"}},
        {"type": "text", "data": {"text": "hi"}}
    ]);
    let e = event_of(send(&group_message(&segments)));
    assert_eq!(e.envelope.text, "/echo hi");
    assert!(e.envelope.mentions_bot);
    let numeric_at = json!([{"type": "at", "data": {"qq": 10_001_000}}, {"type": "text", "data": {"text": "x"}}]);
    assert!(event_of(send(&group_message(&numeric_at))).envelope.mentions_bot);
}

#[test]
fn group_message_mentioning_someone_else_does_not_mention_the_bot() {
    for message in [
        json!("[CQ:at,qq=100010001] hi"),
        json!("[CQ:at,qq=1000100] hi"),
        json!([{"type": "at", "data": {"qq": "42"}}, {"type": "text", "data": {"text": "hi"}}]),
        json!("plain"),
    ] {
        assert!(!event_of(send(&group_message(&message))).envelope.mentions_bot, "{message}");
    }
    let with_name = group_message(&json!("[CQ:at,qq=10001000,name=botq] hi"));
    assert!(event_of(send(&with_name)).envelope.mentions_bot);
}

#[test]
fn message_from_the_bot_account_is_marked_as_from_a_bot() {
    let mut report = group_message(&json!("hi"));
    report["user_id"] = json!(10_001_000);
    assert!(event_of(send(&report)).envelope.sender_is_bot);
}

#[test]
fn reports_that_are_not_messages_are_ignored() {
    let base = json!({"time": 1_515_204_254, "self_id": 10_001_000});
    let cases = [
        ("meta_event", IgnoredKind::EventType),
        ("notice", IgnoredKind::EventType),
        ("request", IgnoredKind::EventType),
        ("message_sent", IgnoredKind::OwnMessage),
    ];
    for (post_type, kind) in cases {
        let mut report = base.clone();
        report["post_type"] = json!(post_type);
        assert_eq!(send(&report), Ok(Outcome::Ignored { kind }), "{post_type}");
    }
    let mut guild = group_message(&json!("hi"));
    guild["message_type"] = json!("guild");
    assert_eq!(send(&guild), Ok(Outcome::Ignored { kind: IgnoredKind::EventType }));
    let image = group_message(&json!([{"type": "image", "data": {"file": "a.jpg"}}]));
    assert_eq!(send(&image), Ok(Outcome::Ignored { kind: IgnoredKind::MessageType }));
}

/// A user who types `R&D [v2]` in a reply to the bot: the string form
/// escapes it and puts the quote and the bot's mention first; the envelope
/// has what the user typed.
#[test]
fn quoted_and_escaped_text_arrives_as_typed() {
    let raw = "[CQ:reply,id=-2147437996][CQ:at,qq=10001000] /echo R&amp;D &#91;v2&#93;";
    let mut report = group_message(&json!(raw));
    report["raw_message"] = json!(raw);
    let e = event_of(send(&report));
    assert_eq!(e.envelope.text, "/echo R&D [v2]");
    assert!(e.envelope.mentions_bot);
    let array = json!([
        {"type": "reply", "data": {"id": "-2147437996"}},
        {"type": "at", "data": {"qq": "10001000"}},
        {"type": "text", "data": {"text": " /echo R&D [v2]"}}
    ]);
    let mut report = group_message(&array);
    report["raw_message"] = json!(raw);
    assert_eq!(event_of(send(&report)).envelope.text, "/echo R&D [v2]", "the array form is read as it comes");
}
