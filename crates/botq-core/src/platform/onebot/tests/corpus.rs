//! The published reports of `tests/corpus/onebot` (go-cqhttp, NapCat,
//! Lagrange, LLOneBot captures and docs, each with its source in
//! `index.toml`) through the adapter: messages give the text as typed and
//! the mention the index records, everything else is acknowledged.
//!
//! Each report's `time` is moved to now (the captures are years old, and
//! the timestamp window would call them stale); nothing else is changed.

use std::path::PathBuf;

use serde::Deserialize;

use super::*;
use crate::platform::IgnoredKind;

#[derive(Deserialize)]
struct Index {
    payload: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    file: String,
    post_type: String,
    text_as_typed: Option<String>,
    mentions_bot: Option<bool>,
    addressed: Option<String>,
}

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/onebot")
}

#[test]
fn every_published_report_is_handled_as_its_index_says() {
    let index: Index = toml::from_str(&std::fs::read_to_string(corpus().join("index.toml")).unwrap()).unwrap();
    assert!(index.payload.len() >= 14, "the corpus has its reports");
    for entry in &index.payload {
        let text = std::fs::read_to_string(corpus().join(&entry.file)).unwrap();
        let mut report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", entry.file));
        report["time"] = json!(NOW_MS / 1000);
        let self_id = match &report["self_id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let body = report.to_string();
        // Through `Adapter`, as ingest calls it: the id check included.
        let adapter = crate::platform::Adapter::Onebot(unsigned_adapter());
        let (bot, h) = (BotId::parse("onebot-main").unwrap(), headers(Some(&self_id), None));
        let req =
            Inbound { bot: &bot, headers: &h, body: body.as_bytes(), now_ms: NOW_MS, request_id: RequestId::new() };
        let got = adapter.handle(&req);
        let file = &entry.file;
        match (entry.post_type.as_str(), entry.text_as_typed.as_deref()) {
            ("message", Some("")) => {
                assert_eq!(got, Ok(Outcome::Ignored { kind: IgnoredKind::MessageType }), "{file}: no text");
            }
            ("message", Some(typed)) => {
                let Ok(Outcome::Event(event)) = got else { panic!("{file}: {got:?}") };
                assert_eq!(event.envelope.text, typed, "{file}");
                let private = event.envelope.chat_kind == crate::envelope::ChatKind::Private;
                assert_eq!(event.envelope.mentions_bot, private || entry.mentions_bot == Some(true), "{file}");
                assert_eq!(event.envelope.mentions_bot, entry.addressed.as_deref() == Some("yes"), "{file}: addressed");
            }
            _ => assert!(matches!(got, Ok(Outcome::Ignored { .. })), "{file}: {got:?}"),
        }
    }
}
