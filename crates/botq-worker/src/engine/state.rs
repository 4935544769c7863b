//! What the engine's tasks share: settings, connections, the concurrency
//! permits, the per-chat queues and the batchers. `run.rs` starts the tasks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use botq_core::config::{EngineSettings, FairShare, WorkerConfig};
use botq_core::fleet::{self, Replica, Role};
use botq_core::history::Counters;
use botq_core::keys::Keys;
use botq_core::redis_conn::{Blocking, Redis};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::batches::{Batches, ClaimSettings};
use super::chats::ChatQueues;
use crate::handler::{Handler, SkillPlan};

/// Everything the worker's tasks share.
pub struct Engine {
    pub(crate) cfg: WorkerConfig,
    pub(crate) keys: Keys,
    /// The queues (global numbers) this worker reads: those of its lanes.
    pub(crate) served: Vec<u16>,
    pub(crate) fair_share: FairShare,
    pub(crate) audit_max_age: Duration,
    pub(crate) done_ttl: Duration,
    /// Unique per process: `<host>-<pid>-<uuid>`. Never reused, so a restart
    /// cannot inherit (and forget) a dead process's pending entries.
    /// Shared with every attempt's `Job`, which names it in the audit log.
    pub(crate) consumer: Arc<str>,
    /// Scripts and short commands: multiplexed, auto-reconnecting.
    pub(crate) redis: Redis,
    /// Claims and settlements, batched per queue.
    pub(crate) batches: Batches,
    /// Blocking reads need exclusive connections: one per reader.
    pub(crate) readers: Blocking,
    pub(crate) handler: Arc<dyn Handler>,
    /// The hard cap: one permit per delivery in this process, taken before reading.
    pub(crate) permits: Arc<Semaphore>,
    /// Per-skill caps, created on first use with the cap the handler's plan
    /// (or `skill_concurrency`) gives, and replaced when a reload changes it.
    skill_permits: std::sync::Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
    pub(crate) chats: ChatQueues,
    pub(crate) jobs: TaskTracker,
    /// Cancelled when the grace period is over: in-flight attempts stop and
    /// their entries stay pending for other replicas.
    pub(crate) abort_jobs: CancellationToken,
    pub(crate) redis_timeout: Duration,
    pub(crate) ready: Arc<AtomicBool>,
    /// Deliveries being handled (claim to settlement) right now: the
    /// `botq_worker_inflight` gauge, for the fleet record.
    pub(crate) handling: AtomicU64,
    /// This process's fleet record as it started; [`Engine::record`] fills in the rest.
    replica: Replica,
    /// Counted here (dead letters) and by the handler (replies), flushed by `records`.
    pub(crate) history: Arc<Counters>,
    pub(crate) history_retention: Duration,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("consumer", &self.consumer).field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

impl Engine {
    /// Builds the engine for `cfg` (`Config::engine`) around `handler`; connects lazily. Call it
    /// within the Tokio runtime the worker will run on (its batchers start there).
    ///
    /// # Errors
    /// An invalid Redis URL, or a lane in `worker.lanes` that is not configured.
    pub fn new(cfg: EngineSettings, handler: Arc<dyn Handler>) -> anyhow::Result<Arc<Self>> {
        let w = cfg.worker;
        let redis_timeout = Duration::from_secs(2);
        let target = cfg.queue.redis_target();
        let redis = botq_core::redis_conn::connect_lazy(&target, redis_timeout)?;
        let served = cfg.queue.served_queues(&w.lanes)?;
        let readers = Blocking::new(&target, served.len() + 2, w.read_block, redis_timeout)?;
        let host = fleet::host_or("worker");
        let consumer = fleet::unique_name(&host);
        let keys = cfg.queue.keys();
        let claim =
            ClaimSettings { consumer: consumer.clone(), lease: w.lease, per_chat_ordering: w.per_chat_ordering };
        let batches = Batches::spawn(&keys, &served, &redis, redis_timeout, &claim);
        let mut replica = Replica::new(consumer.clone(), Role::Worker, host, botq_core::now_ms());
        replica.lanes = served.iter().map(|&q| keys.lane_of_queue(q).to_owned()).collect();
        replica.lanes.dedup();
        Ok(Arc::new(Self {
            permits: Arc::new(Semaphore::new(usize::try_from(w.concurrency).unwrap_or(usize::MAX))),
            cfg: w,
            keys,
            served,
            fair_share: cfg.fair_share,
            audit_max_age: cfg.audit_max_age,
            done_ttl: cfg.done_ttl,
            consumer: consumer.as_str().into(),
            redis,
            batches,
            readers,
            skill_permits: std::sync::Mutex::default(),
            chats: ChatQueues::default(),
            jobs: TaskTracker::new(),
            abort_jobs: CancellationToken::new(),
            redis_timeout,
            ready: Arc::new(AtomicBool::new(false)),
            handling: AtomicU64::new(0),
            replica,
            history: handler.history().unwrap_or_default(),
            history_retention: cfg.history_retention,
            handler,
        }))
    }

    /// The semaphore capping `plan`'s skill, if it has a cap.
    pub(crate) fn skill_semaphore(&self, plan: &SkillPlan) -> Option<Arc<Semaphore>> {
        let cap = plan.concurrency.or_else(|| self.cfg.skill_concurrency.get(&plan.name).copied())?;
        let mut map = self.skill_permits.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map
            .entry(plan.name.clone())
            .or_insert_with(|| (cap, Arc::new(Semaphore::new(usize::try_from(cap).unwrap_or(usize::MAX)))));
        if entry.0 != cap {
            // Attempts holding permits of the old semaphore finish under the
            // old cap; new ones are counted against the new one.
            *entry = (cap, Arc::new(Semaphore::new(usize::try_from(cap).unwrap_or(usize::MAX))));
        }
        Some(entry.1.clone())
    }

    /// A Redis call bounded by the worker's Redis timeout.
    pub(crate) async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> redis::RedisResult<T> {
        botq_core::redis_conn::bounded(self.redis_timeout, call).await
    }

    /// `first` plus as many more free permits as there are, up to `max` in all,
    /// without waiting: the batch a read or a reclaim may take on.
    pub(crate) fn with_free_permits(&self, first: OwnedSemaphorePermit, max: usize) -> Vec<OwnedSemaphorePermit> {
        let mut permits = vec![first];
        while permits.len() < max {
            match self.permits.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        permits
    }

    #[must_use]
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// Permits held in this process right now: deliveries in flight and
    /// the room the readers hold for the entries they wait for.
    #[must_use]
    pub fn inflight(&self) -> usize {
        usize::try_from(self.cfg.concurrency).unwrap_or(usize::MAX) - self.permits.available_permits()
    }

    /// This process's fleet record at `now_ms`: what it is, what it serves,
    /// what is in flight and how its upstreams' breakers stand.
    #[must_use]
    pub fn record(&self, now_ms: i64) -> Replica {
        Replica {
            heartbeat_ms: now_ms,
            in_flight: self.handling.load(Ordering::Relaxed),
            breakers: self.handler.breakers(),
            ..self.replica.clone()
        }
    }

    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub(crate) fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}
