//! Matching replies to events, shared by every benchmark that reads the fake.

use super::*;

fn reply(run: u64, i: usize, at_ms: i64) -> Delivery {
    Delivery { text: format!("{TAG} {run} {i}"), received_at_ms: at_ms }
}

#[test]
fn the_echoed_text_names_the_run_and_the_event() {
    let text = message_text(42, 7);
    assert_eq!(text, "/echo botq-fair 42 7");
    assert_eq!(parse_reply(text.trim_start_matches("/echo "), 42), Some(7));
    assert_eq!(parse_reply("botq-fair 41 7", 42), None, "another run");
    for other in ["pong", "botq-fair 42", "botq-fair 42 x", "botq-fair 42 7 8", ""] {
        assert_eq!(parse_reply(other, 42), None, "{other:?}");
    }
}

#[test]
fn deliveries_are_read_from_the_json_of_the_fakes_own_type() {
    let recorded = botq_fakeplatform::Delivery {
        platform: botq_core::envelope::Platform::Onebot,
        bot: "b".into(),
        endpoint: botq_fakeplatform::Endpoint::OnebotGroup,
        target: "700000001".into(),
        text: "botq-fair 1 2".into(),
        mentions: Vec::new(),
        quote: None,
        images: Vec::new(),
        reply_to: None,
        idempotency_key: None,
        received_at_ms: 1_700_000_000_123,
        message_id: "9".into(),
    };
    let body = serde_json::to_string(&[recorded]).unwrap();
    assert_eq!(
        parse_deliveries(&body).unwrap(),
        [Delivery { text: "botq-fair 1 2".into(), received_at_ms: 1_700_000_000_123 }]
    );
    assert!(parse_deliveries("{}").is_err());
    assert!(parse_deliveries(r#"[{"text":"x"}]"#).is_err());
}

#[test]
fn each_event_keeps_its_earliest_reply_and_counts_the_rest_as_duplicates() {
    let deliveries = [
        reply(9, 1, 1_300),
        reply(9, 0, 1_100),
        reply(9, 1, 1_200),
        reply(8, 0, 1_000),
        Delivery { text: "pong".into(), received_at_ms: 1_000 },
        reply(9, 3, 1_000),
    ];
    let r = Replies::collect(9, 3, &deliveries);
    assert_eq!(r.first_ms, [Some(1_100), Some(1_200), None], "the earliest, not the first listed");
    assert_eq!((r.extra(0), r.extra(1), r.extra(2)), (0, 1, 0));
    assert_eq!(r.order, [1, 0], "first replies in the order the fake recorded them");
    assert_eq!(r.matched, [(1, 1_300), (0, 1_100), (1, 1_200)]);
    assert_eq!(r.foreign, 3, "another run, the pre-flight pong, an index past the run");
    assert!(r.replied(1) && !r.replied(2) && !r.replied(99));
}

#[test]
fn latency_runs_from_the_due_time_to_the_reply_or_to_collection_when_missing() {
    let r = Replies::collect(9, 2, &[reply(9, 0, 1_700_000_000_040)]);
    let due_us = 1_700_000_000_000_000;
    assert_eq!(r.latency(0, due_us, due_us + 9_000_000), Latency::Replied(40_000));
    assert_eq!(r.latency(1, due_us, due_us + 9_000_000), Latency::Missing(9_000_000));
    assert_eq!(r.latency(0, due_us + 50_000, 0), Latency::Replied(1), "clock skew never goes below 1 µs");
}

#[test]
fn reply_limits_and_guards_the_load_would_trip_are_warned_about() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench.example.toml");
    let cfg = crate::load_config(&path).unwrap();
    let bot = crate::find_bot(&cfg, "onebot-bench").unwrap();
    let w = reply_warnings(bot, 5.0, 5000.0);
    assert!(w.iter().any(|w| w.contains("chat_per_sec")), "{w:?}");
    assert!(w.iter().any(|w| w.contains("chat_replies_per_min = 30")), "{w:?}");
}
