//! The bench against the real thing: ingest in-process on port 0, backed by a
//! real `redis-server`. What the bench reports as acknowledged must be in the
//! stream, one entry per request, so its numbers measure the full ack path.

use std::sync::Arc;
use std::time::Duration;

use botq_bench::cli::Cli;
use botq_bench::duplicates::Duplicates;
use botq_bench::generate::{self, Plan};
use botq_bench::hooks::Hooks;
use botq_bench::open_loop::{self, Load, Target};
use botq_bench::schedule::{Schedule, Spread};
use botq_testkit::fixtures::{LARK_MAIN_BOT, NO_INGEST_RATE_LIMIT, ONEBOT_MAIN_BOT, QQ_MAIN_BOT};
use botq_testkit::ingest::{IngestHandle, config};
use botq_testkit::process::{TempPath, write_config};
use botq_testkit::redis::RedisServer;
use clap::Parser;
use redis::Commands;

/// QQ, Lark with an Encrypt Key and OneBot with a signing secret, ingest's
/// rate limits off: the bench's numbers count every request.
fn bots() -> String {
    format!(
        r#"{NO_INGEST_RATE_LIMIT}{QQ_MAIN_BOT}{LARK_MAIN_BOT}encrypt_key = "test key"
{ONEBOT_MAIN_BOT}api_base = "http://127.0.0.1:5700"
secret = "hmac"
"#
    )
}

/// Redis, ingest, and the config file the bench reads (the same text).
struct Stack {
    redis: RedisServer,
    ingest: IngestHandle,
    config_path: TempPath,
}

impl Stack {
    async fn start() -> Self {
        let redis = RedisServer::start();
        let text = format!("redis_url = \"{}\"\n{}", redis.url(), bots());
        let ingest = IngestHandle::start(&config(&text, &redis.url())).await;
        let config_path = write_config(&text);
        Self { redis, ingest, config_path }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.ingest.addr)
    }

    fn stream_len(&self) -> u64 {
        self.redis.conn().xlen("botq:{q0}:stream").unwrap()
    }

    /// Events accepted in all: in the stream, or waiting in their chat's
    /// backlog (fair share keeps a few per chat in the stream).
    fn accepted(&self) -> u64 {
        let mut c = self.redis.conn();
        let backlogs: Vec<String> = redis::cmd("KEYS").arg("botq:{q0}:backlog:*").query(&mut c).unwrap();
        let waiting: u64 = backlogs.iter().map(|k| c.llen::<_, u64>(k).unwrap()).sum();
        self.stream_len() + waiting
    }

    async fn bench(&self, args: &[&str]) -> String {
        let path = self.config_path.to_string_lossy().into_owned();
        let base = self.base_url();
        let mut argv = vec!["botq-bench"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["--config", &path, "--url", &base]);
        let code = botq_bench::run(Cli::try_parse_from(argv).unwrap()).await.unwrap();
        format!("{code:?}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_gets_one_webhook_per_platform_acknowledged_and_stored() {
    let stack = Stack::start().await;
    let ok = format!("{:?}", std::process::ExitCode::SUCCESS);
    for bot in ["qq-main", "lark-main", "onebot-main"] {
        assert_eq!(stack.bench(&["send", "--bot", bot]).await, ok, "{bot}");
    }
    assert_eq!(stack.bench(&["send", "--bot", "onebot-main", "--chat", "123", "--sender", "456"]).await, ok);
    assert_eq!(stack.stream_len(), 4, "every send is a new event, none deduped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_exits_non_zero_when_ingest_refuses() {
    let stack = Stack::start().await;
    // The bench signs with the file's secret; ingest was started with another one.
    let tampered = std::fs::read_to_string(&stack.config_path)
        .unwrap()
        .replace("naOC0ocQE3shWLAfffVLB1rhYPG7", "another-secret-entirely");
    std::fs::write(&stack.config_path, tampered).unwrap();
    assert_eq!(stack.bench(&["send", "--bot", "qq-main"]).await, format!("{:?}", std::process::ExitCode::FAILURE));
    assert_eq!(stack.stream_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_loop_step_gets_every_request_acknowledged_and_enqueued_once() {
    let stack = Stack::start().await;
    let cfg = botq_bench::load_config(&stack.config_path).unwrap();
    let hooks = Arc::new(Hooks::from_bot(cfg.bot("qq-main").unwrap()));
    let schedule = Schedule::new(400.0, Duration::from_millis(250), Duration::from_secs(1));
    let plan = Plan {
        total: schedule.total(),
        spread: Spread { chats: 50, senders: 500 },
        text: "/ping".into(),
        event_base: botq_bench::event_base(),
        unix_secs: botq_bench::unix_secs(),
        host: stack.ingest.addr.to_string(),
        path: "/webhooks/qq-main".into(),
        duplicates: Duplicates::NONE,
        forge: false,
    };
    let (feed, generator) = generate::start(hooks, plan, 1 << 30).await.unwrap();
    assert_eq!(generator.mode, generate::Mode::Pregenerated);
    assert_eq!(generator.prefilled, schedule.total());
    let target = Target { addr: stack.ingest.addr, source: None, connections: 16, drain: Duration::from_secs(5) };
    let report = open_loop::run(&target, Load::new(schedule), feed, &generator).await.report;
    generator.join().await;

    assert_eq!(report.requests, 400);
    assert_eq!(report.counts.ok, 400, "{report:?}");
    assert_eq!(report.counts.responses(), 400, "{report:?}");
    assert_eq!(report.counts.timeout, 0, "{report:?}");
    assert!(report.latency_ms.is_some() && report.signing_cpu_s == 0.0, "{report:?}");
    assert!(report.achieved_rate > 300.0 && report.achieved_rate <= 401.0, "{report:?}");
    assert_eq!(stack.accepted(), schedule.total(), "warm-up and measured requests, each enqueued once");
    assert_eq!(stack.stream_len(), 50, "fair share: one event per chat in the stream, the rest in chat backlogs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_command_runs_a_two_rate_sweep_with_a_preflight() {
    let stack = Stack::start().await;
    let args = ["ingest", "--bot", "lark-main", "--rate", "100,200", "--duration", "0.5", "--warmup", "0", "--json"];
    assert_eq!(stack.bench(&args).await, format!("{:?}", std::process::ExitCode::SUCCESS));
    assert_eq!(stack.accepted(), 1 + 50 + 100, "pre-flight plus both steps");
}
