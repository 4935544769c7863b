//! Reading new entries: permits first, then `XREADGROUP` for exactly as many.
//!
//! The semaphore is acquired *before* the read and each permit travels with
//! its delivery until it is settled, so deliveries in flight in this process
//! can never exceed `concurrency` (no soft cap that overshoots by a batch, as
//! Svix's does). A read blocks at most `read_block`, which bounds how long
//! shutdown waits for a reader. Redis errors back off (capped) and retry; a
//! `NOGROUP` (Redis restarted empty or flushed) re-creates the group.

use std::sync::Arc;
use std::time::Duration;

use botq_core::queue::{self, Delivery};
use botq_core::redis_conn::BlockingConn;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::engine::job;
use crate::engine::{Engine, bounded};

/// At most this many entries per read, whatever the free permits.
const MAX_BATCH: usize = 128;

pub async fn run(engine: Arc<Engine>, queue: u16, stop: CancellationToken) -> anyhow::Result<()> {
    let keys = engine.keys.queue(queue);
    let mut backoff = Duration::from_millis(50);
    // Held across reads; dropped after an error so the next read reconnects.
    let mut held: Option<BlockingConn> = None;
    loop {
        let first = tokio::select! {
            p = engine.permits.clone().acquire_owned() => p?,
            () = stop.cancelled() => return Ok(()),
        };
        let permits = engine.with_free_permits(first, MAX_BATCH);
        let read = async {
            let conn = match &mut held {
                Some(c) => c,
                None => held.insert(bounded(engine.redis_timeout, engine.readers.get()).await?),
            };
            // The read itself may block for read_block; allow that plus the usual timeout.
            let limit = engine.cfg.read_block + engine.redis_timeout;
            bounded(limit, queue::read(conn, queue, &keys, &engine.consumer, permits.len(), engine.cfg.read_block))
                .await
        };
        let result = tokio::select! {
            r = read => r,
            () = stop.cancelled() => return Ok(()),
        };
        match result {
            Ok(deliveries) => {
                backoff = Duration::from_millis(50);
                engine.set_ready(true);
                dispatch_all(&engine, deliveries, permits);
            }
            Err(e) if queue::is_nogroup(&e) => {
                held = None;
                info!(queue, "consumer group missing (Redis restarted or flushed); re-creating it");
                let mut conn = engine.redis.clone();
                if let Err(e) = queue::ensure_group(&mut conn, &keys).await {
                    warn!(queue, error.kind = ?e.kind(), "cannot re-create the consumer group yet");
                    pause(&stop, &mut backoff).await;
                }
            }
            Err(e) => {
                held = None;
                engine.set_ready(false);
                warn!(queue, error.kind = ?e.kind(), retry_in_ms = backoff.as_millis(), "read failed; retrying");
                pause(&stop, &mut backoff).await;
            }
        }
    }
}

/// Hands each delivery its permit; permits not used by the read are dropped here.
pub(crate) fn dispatch_all(engine: &Arc<Engine>, deliveries: Vec<Delivery>, permits: Vec<OwnedSemaphorePermit>) {
    for (d, p) in deliveries.into_iter().zip(permits) {
        job::dispatch(engine, d, p);
    }
}

async fn pause(stop: &CancellationToken, backoff: &mut Duration) {
    tokio::select! {
        () = tokio::time::sleep(*backoff) => {}
        () = stop.cancelled() => {}
    }
    *backoff = (*backoff * 2).min(Duration::from_secs(5));
}
