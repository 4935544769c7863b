//! The worker's background duties, each a supervised loop until `stop`:
//!
//! - **promoter**: moves due retries from the delayed set back into the stream.
//! - **reclaimer**: takes over deliveries idle longer than the lease (their
//!   consumer died) with `XAUTOCLAIM`, dead-letters poison entries past the
//!   delivery limit, and prunes consumers that left nothing behind.
//! - **sampler**: publishes queue depth, lag, pending, delayed and DLQ gauges.
//!
//! Redis errors inside a loop are logged and retried on the next tick; only a
//! bug (a panic, a closed semaphore) ends a loop, and the supervisor then
//! stops the process.

use std::sync::Arc;
use std::time::Duration;

use botq_core::queue;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::engine::Engine;
use crate::metrics::{DELAYED_DEPTH, DLQ_DEPTH, PROMOTED, QUEUE_DEPTH, QUEUE_LAG, QUEUE_PENDING, RECLAIMED};
use crate::reader::dispatch_all;

const PROMOTE_BATCH: usize = 500;
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
    while tick(&stop, engine.cfg.promote_interval).await {
        for keys in engine.keys.all_shards() {
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

pub async fn reclaimer(engine: Arc<Engine>, stop: CancellationToken) -> anyhow::Result<()> {
    let shards = usize::from(engine.keys.shards());
    let mut cursors = vec!["0-0".to_owned(); shards];
    let prune_every = (CONSUMER_MAX_IDLE.as_millis() / 60 / engine.cfg.reclaim_interval.as_millis().max(1)).max(1);
    let mut rounds: u128 = 0;
    while tick(&stop, engine.cfg.reclaim_interval).await {
        rounds += 1;
        for (shard, cursor) in (0..engine.keys.shards()).zip(cursors.iter_mut()) {
            let keys = engine.keys.shard(shard);
            if rounds.is_multiple_of(prune_every) {
                let mut conn = engine.redis.clone();
                match queue::prune_consumers(&mut conn, &keys, &engine.consumer, CONSUMER_MAX_IDLE).await {
                    Ok(0) => {}
                    Ok(n) => info!(shard, removed = n, "removed idle consumers that owned nothing"),
                    Err(e) => debug!(shard, error.kind = ?e.kind(), "cannot prune consumers now"),
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
            let fut = queue::reclaim(
                &mut conn,
                shard,
                &keys,
                &engine.consumer,
                engine.cfg.lease,
                cursor,
                permits.len(),
                engine.cfg.max_deliveries,
                botq_core::now_ms(),
                engine.cfg.dlq_max_len,
            );
            match engine.bounded(fut).await {
                Ok((next, deliveries)) => {
                    if !deliveries.is_empty() {
                        info!(shard, count = deliveries.len(), "reclaimed deliveries of a stopped consumer");
                        metrics::counter!(RECLAIMED).increment(deliveries.len() as u64);
                    }
                    *cursor = next;
                    dispatch_all(&engine, deliveries, permits);
                }
                Err(e) if queue::is_nogroup(&e) => *cursor = "0-0".to_owned(),
                Err(e) => warn!(shard, error.kind = ?e.kind(), "cannot reclaim now"),
            }
        }
    }
    Ok(())
}

pub async fn sampler(engine: Arc<Engine>, stop: CancellationToken) -> anyhow::Result<()> {
    loop {
        for shard in 0..engine.keys.shards() {
            let keys = engine.keys.shard(shard);
            let mut conn = engine.redis.clone();
            match engine.bounded(queue::stats(&mut conn, &keys)).await {
                Ok(s) => {
                    let label = shard.to_string();
                    #[allow(clippy::cast_precision_loss)] // gauges are floats; counts stay far below 2^52
                    {
                        metrics::gauge!(QUEUE_DEPTH, "shard" => label.clone()).set(s.depth as f64);
                        metrics::gauge!(QUEUE_LAG, "shard" => label.clone()).set(s.lag as f64);
                        metrics::gauge!(QUEUE_PENDING, "shard" => label.clone()).set(s.pending as f64);
                        metrics::gauge!(DELAYED_DEPTH, "shard" => label.clone()).set(s.delayed as f64);
                        metrics::gauge!(DLQ_DEPTH, "shard" => label).set(s.dlq as f64);
                    }
                }
                Err(e) => debug!(shard, error.kind = ?e.kind(), "cannot sample queue gauges now"),
            }
        }
        if !tick(&stop, engine.cfg.sample_interval).await {
            return Ok(());
        }
    }
}
