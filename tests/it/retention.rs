//! Retention against real Redis: every structure is bounded by
//! age as well as by count. Dead letters and audit entries past their age
//! are trimmed by the worker's sampler; an event older than the maximum age
//! is dead-lettered as expired instead of handled.

use std::sync::Arc;
use std::time::Duration;

use botq_e2e::{eventually, worker_toml};
use botq_testkit::events::{Enqueuer, envelope};
use botq_testkit::recorder::Recorder;
use botq_testkit::redis::RedisServer;
use botq_testkit::worker::{WorkerHandle, config};
use redis::Commands;

const WAIT: Duration = Duration::from_secs(10);

fn xadd_at(redis: &RedisServer, key: &str, id: &str) {
    let _: String = redis::cmd("XADD").arg(key).arg(id).arg("env").arg("{}").query(&mut redis.conn()).unwrap();
}

#[tokio::test]
async fn dead_letters_and_audit_entries_past_their_age_are_trimmed() {
    let redis = RedisServer::start();
    let toml = worker_toml("dlq_max_age_secs = 3600") + "\n[audit]\nmax_age_secs = 3600\n";
    let cfg = config(&toml, &redis.url());
    let old = botq_core::now_ms() - 2 * 3600 * 1000;
    for (i, key) in ["botq:{q0}:dlq", "botq:audit"].into_iter().enumerate() {
        xadd_at(&redis, key, &format!("{old}-{i}"));
        xadd_at(&redis, key, &format!("{}-{i}", old + 1));
        xadd_at(&redis, key, "*");
    }
    let w = WorkerHandle::start(&cfg, Arc::new(Recorder::rec_ok())).await;
    for key in ["botq:{q0}:dlq", "botq:audit"] {
        assert!(eventually(WAIT, || redis.conn().xlen::<_, usize>(key).unwrap() == 1).await, "{key} trimmed by age");
    }
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_event_older_than_the_maximum_age_is_dead_lettered_unhandled() {
    let redis = RedisServer::start();
    let cfg = config(&worker_toml("max_event_age_secs = 60"), &redis.url());
    let mut q = Enqueuer::new(&redis.url(), "botq", 1).await;
    let mut stale = envelope("qq-main", "chat-1", "stale", "/ping");
    stale.received_at_ms -= 120_000;
    assert!(q.push(stale).await);
    assert!(q.push(envelope("qq-main", "chat-1", "fresh", "/ping")).await);
    let h = Recorder::rec_ok();
    let w = WorkerHandle::start(&cfg, Arc::new(h.clone())).await;
    assert!(eventually(WAIT, || h.calls_for("fresh").len() == 1).await);
    assert!(eventually(WAIT, || redis.conn().xlen::<_, usize>("botq:{q0}:dlq").unwrap() == 1).await);
    assert!(h.calls_for("stale").is_empty(), "never handled");
    let dead: redis::streams::StreamRangeReply = redis.conn().xrange_all("botq:{q0}:dlq").unwrap();
    let reason: String = dead.ids[0].get("reason").unwrap();
    assert!(reason.starts_with("expired: received 12"), "{reason}");
    w.shutdown().await.unwrap();
}
