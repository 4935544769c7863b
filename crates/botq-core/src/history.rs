//! A small time series in Redis: what the last hour (or day) looked like,
//! for the console, without a Prometheus.
//!
//! Time is cut in steps of [`STEP`] (10 s). Each step is one hash,
//! `<prefix>:{hist}:<step start, Unix seconds>`, that expires `retention +
//! STEP` after its last write (`[history] retention_secs`), so memory is
//! bounded by about `retention / 10 s` hashes of a few dozen small fields.
//!
//! - **Counts** (events ingested, replies, dead letters, latency buckets)
//!   are counted in process by [`Counters`] — a relaxed atomic add or two
//!   on the hot path, nothing more — and added to the step with `HINCRBY`
//!   by [`flush`], every step, by every replica: the counts of N replicas
//!   add up. A flush that fails puts its counts back, so an outage delays
//!   them to a later step instead of losing them (a timeout that did reach
//!   Redis counts them twice: a spike in one step, never a gap).
//! - **Latencies** are histograms over fixed buckets ([`BUCKETS_MS`], plus
//!   one for anything slower): ack latency (webhook in → 2xx out, ingest)
//!   and reply latency (ingest receipt → the platform accepting a reply,
//!   worker). Buckets of different replicas and steps add up, so a p95
//!   over any window is [`quantile`] of their sum, and an SLO ("acked
//!   within 100 ms") is [`share_within`].
//! - **Gauges** of each queue (depth, lag, …) are written with `HSET` by
//!   the workers' sampler ([`record_gauges`]): every sampler reads the same
//!   Redis, so the last writer's values are as good as anyone's.
//!
//! [`read`] returns every step of a span, oldest first, with the steps no
//! one wrote as zero points, so a chart shows an idle (or unreachable)
//! minute as zero rather than skipping it.
//!
//! Fields of a step hash: `ingested`, `dead`, `ack:<bound ms>` …
//! `ack:inf`, `reply:<bound ms>` … `reply:inf`, and per queue `q<n>:depth`,
//! `q<n>:lag`, `q<n>:pending`, `q<n>:delayed`, `q<n>:dlq`,
//! `q<n>:backlogged`. The reply count is the sum of the reply buckets.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionLike;
use serde::Serialize;

use crate::keys::Keys;
use crate::queue::QueueStats;

/// One point per this much time.
pub const STEP: Duration = Duration::from_secs(10);
const STEP_SECS: i64 = 10;

/// Upper bounds (ms, inclusive) of the latency buckets; ack and reply share
/// them. A last bucket, one past these, holds everything slower. 100 ms and
/// 3 s are bounds so the two SLOs (ack under 100 ms, reply p95 under 3 s)
/// are read exactly, not between buckets.
pub const BUCKETS_MS: [u64; 12] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 3000, 5000, 10000];

/// Buckets per histogram: [`BUCKETS_MS`] and the overflow.
pub const BUCKETS: usize = BUCKETS_MS.len() + 1;

/// What one process counted since its last [`flush`].
#[derive(Debug, Default)]
pub struct Counters {
    ingested: AtomicU64,
    dead: AtomicU64,
    ack: [AtomicU64; BUCKETS],
    reply: [AtomicU64; BUCKETS],
}

impl Counters {
    /// Ingest stored an event (not a duplicate, not a refusal).
    pub fn ingested(&self) {
        self.ingested.fetch_add(1, Ordering::Relaxed);
    }

    /// Ingest answered a webhook 2xx, `took` after it came in.
    pub fn acked(&self, took: Duration) {
        self.ack[bucket(took)].fetch_add(1, Ordering::Relaxed);
    }

    /// The platform accepted a reply, `latency` after ingest received its event.
    pub fn replied(&self, latency: Duration) {
        self.reply[bucket(latency)].fetch_add(1, Ordering::Relaxed);
    }

    /// An event was dead-lettered.
    pub fn dead(&self) {
        self.dead.fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter, in the order of [`FIELDS`].
    fn cells(&self) -> impl Iterator<Item = &AtomicU64> {
        [&self.ingested, &self.dead].into_iter().chain(&self.ack).chain(&self.reply)
    }
}

/// The name of each bucket in field names: its bound in ms, `inf` for the overflow.
static BUCKET_LABELS: LazyLock<Vec<String>> =
    LazyLock::new(|| BUCKETS_MS.iter().map(u64::to_string).chain(std::iter::once("inf".to_owned())).collect());

/// The hash field of each counter, in the order of [`Counters::cells`].
static FIELDS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let buckets = |name: &'static str| BUCKET_LABELS.iter().map(move |b| format!("{name}:{b}"));
    ["ingested".to_owned(), "dead".to_owned()].into_iter().chain(buckets("ack")).chain(buckets("reply")).collect()
});

/// The bucket of a latency: the first whose bound it does not exceed.
fn bucket(d: Duration) -> usize {
    let micros = d.as_micros();
    BUCKETS_MS.iter().position(|&b| micros <= u128::from(b) * 1000).unwrap_or(BUCKETS_MS.len())
}

/// The start (Unix seconds) of the step holding `now_ms`.
fn step_start_secs(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000 * STEP_SECS) * STEP_SECS
}

/// How long a step hash lives after its last write.
fn step_ttl_secs(retention: Duration) -> i64 {
    i64::try_from(retention.as_secs()).unwrap_or(i64::MAX / 2).saturating_add(STEP_SECS)
}

/// Adds what `c` counted since the last flush to the step of `now_ms` and
/// zeroes it, in one `MULTI`. Nothing counted: no round trip.
///
/// # Errors
/// Redis errors; the counts are then put back into `c` for the next flush.
pub async fn flush<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &Keys,
    c: &Counters,
    now_ms: i64,
    retention: Duration,
) -> redis::RedisResult<()> {
    let deltas: Vec<(usize, u64)> = c
        .cells()
        .enumerate()
        .filter_map(|(i, cell)| {
            let n = cell.swap(0, Ordering::Relaxed);
            (n > 0).then_some((i, n))
        })
        .collect();
    if deltas.is_empty() {
        return Ok(());
    }
    let key = keys.history_step(step_start_secs(now_ms));
    let mut pipe = redis::pipe();
    pipe.atomic();
    for (i, n) in &deltas {
        pipe.hincr(&key, &FIELDS[*i], *n).ignore();
    }
    pipe.expire(&key, step_ttl_secs(retention)).ignore();
    let written = pipe.query_async::<()>(conn).await;
    if written.is_err() {
        let cells: Vec<&AtomicU64> = c.cells().collect();
        for (i, n) in deltas {
            cells[i].fetch_add(n, Ordering::Relaxed);
        }
    }
    written
}

/// Flushes `c` every [`STEP`] until `stop` resolves, each call bounded by
/// `timeout`; Redis errors are logged and the counts wait for the next
/// tick ([`crate::periodic`]). The last flush is the caller's
/// ([`flush_last`]), once its work is drained.
pub async fn flush_every<C>(
    conn: C,
    keys: &Keys,
    c: &Counters,
    retention: Duration,
    timeout: Duration,
    stop: impl Future<Output = ()>,
) where
    C: ConnectionLike + Send + Clone,
{
    crate::periodic::every("history", STEP, stop, || {
        let mut conn = conn.clone();
        async move { crate::redis_conn::bounded(timeout, flush(&mut conn, keys, c, crate::now_ms(), retention)).await }
    })
    .await;
}

/// The flush at a graceful stop, bounded by `timeout`; a failure is logged
/// (those counts are lost).
pub async fn flush_last<C: ConnectionLike + Send>(
    mut conn: C,
    keys: &Keys,
    c: &Counters,
    retention: Duration,
    timeout: Duration,
) {
    let last = flush(&mut conn, keys, c, crate::now_ms(), retention);
    if let Err(e) = crate::redis_conn::bounded(timeout, last).await {
        tracing::debug!(error.kind = ?e.kind(), "cannot flush the last history counts; they are lost");
    }
}

/// One queue's gauges at one step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueGauges {
    /// Entries in the stream (waiting + in flight).
    pub depth: u64,
    /// Entries not yet delivered to the worker group.
    pub lag: u64,
    /// Entries delivered and not yet settled.
    pub pending: u64,
    /// Retries waiting for their time.
    pub delayed: u64,
    /// Dead letters.
    pub dlq: u64,
    /// Chats with events waiting in their own backlog (fair share).
    pub backlogged: u64,
}

impl From<QueueStats> for QueueGauges {
    fn from(s: QueueStats) -> Self {
        Self {
            depth: s.depth,
            lag: s.lag,
            pending: s.pending,
            delayed: s.delayed,
            dlq: s.dlq,
            backlogged: s.backlogged_chats,
        }
    }
}

const GAUGE_NAMES: [&str; 6] = ["depth", "lag", "pending", "delayed", "dlq", "backlogged"];

impl QueueGauges {
    fn values(&self) -> [u64; 6] {
        [self.depth, self.lag, self.pending, self.delayed, self.dlq, self.backlogged]
    }

    fn set(&mut self, name: &str, v: u64) {
        match name {
            "depth" => self.depth = v,
            "lag" => self.lag = v,
            "pending" => self.pending = v,
            "delayed" => self.delayed = v,
            "dlq" => self.dlq = v,
            "backlogged" => self.backlogged = v,
            _ => {}
        }
    }
}

/// Writes the gauges of the queues in `gauges` (queue number, values) into
/// the step of `now_ms`, in one `MULTI`.
///
/// # Errors
/// Redis errors.
pub async fn record_gauges<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &Keys,
    now_ms: i64,
    gauges: &[(u16, QueueGauges)],
    retention: Duration,
) -> redis::RedisResult<()> {
    if gauges.is_empty() {
        return Ok(());
    }
    let key = keys.history_step(step_start_secs(now_ms));
    let fields: Vec<(String, u64)> = gauges
        .iter()
        .flat_map(|(q, g)| GAUGE_NAMES.iter().zip(g.values()).map(move |(name, v)| (format!("q{q}:{name}"), v)))
        .collect();
    redis::pipe()
        .atomic()
        .hset_multiple(&key, &fields)
        .ignore()
        .expire(&key, step_ttl_secs(retention))
        .ignore()
        .query_async(conn)
        .await
}

/// One step as [`read`] returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Point {
    /// The step's start, Unix ms.
    pub at_ms: i64,
    pub ingested: u64,
    /// Replies the platforms accepted (the sum of `reply`).
    pub replies: u64,
    pub dead: u64,
    /// Ack latency histogram: counts per bucket of [`BUCKETS_MS`], then the overflow.
    pub ack: Vec<u64>,
    /// Reply latency histogram, the same buckets.
    pub reply: Vec<u64>,
    /// Gauges per queue number (only queues some sampler wrote).
    pub queues: BTreeMap<u16, QueueGauges>,
}

impl Point {
    fn empty(at_ms: i64) -> Self {
        Self { at_ms, ack: vec![0; BUCKETS], reply: vec![0; BUCKETS], ..Self::default() }
    }

    fn from_fields(at_ms: i64, fields: &HashMap<String, String>) -> Self {
        let mut p = Self::empty(at_ms);
        let bucket = |label: &str| BUCKET_LABELS.iter().position(|b| b == label);
        for (field, value) in fields {
            let Ok(v) = value.parse::<u64>() else { continue };
            match field.split_once(':') {
                None if field == "ingested" => p.ingested = v,
                None if field == "dead" => p.dead = v,
                Some(("ack", b)) => {
                    if let Some(i) = bucket(b) {
                        p.ack[i] = v;
                    }
                }
                Some(("reply", b)) => {
                    if let Some(i) = bucket(b) {
                        p.reply[i] = v;
                    }
                }
                Some((q, name)) => {
                    if let Some(q) = q.strip_prefix('q').and_then(|n| n.parse::<u16>().ok()) {
                        p.queues.entry(q).or_default().set(name, v);
                    }
                }
                None => {}
            }
        }
        p.replies = p.reply.iter().sum();
        p
    }
}

/// Every step of the `span` ending with the step of `now_ms` (at least
/// one), oldest first; steps without data are zero points.
///
/// # Errors
/// Redis errors.
pub async fn read<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &Keys,
    now_ms: i64,
    span: Duration,
) -> redis::RedisResult<Vec<Point>> {
    let steps = i64::try_from(span.as_secs().div_ceil(STEP.as_secs())).unwrap_or(i64::MAX).max(1);
    let last = step_start_secs(now_ms);
    let starts: Vec<i64> = (0..steps).rev().map(|back| last - back * STEP_SECS).collect();
    let mut pipe = redis::pipe();
    for &s in &starts {
        pipe.hgetall(keys.history_step(s));
    }
    let hashes: Vec<HashMap<String, String>> = pipe.query_async(conn).await?;
    Ok(starts.iter().zip(&hashes).map(|(&s, fields)| Point::from_fields(s * 1000, fields)).collect())
}

/// The latency below which a share `q` (0..=1) of the counts in `buckets`
/// fall, as the upper bound of the bucket holding the `q`-th count. `None`
/// when there are no counts.
///
/// When that count is in the overflow bucket (slower than the last bound),
/// the last bound is returned: read it as "more than
/// `BUCKETS_MS[BUCKETS_MS.len() - 1]` ms"; `buckets[BUCKETS - 1] > 0`
/// tells the two apart.
#[must_use]
pub fn quantile(buckets: &[u64], q: f64) -> Option<Duration> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    // The rank of the q-th count, 1-based: ceil(q × total), within 1..=total.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    let i = buckets
        .iter()
        .position(|&n| {
            seen += n;
            seen >= rank
        })
        .unwrap_or(BUCKETS_MS.len());
    let bound = BUCKETS_MS.get(i).or(BUCKETS_MS.last()).copied().unwrap_or(0);
    Some(Duration::from_millis(bound))
}

/// The share (0..=1) of the counts in `buckets` that are in buckets with an
/// upper bound ≤ `bound_ms`: the share within `bound_ms` when it is one of
/// [`BUCKETS_MS`] (another bound is rounded down to the bucket bound below
/// it). `None` when there are no counts.
#[must_use]
pub fn share_within(buckets: &[u64], bound_ms: u64) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let within: u64 = buckets.iter().zip(BUCKETS_MS).filter(|&(_, b)| b <= bound_ms).map(|(n, _)| n).sum();
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    Some(within as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(c: &Counters) -> Vec<u64> {
        c.cells().map(|a| a.load(Ordering::Relaxed)).collect()
    }

    #[test]
    fn latencies_fall_in_the_first_bucket_they_do_not_exceed() {
        assert_eq!(bucket(Duration::ZERO), 0);
        assert_eq!(bucket(Duration::from_millis(5)), 0);
        assert_eq!(bucket(Duration::from_micros(5001)), 1);
        assert_eq!(bucket(Duration::from_millis(100)), 4);
        assert_eq!(bucket(Duration::from_millis(3_000)), 9, "the reply SLO's bound is a bucket bound");
        assert_eq!(bucket(Duration::from_millis(3_001)), 10);
        assert_eq!(bucket(Duration::from_millis(10_000)), 11);
        assert_eq!(bucket(Duration::from_millis(10_001)), 12, "overflow");
        assert_eq!(FIELDS.len(), 2 + 2 * BUCKETS);
        assert_eq!(FIELDS[2], "ack:5");
        assert_eq!(FIELDS[2 + BUCKETS - 1], "ack:inf");
        assert_eq!(FIELDS[FIELDS.len() - 1], "reply:inf");
    }

    #[test]
    fn quantile_is_the_bound_of_the_bucket_holding_the_rank() {
        let mut b = vec![0; BUCKETS];
        assert_eq!(quantile(&b, 0.95), None);
        b[0] = 90; // ≤ 5 ms
        b[4] = 10; // ≤ 100 ms
        assert_eq!(quantile(&b, 0.5), Some(Duration::from_millis(5)));
        assert_eq!(quantile(&b, 0.9), Some(Duration::from_millis(5)), "the 90th count is still in the first");
        assert_eq!(quantile(&b, 0.91), Some(Duration::from_millis(100)));
        assert_eq!(quantile(&b, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(quantile(&b, 0.0), Some(Duration::from_millis(5)), "q = 0 is the first count");
        b[BUCKETS - 1] = 100;
        assert_eq!(quantile(&b, 0.99), Some(Duration::from_millis(10_000)), "overflow reports the last bound");
    }

    #[test]
    fn share_within_counts_buckets_up_to_the_bound() {
        let mut b = vec![0; BUCKETS];
        assert_eq!(share_within(&b, 100), None);
        b[0] = 1;
        b[4] = 1; // ≤ 100 ms
        b[5] = 1; // ≤ 250 ms
        b[BUCKETS - 1] = 1;
        assert_eq!(share_within(&b, 100), Some(0.5));
        assert_eq!(share_within(&b, 5), Some(0.25));
        assert_eq!(share_within(&b, 200), Some(0.5), "rounded down to the 100 ms bucket");
        assert_eq!(share_within(&b, 10_000), Some(0.75), "the overflow is never within");
    }

    #[test]
    fn a_step_hash_reads_back_into_a_point() {
        let fields: HashMap<String, String> = [
            ("ingested", "4"),
            ("dead", "1"),
            ("ack:5", "3"),
            ("ack:inf", "1"),
            ("reply:250", "2"),
            ("q3:depth", "7"),
            ("q3:backlogged", "2"),
            ("q3:unknown", "9"),
            ("junk", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let p = Point::from_fields(10_000, &fields);
        assert_eq!((p.at_ms, p.ingested, p.dead, p.replies), (10_000, 4, 1, 2));
        assert_eq!(p.ack[0], 3);
        assert_eq!(p.ack[BUCKETS - 1], 1);
        assert_eq!(p.reply[5], 2);
        assert_eq!(p.queues[&3], QueueGauges { depth: 7, backlogged: 2, ..QueueGauges::default() });
    }

    #[test]
    fn steps_start_on_ten_second_boundaries() {
        assert_eq!(step_start_secs(1_700_000_009_999), 1_700_000_000);
        assert_eq!(step_start_secs(1_700_000_010_000), 1_700_000_010);
    }

    /// A connection whose every call fails, as when Redis is down.
    struct Down;

    impl ConnectionLike for Down {
        fn req_packed_command<'a>(&'a mut self, _: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
            Box::pin(async { Err(redis::RedisError::from((redis::ErrorKind::Io, "down"))) })
        }

        fn req_packed_commands<'a>(
            &'a mut self,
            _: &'a redis::Pipeline,
            _: usize,
            _: usize,
        ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
            Box::pin(async { Err(redis::RedisError::from((redis::ErrorKind::Io, "down"))) })
        }

        fn get_db(&self) -> i64 {
            0
        }
    }

    #[tokio::test]
    async fn a_failed_flush_puts_the_counts_back_and_counting_goes_on() {
        let c = Counters::default();
        c.ingested();
        c.acked(Duration::from_millis(3));
        c.replied(Duration::from_secs(60));
        let before = counts(&c);
        let keys = Keys::new("botq", 1);
        assert!(flush(&mut Down, &keys, &c, 0, Duration::from_secs(3600)).await.is_err());
        assert_eq!(counts(&c), before, "nothing lost");
        c.dead();
        assert_eq!(c.dead.load(Ordering::Relaxed), 1);
        assert_eq!(c.ingested.load(Ordering::Relaxed), 1);
        assert_eq!(c.reply[BUCKETS - 1].load(Ordering::Relaxed), 1);
        let empty = Counters::default();
        assert!(flush(&mut Down, &keys, &empty, 0, Duration::from_secs(3600)).await.is_ok(), "nothing to write");
    }
}
