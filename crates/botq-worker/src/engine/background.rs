//! The worker's background duties, each a supervised loop until `stop`:
//!
//! - **promoter**: moves due retries from the delayed set back into the
//!   stream, and pumps chat backlogs that stopped moving (fair share).
//! - **reclaimer**: takes over deliveries idle longer than the lease (their
//!   consumer died) with `XAUTOCLAIM`, dead-letters poison entries past the
//!   delivery limit, and prunes consumers that left nothing behind.
//! - **sampler**: publishes queue depth, lag, pending, delayed and DLQ gauges
//!   (as metrics and into the history's current step), and trims the
//!   dead-letter and audit streams by age.
//!
//! Redis errors inside a loop are logged and retried on the next tick; only a
//! bug (a panic, a closed semaphore) ends a loop, and the supervisor then
//! stops the process.

use std::sync::Arc;
use std::time::Duration;

use botq_core::{history, queue};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::engine::Engine;
use crate::engine::reader::dispatch_all;
use crate::metrics::{
    BACKLOGGED_CHATS, DELAYED_DEPTH, DLQ_DEPTH, PROMOTED, QUEUE_DEPTH, QUEUE_LAG, QUEUE_PENDING, RECLAIMED,
};

const PROMOTE_BATCH: usize = 500;
/// Every this many promoter rounds, stale chat backlogs are pumped.
const PUMP_EVERY: u64 = 10;
const PUMP_BATCH: usize = 100;
/// A chat backlog that has not moved for this long is pumped by the promoter.
const STALE_BACKLOG: Duration = Duration::from_secs(5);
const RECLAIM_BATCH: usize = 100;
/// Consumers idle this long with nothing pending are removed from the group.
const CONSUMER_MAX_IDLE: Duration = Duration::from_secs(3600);

/// Sleeps `every` unless `stop` fires first; `false` means stop.
async fn tick(stop: &CancellationToken, every: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(every) => true,
        () = stop.cancelled() => false,
    }
}

pub async fn promoter(engine: Arc<Engine>, stop: CancellationToken) -> anyhow::Result<()> {
    let mut rounds: u64 = 0;
    while tick(&stop, engine.cfg.promote_interval).await {
        rounds += 1;
        if rounds.is_multiple_of(PUMP_EVERY) {
            pump_stale_backlogs(&engine).await;
        }
        for keys in engine.served.iter().map(|&q| engine.keys.queue(q)) {
            loop {
                let mut conn = engine.redis.clone();
                let fut = queue::promote(&mut conn, &keys, botq_core::now_ms(), PROMOTE_BATCH);
                match engine.bounded(fut).await {
                    Ok(n) => {
                        if n > 0 {
                            debug!(moved = n, "promoted due retries");
                            metrics::counter!(PROMOTED).increment(n as u64);
                        }
                        if n < PROMOTE_BATCH {
                            break;
                        }
                    }
                    Err(e) => {
                        warn!(error.kind = ?e.kind(), "cannot promote retries now");
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Fair share's safety net: chats whose backlog has not moved for a while
/// (their last event left the queue without a pump: a crash between reclaim
/// and release, or a counter miscount) are pumped. A pump of a chat that has
/// no room is a no-op, so this never breaks the share.
async fn pump_stale_backlogs(engine: &Engine) {
    if engine.fair_share.max_queued_per_chat.is_none() {
        return;
    }
    let stale_before = botq_core::now_ms() - i64::try_from(STALE_BACKLOG.as_millis()).unwrap_or(i64::MAX);
    for &q in &engine.served {
        let keys = engine.keys.queue(q);
        let mut conn = engine.redis.clone();
        let members: Vec<String> = match engine
            .bounded(
                redis::cmd("ZRANGEBYSCORE")
                    .arg(keys.backlogged())
                    .arg("-inf")
                    .arg(stale_before)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(PUMP_BATCH)
                    .query_async(&mut conn),
            )
            .await
        {
            Ok(m) => m,
            Err(e) => {
                debug!(queue = q, error.kind = ?e.kind(), "cannot list backlogged chats now");
                continue;
            }
        };
        let pumps: Vec<_> = members
            .iter()
            .filter_map(|m| queue::ChatShare::from_member(&keys, m, engine.fair_share))
            .map(|chat| queue::Settlement::pump(&keys, &chat, false))
            .collect();
        if !pumps.is_empty()
            && let Err(e) = engine.bounded(queue::finish(&mut conn, &keys, &engine.consumer, &pumps)).await
        {
            debug!(queue = q, error.kind = ?e.kind(), "cannot pump chat backlogs now");
        }
    }
}

pub async fn reclaimer(engine: Arc<Engine>, stop: CancellationToken) -> anyhow::Result<()> {
    let mut cursors = vec!["0-0".to_owned(); engine.served.len()];
    let prune_every = (CONSUMER_MAX_IDLE.as_millis() / 60 / engine.cfg.reclaim_interval.as_millis().max(1)).max(1);
    let mut rounds: u128 = 0;
    while tick(&stop, engine.cfg.reclaim_interval).await {
        rounds += 1;
        for (&queue, cursor) in engine.served.iter().zip(cursors.iter_mut()) {
            let keys = engine.keys.queue(queue);
            if rounds.is_multiple_of(prune_every) {
                let mut conn = engine.redis.clone();
                match queue::prune_consumers(&mut conn, &keys, &engine.consumer, CONSUMER_MAX_IDLE).await {
                    Ok(0) => {}
                    Ok(n) => info!(queue, removed = n, "removed idle consumers that owned nothing"),
                    Err(e) => debug!(queue, error.kind = ?e.kind(), "cannot prune consumers now"),
                }
            }
            let mut conn = engine.redis.clone();
            let idle =
                tokio::time::timeout(engine.redis_timeout, queue::has_idle(&mut conn, &keys, engine.cfg.lease)).await;
            if !matches!(idle, Ok(Ok(true))) {
                continue;
            }
            // Permits first, as for reads: reclaimed work counts against the cap. The
            // semaphore is fair, so a reader blocked in XREADGROUP cannot starve us.
            let first = tokio::select! {
                p = engine.permits.clone().acquire_owned() => p?,
                () = stop.cancelled() => return Ok(()),
            };
            let permits = engine.with_free_permits(first, RECLAIM_BATCH);
            let pass = queue::ReclaimPass {
                consumer: &engine.consumer,
                min_idle: engine.cfg.lease,
                cursor,
                count: permits.len(),
                max_deliveries: engine.cfg.max_deliveries,
                now_ms: botq_core::now_ms(),
                dlq_max_len: engine.cfg.dlq_max_len,
            };
            let fut = queue::reclaim(&mut conn, queue, &keys, &pass);
            match engine.bounded(fut).await {
                Ok(r) => {
                    if !r.deliveries.is_empty() {
                        info!(queue, count = r.deliveries.len(), "reclaimed deliveries of a stopped consumer");
                        metrics::counter!(RECLAIMED).increment(r.deliveries.len() as u64);
                    }
                    *cursor = r.next_cursor;
                    for _ in &r.dead {
                        engine.history.dead();
                    }
                    dispatch_all(&engine, r.deliveries, permits);
                    release_dead(&engine, &keys, &r.dead).await;
                }
                Err(e) if queue::is_nogroup(&e) => *cursor = "0-0".to_owned(),
                Err(e) => warn!(queue, error.kind = ?e.kind(), "cannot reclaim now"),
            }
        }
    }
    Ok(())
}

/// Retention by age, beside the length caps: dead letters past
/// `worker.dlq_max_age_secs`, audit entries past `audit.max_age_secs`.
/// Every replica does it; trimming is idempotent.
async fn trim_by_age(engine: &Engine) {
    let now = botq_core::now_ms();
    let mut targets: Vec<(String, Duration)> =
        engine.served.iter().map(|&q| (engine.keys.queue(q).dlq(), engine.cfg.dlq_max_age)).collect();
    targets.push((engine.keys.audit(), engine.audit_max_age));
    for (key, age) in targets {
        let mut conn = engine.redis.clone();
        match engine.bounded(queue::trim_by_age(&mut conn, &key, age, now)).await {
            Ok(0) => {}
            Ok(n) => debug!(key, trimmed = n, "trimmed entries past their retention"),
            Err(e) => debug!(key, error.kind = ?e.kind(), "cannot trim by age now"),
        }
    }
}

/// Counts the events the reclaimer dead-lettered out of their chats' fair share.
async fn release_dead(engine: &Engine, keys: &botq_core::keys::QueueKeys, dead: &[Vec<u8>]) {
    if engine.fair_share.max_queued_per_chat.is_none() {
        return;
    }
    let releases: Vec<_> = dead
        .iter()
        .filter_map(|raw| botq_core::envelope::Envelope::decode(raw).ok())
        .map(|env| {
            queue::Settlement::pump(keys, &queue::ChatShare::new(keys, &env.bot, &env.chat_id, engine.fair_share), true)
        })
        .collect();
    let mut conn = engine.redis.clone();
    if !releases.is_empty()
        && let Err(e) = engine.bounded(queue::finish(&mut conn, keys, &engine.consumer, &releases)).await
    {
        debug!(error.kind = ?e.kind(), "cannot release dead-lettered events' fair share now; the promoter will");
    }
}

pub async fn sampler(engine: Arc<Engine>, stop: CancellationToken) -> anyhow::Result<()> {
    loop {
        trim_by_age(&engine).await;
        let mut gauges = Vec::with_capacity(engine.served.len());
        for &queue in &engine.served {
            let keys = engine.keys.queue(queue);
            let mut conn = engine.redis.clone();
            match engine.bounded(queue::stats(&mut conn, &keys)).await {
                Ok(s) => {
                    gauges.push((queue, history::QueueGauges::from(s)));
                    let label = queue.to_string();
                    let lane = engine.keys.lane_of_queue(queue).to_owned();
                    #[allow(clippy::cast_precision_loss)] // gauges are floats; counts stay far below 2^52
                    {
                        let g = |name: &'static str, v: u64| {
                            metrics::gauge!(name, "queue" => label.clone(), "lane" => lane.clone()).set(v as f64);
                        };
                        g(QUEUE_DEPTH, s.depth);
                        g(QUEUE_LAG, s.lag);
                        g(QUEUE_PENDING, s.pending);
                        g(DELAYED_DEPTH, s.delayed);
                        g(DLQ_DEPTH, s.dlq);
                        g(BACKLOGGED_CHATS, s.backlogged_chats);
                    }
                }
                Err(e) => debug!(queue, error.kind = ?e.kind(), "cannot sample queue gauges now"),
            }
        }
        let mut conn = engine.redis.clone();
        let now = botq_core::now_ms();
        let record = history::record_gauges(&mut conn, &engine.keys, now, &gauges, engine.history_retention);
        if let Err(e) = engine.bounded(record).await {
            debug!(error.kind = ?e.kind(), "cannot record queue gauges in the history now");
        }
        if !tick(&stop, engine.cfg.sample_interval).await {
            return Ok(());
        }
    }
}
