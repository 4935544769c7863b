//! Checking the `[worker]` table.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::queue::LEASE_MARGIN;

use super::Problems;
use super::raw::RawWorker;

/// The worker's engine settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    pub admin_listen: SocketAddr,
    /// Hard cap on deliveries in flight in one process.
    pub concurrency: u32,
    /// Handle the events of one chat one at a time (across replicas).
    pub per_chat_ordering: bool,
    pub handler_timeout: Duration,
    /// How long a claim holds without the worker finishing; also the idle
    /// time after which another replica reclaims a delivery.
    pub lease: Duration,
    /// Handler attempts (first try included) before an event is dead-lettered.
    pub max_attempts: u32,
    /// Deliveries of one stream entry (crash redeliveries) before it is dead-lettered.
    pub max_deliveries: u32,
    pub shutdown_grace: Duration,
    pub read_block: Duration,
    pub promote_interval: Duration,
    pub reclaim_interval: Duration,
    pub sample_interval: Duration,
    pub dlq_max_len: u64,
    /// Dead letters older than this are trimmed (`XTRIM MINID`).
    pub dlq_max_age: Duration,
    /// Events older than this (from ingest receipt) are dead-lettered as
    /// expired instead of handled; `None`: no limit.
    pub max_event_age: Option<Duration>,
    /// Bound on one platform API call (QQ asks for at least 5 s).
    pub reply_timeout: Duration,
    /// `bots` (route, run skills, reply) or `noop` (accept every event: for
    /// measuring the engine alone).
    pub handler: HandlerKind,
    pub backoff: Backoff,
    pub skill_concurrency: BTreeMap<String, u32>,
    /// Lanes this worker serves; empty = all (`--lanes` overrides).
    pub lanes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
    pub jitter: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerKind {
    Bots,
    Noop,
}

pub(super) fn check(raw: &RawWorker, problems: &mut Problems) -> Option<WorkerConfig> {
    let before = problems.len();
    let admin_listen = raw
        .admin_listen
        .parse::<SocketAddr>()
        .map_err(|_| {
            problems.push(
                "worker.admin_listen".into(),
                format!("{:?} is not an address like 127.0.0.1:9091", raw.admin_listen),
            );
        })
        .ok();
    let mut at_least_one = |key: &str, v: u64| {
        if v == 0 {
            problems.push(format!("worker.{key}"), "must be ≥ 1".into());
        }
    };
    at_least_one("concurrency", u64::from(raw.concurrency));
    at_least_one("handler_timeout_secs", raw.handler_timeout_secs);
    at_least_one("max_attempts", u64::from(raw.max_attempts));
    at_least_one("max_deliveries", u64::from(raw.max_deliveries));
    at_least_one("read_block_ms", raw.read_block_ms);
    at_least_one("promote_interval_ms", raw.promote_interval_ms);
    at_least_one("reclaim_interval_ms", raw.reclaim_interval_ms);
    at_least_one("sample_interval_ms", raw.sample_interval_ms);
    at_least_one("dlq_max_len", raw.dlq_max_len);
    at_least_one("dlq_max_age_secs", raw.dlq_max_age_secs);
    at_least_one("reply_timeout_secs", raw.reply_timeout_secs);
    let handler_timeout = Duration::from_secs(raw.handler_timeout_secs);
    let lease = Duration::from_secs(raw.lease_secs);
    if lease < handler_timeout + LEASE_MARGIN {
        problems.push(
            "worker.lease_secs".into(),
            format!(
                "must be ≥ handler_timeout_secs + {} s ({} s): a shorter lease lets another replica take a delivery that is still being handled",
                LEASE_MARGIN.as_secs(),
                (handler_timeout + LEASE_MARGIN).as_secs()
            ),
        );
    }
    let b = &raw.backoff;
    if b.initial_ms == 0 || b.max_ms < b.initial_ms {
        problems.push("worker.backoff".into(), "needs 1 ≤ initial_ms ≤ max_ms".into());
    }
    if !(b.multiplier.is_finite() && b.multiplier >= 1.0) {
        problems.push("worker.backoff.multiplier".into(), "must be ≥ 1.0".into());
    }
    if !(b.jitter.is_finite() && (0.0..1.0).contains(&b.jitter)) {
        problems.push("worker.backoff.jitter".into(), "must be in [0, 1)".into());
    }
    let handler = match raw.handler.as_str() {
        "bots" => HandlerKind::Bots,
        "noop" => HandlerKind::Noop,
        other => {
            problems.push("worker.handler".into(), format!("{other:?} is not one of bots, noop"));
            HandlerKind::Bots
        }
    };
    for (skill, cap) in &raw.skill_concurrency {
        if *cap == 0 {
            problems.push(format!("worker.skill_concurrency.{skill}"), "must be ≥ 1".into());
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(WorkerConfig {
        admin_listen: admin_listen?,
        concurrency: raw.concurrency,
        per_chat_ordering: raw.per_chat_ordering,
        handler_timeout,
        lease,
        max_attempts: raw.max_attempts,
        max_deliveries: raw.max_deliveries,
        shutdown_grace: Duration::from_secs(raw.shutdown_grace_secs),
        read_block: Duration::from_millis(raw.read_block_ms),
        promote_interval: Duration::from_millis(raw.promote_interval_ms),
        reclaim_interval: Duration::from_millis(raw.reclaim_interval_ms),
        sample_interval: Duration::from_millis(raw.sample_interval_ms),
        dlq_max_len: raw.dlq_max_len,
        dlq_max_age: Duration::from_secs(raw.dlq_max_age_secs),
        max_event_age: (raw.max_event_age_secs > 0).then(|| Duration::from_secs(raw.max_event_age_secs)),
        reply_timeout: Duration::from_secs(raw.reply_timeout_secs),
        handler,
        backoff: Backoff {
            initial: Duration::from_millis(b.initial_ms),
            max: Duration::from_millis(b.max_ms),
            multiplier: b.multiplier,
            jitter: b.jitter,
        },
        skill_concurrency: raw.skill_concurrency.clone(),
        lanes: raw.lanes.clone(),
    })
}
