//! botq-worker's recovery paths against a real redis-server: a worker killed
//! mid-job, poison entries, a Redis that loses the group or restarts under
//! load, and graceful shutdown (docs/TESTING.md, guarantees 5 and 9).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use botq_e2e::{eventually, worker_toml};
use botq_testkit::events::{Enqueuer, envelope};
use botq_testkit::recorder::{Act, Recorder};
use botq_testkit::redis::RedisServer;
use botq_testkit::worker::{CrashableWorker, WorkerHandle, config};
use redis::Commands;

const STREAM: &str = "botq:{q0}:stream";
const GROUP: &str = "botq-workers";

fn xlen(redis: &RedisServer, key: &str) -> usize {
    redis.conn().xlen(key).unwrap()
}

fn pending(redis: &RedisServer) -> usize {
    let reply: redis::streams::StreamPendingReply = redis.conn().xpending(STREAM, GROUP).unwrap();
    reply.count()
}

#[tokio::test]
async fn a_worker_killed_mid_job_has_its_delivery_finished_by_another() {
    let redis = RedisServer::start();
    let mut q = Enqueuer::new(&redis.url(), "botq", 1).await;
    let cfg = config(&worker_toml(""), &redis.url());

    let doomed = Recorder::rec(Duration::from_millis(900), |_| Act::Succeed);
    let a = CrashableWorker::start(&cfg, Arc::new(doomed.clone()));
    q.push(envelope("qq-main", "chat-1", "ev-crash", "/ping")).await;
    assert!(eventually(Duration::from_secs(10), || doomed.calls().len() == 1).await, "A started the job");
    a.kill();
    assert_eq!(doomed.finished.load(Ordering::SeqCst), 0, "A died mid-job");
    assert_eq!(pending(&redis), 1, "the delivery is still pending under the dead consumer");

    let rescuer = Recorder::rec_ok();
    let b = WorkerHandle::start(&cfg, Arc::new(rescuer.clone())).await;
    // The recorder is shared by every test of this binary, and the counter
    // has no label of this test's own: count what this reclaim adds.
    let reclaimed = || async {
        let metrics = reqwest::get(b.admin_url("/metrics")).await.unwrap().text().await.unwrap();
        botq_e2e::metric(&metrics, "botq_reclaimed_total")
    };
    let before = reclaimed().await;
    // After the lease (6 s) the reclaimer takes the delivery over.
    assert!(eventually(Duration::from_secs(20), || rescuer.calls_for("ev-crash").len() == 1).await);
    assert!(eventually(Duration::from_secs(5), || xlen(&redis, STREAM) == 0).await);
    assert_eq!(pending(&redis), 0);
    let after = reclaimed().await;
    assert!(after > before, "the reclaim is counted: {before} → {after}");
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_entry_redelivered_past_the_limit_is_dead_lettered_without_running() {
    let redis = RedisServer::start();
    let mut q = Enqueuer::new(&redis.url(), "botq", 1).await;
    let mut c = redis.conn();
    let _: () =
        redis::cmd("XGROUP").arg("CREATE").arg(STREAM).arg(GROUP).arg("0").arg("MKSTREAM").query(&mut c).unwrap();
    q.push(envelope("qq-main", "chat-1", "ev-poison", "/ping")).await;
    // A consumer that kept dying on this entry: delivered 9 times, idle for 10 minutes.
    let read: redis::streams::StreamReadReply = c
        .xread_options(&[STREAM], &[">"], &redis::streams::StreamReadOptions::default().group(GROUP, "ghost"))
        .unwrap();
    let id = read.keys[0].ids[0].id.clone();
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(STREAM)
        .arg(GROUP)
        .arg("ghost")
        .arg(0)
        .arg(&id)
        .arg("IDLE")
        .arg(600_000)
        .arg("RETRYCOUNT")
        .arg(9)
        .query(&mut c)
        .unwrap();

    let h = Recorder::rec_ok();
    let w = WorkerHandle::start(&config(&worker_toml("max_deliveries = 5"), &redis.url()), Arc::new(h.clone())).await;
    assert!(eventually(Duration::from_secs(10), || xlen(&redis, "botq:{q0}:dlq") == 1).await);
    let dlq: redis::streams::StreamRangeReply = c.xrange_all("botq:{q0}:dlq").unwrap();
    assert_eq!(dlq.ids[0].get::<String>("reason").unwrap(), "delivery_limit");
    let by: String = dlq.ids[0].get("by").unwrap();
    assert_eq!(by, w.engine.consumer(), "the reclaiming replica is named");
    assert_eq!(h.calls().len(), 0, "a poison entry is not run again");
    assert_eq!((xlen(&redis, STREAM), pending(&redis)), (0, 0));
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_group_is_recreated_when_redis_loses_it() {
    let redis = RedisServer::start();
    let mut q = Enqueuer::new(&redis.url(), "botq", 1).await;
    let h = Recorder::rec_ok();
    let w = WorkerHandle::start(&config(&worker_toml(""), &redis.url()), Arc::new(h.clone())).await;
    q.push(envelope("qq-main", "chat-1", "ev-before", "/ping")).await;
    assert!(eventually(Duration::from_secs(10), || h.calls().len() == 1).await);
    // What a restart without persistence does: stream and group are gone.
    let _: () = redis::cmd("FLUSHALL").query(&mut redis.conn()).unwrap();
    q.push(envelope("qq-main", "chat-1", "ev-after", "/ping")).await;
    assert!(
        eventually(Duration::from_secs(10), || h.calls_for("ev-after").len() == 1).await,
        "the reader re-created the group on NOGROUP and kept consuming"
    );
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn redis_restarted_under_load_loses_no_event() {
    let mut redis = RedisServer::start_durable();
    let mut q = Enqueuer::new(&redis.url(), "botq", 1).await;
    let h = Recorder::rec(Duration::from_millis(2), |_| Act::Succeed);
    let w = WorkerHandle::start(&config(&worker_toml(""), &redis.url()), Arc::new(h.clone())).await;
    let mut accepted = BTreeSet::new();
    for i in 0..300 {
        if i == 100 {
            redis.stop();
        }
        if i == 120 {
            redis.start_again();
        }
        let id = format!("ev-{i:03}");
        // Like a platform: retry until Redis takes it.
        for _ in 0..100 {
            match q.try_push(envelope("qq-main", &format!("chat-{}", i % 7), &id, "/ping")).await {
                Ok(_) => {
                    accepted.insert(id.clone());
                    break;
                }
                Err(_) if i < 120 => break, // Redis is down for these; the platform would retry later.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
    assert!(accepted.len() >= 280, "only the outage window was refused: {}", accepted.len());
    let handled = || h.calls().into_iter().map(|c| c.event_id).collect::<BTreeSet<_>>();
    assert!(
        eventually(Duration::from_secs(30), || handled() == accepted).await,
        "missing: {:?}",
        accepted.difference(&handled()).collect::<Vec<_>>()
    );
    assert!(eventually(Duration::from_secs(10), || xlen(&redis, STREAM) == 0).await);
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_finishes_in_flight_work_and_leaves_the_rest_for_others() {
    let redis = RedisServer::start();
    let mut q = Enqueuer::new(&redis.url(), "botq", 1).await;
    let h = Recorder::rec(Duration::from_millis(500), |_| Act::Succeed);
    let cfg = config(&worker_toml("concurrency = 4\nper_chat_ordering = false"), &redis.url());
    let w = WorkerHandle::start(&cfg, Arc::new(h.clone())).await;
    for i in 0..20 {
        q.push(envelope("qq-main", &format!("chat-{i}"), &format!("ev-{i}"), "/ping")).await;
    }
    assert!(eventually(Duration::from_secs(10), || h.calls().len() == 4).await);
    tokio::time::timeout(Duration::from_secs(5), w.shutdown()).await.expect("drains within the grace period").unwrap();
    assert_eq!(h.finished.load(Ordering::SeqCst), 4, "in-flight attempts completed");
    assert_eq!(h.calls().len(), 4, "nothing new was read after the signal");
    assert_eq!(xlen(&redis, STREAM), 16, "unread events stay in the stream for other replicas");
    assert_eq!(pending(&redis), 0);
}

#[tokio::test]
async fn shutdown_past_the_grace_period_leaves_the_delivery_pending_for_reclaim() {
    let redis = RedisServer::start();
    let mut q = Enqueuer::new(&redis.url(), "botq", 1).await;
    let h = Recorder::rec(Duration::from_secs(5), |_| Act::Succeed);
    let toml = worker_toml("")
        .replace("handler_timeout_secs = 1\n", "handler_timeout_secs = 10\n")
        .replace("lease_secs = 6\n", "lease_secs = 15\n")
        .replace("shutdown_grace_secs = 5\n", "shutdown_grace_secs = 1\n");
    let w = WorkerHandle::start(&config(&toml, &redis.url()), Arc::new(h.clone())).await;
    q.push(envelope("qq-main", "chat-1", "ev-long", "/ping")).await;
    assert!(eventually(Duration::from_secs(10), || h.calls().len() == 1).await);
    let started = std::time::Instant::now();
    w.shutdown().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(4), "stopped after the grace period, not the handler");
    assert_eq!(pending(&redis), 1, "the unfinished delivery stays pending, to be reclaimed by another replica");
}
