//! Op-0 normalisation: the five message types, and what is dropped or refused.

use super::*;

#[test]
fn group_at_message_becomes_a_group_event_that_mentions_the_bot() {
    let ev = event(GROUP_AT);
    let dedupe_keys = ev.dedupe_keys();
    let e = ev.envelope;
    assert_eq!(e.platform, Platform::Qq);
    assert_eq!(e.version, ENVELOPE_VERSION);
    assert_eq!(e.bot.as_str(), "qq-main");
    assert_eq!(e.event_id, "GROUP_AT_MESSAGE_CREATE:yit7");
    assert_eq!(e.event_type, "GROUP_AT_MESSAGE_CREATE");
    assert_eq!(e.message_id, "ROBOT1.0_yiT7pd");
    assert_eq!((e.chat_kind, e.chat_id.as_str(), e.guild_id), (ChatKind::Group, "82B3G", None));
    assert_eq!(e.sender_id, "0BA1M");
    assert!(e.mentions_bot && !e.sender_is_bot);
    assert_eq!(e.text, "lssv", "the text as typed: the space the platform leaves after the mention goes");
    assert_eq!(e.platform_ts_ms, Some(1_757_344_414_000));
    assert_eq!(e.received_at_ms, NOW_MS);
    assert_eq!(dedupe_keys, ["id:GROUP_AT_MESSAGE_CREATE:yit7", "msg:ROBOT1.0_yiT7pd"]);
}

#[test]
fn c2c_message_becomes_a_private_chat_with_the_sender() {
    let body = r#"{"op":0,"id":"C2C_MESSAGE_CREATE:abc","d":{"id":"ROBOT1.0_c2c","content":"哦一下","timestamp":"2024-10-15T16:33:15+08:00","author":{"id":"675860273","user_openid":"U1"}},"t":"C2C_MESSAGE_CREATE"}"#;
    let e = event(body).envelope;
    assert_eq!((e.chat_kind, e.chat_id.as_str(), e.sender_id.as_str()), (ChatKind::Private, "U1", "U1"));
    assert_eq!((e.text.as_str(), e.guild_id), ("哦一下", None));
    assert!(e.mentions_bot && !e.sender_is_bot);
    assert_eq!(e.platform_ts_ms, Some(1_728_981_195_000));
}

fn guild_body(t: &str, mentions: &str) -> String {
    format!(
        r#"{{"op":0,"s":7,"id":"{t}:g1","t":"{t}","d":{{"id":"08e092","channel_id":"C9","guild_id":"G5","content":"<@!1234> hi","timestamp":"2021-11-23T15:16:48+08:00","author":{{"id":"A7","username":"u","bot":false}},"mentions":{mentions}}}}}"#
    )
}

#[test]
fn guild_at_message_becomes_a_channel_event_with_its_guild() {
    let e = event(&guild_body("AT_MESSAGE_CREATE", "[]")).envelope;
    assert_eq!((e.chat_kind, e.chat_id.as_str()), (ChatKind::Channel, "C9"));
    assert_eq!((e.guild_id.as_deref(), e.sender_id.as_str()), (Some("G5"), "A7"));
    assert_eq!(
        (e.text.as_str(), e.message_id.as_str()),
        ("hi", "08e092"),
        "the mention markup is not part of the text as typed"
    );
    assert!(e.mentions_bot && !e.sender_is_bot);
}

#[test]
fn guild_message_mentions_the_bot_only_when_a_bot_is_mentioned() {
    let plain = event(&guild_body("MESSAGE_CREATE", r#"[{"id":"A8","bot":false}]"#)).envelope;
    assert_eq!((plain.chat_kind, plain.guild_id.as_deref()), (ChatKind::Channel, Some("G5")));
    assert!(!plain.mentions_bot);
    let absent = event(&guild_body("MESSAGE_CREATE", "null")).envelope;
    assert!(!absent.mentions_bot);
    let at_bot = event(&guild_body("MESSAGE_CREATE", r#"[{"id":"A8"},{"id":"1234","bot":true}]"#));
    assert!(at_bot.envelope.mentions_bot);
}

#[test]
fn guild_direct_message_is_a_private_chat_keyed_by_the_sender_with_its_guild() {
    let body = r#"{"op":0,"id":"DIRECT_MESSAGE_CREATE:d1","t":"DIRECT_MESSAGE_CREATE","d":{"id":"m1","channel_id":"C1","guild_id":"DMG","src_guild_id":"G5","content":"hello","author":{"id":"A7","bot":true}}}"#;
    let e = event(body).envelope;
    assert_eq!((e.chat_kind, e.chat_id.as_str(), e.sender_id.as_str()), (ChatKind::Private, "A7", "A7"));
    assert_eq!(e.guild_id.as_deref(), Some("DMG"));
    assert!(e.mentions_bot && e.sender_is_bot);
    assert_eq!(e.platform_ts_ms, None);
}

#[test]
fn the_envelope_round_trips_through_its_wire_form() {
    let e = event(GROUP_AT).envelope;
    assert_eq!(Envelope::decode(&e.encode()).unwrap(), e);
}

#[test]
fn answerable_events_become_notices_replied_to_by_their_event_id() {
    let add = event(r#"{"op":0,"id":"FRIEND_ADD:1","d":{"timestamp":1741879599,"openid":"U1"},"t":"FRIEND_ADD"}"#);
    let e = add.envelope;
    assert!(e.notice && e.mentions_bot);
    assert_eq!((e.chat_kind, e.chat_id.as_str(), e.sender_id.as_str()), (ChatKind::Private, "U1", "U1"));
    assert_eq!((e.event_id.as_str(), e.message_id.as_str()), ("FRIEND_ADD:1", "FRIEND_ADD:1"));
    assert_eq!(e.platform_ts_ms, Some(1_741_879_599_000), "these events stamp Unix seconds");
    // The docs' button sample (C2C; the presser only in `resolved`), in a frame.
    let press = event(
        r#"{"op":0,"id":"INTERACTION_CREATE:1","t":"INTERACTION_CREATE","d":{"chat_type":2,"data":{"resolved":{"button_data":"回调按钮","button_id":"21","user_id":"E4F4AEA33253A2797FB897C50B81D7ED"},"type":11},"id":"30540ff7-9d8f-4737-83f1-e116ce6afa8b","type":11,"version":1}}"#,
    )
    .envelope;
    assert_eq!((press.chat_kind, press.chat_id.as_str()), (ChatKind::Private, "E4F4AEA33253A2797FB897C50B81D7ED"));
    assert_eq!(press.message_id, "30540ff7-9d8f-4737-83f1-e116ce6afa8b", "the interaction id answers it");
    assert_eq!(press.text, "回调按钮");
}

#[test]
fn unknown_event_types_and_other_ops_are_ignored_once_verified() {
    let ignored = Ok(Outcome::Ignored { kind: IgnoredKind::EventType });
    for body in [
        r#"{"op":0,"id":"FRIEND_DEL:1","d":{"openid":"x"},"t":"FRIEND_DEL"}"#,
        r#"{"op":0,"id":"X:1","d":42,"t":"GROUP_MESSAGE_REJECT"}"#,
        r#"{"op":0,"id":"I:1","d":{"id":"i1","chat_type":9},"t":"INTERACTION_CREATE"}"#,
        r#"{"op":1,"d":7}"#,
        r#"{"op":12,"d":0}"#,
    ] {
        assert_eq!(handle_signed(body), ignored, "{body}");
    }
    assert_eq!(
        run(&adapter(), &headers(&[("X-Bot-Appid", APP_ID)]), r#"{"op":1,"d":7}"#),
        Err(Reject::MissingSignature)
    );
}

#[test]
fn a_message_without_content_is_ignored_as_a_message_type() {
    let body = r#"{"op":0,"id":"C2C_MESSAGE_CREATE:2","d":{"id":"m","author":{"user_openid":"U"},"attachments":[{"url":"x"}]},"t":"C2C_MESSAGE_CREATE"}"#;
    assert_eq!(handle_signed(body), Ok(Outcome::Ignored { kind: IgnoredKind::MessageType }));
}

#[test]
fn signed_but_malformed_payloads_are_refused() {
    for body in [
        "",
        "not json",
        r#"{"op":0,"id":"a","t":"C2C_MESSAGE_CREATE","d":{}} trailing"#,
        r#"{"id":"a","t":"C2C_MESSAGE_CREATE","d":{}}"#,
        r#"{"op":"0","id":"a","t":"C2C_MESSAGE_CREATE","d":{}}"#,
        r#"{"op":0,"t":"C2C_MESSAGE_CREATE","d":{}}"#,
        r#"{"op":0,"id":"","t":"C2C_MESSAGE_CREATE","d":{}}"#,
        r#"{"op":0,"id":"a","t":"C2C_MESSAGE_CREATE"}"#,
        r#"{"op":0,"id":"a","t":"C2C_MESSAGE_CREATE","d":null}"#,
        r#"{"op":0,"id":"a","t":"C2C_MESSAGE_CREATE","d":{"content":"x","author":{"user_openid":"U"}}}"#,
        r#"{"op":0,"id":"a","t":"C2C_MESSAGE_CREATE","d":{"id":"m","content":"x"}}"#,
        r#"{"op":0,"id":"a","t":"C2C_MESSAGE_CREATE","d":{"id":"m","content":"x","author":{"id":"A"}}}"#,
        r#"{"op":0,"id":"a","t":"GROUP_AT_MESSAGE_CREATE","d":{"id":"m","content":"x","author":{"member_openid":"M"}}}"#,
        r#"{"op":0,"id":"a","t":"AT_MESSAGE_CREATE","d":{"id":"m","content":"x","channel_id":"C","author":{"id":"A"}}}"#,
        r#"{"op":0,"id":"a","t":"DIRECT_MESSAGE_CREATE","d":{"id":"m","content":"x","author":{"id":"A"}}}"#,
        r#"{"op":0,"id":"a","t":"C2C_MESSAGE_CREATE","d":{"id":"m","content":5,"author":{"user_openid":"U"}}}"#,
    ] {
        assert_eq!(handle_signed(body), Err(Reject::MalformedPayload), "{body}");
    }
}

/// READY and RESUMED as the official docs print them (no top-level `id`;
/// RESUMED's `d` is a string): correctly signed, not handled, so acknowledged
/// and dropped rather than refused as malformed (a refusal is retried).
#[test]
fn signed_frames_of_unhandled_types_are_acknowledged_whatever_they_lack() {
    for body in [
        include_str!("../../../../../../tests/corpus/qq/03-ready-docs.json"),
        include_str!("../../../../../../tests/corpus/qq/04-resumed-docs.json"),
        r#"{"op":0,"id":"a","d":{}}"#,
    ] {
        assert_eq!(handle_signed(body), Ok(Outcome::Ignored { kind: IgnoredKind::EventType }), "{body}");
    }
}
