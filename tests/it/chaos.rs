//! The chaos suite: during a steady stream of signed QQ and Lark
//! webhooks through the real binaries, workers are SIGKILLed and replaced,
//! Redis is SIGKILLed and restarted from its append-only file, the reply APIs
//! answer 5xx, 429, time out or lose the answer to a message they delivered,
//! and the platforms re-deliver webhooks. Afterwards:
//!
//! - every event was acknowledged, and no webhook was refused as invalid;
//! - every accepted event got **exactly one** reply, or is in the DLQ;
//! - nothing was lost: no event is neither answered nor dead-lettered;
//! - the DLQ holds exactly the events that exhausted their attempts, each
//!   once (one whose answer the platform lost after delivering it may be
//!   both answered and dead-lettered: botq cannot know it went out);
//! - and every kind of chaos actually happened.
//!
//! The size is for CI (~30 s); `make chaos` runs a longer one through the
//! same code: `CHAOS_EVENTS` (per platform, default 150) over `CHAOS_SECS`
//! (default 15), a worker killed every `CHAOS_KILL_MS` (default 1500) and
//! Redis down for 1 s and restarted every 30 s (at least once).

mod load;
mod stack;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use botq_core::keys::Keys;
use botq_core::queue::{self, QueueStats};
use tokio::time::Instant;

use stack::{MAX_ATTEMPTS, Stack};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}={v}: not a number")))
}

/// The DLQ's events: platform message id → (reason, attempts).
async fn dead_letters(stack: &Stack, keys: &Keys) -> BTreeMap<String, Vec<(String, u32)>> {
    let mut c = stack.redis.async_conn().await;
    let mut out: BTreeMap<String, Vec<(String, u32)>> = BTreeMap::new();
    for (n, queue) in keys.all_queues().enumerate() {
        let queue_no = u16::try_from(n).expect("queue number");
        for dead in queue::dead_letters(&mut c, queue_no, &queue, None, 1_000_000).await.expect("read the DLQ") {
            let env = dead.envelope().expect("a dead letter decodes");
            out.entry(env.message_id).or_default().push((dead.reason, dead.attempts));
        }
    }
    out
}

/// Whether anything is still in the queue (stream entries, retries waiting,
/// chat backlogs), with the gauges of each queue that is not empty.
async fn in_flight(stack: &Stack, keys: &Keys) -> Vec<QueueStats> {
    let mut c = stack.redis.async_conn().await;
    let mut busy = Vec::new();
    for queue in keys.all_queues() {
        let s = queue::stats(&mut c, &queue).await.expect("queue stats");
        if s.depth + s.delayed + s.backlogged_chats > 0 {
            busy.push(s);
        }
    }
    busy
}

fn replies_per_event(stack: &Stack) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for d in stack.fake.state.deliveries() {
        *out.entry(d.reply_to.clone().unwrap_or_default()).or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_accepted_event_is_answered_once_or_dead_lettered_through_kills_restarts_and_faults() {
    let per_platform = usize::try_from(env_or("CHAOS_EVENTS", 150)).unwrap();
    let over = Duration::from_secs(env_or("CHAOS_SECS", 15));
    let kill_every = Duration::from_millis(env_or("CHAOS_KILL_MS", 1500));
    let restarts_due = (over.as_secs() / 30).max(1);

    let mut stack = Stack::start(2).await;
    let keys = Keys::new("botq", 1);
    let events = load::events(per_platform);
    let ids: BTreeSet<String> = events.iter().map(|e| e.message_id.clone()).collect();
    let started = Instant::now();
    let load = tokio::spawn(load::offer(stack.ingest_url.clone(), events, over));

    // Chaos while the stream flows: a worker killed every `kill_every`
    // (alternating), Redis restarted at evenly spaced points.
    let (mut slot, mut restarts) = (0, 0);
    while !load.is_finished() {
        tokio::time::sleep(kill_every).await;
        stack.kill_and_replace_worker(slot % 2);
        slot += 1;
        let due = over * u32::try_from(restarts * 2 + 1).unwrap() / u32::try_from(restarts_due * 2).unwrap();
        if restarts < restarts_due && started.elapsed() >= due {
            stack.restart_redis(Duration::from_secs(1)).await;
            restarts += 1;
        }
    }
    let outcome = load.await.expect("the load ran");
    assert!(outcome.unacknowledged.is_empty(), "never acknowledged: {:?}", outcome.unacknowledged);
    assert_eq!(outcome.accepted, ids.len());
    assert!(
        outcome.refused.keys().all(|s| *s == 0 || *s >= 500),
        "only unavailability may refuse a valid webhook: {:?}",
        outcome.refused
    );

    // Let the survivors finish: every event answered or dead-lettered, the queue empty.
    let settle_by = Instant::now() + Duration::from_secs(90);
    loop {
        let replied = replies_per_event(&stack);
        let dead = dead_letters(&stack, &keys).await;
        let open = ids.iter().filter(|id| !replied.contains_key(*id) && !dead.contains_key(*id)).count();
        let busy = in_flight(&stack, &keys).await;
        if open == 0 && busy.is_empty() {
            break;
        }
        assert!(
            Instant::now() < settle_by,
            "not settled 90 s after the load: {open} events neither answered nor dead-lettered; queues {busy:?}\n{}",
            stack.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Late duplicates would show up now: a lease expiring, a retry still due.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let replied = replies_per_event(&stack);
    let dead = dead_letters(&stack, &keys).await;
    let duplicated: Vec<_> = replied.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "events answered more than once: {duplicated:?}");
    let strays: Vec<_> = replied.keys().filter(|id| !ids.contains(*id)).collect();
    assert!(strays.is_empty(), "replies to no event: {strays:?}");
    let lost: Vec<_> = ids.iter().filter(|id| !replied.contains_key(*id) && !dead.contains_key(*id)).collect();
    assert!(lost.is_empty(), "lost (neither answered nor dead-lettered): {lost:?}");
    // An event can be both answered and dead-lettered only when the platform
    // delivered a reply whose answer was lost and every later attempt failed:
    // botq cannot know it went out. Replaying it is safe (the reply's
    // idempotency key makes the platform answer "duplicate").
    let answered_and_dead = dead.keys().filter(|id| replied.contains_key(*id)).count();
    for (id, letters) in &dead {
        assert!(ids.contains(id), "a dead letter of no event: {id}");
        assert_eq!(letters.len(), 1, "{id} dead-lettered more than once: {letters:?}");
        let (reason, attempts) = &letters[0];
        let exhausted =
            reason.starts_with(&format!("gave up after {MAX_ATTEMPTS} attempts")) && *attempts == MAX_ATTEMPTS;
        assert!(
            exhausted || reason == "delivery_limit",
            "{id} dead-lettered without exhausting its attempts: {reason} ({attempts})"
        );
    }
    let accounted: BTreeSet<&String> = replied.keys().chain(dead.keys()).collect();
    assert_eq!(accounted.len(), ids.len());

    // Every kind of chaos happened.
    let faults = stack.fake.state.stats().faults;
    eprintln!(
        "chaos: {} events, {} posts ({} re-deliveries, refused {:?}), {} worker kills, {restarts} Redis restarts, \
         faults {faults:?}; {} answered once, {} dead-lettered ({answered_and_dead} of them answered, \
         their answer lost), in {:.1} s",
        ids.len(),
        outcome.posts,
        outcome.redelivered,
        outcome.refused,
        stack.kills,
        replied.len(),
        dead.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(stack.kills >= 3, "workers killed: {}", stack.kills);
    assert!(restarts >= 1, "Redis restarted");
    assert!(outcome.refused.contains_key(&503) || outcome.refused.contains_key(&0), "ingest saw Redis go away");
    assert!(outcome.redelivered > 0);
    assert!(faults.error > 0 && faults.throttle > 0 && faults.timeout > 0 && faults.lost_answer > 0, "{faults:?}");
    assert!(!dead.is_empty(), "some events exhausted their attempts (p ≈ 4% each)");
}
