//! The bench's webhooks must pass the real adapters: load that ingest rejects
//! at the signature check would measure the wrong path.

use std::path::Path;

use botq_core::config::{Config, Service};
use botq_core::envelope::ChatKind;
use botq_core::ids::RequestId;
use botq_core::platform::{Event, Inbound, Outcome};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::*;

const CONFIG: &str = r#"
[[bot]]
id = "qq"
platform = "qq"
app_id = "102000000"
secret = "naOC0ocQE3shWLAfffVLB1rhYPG7"

[[bot]]
id = "lark-plain"
platform = "lark"
app_id = "cli_a0000000000000"
app_secret = "s"
verification_token = "vtoken"

[[bot]]
id = "lark-encrypted"
platform = "lark"
app_id = "cli_a0000000000000"
app_secret = "s"
verification_token = "vtoken"
encrypt_key = "ekey"

[[bot]]
id = "onebot-signed"
platform = "onebot"
api_base = "http://127.0.0.1:5700"
app_id = "20002000"
secret = "hmac-key"

[[bot]]
id = "onebot-bare"
platform = "onebot"
api_base = "http://127.0.0.1:5700"
"#;

fn config() -> Config {
    Config::from_toml(CONFIG, Service::Tool, &|_| None, Path::new(".")).unwrap_or_else(|p| panic!("{p}"))
}

const NOW_SECS: i64 = 1_763_700_000;

/// Builds a message for `bot` and runs it through that bot's real adapter.
fn deliver(cfg: &Config, bot: &str, event: u64, text: &str) -> Event {
    let bot = cfg.bot(bot).expect("bot in test config");
    let hooks = Hooks::from_bot(bot);
    let (chat, sender) = (hooks.chat_id(7), hooks.sender_id(9));
    let hook = hooks.build(&Message { event, chat: &chat, sender: &sender, text, unix_secs: NOW_SECS }).unwrap();
    let mut headers = HeaderMap::new();
    for (k, v) in &hook.headers {
        headers.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
    }
    let adapter = bot.adapter().unwrap();
    let req = Inbound {
        bot: &bot.id,
        headers: &headers,
        body: &hook.body,
        now_ms: NOW_SECS * 1000,
        request_id: RequestId::new(),
    };
    match adapter.handle(&req) {
        Ok(Outcome::Event(e)) => {
            assert_eq!(e.envelope.chat_kind, ChatKind::Group);
            assert_eq!(e.envelope.chat_id, chat);
            assert_eq!(e.envelope.sender_id, sender);
            e
        }
        other => panic!("{} adapter did not accept the bench's webhook: {other:?}", bot.id),
    }
}

#[test]
fn every_platform_adapter_accepts_the_bench_webhooks_as_message_events() {
    let cfg = config();
    for bot in ["qq", "lark-plain", "lark-encrypted", "onebot-signed", "onebot-bare"] {
        let e = deliver(&cfg, bot, 42, "/ping");
        assert_eq!(e.envelope.text.trim(), "/ping", "{bot}");
    }
}

#[test]
fn each_event_number_gets_its_own_dedupe_keys() {
    let cfg = config();
    for bot in ["qq", "lark-encrypted", "onebot-signed"] {
        let a = deliver(&cfg, bot, 1, "/ping");
        let b = deliver(&cfg, bot, 2, "/ping");
        assert!(
            a.dedupe_keys().iter().all(|k| !b.dedupe_keys().contains(k)),
            "{bot}: {:?} vs {:?}",
            a.dedupe_keys(),
            b.dedupe_keys()
        );
        assert_ne!(a.envelope.event_id, b.envelope.event_id, "{bot}");
    }
}

#[test]
fn text_with_quotes_backslashes_and_newlines_arrives_unchanged() {
    let cfg = config();
    let text = "/echo say \"hi\" \\ to\nall";
    for bot in ["qq", "lark-plain", "lark-encrypted", "onebot-bare"] {
        assert_eq!(deliver(&cfg, bot, 3, text).envelope.text.trim(), text, "{bot}");
    }
}

#[test]
fn onebot_without_app_id_reports_as_the_default_self_id() {
    let cfg = config();
    let hooks = Hooks::from_bot(cfg.bot("onebot-bare").unwrap());
    let hook = hooks.build(&Message { event: 1, chat: "1", sender: "2", text: "/ping", unix_secs: NOW_SECS }).unwrap();
    assert!(hook.headers.contains(&("X-Self-ID".to_owned(), DEFAULT_ONEBOT_SELF_ID.to_owned())));
    assert!(!hook.headers.iter().any(|(k, _)| k == "X-Signature"), "no secret, no signature");
}

#[test]
fn onebot_ids_that_are_not_numbers_are_refused_with_the_flag_to_fix() {
    let cfg = config();
    let hooks = Hooks::from_bot(cfg.bot("onebot-signed").unwrap());
    let err =
        hooks.build(&Message { event: 1, chat: "oc_x", sender: "2", text: "/ping", unix_secs: NOW_SECS }).unwrap_err();
    assert!(err.to_string().contains("--chat"), "{err}");
}

#[test]
fn encrypted_lark_bodies_do_not_carry_the_plaintext() {
    let cfg = config();
    let hooks = Hooks::from_bot(cfg.bot("lark-encrypted").unwrap());
    let hook =
        hooks.build(&Message { event: 1, chat: "oc_1", sender: "ou_1", text: "/ping", unix_secs: NOW_SECS }).unwrap();
    let body = String::from_utf8(hook.body).unwrap();
    assert!(body.starts_with(r#"{"encrypt":"#) && !body.contains("ping"), "{body}");
    assert!(hook.headers.iter().any(|(k, _)| k == "X-Lark-Signature"));
}
