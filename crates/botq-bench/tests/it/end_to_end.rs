//! The bench's reply readback against the real thing: Redis, ingest, the
//! worker (bot handler) and botq-fakeplatform in-process on loopback. A
//! deliberately duplicated webhook is acknowledged and answered once, and the
//! bench counts replies per event, not per request.

use std::sync::Arc;
use std::time::Duration;

use botq_bench::cli::{Cli, Command};
use botq_bench::schedule::Schedule;
use botq_bench::step;
use botq_fakeplatform::{FakeState, Options};
use botq_testkit::fixtures::{NO_INGEST_RATE_LIMIT, NO_REPLY_LIMIT};
use botq_testkit::ingest::IngestHandle;
use botq_testkit::process::{TempPath, write_config};
use botq_testkit::redis::RedisServer;
use botq_testkit::worker::{self, WorkerHandle};
use botq_worker::BotHandler;
use clap::Parser;
use tokio_util::sync::{CancellationToken, DropGuard};

fn toml(redis_url: &str, fake: u16) -> String {
    format!(
        r#"redis_url = "{redis_url}"
{NO_INGEST_RATE_LIMIT}
[[bot]]
id = "onebot-bench"
platform = "onebot"
app_id = "10001000"
secret = "bench-onebot-secret"
api_base = "http://127.0.0.1:{fake}/onebot"
{NO_REPLY_LIMIT}guard = {{ chat_replies_per_min = 0 }}
"#
    )
}

/// Redis, the fake, ingest and a worker, and the config file the bench reads.
struct Stack {
    _redis: RedisServer,
    fake: Arc<FakeState>,
    ingest: IngestHandle,
    worker: Option<WorkerHandle>,
    fake_port: u16,
    config_path: TempPath,
    _stop_fake: DropGuard,
}

impl Stack {
    async fn start() -> Self {
        let redis = RedisServer::start();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake_port = listener.local_addr().unwrap().port();
        let text = toml(&redis.url(), fake_port);
        let cfg = worker::config(&text, &redis.url());
        let fake = Arc::new(FakeState::from_config(&cfg, Options::default()).unwrap());
        let stop = CancellationToken::new();
        tokio::spawn(botq_fakeplatform::run(listener, fake.clone(), stop.clone()));
        let ingest = IngestHandle::start(&botq_testkit::ingest::config(&text, &redis.url())).await;
        let worker = WorkerHandle::start(&cfg, Arc::new(BotHandler::new(&cfg.app()).unwrap())).await;
        let config_path = write_config(&text);
        Self {
            _redis: redis,
            fake,
            ingest,
            worker: Some(worker),
            fake_port,
            config_path,
            _stop_fake: stop.drop_guard(),
        }
    }

    /// `botq-bench COMMAND` against this stack, with `args` after the common flags.
    fn argv(&self, command: &str, args: &[&str]) -> Cli {
        let config = self.config_path.to_string_lossy().into_owned();
        let (url, fake_url) = (format!("http://{}", self.ingest.addr), format!("http://127.0.0.1:{}", self.fake_port));
        let mut argv = vec!["botq-bench", command, "--config", &config, "--url", &url, "--bot", "onebot-bench"];
        argv.extend_from_slice(&["--fake-url", &fake_url, "--chats", "20", "--reply-timeout", "20"]);
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap()
    }

    /// The bench's setup for `ingest` with `extra` flags, reading back from the fake.
    async fn setup(&self, extra: &[&str]) -> step::Setup {
        let mut args = vec!["--rate", "1", "--duration", "1"];
        args.extend_from_slice(extra);
        let Command::Ingest(a) = self.argv("ingest", &args).command else { panic!("ingest") };
        botq_bench::ingest::setup(&a.target, &a.load, 1.0, &a.text, a.fake_url.as_deref(), a.reply_timeout)
            .await
            .unwrap()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        drop(self.worker.take());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_webhooks_are_acknowledged_and_every_event_is_answered_once() {
    let stack = Stack::start().await;
    let setup = stack.setup(&["--duplicate-every", "4", "--duplicate-delay", "0.05"]).await;
    let schedule = Schedule::new(200.0, Duration::from_millis(250), Duration::from_secs(1));
    let report = step::run(&setup, schedule).await.unwrap();

    assert_eq!((report.requests, report.counts.ok), (200, 200), "duplicates are acknowledged too: {report:?}");
    assert_eq!((report.duplicates.offered, report.duplicates.acked), (50, 50), "{report:?}");
    let r = report.replies.expect("read back");
    assert_eq!((r.events, r.acked, r.replied, r.missing), (150, 150, 150, 0), "{r:?}");
    assert_eq!((r.duplicate_replies, r.dropped), (0, 0), "{r:?}");
    assert_eq!(r.foreign, 1, "the pre-flight /ping's pong");
    assert!(r.latency_ms.is_some_and(|l| l.p50 > 0.0 && l.max < 20_000.0), "{r:?}");
    // 250 ms of warm-up at 200/s is 50 requests, 12 of them duplicates: 38 events.
    assert_eq!(stack.fake.stats().deliveries, 1 + 38 + 150, "one reply per event, warm-up included, no more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_reports_when_the_last_reply_arrived_and_the_rate_it_drained_at() {
    let stack = Stack::start().await;
    let setup = stack.setup(&[]).await;
    let report = step::run(&setup, Schedule::burst(1000.0, 400)).await.unwrap();
    assert_eq!(report.counts.ok, 400, "{report:?}");
    let r = report.replies.expect("read back");
    assert_eq!((r.events, r.replied, r.missing, r.duplicate_replies), (400, 400, 0, 0), "{r:?}");
    let (first, last) = (r.first_reply_s.unwrap(), r.last_reply_s.unwrap());
    assert!(first >= 0.0 && last > first && last < 20.0, "{r:?}");
    assert!(r.reply_rate().is_some_and(|x| x > 0.0), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_burst_and_ingest_commands_run_through_with_a_fake_to_read() {
    let stack = Stack::start().await;
    let ok = format!("{:?}", std::process::ExitCode::SUCCESS);
    let burst = stack.argv("burst", &["--events", "100", "--rate", "500", "--duplicate-every", "10"]);
    assert_eq!(format!("{:?}", botq_bench::run(burst).await.unwrap()), ok);
    let ramp = stack.argv(
        "ingest",
        &["--rate", "100,200", "--duration", "0.3", "--warmup", "0", "--json", "--report-every", "0.1"],
    );
    assert_eq!(format!("{:?}", botq_bench::run(ramp).await.unwrap()), ok);
    assert_eq!(stack.fake.stats().deliveries, 2 + 90 + 30 + 60, "two pre-flights, then one reply per event");
}
