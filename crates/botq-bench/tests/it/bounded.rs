//! Every step ends by itself: a server that never answers, or that is not
//! there, costs the drain timeout at most and shows up in the counts.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use botq_bench::duplicates::Duplicates;
use botq_bench::generate::{self, Plan};
use botq_bench::hooks::Hooks;
use botq_bench::open_loop::{self, Load, Target};
use botq_bench::report::RateReport;
use botq_bench::schedule::{Schedule, Spread};
use botq_core::config::{Config, Service};

const CONFIG: &str = r#"
[[bot]]
id = "onebot"
platform = "onebot"
api_base = "http://127.0.0.1:5700"
"#;

async fn step(addr: std::net::SocketAddr, schedule: Schedule, drain: Duration) -> RateReport {
    let cfg = Config::from_toml(CONFIG, Service::Tool, &|_| None, Path::new(".")).unwrap();
    let hooks = Arc::new(Hooks::from_bot(&cfg.bots[0]));
    let plan = Plan {
        total: schedule.total(),
        spread: Spread { chats: 3, senders: 3 },
        text: "/ping".into(),
        event_base: 1,
        unix_secs: 1_763_700_000,
        host: addr.to_string(),
        path: "/webhooks/onebot".into(),
        duplicates: Duplicates::NONE,
        forge: false,
    };
    let (feed, generator) = generate::start(hooks, plan, 1 << 20).await.unwrap();
    let target = Target { addr, source: None, connections: 8, drain };
    let report = open_loop::run(&target, Load::new(schedule), feed, &generator).await.report;
    generator.join().await;
    report
}

#[tokio::test]
async fn a_server_that_never_answers_costs_the_drain_timeout_and_counts_as_timeouts() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            open.push(sock);
        }
    });
    let schedule = Schedule::new(40.0, Duration::ZERO, Duration::from_millis(500));
    let started = Instant::now();
    let report = step(addr, schedule, Duration::from_millis(300)).await;
    let took = started.elapsed();
    hold.abort();

    assert!(took < Duration::from_millis(500 + 300 + 400), "took {took:?}");
    assert_eq!(report.counts.timeout, 20, "{report:?}");
    assert_eq!(report.counts.responses(), 0);
    assert_eq!(report.latency_ms, None);
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error_and_not_a_hang() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let schedule = Schedule::new(50.0, Duration::from_millis(100), Duration::from_millis(200));
    let report = step(addr, schedule, Duration::from_secs(5)).await;
    assert_eq!(report.requests, 10);
    assert_eq!(report.counts.transport_error, 10, "{report:?}");
    assert_eq!(report.counts.timeout, 0, "{report:?}");
    assert_eq!(report.achieved_rate, 0.0);
}
