//! SIGHUP on the real `botq-worker` binary: a bad file is rejected with its
//! problems and the old config keeps running; a good file is applied
//! without a restart and without dropping work.

use std::path::Path;
use std::time::Duration;

use botq_testkit::process::{ServiceProcess, write_config};
use botq_testkit::redis::{RedisServer, free_port};
use botq_testkit::upstream::Upstream;

const BIN: &str = env!("CARGO_BIN_EXE_botq-worker");

fn toml(redis: &str, admin: u16, upstream: &str, commands: &str) -> String {
    format!(
        r#"
redis_url = "{redis}"
[worker]
admin_listen = "127.0.0.1:{admin}"
read_block_ms = 100
[[skill]]
name = "agent"
url = "{upstream}"
[[bot]]
id = "qq-main"
platform = "qq"
app_id = "102000000"
secret = "naOC0ocQE3shWLAfffVLB1rhYPG7"
commands = {{ {commands} }}
"#
    )
}

fn enqueue(redis: &RedisServer, event: &str, text: &str) {
    let env = botq_testkit::events::envelope("qq-main", "chat-1", event, text);
    let _: String = redis::cmd("XADD")
        .arg("botq:{q0}:stream")
        .arg("*")
        .arg("env")
        .arg(env.encode())
        .query(&mut redis.conn())
        .unwrap();
}

/// Waits until the upstream was asked with `args`.
async fn asked(upstream: &Upstream, args: &str) -> bool {
    wait_for(|| upstream.received().iter().any(|r| r.body["args"] == args)).await
}

async fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_with_a_bad_file_keeps_the_old_config_and_a_good_file_applies() {
    let redis = RedisServer::start();
    let upstream = Upstream::start("agent: ").await;
    let admin = free_port();
    let path = write_config(&toml(&redis.url(), admin, &upstream.url(), r#"ask = "agent""#));
    let mut worker = ServiceProcess::start(Path::new(BIN), &path);
    assert!(worker.wait_ready(Duration::from_secs(20)), "healthcheck never passed");
    enqueue(&redis, "e1", "/ask one");
    assert!(asked(&upstream, "one").await, "the agent answers /ask");

    // A file naming a skill that does not exist: rejected, old config stays.
    std::fs::write(&path, toml(&redis.url(), admin, &upstream.url(), r#"ask = "agent", hi = "nope""#)).unwrap();
    worker.hangup();
    assert!(wait_for(|| worker.log().contains("config reload rejected")).await, "{}", worker.log());
    let log = worker.log();
    assert!(log.contains(r#"bot[0].commands.hi: no skill named \"nope\""#), "the problem is named: {log}");
    assert!(!log.contains("naOC0ocQE3shWLAfffVLB1rhYPG7"), "no secret in the log");
    enqueue(&redis, "e2", "/ask two");
    enqueue(&redis, "e3", "/hi three");
    assert!(asked(&upstream, "two").await, "still running the old config");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!upstream.received().iter().any(|r| r.body["args"] == "three"), "/hi is unknown in the old config");

    // A good file: applied without a restart.
    std::fs::write(&path, toml(&redis.url(), admin, &upstream.url(), r#"ask = "agent", hi = "agent""#)).unwrap();
    worker.hangup();
    assert!(wait_for(|| worker.log().contains("config reloaded")).await, "{}", worker.log());
    enqueue(&redis, "e4", "/hi four");
    assert!(asked(&upstream, "four").await, "the new command works");

    let metrics = reqwest::get(format!("http://127.0.0.1:{admin}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"botq_config_reloads_total{outcome="rejected"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"botq_config_reloads_total{outcome="applied"} 1"#), "{metrics}");
    let status = worker.terminate(Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}");
}
