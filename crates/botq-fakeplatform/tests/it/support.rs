//! A fake on a port-0 listener, a manual clock, and request helpers.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use botq_fakeplatform::{Credentials, FakeBot, FakeState, Options};
use reqwest::header::HeaderMap;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const QQ_APP: &str = "102000000";
pub const QQ_SECRET: &str = "qq-client-secret";
pub const LARK_APP: &str = "cli_a0000000000000";
pub const LARK_SECRET: &str = "lark-app-secret";
pub const ONEBOT_TOKEN: &str = "onebot-access-token";

/// The bots every test fake serves: one QQ, one Lark, a OneBot bot with a
/// token at `/onebot` and one without at `/open`.
pub fn bots() -> Vec<FakeBot> {
    let secret = |s: &str| SecretString::from(s.to_owned());
    vec![
        FakeBot {
            id: "qq-main".into(),
            credentials: Credentials::Qq { app_id: QQ_APP.into(), client_secret: secret(QQ_SECRET) },
        },
        FakeBot {
            id: "lark-main".into(),
            credentials: Credentials::Lark { app_id: LARK_APP.into(), app_secret: secret(LARK_SECRET) },
        },
        FakeBot {
            id: "onebot-main".into(),
            credentials: Credentials::Onebot { prefix: "/onebot".into(), access_token: Some(secret(ONEBOT_TOKEN)) },
        },
        FakeBot {
            id: "onebot-open".into(),
            credentials: Credentials::Onebot { prefix: "/open".into(), access_token: None },
        },
    ]
}

/// Time that moves only when a test says so.
#[derive(Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new() -> Self {
        Self(Arc::new(AtomicI64::new(1_700_000_000_000)))
    }
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

/// A running fake.
pub struct Fake {
    pub base: String,
    pub state: Arc<FakeState>,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// An HTTP answer: status, headers, JSON body (`Null` when empty or not JSON).
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Fake {
    pub async fn start(opts: Options) -> Self {
        Self::start_with(FakeState::new(bots(), opts)).await
    }

    pub async fn start_with_clock(opts: Options, clock: &ManualClock) -> Self {
        let c = clock.clone();
        Self::start_with(FakeState::new(bots(), opts).with_clock(Arc::new(move || c.now()))).await
    }

    pub async fn start_with(state: FakeState) -> Self {
        let state = Arc::new(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(botq_fakeplatform::run(listener, state.clone(), shutdown.clone()));
        Self { base, state, client: reqwest::Client::new(), shutdown, task }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("server task").expect("server ends cleanly");
    }

    pub async fn post(&self, path: &str, auth: Option<&str>, body: &Value) -> Answer {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(auth) = auth {
            req = req.header("Authorization", auth);
        }
        answer(req.send().await.expect("the fake answers")).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        answer(self.client.get(format!("{}{path}", self.base)).send().await.expect("the fake answers")).await
    }

    pub async fn qq_token(&self) -> String {
        let a = self.post("/app/getAppAccessToken", None, &json!({"appId": QQ_APP, "clientSecret": QQ_SECRET})).await;
        assert_eq!(a.status, 200);
        a.body["access_token"].as_str().expect("a token").to_owned()
    }

    pub async fn lark_token(&self) -> String {
        let body = json!({"app_id": LARK_APP, "app_secret": LARK_SECRET});
        let a = self.post("/open-apis/auth/v3/tenant_access_token/internal", None, &body).await;
        assert_eq!(a.body["code"], 0);
        a.body["tenant_access_token"].as_str().expect("a token").to_owned()
    }

    /// Posts a QQ group reply with the given token.
    pub async fn qq_group(&self, token: &str, group: &str, msg_id: &str, seq: u64, text: &str) -> Answer {
        let body = json!({"content": text, "msg_type": 0, "msg_id": msg_id, "msg_seq": seq});
        self.post(&format!("/v2/groups/{group}/messages"), Some(&format!("QQBot {token}")), &body).await
    }

    /// Posts a Lark text message to a chat.
    pub async fn lark_send(&self, token: &str, chat: &str, text: &str, uuid: Option<&str>) -> Answer {
        let mut body = json!({"receive_id": chat, "msg_type": "text", "content": json!({"text": text}).to_string()});
        if let Some(uuid) = uuid {
            body["uuid"] = json!(uuid);
        }
        self.post("/open-apis/im/v1/messages?receive_id_type=chat_id", Some(&format!("Bearer {token}")), &body).await
    }
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}
