//! botq-worker against a real redis-server: one handling per event, retries
//! with growing delays, dead letters with reasons, isolation of panics and
//! overruns, the hard concurrency cap and per-chat order (docs/TESTING.md, guarantees 3–7).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use botq_e2e::{eventually, worker_toml};
use botq_testkit::events::{Enqueuer, envelope};
use botq_testkit::recorder::{Act, Recorder};
use botq_testkit::redis::RedisServer;
use botq_testkit::worker::{WorkerHandle, config};
use botq_worker::HandleError;
use redis::Commands;

const STREAM: &str = "botq:{q0}:stream";
const DLQ: &str = "botq:{q0}:dlq";
const DELAYED: &str = "botq:{q0}:delayed";

struct Env {
    redis: RedisServer,
    q: Enqueuer,
}

async fn env() -> Env {
    let redis = RedisServer::start();
    let q = Enqueuer::new(&redis.url(), "botq", 1).await;
    Env { redis, q }
}

impl Env {
    fn len(&self, key: &str) -> usize {
        let mut c = self.redis.conn();
        if key == DELAYED { c.zcard(key).unwrap() } else { c.xlen(key).unwrap() }
    }

    fn dlq(&self) -> Vec<(String, String)> {
        let mut c = self.redis.conn();
        let r: redis::streams::StreamRangeReply = c.xrange_all(DLQ).unwrap();
        r.ids
            .iter()
            .map(|e| {
                let env: Vec<u8> = e.get("env").unwrap();
                let env = botq_core::envelope::Envelope::decode(&env).unwrap();
                (env.event_id, e.get::<String>("reason").unwrap())
            })
            .collect()
    }
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_redelivered_event_is_handled_once() {
    let mut t = env().await;
    let h = Recorder::rec_ok();
    let w = WorkerHandle::start(&config(&worker_toml(""), &t.redis.url()), Arc::new(h.clone())).await;
    // A bot of its own: the metrics recorder is shared by every test of this binary.
    let e = envelope("qq-dup-once", "chat-1", "ev-dup", "/ping");
    // Two stream entries of one event: a platform redelivery that got past ingest's dedupe.
    t.q.push_raw(&e).await;
    assert!(eventually(WAIT, || h.calls().len() == 1).await);
    t.q.push_raw(&e).await;
    assert!(eventually(WAIT, || t.len(STREAM) == 0).await, "the duplicate entry is acked and deleted");
    assert_eq!(h.calls_for("ev-dup").len(), 1, "handled once");
    let metrics = reqwest::get(w.admin_url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"botq_events_total{bot="qq-dup-once",outcome="duplicate"} 1"#), "{metrics}");
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_handler_failing_twice_is_retried_with_growing_delays_and_succeeds_once() {
    let mut t = env().await;
    let h = Recorder::rec(Duration::ZERO, |job| {
        if job.attempt < 3 { Act::Fail(HandleError::Transient("upstream 503".into())) } else { Act::Succeed }
    });
    let w = WorkerHandle::start(&config(&worker_toml(""), &t.redis.url()), Arc::new(h.clone())).await;
    assert!(t.q.push(envelope("qq-main", "chat-1", "ev-flaky", "/ping")).await);
    assert!(eventually(WAIT, || h.finished.load(Ordering::SeqCst) == 3).await);
    let calls = h.calls_for("ev-flaky");
    assert_eq!(calls.iter().map(|c| c.attempt).collect::<Vec<_>>(), [1, 2, 3]);
    let gap1 = calls[1].at - calls[0].at;
    let gap2 = calls[2].at - calls[1].at;
    assert!(gap1 >= Duration::from_millis(100), "first retry waits the initial backoff: {gap1:?}");
    assert!(gap2 >= Duration::from_millis(200), "second retry waits twice as long: {gap2:?}");
    assert!(eventually(WAIT, || t.len(STREAM) == 0).await);
    assert_eq!(t.len(DELAYED), 0);
    assert_eq!(t.len(DLQ), 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.calls_for("ev-flaky").len(), 3, "no attempt after the success");
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_retry_after_is_never_cut_short() {
    let mut t = env().await;
    let h = Recorder::rec(Duration::ZERO, |job| {
        if job.attempt == 1 {
            Act::Fail(HandleError::RetryAfter(Duration::from_millis(700), "429".into()))
        } else {
            Act::Succeed
        }
    });
    let w = WorkerHandle::start(&config(&worker_toml(""), &t.redis.url()), Arc::new(h.clone())).await;
    t.q.push(envelope("qq-main", "chat-1", "ev-429", "/ping")).await;
    assert!(eventually(WAIT, || h.finished.load(Ordering::SeqCst) == 2).await);
    let calls = h.calls_for("ev-429");
    let gap = calls[1].at - calls[0].at;
    assert!(gap >= Duration::from_millis(700), "backoff 100 ms, Retry-After 700 ms wins: {gap:?}");
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_permanent_failure_lands_in_the_dead_letter_stream_with_its_reason() {
    let mut t = env().await;
    let h = Recorder::rec(Duration::ZERO, |_| Act::Fail(HandleError::Permanent("chat does not exist".into())));
    let w = WorkerHandle::start(&config(&worker_toml(""), &t.redis.url()), Arc::new(h.clone())).await;
    t.q.push(envelope("qq-main", "chat-1", "ev-bad", "/ping")).await;
    assert!(eventually(WAIT, || t.len(DLQ) == 1).await);
    assert_eq!(t.dlq(), [("ev-bad".to_owned(), "chat does not exist".to_owned())]);
    assert_eq!(h.calls().len(), 1, "a permanent failure is not retried");
    assert_eq!(t.len(STREAM), 0);
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn retries_are_bounded_and_the_last_failure_is_dead_lettered() {
    let mut t = env().await;
    let h = Recorder::rec(Duration::ZERO, |_| Act::Fail(HandleError::Transient("timeout".into())));
    let w = WorkerHandle::start(&config(&worker_toml("max_attempts = 3"), &t.redis.url()), Arc::new(h.clone())).await;
    t.q.push(envelope("qq-main", "chat-1", "ev-down", "/ping")).await;
    assert!(eventually(WAIT, || t.len(DLQ) == 1).await);
    assert_eq!(h.calls().len(), 3);
    let (_, reason) = &t.dlq()[0];
    assert_eq!(reason, "gave up after 3 attempts: transient failure: timeout");
    assert_eq!((t.len(STREAM), t.len(DELAYED)), (0, 0));
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_panicking_or_overrunning_handler_is_one_failed_attempt_not_a_dead_worker() {
    let mut t = env().await;
    let h = Recorder::rec(Duration::ZERO, |job| match (job.envelope.event_id.as_str(), job.attempt) {
        ("ev-panic", 1) => Act::Panic,
        ("ev-slow", 1) => Act::Sleep(Duration::from_secs(3)),
        _ => Act::Succeed,
    });
    let w = WorkerHandle::start(&config(&worker_toml(""), &t.redis.url()), Arc::new(h.clone())).await;
    t.q.push(envelope("qq-main", "chat-1", "ev-panic", "/ping")).await;
    t.q.push(envelope("qq-main", "chat-2", "ev-slow", "/ping")).await;
    assert!(eventually(WAIT, || h.calls_for("ev-panic").len() == 2 && h.calls_for("ev-slow").len() == 2).await);
    assert!(eventually(WAIT, || t.len(STREAM) == 0).await);
    // The worker still works.
    t.q.push(envelope("qq-main", "chat-3", "ev-after", "/ping")).await;
    assert!(eventually(WAIT, || h.calls_for("ev-after").len() == 1).await);
    assert_eq!(t.len(DLQ), 0);
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn in_flight_work_never_exceeds_the_concurrency_cap() {
    let mut t = env().await;
    let h = Recorder::rec(Duration::from_millis(30), |_| Act::Succeed);
    let cfg = config(&worker_toml("concurrency = 4\nper_chat_ordering = false"), &t.redis.url());
    let w = WorkerHandle::start(&cfg, Arc::new(h.clone())).await;
    for i in 0..80 {
        t.q.push(envelope("qq-main", &format!("chat-{i}"), &format!("ev-{i}"), "/ping")).await;
    }
    let mut seen_inflight = 0;
    assert!(
        eventually(Duration::from_secs(20), || {
            seen_inflight = seen_inflight.max(w.engine.inflight());
            h.finished.load(Ordering::SeqCst) == 80
        })
        .await
    );
    assert_eq!(h.max_active.load(Ordering::SeqCst), 4, "the cap is reached and never passed");
    assert!(seen_inflight <= 4, "deliveries held by the worker: {seen_inflight}");
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn per_skill_caps_limit_expensive_skills() {
    let mut t = env().await;
    let h = Recorder::rec(Duration::from_millis(30), |_| Act::Succeed);
    let extra = "concurrency = 8\nper_chat_ordering = false\n[worker.skill_concurrency]\nslow = 1";
    let w = WorkerHandle::start(&config(&worker_toml(extra), &t.redis.url()), Arc::new(h.clone())).await;
    for i in 0..10 {
        t.q.push(envelope("qq-main", &format!("chat-{i}"), &format!("ev-{i}"), "/slow")).await;
    }
    assert!(eventually(WAIT, || h.finished.load(Ordering::SeqCst) == 10).await);
    assert_eq!(h.max_active.load(Ordering::SeqCst), 1, "the slow skill ran one at a time");
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn events_of_one_chat_run_in_order_while_chats_run_in_parallel() {
    let mut t = env().await;
    let h = Recorder::rec(Duration::from_millis(5), |_| Act::Succeed);
    let w = WorkerHandle::start(&config(&worker_toml("concurrency = 8"), &t.redis.url()), Arc::new(h.clone())).await;
    for i in 0..20 {
        for chat in ["a", "b", "c"] {
            t.q.push(envelope("qq-main", chat, &format!("{chat}-{i:02}"), "/ping")).await;
        }
    }
    assert!(eventually(Duration::from_secs(20), || h.finished.load(Ordering::SeqCst) == 60).await);
    assert!(!h.chat_overlap.load(Ordering::SeqCst), "two events of one chat overlapped");
    assert!(h.max_active.load(Ordering::SeqCst) > 1, "different chats ran in parallel");
    for chat in ["a", "b", "c"] {
        let order: Vec<String> = h.calls().into_iter().filter(|c| c.chat_id == chat).map(|c| c.event_id).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "chat {chat} out of order");
    }
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn settled_entries_are_deleted_so_memory_stays_bounded() {
    let mut t = env().await;
    let h = Recorder::rec_ok();
    let w = WorkerHandle::start(&config(&worker_toml(""), &t.redis.url()), Arc::new(h.clone())).await;
    for i in 0..50 {
        t.q.push(envelope("qq-main", &format!("c{}", i % 5), &format!("ev-{i}"), "/ping")).await;
    }
    assert!(eventually(WAIT, || h.finished.load(Ordering::SeqCst) == 50).await);
    assert!(eventually(WAIT, || t.len(STREAM) == 0).await, "XACK + XDEL: no finished entry stays in the stream");
    let mut c = t.redis.conn();
    let pending: redis::streams::StreamPendingReply = c.xpending(STREAM, "botq-workers").unwrap();
    assert_eq!(pending.count(), 0);
    w.shutdown().await.unwrap();
}
