//! Secret rotation end to end: real redis-server, real HTTP, in-process reloads.
//!
//! A bot's `previous` credentials verify beside the current ones until
//! `until`; a SIGHUP reload (here `AppState::reload_bots`, what the signal
//! handler calls) opens and closes that window without a restart. Each test
//! uses its own bot ids, so the process-wide previous-credential counter can
//! be asserted exactly.

use botq_core::platform::qq::sign_webhook;
use botq_e2e::post;
use botq_testkit::fixtures::{NO_FAIR_SHARE, NO_INGEST_RATE_LIMIT};
use botq_testkit::ingest::{IngestHandle, config};
use botq_testkit::redis::RedisServer;
use botq_testkit::sign::{self, Webhook};
use redis::Commands;

const QQ_OLD: &str = "naOC0ocQE3shWLAfffVLB1rhYPG7";
const QQ_NEW: &str = "DG5g3B4j9X2KOErG";
const LARK_TOKEN_OLD: &str = "old-v-token";
const LARK_TOKEN_NEW: &str = "new-v-token";
const LARK_KEY_OLD: &str = "old encrypt key";
const LARK_KEY_NEW: &str = "new encrypt key";
const ONEBOT_OLD: &str = "old-hmac-secret";
const ONEBOT_NEW: &str = "new-hmac-secret";

const FUTURE: &str = "2999-01-01T00:00:00Z";
const PAST: &str = "2020-01-01T00:00:00Z";

/// The bots' credentials at one step of a rotation.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Before: only the old credentials.
    Old,
    /// During: the new ones current, the old ones `previous` until this time.
    Rotating { until: &'static str },
    /// After: only the new credentials.
    New,
}

/// Four bots, ids suffixed with `tag`: QQ, Lark with an Encrypt Key, Lark
/// without one (token only) and OneBot.
fn toml(tag: &str, stage: Stage) -> String {
    let (qq, token, key, onebot) = match stage {
        Stage::Old => (QQ_OLD, LARK_TOKEN_OLD, LARK_KEY_OLD, ONEBOT_OLD),
        Stage::Rotating { .. } | Stage::New => (QQ_NEW, LARK_TOKEN_NEW, LARK_KEY_NEW, ONEBOT_NEW),
    };
    let previous = |fields: String| match stage {
        Stage::Rotating { until } => format!(r#"previous = {{ {fields}, until = "{until}" }}"#),
        Stage::Old | Stage::New => String::new(),
    };
    let qq_previous = previous(format!(r#"secret = "{QQ_OLD}""#));
    let lark_previous = previous(format!(r#"verification_token = "{LARK_TOKEN_OLD}", encrypt_key = "{LARK_KEY_OLD}""#));
    let plain_previous = previous(format!(r#"verification_token = "{LARK_TOKEN_OLD}""#));
    let onebot_previous = previous(format!(r#"secret = "{ONEBOT_OLD}""#));
    // Fair share off so the stream shows every accepted event (the hooks share a chat).
    format!(
        r#"{NO_INGEST_RATE_LIMIT}{NO_FAIR_SHARE}
[[bot]]
id = "qq-{tag}"
platform = "qq"
app_id = "102000000"
secret = "{qq}"
timestamp_window_secs = 300
{qq_previous}

[[bot]]
id = "lark-{tag}"
platform = "lark"
app_id = "cli_a0000000000000"
app_secret = "s"
verification_token = "{token}"
encrypt_key = "{key}"
timestamp_window_secs = 300
{lark_previous}

[[bot]]
id = "larkplain-{tag}"
platform = "lark"
app_id = "cli_b0000000000000"
app_secret = "s"
verification_token = "{token}"
{plain_previous}

[[bot]]
id = "onebot-{tag}"
platform = "onebot"
api_base = "http://127.0.0.1:5700"
app_id = "10001000"
secret = "{onebot}"
{onebot_previous}
"#
    )
}

struct Env {
    tag: &'static str,
    redis: RedisServer,
    ingest: IngestHandle,
    http: reqwest::Client,
    /// Numbers the events, so no delivery is a duplicate of another.
    next: std::cell::Cell<u32>,
}

async fn env(tag: &'static str, stage: Stage) -> Env {
    let redis = RedisServer::start();
    let ingest = IngestHandle::start(&config(&toml(tag, stage), &redis.url())).await;
    Env { tag, redis, ingest, http: reqwest::Client::new(), next: std::cell::Cell::new(0) }
}

fn now_secs() -> i64 {
    botq_core::now_ms() / 1000
}

/// One kind of webhook, signed with given credentials.
#[derive(Debug, Clone, Copy)]
enum Hook {
    Qq { secret: &'static str },
    Lark { key: &'static str, token: &'static str },
    LarkPlain { token: &'static str },
    Onebot { secret: &'static str },
}

/// A Lark group message `/ping` carrying `token`, event number `n`.
fn lark_body(token: &str, n: u32) -> Vec<u8> {
    sign::lark_message_body(token, &format!("ev-{n}"), &format!("om_{n}"), "oc_1", "group", "ou_1", "/ping")
}

impl Env {
    /// Sends a fresh event of `hook`'s kind; returns the status and the error code, if any.
    async fn send(&self, hook: Hook) -> (u16, String) {
        let n = self.next.get() + 1;
        self.next.set(n);
        let (bot, webhook) = match hook {
            Hook::Qq { secret } => {
                let body = sign::qq_group_at_body(&format!("e{n}"), &format!("ROBOT1.0_m{n}"), "G1", "M1", " /ping");
                ("qq", sign::qq("102000000", secret, now_secs(), &body))
            }
            Hook::Lark { key, token } => ("lark", sign::lark(Some(key), now_secs(), &lark_body(token, n))),
            Hook::LarkPlain { token } => ("larkplain", sign::lark(None, now_secs(), &lark_body(token, n))),
            Hook::Onebot { secret } => {
                let body = sign::onebot_group_body("10001000", i64::from(n), 5_550_001, 123_456, "/ping", now_secs());
                ("onebot", sign::onebot("10001000", Some(secret), &body))
            }
        };
        self.post(&format!("{bot}-{}", self.tag), &webhook).await
    }

    async fn post(&self, bot: &str, hook: &Webhook) -> (u16, String) {
        let (status, _, body) = post(&self.http, &self.ingest.webhook_url(bot), hook).await;
        let code = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or_default();
        (status, code)
    }

    /// Asserts that every hook is accepted with its platform's ack status.
    async fn assert_accepted(&self, hooks: &[Hook]) {
        for hook in hooks {
            let want = if matches!(hook, Hook::Onebot { .. }) { 204 } else { 200 };
            assert_eq!(self.send(*hook).await, (want, String::new()), "{hook:?}");
        }
    }

    fn stream_len(&self) -> usize {
        let mut c = self.redis.conn();
        c.xlen("botq:{q0}:stream").unwrap()
    }

    /// `botq_ingest_previous_secret_total` of each of this test's bots, in
    /// the order qq, lark, larkplain, onebot (0 when never recorded).
    async fn previous_counts(&self) -> [u64; 4] {
        let metrics = self.http.get(self.ingest.admin_url("/metrics")).send().await.unwrap().text().await.unwrap();
        ["qq", "lark", "larkplain", "onebot"].map(|bot| {
            botq_e2e::metric(&metrics, &format!(r#"botq_ingest_previous_secret_total{{bot="{bot}-{}"}}"#, self.tag))
        })
    }

    async fn reload(&self, stage: Stage) {
        let cfg = config(&toml(self.tag, stage), &self.redis.url());
        self.ingest.state.reload_bots(&cfg.bots).expect("reload");
    }
}

const OLD_HOOKS: [Hook; 4] = [
    Hook::Qq { secret: QQ_OLD },
    Hook::Lark { key: LARK_KEY_OLD, token: LARK_TOKEN_OLD },
    Hook::LarkPlain { token: LARK_TOKEN_OLD },
    Hook::Onebot { secret: ONEBOT_OLD },
];

const NEW_HOOKS: [Hook; 4] = [
    Hook::Qq { secret: QQ_NEW },
    Hook::Lark { key: LARK_KEY_NEW, token: LARK_TOKEN_NEW },
    Hook::LarkPlain { token: LARK_TOKEN_NEW },
    Hook::Onebot { secret: ONEBOT_NEW },
];

/// What each old hook gets once the old credentials are no longer accepted.
const OLD_REFUSED: [(u16, &str); 4] =
    [(401, "invalid_signature"), (401, "invalid_signature"), (403, "invalid_token"), (401, "invalid_signature")];

async fn assert_old_refused(t: &Env) {
    for (hook, want) in OLD_HOOKS.iter().zip(OLD_REFUSED) {
        assert_eq!(t.send(*hook).await, (want.0, want.1.to_owned()), "{hook:?}");
    }
}

#[tokio::test]
async fn webhooks_signed_with_the_previous_credentials_are_accepted_during_the_window_and_counted() {
    let t = env("window", Stage::Rotating { until: FUTURE }).await;
    t.assert_accepted(&OLD_HOOKS).await;
    t.assert_accepted(&NEW_HOOKS).await;
    // Lark: the old key with the new token and the new key with the old token, as a platform mid-switch may send.
    t.assert_accepted(&[
        Hook::Lark { key: LARK_KEY_OLD, token: LARK_TOKEN_NEW },
        Hook::Lark { key: LARK_KEY_NEW, token: LARK_TOKEN_OLD },
    ])
    .await;
    assert_eq!(t.stream_len(), 10, "every accepted event is enqueued");
    assert_eq!(t.previous_counts().await, [1, 3, 1, 1], "only requests that needed a previous credential count");
}

#[tokio::test]
async fn webhooks_signed_with_the_previous_credentials_are_refused_once_until_has_passed() {
    let t = env("expired", Stage::Rotating { until: PAST }).await;
    assert_old_refused(&t).await;
    t.assert_accepted(&NEW_HOOKS).await;
    assert_eq!(t.stream_len(), 4);
    assert_eq!(t.previous_counts().await, [0; 4]);
}

#[tokio::test]
async fn qq_validation_signed_with_the_previous_secret_is_answered_with_the_current_key() {
    let t = env("handshake", Stage::Rotating { until: FUTURE }).await;
    let body = br#"{"op":13,"d":{"plain_token":"Arq0D5A61EgUu4OxUvOp","event_ts":"1725442341"}}"#;
    let (status, _, answer) =
        post(&t.http, &t.ingest.webhook_url("qq-handshake"), &sign::qq("102000000", QQ_OLD, now_secs(), body)).await;
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let signed_by = |secret| sign_webhook(&sign::qq_key(secret), "1725442341", b"Arq0D5A61EgUu4OxUvOp");
    assert_eq!(answer["signature"], signed_by(QQ_NEW));
    assert_ne!(answer["signature"], signed_by(QQ_OLD));
}

#[tokio::test]
async fn a_reload_opens_and_closes_the_rotation_window_without_a_restart() {
    let t = env("reload", Stage::Old).await;
    t.assert_accepted(&OLD_HOOKS).await;
    for hook in NEW_HOOKS {
        assert_ne!(t.send(hook).await.0 / 100, 2, "{hook:?} before the rotation");
    }

    t.reload(Stage::Rotating { until: FUTURE }).await;
    t.assert_accepted(&OLD_HOOKS).await;
    t.assert_accepted(&NEW_HOOKS).await;
    assert_eq!(t.previous_counts().await, [1, 1, 1, 1]);

    t.reload(Stage::New).await;
    assert_old_refused(&t).await;
    t.assert_accepted(&NEW_HOOKS).await;
    assert_eq!(t.previous_counts().await, [1, 1, 1, 1], "nothing more was admitted by an old credential");
    assert_eq!(t.stream_len(), 16);
}
