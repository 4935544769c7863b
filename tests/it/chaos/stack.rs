//! The system under chaos: a durable `redis-server` (AOF, fsync always), the
//! real `botq-ingest` and `botq-worker` binaries as child processes, and
//! botq-fakeplatform (in-process, over loopback) injecting 5xx, 429,
//! timeouts and lost answers into the reply APIs.
//!
//! Workers are started with their own admin port each (`BOTQ_ADMIN_LISTEN`)
//! so several run from one config file, and are stopped with SIGKILL only:
//! nothing of theirs gets a chance to clean up.

use std::path::PathBuf;
use std::time::Duration;

use botq_e2e::Fake;
use botq_fakeplatform::{Options, QqLimits};
use botq_testkit::fixtures::{NO_INGEST_RATE_LIMIT, qq_main_bot_replying_to};
use botq_testkit::process::{ServiceProcess, binary, write_config};
use botq_testkit::redis::{RedisServer, free_port};

pub const LARK_TOKEN: &str = "chaos-verification-token";
pub const LARK_ENCRYPT_KEY: &str = "chaos-encrypt-key";
/// Attempts before an event that keeps failing is dead-lettered.
pub const MAX_ATTEMPTS: u32 = 3;

/// The reply APIs' faults: shares of message requests.
pub fn fake_options() -> Options {
    Options {
        error_rate: 0.3,
        throttle_rate: 0.06,
        timeout_rate: 0.04,
        lost_answer_rate: 0.06,
        // Longer than the worker's reply timeout: the worker gives up first.
        timeout_hold: Duration::from_millis(1500),
        // The platforms' own per-chat limits stay on, as in production.
        qq: QqLimits::default(),
        max_records: 1_000_000,
        ..Options::default()
    }
}

fn toml(redis_url: &str, listen: u16, admin: u16, fake: u16) -> String {
    let qq = qq_main_bot_replying_to(fake);
    format!(
        r#"
redis_url = "{redis_url}"

[ingest]
listen = "127.0.0.1:{listen}"
admin_listen = "127.0.0.1:{admin}"
{NO_INGEST_RATE_LIMIT}
[worker]
handler_timeout_secs = 2
lease_secs = 7
max_attempts = {MAX_ATTEMPTS}
promote_interval_ms = 20
reclaim_interval_ms = 200
read_block_ms = 200
reply_timeout_secs = 1
shutdown_grace_secs = 2

[worker.backoff]
initial_ms = 100
max_ms = 800
multiplier = 2.0
jitter = 0.2

[log]
level = "warn"

{qq}
[[bot]]
id = "lark-main"
platform = "lark"
app_id = "cli_a0000000000000"
app_secret = "chaos-lark-app-secret"
verification_token = "{LARK_TOKEN}"
encrypt_key = "{LARK_ENCRYPT_KEY}"
api_base = "http://127.0.0.1:{fake}"
"#
    )
}

/// Everything running, and the handles to break it.
pub struct Stack {
    pub redis: RedisServer,
    pub fake: Fake,
    pub config: botq_testkit::process::TempPath,
    pub ingest_url: String,
    ingest: ServiceProcess,
    workers: Vec<Option<ServiceProcess>>,
    worker_bin: PathBuf,
    pub kills: u32,
}

impl Stack {
    pub async fn start(workers: usize) -> Self {
        let redis = RedisServer::start_durable();
        let (listen, admin) = (free_port(), free_port());
        let mut text = String::new();
        let (_, fake) = Fake::start(fake_options(), |port| {
            text = toml(&redis.url(), listen, admin, port);
            botq_testkit::worker::config(&text, &redis.url())
        })
        .await;
        let config = write_config(&text);
        let mut ingest = ServiceProcess::start(&binary("botq-ingest"), &config);
        assert!(ingest.wait_ready(Duration::from_secs(20)), "ingest ready: {}", ingest.log());
        let mut stack = Self {
            redis,
            fake,
            config,
            ingest_url: format!("http://127.0.0.1:{listen}"),
            ingest,
            workers: (0..workers).map(|_| None).collect(),
            worker_bin: binary("botq-worker"),
            kills: 0,
        };
        for slot in 0..workers {
            stack.start_worker(slot);
        }
        stack
    }

    /// Starts worker `slot` (on a fresh admin port) and waits until it is ready.
    fn start_worker(&mut self, slot: usize) {
        let admin = format!("127.0.0.1:{}", free_port());
        let mut process =
            ServiceProcess::start_with_env(&self.worker_bin, &self.config, &[("BOTQ_ADMIN_LISTEN", &admin)]);
        let ready = tokio::task::block_in_place(|| process.wait_ready(Duration::from_secs(10)));
        assert!(ready, "worker {slot} not ready within 10 s: {}", process.log());
        self.workers[slot] = Some(process);
    }

    /// SIGKILLs worker `slot` wherever it is, and starts a new one in its place.
    pub fn kill_and_replace_worker(&mut self, slot: usize) {
        if let Some(victim) = self.workers[slot].take() {
            victim.kill();
            self.kills += 1;
        }
        self.start_worker(slot);
    }

    /// SIGKILLs Redis, leaves it down for `down` (webhooks arriving then
    /// must be refused, workers must reconnect), and starts it again from its
    /// append-only file.
    pub async fn restart_redis(&mut self, down: Duration) {
        self.redis.stop();
        tokio::time::sleep(down).await;
        self.redis.start_again();
    }

    /// Log lines of every live process, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = format!("--- ingest\n{}", self.ingest.log());
        for (i, w) in self.workers.iter().enumerate() {
            if let Some(w) = w {
                out.push_str(&format!("--- worker {i}\n{}", w.log()));
            }
        }
        out
    }
}
