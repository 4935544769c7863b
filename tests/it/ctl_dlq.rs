//! Dead-letter replay with a running worker: an event that died comes back
//! through `botq_core::queue::replay`, is handled exactly once more, and leaves
//! the DLQ empty. The `botqctl` binary's side is in `crates/botq-ctl/tests`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use botq_core::keys::Keys;
use botq_core::queue::{dead_letter, dead_letters, replay};
use botq_e2e::{eventually, worker_toml};
use botq_testkit::events::{Enqueuer, envelope};
use botq_testkit::recorder::{Act, Recorder};
use botq_testkit::redis::RedisServer;
use botq_testkit::worker::{WorkerHandle, config};
use botq_worker::HandleError;
use redis::Commands;

const STREAM: &str = "botq:{q0}:stream";
const DLQ: &str = "botq:{q0}:dlq";
const WAIT: Duration = Duration::from_secs(10);

fn len(redis: &RedisServer, key: &str) -> usize {
    redis.conn().xlen(key).unwrap()
}

#[tokio::test]
async fn a_replayed_dead_letter_is_handled_exactly_once_and_leaves_the_dlq_empty() {
    let redis = RedisServer::start();
    let mut q = Enqueuer::new(&redis.url(), "botq", 1).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    // Fails for good on its first run, succeeds on any later one.
    let h = Recorder::rec(Duration::ZERO, move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            Act::Fail(HandleError::Permanent("chat does not exist".into()))
        } else {
            Act::Succeed
        }
    });
    let w = WorkerHandle::start(&config(&worker_toml(""), &redis.url()), Arc::new(h.clone())).await;
    assert!(q.push(envelope("qq-main", "chat-1", "ev-dead", "/ping")).await);
    assert!(eventually(WAIT, || len(&redis, DLQ) == 1).await, "a permanent failure is dead-lettered");

    let mut conn = redis.async_conn().await;
    let keys = Keys::new("botq", 1).queue(0);
    let dead = dead_letters(&mut conn, 0, &keys, None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, "chat does not exist");
    assert_eq!(dead[0].envelope().unwrap().event_id, "ev-dead");

    let new_id = replay(&mut conn, &keys, &dead[0]).await.unwrap();
    assert!(new_id.is_some(), "replay returns the new stream id");
    assert!(eventually(WAIT, || h.calls_for("ev-dead").len() == 2 && len(&redis, STREAM) == 0).await);
    assert_eq!(len(&redis, DLQ), 0, "the DLQ is empty after the replay");
    assert_eq!(h.calls_for("ev-dead")[1].attempt, 1, "the replay starts a fresh retry budget");

    assert_eq!(replay(&mut conn, &keys, &dead[0]).await.unwrap(), None, "a second replay finds it gone");
    assert!(dead_letter(&mut conn, 0, &keys, &dead[0].id).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.calls_for("ev-dead").len(), 2, "handled exactly once after the replay");
    w.shutdown().await.unwrap();
}
