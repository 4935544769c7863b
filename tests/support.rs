//! Shared helpers of the end-to-end tests: sending webhooks and reading
//! metrics, waiting for a condition, the workers' config tables, the fake
//! platform, and the whole [`Stack`] the reply tests run on
//! (`support/stack.rs`).

use botq_testkit::fixtures::QQ_MAIN_BOT;
use botq_testkit::sign::Webhook;

#[path = "support/stack.rs"]
mod stack;

pub use stack::{Addrs, Stack, StackBuilder};

/// The POST of `hook` (its headers and body) to `url`, ready to send.
pub fn request(client: &reqwest::Client, url: &str, hook: &Webhook) -> reqwest::RequestBuilder {
    hook.headers.iter().fold(client.post(url).body(hook.body.clone()), |req, (k, v)| req.header(k, v))
}

/// Posts a webhook and returns status, headers and body text.
///
/// # Panics
/// On a transport error: the services run on loopback and must answer.
pub async fn post(client: &reqwest::Client, url: &str, hook: &Webhook) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = request(client, url, hook).send().await.expect("ingest answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.expect("body"))
}

/// The value of the series `series` (name and labels, as the exposition
/// prints them) in a Prometheus text scrape; 0 when it is not there yet.
///
/// The in-process services of one test binary share one recorder, so a test
/// that counts compares values before and after, or uses labels of its own.
#[must_use]
pub fn metric(scrape: &str, series: &str) -> u64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0, |v| v.trim().parse().unwrap_or_else(|_| panic!("{series} is not a count: {v}")))
}

/// Polls `cond` every 10 ms until it holds or `within` passes; returns whether it held.
pub async fn eventually(within: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Worker test config: fast ticks, short lease, deterministic backoff.
#[must_use]
pub fn worker_toml(worker_extra: &str) -> String {
    format!(
        r#"
[worker]
handler_timeout_secs = 1
lease_secs = 6
promote_interval_ms = 10
reclaim_interval_ms = 50
sample_interval_ms = 50
read_block_ms = 100
shutdown_grace_secs = 5
{worker_extra}
[worker.backoff]
initial_ms = 100
max_ms = 2000
multiplier = 2.0
jitter = 0.0
{QQ_MAIN_BOT}"#
    )
}

/// The `[worker]` tables of the reply tests: fast ticks, short timeouts,
/// deterministic backoff (100 ms doubling, at most 1 s).
pub const REPLY_WORKER: &str = r#"
[worker]
handler_timeout_secs = 5
lease_secs = 10
promote_interval_ms = 10
reclaim_interval_ms = 50
read_block_ms = 100
reply_timeout_secs = 2
[worker.backoff]
initial_ms = 100
max_ms = 1000
multiplier = 2.0
jitter = 0.0
"#;

/// botq-fakeplatform on a loopback port, running until dropped.
pub struct Fake {
    pub state: std::sync::Arc<botq_fakeplatform::FakeState>,
    _stop: tokio_util::sync::DropGuard,
}

/// The fake's records, as `fake.deliveries()`.
impl std::ops::Deref for Fake {
    type Target = botq_fakeplatform::FakeState;

    fn deref(&self) -> &Self::Target {
        &self.state
    }
}

impl Fake {
    /// Binds a loopback port, builds the config with it (`make(port)`: the
    /// bots' reply APIs point at the fake), and starts the fake for that
    /// config's bots.
    ///
    /// # Panics
    /// When no port can be bound or the config's bots do not suit the fake.
    pub async fn start(
        opts: botq_fakeplatform::Options,
        make: impl FnOnce(u16) -> botq_core::config::Config,
    ) -> (botq_core::config::Config, Self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let cfg = make(listener.local_addr().expect("local addr").port());
        let state = std::sync::Arc::new(botq_fakeplatform::FakeState::from_config(&cfg, opts).expect("fake bots"));
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(botq_fakeplatform::run(listener, state.clone(), stop.clone()));
        (cfg, Self { state, _stop: stop.drop_guard() })
    }
}
