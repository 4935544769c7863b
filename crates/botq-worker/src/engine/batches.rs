//! Claims and settlements go to Redis in batches, one batcher of each per
//! queue this worker serves (`botq_core::batch`: one call in flight,
//! everything that queued meanwhile goes in the next).
//!
//! Under load a read hands dozens of deliveries to their jobs at once, and
//! they all claim within microseconds of each other, and finish close
//! together too: one `claim.lua` and one `finish.lua` call then carry a whole
//! read's worth instead of one each, which is most of Redis's CPU per event.
//! When the worker is idle each call carries one and goes at once, as before.
//! A batch is per queue because a script's keys must share a hash slot (each
//! queue's keys carry its hash tag).

use std::collections::HashMap;
use std::time::Duration;

use botq_core::batch::{Batcher, each};
use botq_core::keys::Keys;
use botq_core::queue::{self, Claim, ClaimRequest, QueueError, Settlement};
use botq_core::redis_conn::Redis;
use redis::RedisResult;

use crate::engine::bounded;

/// At most this many claims or settlements per script call. A script blocks
/// Redis while it runs (~10 µs per settlement), so a batch of 64 keeps every
/// other client's wait under a millisecond.
const MAX_BATCH: usize = 64;

/// Calls in flight per queue. Two (a second batch going while the first is
/// out) measured 2–5 % more CPU per event in every process and no better
/// latency (BENCHMARKS.md, "The throughput pass"), so one.
const IN_FLIGHT: usize = 1;

/// What a claim batch shares: the consumer, the lease, whether chats are ordered.
#[derive(Debug, Clone)]
pub(crate) struct ClaimSettings {
    pub consumer: String,
    pub lease: Duration,
    pub per_chat_ordering: bool,
}

#[derive(Debug)]
struct PerQueue {
    claims: Batcher<ClaimRequest, Result<Claim, QueueError>>,
    settles: Batcher<Settlement, RedisResult<()>>,
}

/// The batchers of every queue served. Needs a Tokio runtime to build.
#[derive(Debug)]
pub(crate) struct Batches {
    queues: HashMap<u16, PerQueue>,
}

impl Batches {
    pub(crate) fn spawn(keys: &Keys, served: &[u16], redis: &Redis, timeout: Duration, claim: &ClaimSettings) -> Self {
        let queues = served
            .iter()
            .map(|&q| {
                let keys = keys.queue(q);
                let claims = {
                    let (redis, keys, claim) = (redis.clone(), keys.clone(), claim.clone());
                    Batcher::spawn(MAX_BATCH, IN_FLIGHT, move |batch: Vec<ClaimRequest>| {
                        let (mut conn, keys, c) = (redis.clone(), keys.clone(), claim.clone());
                        async move {
                            let call =
                                queue::claim(&mut conn, &keys, &c.consumer, c.lease, c.per_chat_ordering, &batch);
                            each(bounded(timeout, call).await, batch.len())
                        }
                    })
                };
                let settles = {
                    let (redis, keys, claim) = (redis.clone(), keys.clone(), claim.clone());
                    Batcher::spawn(MAX_BATCH, IN_FLIGHT, move |batch: Vec<Settlement>| {
                        let (mut conn, keys, c) = (redis.clone(), keys.clone(), claim.clone());
                        async move {
                            let done = bounded(timeout, queue::finish(&mut conn, &keys, &c.consumer, &batch)).await;
                            vec![done; batch.len()]
                        }
                    })
                };
                (q, PerQueue { claims, settles })
            })
            .collect();
        Self { queues }
    }

    /// Claims one delivery of queue `queue`, in the next claim batch.
    ///
    /// # Errors
    /// The batch's Redis error, or the queue is not served here.
    pub(crate) async fn claim(&self, queue: u16, request: ClaimRequest) -> Result<Claim, QueueError> {
        self.queue(queue)?.claims.call(request).await?
    }

    /// Settles one delivery (or pumps one chat) of queue `queue`, in the next settle batch.
    ///
    /// # Errors
    /// The batch's Redis error, or the queue is not served here.
    pub(crate) async fn settle(&self, queue: u16, settlement: Settlement) -> Result<(), QueueError> {
        Ok(self.queue(queue)?.settles.call(settlement).await??)
    }

    fn queue(&self, queue: u16) -> Result<&PerQueue, QueueError> {
        self.queues.get(&queue).ok_or(QueueError::NoQueue(queue))
    }
}
