//! Fair share and lanes against real Redis: one chat's burst
//! waits in its own backlog instead of filling the stream ahead of other
//! chats; a stranded backlog is pumped; a group routed to its own lane is
//! served only by the workers of that lane.

use std::sync::Arc;
use std::time::Duration;

use botq_core::config::FairShare;
use botq_e2e::{eventually, post, worker_toml};
use botq_testkit::events::{Enqueuer, envelope};
use botq_testkit::fixtures::{NO_FAIR_SHARE, NO_INGEST_RATE_LIMIT};
use botq_testkit::ingest::IngestHandle;
use botq_testkit::recorder::Recorder;
use botq_testkit::redis::RedisServer;
use botq_testkit::sign;
use botq_testkit::worker::{WorkerHandle, config};
use redis::Commands;

const WAIT: Duration = Duration::from_secs(15);

fn share(n: u32) -> FairShare {
    FairShare { max_queued_per_chat: (n > 0).then_some(n), counter_ttl: Duration::from_secs(600) }
}

/// 40 events of one chat, then one each of four quiet chats, on a worker that
/// handles 4 at a time and spends 50 ms per event. Returns the position (in
/// start order) of the last quiet event.
async fn last_quiet_position(max_queued: u32) -> usize {
    let redis = RedisServer::start();
    let extra = format!("concurrency = 4\n[fair_share]\nmax_queued_per_chat = {max_queued}");
    let cfg = config(&worker_toml(&extra), &redis.url());
    let mut q = Enqueuer::new(&redis.url(), "botq", 1).await.with_fair_share(share(max_queued));
    for i in 0..40 {
        assert!(q.push(envelope("qq-main", "noisy", &format!("n{i:02}"), "/ping")).await);
    }
    for c in 0..4 {
        assert!(q.push(envelope("qq-main", &format!("quiet-{c}"), &format!("q{c}"), "/ping")).await);
    }
    let h = Recorder::rec(Duration::from_millis(50), |_| botq_testkit::recorder::Act::Succeed);
    let w = WorkerHandle::start(&cfg, Arc::new(h.clone())).await;
    assert!(eventually(WAIT, || h.finished.load(std::sync::atomic::Ordering::SeqCst) >= 44).await, "all handled");
    w.shutdown().await.unwrap();

    let calls = h.calls();
    assert_eq!(calls.len(), 44, "each event handled once");
    let noisy: Vec<_> = calls.iter().filter(|c| c.chat_id == "noisy").map(|c| c.event_id.clone()).collect();
    let mut sorted = noisy.clone();
    sorted.sort();
    assert_eq!(noisy, sorted, "the chat's events keep their order through its backlog");
    assert!(!h.chat_overlap.load(std::sync::atomic::Ordering::SeqCst), "one at a time per chat");
    let stream_len: usize = redis.conn().xlen("botq:{q0}:stream").unwrap();
    assert_eq!(stream_len, 0);
    assert!(!redis.conn().exists::<_, bool>("botq:{q0}:backlog:qq-main:noisy").unwrap(), "the backlog drained");
    calls.iter().rposition(|c| c.chat_id.starts_with("quiet")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chats_burst_waits_in_its_backlog_and_cannot_hold_up_other_chats() {
    let fair = last_quiet_position(2).await;
    assert!(fair < 10, "with fair share the quiet chats run among the first events: position {fair}");
    // The same without fair share: the quiet chats wait behind the burst.
    let unfair = last_quiet_position(0).await;
    assert!(unfair > 30, "without it they wait behind most of the burst: position {unfair}");
}

#[tokio::test]
async fn a_backlog_left_without_a_pump_is_moved_into_the_stream_by_the_promoter() {
    let redis = RedisServer::start();
    let cfg = config(&worker_toml("[fair_share]\nmax_queued_per_chat = 2"), &redis.url());
    // As if the chat's last event had left the queue without pumping (a crash
    // between reclaim and release): the backlog holds an event, nothing counts.
    let env = envelope("qq-main", "chat-x", "stranded", "/ping");
    let mut c = redis.conn();
    let _: () = c.rpush("botq:{q0}:backlog:qq-main:chat-x", env.encode()).unwrap();
    let _: () = c.zadd("botq:{q0}:backlogged", "qq-main:chat-x", 0).unwrap();
    let h = Recorder::rec_ok();
    let w = WorkerHandle::start(&cfg, Arc::new(h.clone())).await;
    assert!(eventually(WAIT, || h.calls_for("stranded").len() == 1).await, "the promoter pumped the backlog");
    assert!(eventually(WAIT, || redis.conn().zcard::<_, usize>("botq:{q0}:backlogged").unwrap() == 0).await);
    w.shutdown().await.unwrap();
}

/// Group NOISY on a lane of its own; fair share off here so the streams
/// show every event routed to them.
fn lanes_toml() -> String {
    worker_toml("")
        + r#"
[[bot.group]]
id = "NOISY"
lane = "noisy"

[[lane]]
name = "noisy"
queues = 1
"# + NO_INGEST_RATE_LIMIT
        + NO_FAIR_SHARE
}

fn qq(event: &str, group: &str) -> sign::Webhook {
    let body = sign::qq_group_at_body(event, &format!("ROBOT1.0_{event}"), group, "M1", " /ping");
    sign::qq("102000000", "naOC0ocQE3shWLAfffVLB1rhYPG7", botq_core::now_ms() / 1000, &body)
}

#[tokio::test]
async fn a_group_on_its_own_lane_is_served_only_by_the_workers_of_that_lane() {
    let redis = RedisServer::start();
    let cfg = config(&lanes_toml(), &redis.url());
    let ingest = IngestHandle::start(&cfg).await;
    let http = reqwest::Client::new();
    for i in 0..3 {
        assert_eq!(post(&http, &ingest.webhook_url("qq-main"), &qq(&format!("n{i}"), "NOISY")).await.0, 200);
        assert_eq!(post(&http, &ingest.webhook_url("qq-main"), &qq(&format!("d{i}"), "GROUP1")).await.0, 200);
    }
    let noisy_stream = "botq:{q:noisy:0}:stream";
    assert_eq!(redis.conn().xlen::<_, usize>(noisy_stream).unwrap(), 3, "the group's events are in its lane");
    assert_eq!(redis.conn().xlen::<_, usize>("botq:{q0}:stream").unwrap(), 3);

    let mut default_only = config(&lanes_toml(), &redis.url());
    default_only.worker.lanes = vec!["default".into()];
    let d = Recorder::rec_ok();
    let wd = WorkerHandle::start(&default_only, Arc::new(d.clone())).await;
    assert!(eventually(WAIT, || d.calls().len() == 3).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(d.calls().iter().all(|c| c.chat_id == "GROUP1"), "{:?}", d.calls());
    assert_eq!(redis.conn().xlen::<_, usize>(noisy_stream).unwrap(), 3, "nobody serves the noisy lane yet");

    let mut noisy_only = config(&lanes_toml(), &redis.url());
    noisy_only.worker.lanes = vec!["noisy".into()];
    let n = Recorder::rec_ok();
    let wn = WorkerHandle::start(&noisy_only, Arc::new(n.clone())).await;
    assert!(eventually(WAIT, || n.calls().len() == 3).await);
    assert!(n.calls().iter().all(|c| c.chat_id == "NOISY"));
    assert_eq!(redis.conn().xlen::<_, usize>(noisy_stream).unwrap(), 0);
    wd.shutdown().await.unwrap();
    wn.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_counter_stuck_too_high_expires_and_its_backlog_moves() {
    let redis = RedisServer::start();
    let cfg = config(&worker_toml("[fair_share]\nmax_queued_per_chat = 2"), &redis.url());
    // A miscount: the counter says the chat has its share in the stream, but
    // nothing of it is there. Pumping must not keep the counter alive.
    let env = envelope("qq-main", "chat-y", "behind-a-miscount", "/ping");
    let mut c = redis.conn();
    let _: () = redis::cmd("SET").arg("botq:{q0}:inq:qq-main:chat-y").arg(2).arg("PX").arg(1500).query(&mut c).unwrap();
    let _: () = c.rpush("botq:{q0}:backlog:qq-main:chat-y", env.encode()).unwrap();
    let _: () = c.zadd("botq:{q0}:backlogged", "qq-main:chat-y", 0).unwrap();
    let h = Recorder::rec_ok();
    let w = WorkerHandle::start(&cfg, Arc::new(h.clone())).await;
    assert!(eventually(WAIT, || h.calls_for("behind-a-miscount").len() == 1).await, "moved once the counter expired");
    w.shutdown().await.unwrap();
}
