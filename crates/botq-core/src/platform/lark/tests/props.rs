//! Property tests: no body or header value makes the adapter panic.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::messages::{bot_mention, receive_v1, run};
use super::*;

fn header_value() -> impl Strategy<Value = Option<HeaderValue>> {
    proptest::option::of(
        proptest::collection::vec(any::<u8>(), 0..80)
            .prop_filter_map("not a header value", |b| HeaderValue::from_bytes(&b).ok()),
    )
}

proptest! {
    #[test]
    fn arbitrary_bodies_and_headers_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        ts in header_value(),
        nonce in header_value(),
        sig in header_value(),
    ) {
        let mut h = HeaderMap::new();
        for (name, value) in [(TIMESTAMP_HEADER, ts), (NONCE_HEADER, nonce), (SIGNATURE_HEADER, sig)] {
            if let Some(v) = value {
                h.insert(name, v);
            }
        }
        let _ = handle(&encrypted_adapter(), &h, &body);
        let _ = handle(&plain_adapter(), &h, &body);
    }

    #[test]
    fn arbitrary_signed_plaintexts_never_panic(
        plaintext in "\\PC{0,200}",
        event in r#"\{("(schema|type|token|header|event|message|sender|content|mentions|chat_type|message_type|challenge|uuid)":("2.0"|"p2p"|"text"|"post"|"url_verification"|"event_callback"|"im.message.receive_v1"|"vErIfIcAtIoN"|\[\]|\{\}|null|1|"\{\}"),?){0,12}\}"#,
        ts in "[0-9]{1,12}",
    ) {
        for text in [plaintext.as_str(), event.as_str()] {
            let body = encrypted(text);
            let _ = handle(&encrypted_adapter(), &signed(KEY, &ts, &body), &body);
            let _ = handle(&plain_adapter(), &HeaderMap::new(), text.as_bytes());
        }
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z_@ ]{0,12}".prop_map(Value::from),
        Just(json!("p2p")),
        Just(json!("text")),
        Just(json!("post")),
        Just(json!("{\"text\":\"hi\"}")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,8}|text|tag|content|title", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn message_events_with_any_field_replaced_never_panic(
        path in prop_oneof![
            Just("/event"), Just("/event/message"), Just("/event/message/content"),
            Just("/event/message/mentions"), Just("/event/message/chat_type"),
            Just("/event/sender"), Just("/header"), Just("/schema"), Just("/event/message/create_time"),
        ],
        value in json_value(),
        post in json_value(),
    ) {
        let mut event = receive_v1("group", "post", &post, &bot_mention());
        if let Some(slot) = event.pointer_mut(path) {
            *slot = value;
        }
        let _ = run(&event);
    }
}
