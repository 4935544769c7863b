//! What the request handlers share: the bots' verifiers, the Redis
//! connection and the settings of the webhook path, built once from config.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use botq_core::config::{BotConfig, IngestSettings, ListenerConfig, RateLimit};
use botq_core::fleet::{self, Replica, Role};
use botq_core::history::Counters;
use botq_core::ids::BotId;
use botq_core::keys::Keys;
use botq_core::platform::Adapter;
use botq_core::redis_conn::Redis;

/// One configured bot as the webhook path needs it.
#[derive(Debug)]
pub struct BotEntry {
    pub id: BotId,
    pub adapter: Adapter,
    pub limits: RateLimit,
    /// The bot's lane (index into the key builder's lanes) and per-group overrides.
    pub lane: usize,
    pub group_lanes: HashMap<String, usize>,
}

impl BotEntry {
    /// The queue (global number) for the events of `chat_id`.
    #[must_use]
    pub fn queue_of(&self, keys: &Keys, chat_id: &str) -> u16 {
        keys.queue_of(self.group_lanes.get(chat_id).copied().unwrap_or(self.lane), &self.id, chat_id)
    }
}

#[derive(Debug)]
pub struct AppState {
    /// Swapped whole by a SIGHUP reload; a request keeps the map it started with.
    pub bots: ArcSwap<HashMap<String, BotEntry>>,
    pub redis: Redis,
    pub keys: Keys,
    /// Stores events, batched per queue.
    pub commit: crate::commit::GroupCommit,
    pub retry_after_secs: u32,
    pub redis_timeout: Duration,
    pub body_limit: usize,
    /// The public listener's bounds; `body_timeout` is applied by the handler.
    pub listener: ListenerConfig,
    /// Refusals per client address and bot, when the budget is on.
    pub rejections: Option<crate::client::Rejections>,
    /// Events answered 503 after a Redis timeout, whose retries are counted apart.
    pub timed_out: crate::timed_out::TimedOut,
    /// Set once startup finished (Redis reached, scripts loaded).
    pub(crate) started: Arc<AtomicBool>,
    /// This process's fleet record as it started (`records`; [`AppState::record`] is the current one).
    pub replica: Replica,
    /// Webhooks being handled now (read, verified, stored), for the record.
    in_flight: Arc<AtomicU64>,
    /// Events stored and webhooks acknowledged, for the history (`records` flushes them).
    pub history: Counters,
    pub history_retention: Duration,
}

impl AppState {
    /// Builds the state; connects to Redis lazily.
    ///
    /// # Errors
    /// An invalid Redis URL or a bot whose credentials cannot make a verifier
    /// (both already ruled out by config validation).
    pub fn new(settings: &IngestSettings<'_>) -> anyhow::Result<Self> {
        let ingest = settings.ingest;
        let redis = botq_core::redis_conn::connect_lazy(&settings.queue.redis_target(), ingest.redis_timeout)?;
        let keys = settings.queue.keys();
        let commit = crate::commit::CommitSettings {
            dedupe_ttl: settings.dedupe_ttl,
            max_backlog: ingest.max_backlog,
            fair_share: settings.fair_share,
            redis_timeout: ingest.redis_timeout,
        };
        Ok(Self {
            bots: ArcSwap::from_pointee(bots(settings.bots, &keys)?),
            commit: crate::commit::GroupCommit::new(redis.clone(), keys.clone(), commit),
            redis,
            keys,
            retry_after_secs: ingest.retry_after_secs,
            redis_timeout: ingest.redis_timeout,
            body_limit: ingest.body_limit_bytes,
            listener: ingest.listener.clone(),
            rejections: ingest.listener.rejections.map(crate::client::Rejections::new),
            timed_out: crate::timed_out::TimedOut::default(),
            started: Arc::new(AtomicBool::new(false)),
            replica: replica(),
            in_flight: Arc::new(AtomicU64::new(0)),
            history: Counters::default(),
            history_retention: settings.history_retention,
        })
    }

    /// Replaces the bots (ids, secrets, limits) with `bots`, from a config
    /// that passed every check. Requests already verifying finish with the
    /// old ones. Other settings need a restart.
    ///
    /// # Errors
    /// A bot whose credentials cannot make a verifier (ruled out by the check).
    pub fn reload_bots(&self, bots: &[BotConfig]) -> anyhow::Result<()> {
        self.bots.store(Arc::new(self::bots(bots, &self.keys)?));
        Ok(())
    }

    /// Counts one webhook in flight until the guard drops (the response is
    /// sent, or the client went away and the handler was dropped).
    #[must_use]
    pub fn handling(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.in_flight.clone())
    }

    /// This process's fleet record now: the one it started with, with the
    /// webhooks in flight.
    #[must_use]
    pub fn record(&self) -> Replica {
        Replica { in_flight: self.in_flight.load(Ordering::Relaxed), ..self.replica.clone() }
    }

    #[must_use]
    pub fn started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    pub(crate) fn mark_started(&self) {
        self.started.store(true, Ordering::Release);
    }
}

/// One webhook in flight ([`AppState::handling`]).
#[derive(Debug)]
pub struct InFlight(Arc<AtomicU64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An ingest process's record: a unique name on this host, no lanes and no
/// breakers (it has neither).
fn replica() -> Replica {
    let host = fleet::host_or("ingest");
    Replica::new(fleet::unique_name(&host), Role::Ingest, host, botq_core::now_ms())
}

fn bots(configs: &[BotConfig], keys: &Keys) -> anyhow::Result<HashMap<String, BotEntry>> {
    let lane = |name: Option<&str>| name.and_then(|n| keys.lane_index(n)).unwrap_or(0);
    let mut bots = HashMap::with_capacity(configs.len());
    for b in configs {
        let adapter = b.adapter().map_err(|e| anyhow::anyhow!("bot {}: {e}", b.id))?;
        let group_lanes = b
            .routing
            .groups
            .iter()
            .filter_map(|(id, g)| g.lane.as_deref().map(|l| (id.clone(), lane(Some(l)))))
            .collect();
        let entry = BotEntry {
            id: b.id.clone(),
            adapter,
            limits: b.rate_limit,
            lane: lane(b.routing.lane.as_deref()),
            group_lanes,
        };
        bots.insert(b.id.as_str().to_owned(), entry);
    }
    Ok(bots)
}
