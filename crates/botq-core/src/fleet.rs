//! The fleet: which ingest and worker processes run, what build each is,
//! and whether it is still there.
//!
//! Consumer names in the stream groups say that *some* worker read
//! something, but not which build it runs, what it serves, or whether it
//! is alive, and ingest leaves no trace at all. So every process keeps a
//! record of itself in Redis: a JSON [`Replica`] in one hash
//! (`<prefix>:{fleet}:replicas`, field = replica name), rewritten on every
//! heartbeat ([`HEARTBEAT_EVERY`]), beside a key with a TTL
//! (`<prefix>:{fleet}:hb:<name>`, [`HEARTBEAT_TTL`]) whose presence *is*
//! liveness: Redis's clock decides, not the reader's, so a reader with a
//! skewed clock still sees the truth. Both are written in one `MULTI` (one
//! hash tag, so on Redis Cluster too).
//!
//! A graceful stop rewrites the record with `stopped_at_ms` and deletes the
//! heartbeat key ([`leave`]), so a record without a heartbeat tells a
//! replica that left ([`Liveness::Stopped`]) from one that died
//! ([`Liveness::Gone`]). Records are kept for [`FORGET_AFTER`] after their
//! last heartbeat, so yesterday's crash is still visible; [`list`] leaves
//! out older ones. Names are never reused (a process's name carries its pid
//! and a UUIDv7), so the hash grows by one field per process start; every
//! replica [`prune`]s it from its heartbeat loop about once a minute. The
//! readers (`botqctl status`, the console, even `--read-only`) only read.
//!
//! Writing the record is best effort: a service whose Redis is down keeps
//! serving (or rather, fails on its own terms) and beats again next tick.

use std::future::Future;
use std::time::Duration;

use redis::aio::ConnectionLike;
use serde::{Deserialize, Serialize};

use crate::keys::Keys;

/// How often a replica rewrites its record.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// How long a heartbeat counts: a replica that missed three beats is gone.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(20);
/// Records whose last heartbeat is older than this are forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);
/// A replica prunes the fleet's old records every this many heartbeats.
const PRUNE_EVERY_BEATS: u32 = 12;

/// The environment variable a deploy sets to the image's digest
/// (`sha256:…`), shown beside the version and git commit.
pub const IMAGE_DIGEST_ENV: &str = "BOTQ_IMAGE_DIGEST";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Ingest,
    Worker,
}

impl Role {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Worker => "worker",
        }
    }
}

/// The state of one upstream skill's circuit breaker in one worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breaker {
    pub skill: String,
    /// `closed`, `open` or `half_open`.
    pub state: String,
}

/// What one process says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    /// Unique per process, never reused: `<host>-<pid>-<uuid>` ([`unique_name`]);
    /// a worker's is its consumer name in the stream groups.
    pub name: String,
    pub role: Role,
    pub host: String,
    /// [`crate::build::VERSION`].
    pub version: String,
    /// [`crate::build::GIT_SHA`].
    pub git_sha: String,
    /// `BOTQ_IMAGE_DIGEST` ([`IMAGE_DIGEST_ENV`]), when the deploy sets it.
    pub image_digest: Option<String>,
    pub started_at_ms: i64,
    /// When the record was last written, by the replica's clock.
    pub heartbeat_ms: i64,
    /// Worker: deliveries being handled. Ingest: webhooks being handled
    /// (read, checked, waiting for Redis).
    pub in_flight: u64,
    /// Worker: the lanes it serves. Ingest: empty.
    pub lanes: Vec<String>,
    /// Worker: its upstream skills' circuit breakers. Ingest: empty.
    pub breakers: Vec<Breaker>,
    /// Set by a graceful stop.
    pub stopped_at_ms: Option<i64>,
}

impl Replica {
    /// The record of a process of `role` named `name` on `host`, starting
    /// at `now_ms`: this build's version, commit and image digest, nothing
    /// in flight yet.
    #[must_use]
    pub fn new(name: String, role: Role, host: String, now_ms: i64) -> Self {
        Self {
            name,
            role,
            host,
            version: crate::build::VERSION.to_owned(),
            git_sha: crate::build::GIT_SHA.to_owned(),
            image_digest: std::env::var(IMAGE_DIGEST_ENV).ok().filter(|d| !d.trim().is_empty()),
            started_at_ms: now_ms,
            heartbeat_ms: now_ms,
            in_flight: 0,
            lanes: Vec::new(),
            breakers: Vec::new(),
            stopped_at_ms: None,
        }
    }
}

/// Whether a replica is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Liveness {
    /// Its heartbeat key exists.
    Alive,
    /// It left gracefully ([`leave`]).
    Stopped,
    /// Its heartbeat expired without a goodbye: killed, crashed, or cut off
    /// from Redis.
    Gone,
}

impl Liveness {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Stopped => "stopped",
            Self::Gone => "gone",
        }
    }
}

/// A record as [`list`] found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    pub replica: Replica,
    pub liveness: Liveness,
}

/// This host's name: `HOSTNAME` (what containers and pods are given), else `fallback`.
#[must_use]
pub fn host_or(fallback: &str) -> String {
    std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| fallback.to_owned())
}

/// A name for this process that no other process ever has:
/// `<host>-<pid>-<UUIDv7, simple>`. Never reused, so a restart cannot
/// inherit a dead process's pending entries or its fleet record.
#[must_use]
pub fn unique_name(host: &str) -> String {
    format!("{host}-{}-{}", std::process::id(), uuid::Uuid::now_v7().simple())
}

/// Writes `r`'s record and its heartbeat ([`HEARTBEAT_TTL`]), in one `MULTI`.
///
/// # Errors
/// Redis errors.
pub async fn beat<C: ConnectionLike + Send>(conn: &mut C, keys: &Keys, r: &Replica) -> redis::RedisResult<()> {
    beat_with_ttl(conn, keys, r, HEARTBEAT_TTL).await
}

/// [`beat`] with a heartbeat that lasts `ttl` (tests use a short one).
///
/// # Errors
/// Redis errors.
pub async fn beat_with_ttl<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &Keys,
    r: &Replica,
    ttl: Duration,
) -> redis::RedisResult<()> {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    redis::pipe()
        .atomic()
        .hset(keys.fleet_replicas(), &r.name, encode(r))
        .ignore()
        .cmd("SET")
        .arg(keys.fleet_heartbeat(&r.name))
        .arg(r.heartbeat_ms)
        .arg("PX")
        .arg(ttl_ms)
        .ignore()
        .query_async(conn)
        .await
}

/// Says goodbye: writes `r`'s record (with `stopped_at_ms` set by the
/// caller) and deletes its heartbeat, in one `MULTI`.
///
/// # Errors
/// Redis errors.
pub async fn leave<C: ConnectionLike + Send>(conn: &mut C, keys: &Keys, r: &Replica) -> redis::RedisResult<()> {
    redis::pipe()
        .atomic()
        .hset(keys.fleet_replicas(), &r.name, encode(r))
        .ignore()
        .del(keys.fleet_heartbeat(&r.name))
        .ignore()
        .query_async(conn)
        .await
}

/// Every replica on record at `now_ms`: alive ones first, then by role and
/// name. Records whose last heartbeat is older than [`FORGET_AFTER`] are
/// left out (unless their heartbeat key says they are alive), and so are
/// records that do not decode: a record written by another botq version
/// must not break the list. Nothing is written; [`prune`] deletes.
///
/// # Errors
/// Redis errors.
pub async fn list<C: ConnectionLike + Send>(conn: &mut C, keys: &Keys, now_ms: i64) -> redis::RedisResult<Vec<Seen>> {
    let mut seen: Vec<Seen> = read(conn, keys, now_ms).await?.into_iter().filter_map(Record::seen).collect();
    seen.sort_by(|a, b| order(a).cmp(&order(b)));
    Ok(seen)
}

/// Deletes the records [`list`] leaves out: last heartbeat older than
/// [`FORGET_AFTER`], or undecodable, and no live heartbeat key either way
/// (a newer botq's record this build cannot read stays while its replica
/// beats). Returns how many went.
///
/// # Errors
/// Redis errors.
pub async fn prune<C: ConnectionLike + Send>(conn: &mut C, keys: &Keys, now_ms: i64) -> redis::RedisResult<u64> {
    let forget: Vec<String> = read(conn, keys, now_ms).await?.into_iter().filter_map(Record::forgotten).collect();
    if forget.is_empty() {
        return Ok(0);
    }
    redis::cmd("HDEL").arg(keys.fleet_replicas()).arg(&forget).query_async(conn).await
}

/// One field of the fleet hash as read at some time.
enum Record {
    Shown(Seen),
    /// Not shown: its name, and whether its heartbeat key lives.
    Hidden(String, bool),
}

impl Record {
    fn seen(self) -> Option<Seen> {
        match self {
            Self::Shown(s) => Some(s),
            Self::Hidden(..) => None,
        }
    }

    fn forgotten(self) -> Option<String> {
        match self {
            Self::Hidden(name, false) => Some(name),
            _ => None,
        }
    }
}

/// Every field of the fleet hash with its heartbeat key's presence, as
/// shown or hidden at `now_ms`.
async fn read<C: ConnectionLike + Send>(conn: &mut C, keys: &Keys, now_ms: i64) -> redis::RedisResult<Vec<Record>> {
    let raw: Vec<(String, String)> = redis::cmd("HGETALL").arg(keys.fleet_replicas()).query_async(conn).await?;
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for (field, _) in &raw {
        pipe.exists(keys.fleet_heartbeat(field));
    }
    let alive: Vec<bool> = pipe.query_async(conn).await?;
    let forget_before = now_ms.saturating_sub(i64::try_from(FORGET_AFTER.as_millis()).unwrap_or(i64::MAX));
    Ok(raw
        .into_iter()
        .zip(alive)
        .map(|((field, json), alive)| match serde_json::from_str::<Replica>(&json) {
            Ok(replica) if replica.name == field => {
                let liveness = match (alive, replica.stopped_at_ms) {
                    (true, _) => Liveness::Alive,
                    (false, Some(_)) => Liveness::Stopped,
                    (false, None) => Liveness::Gone,
                };
                if liveness != Liveness::Alive && replica.heartbeat_ms < forget_before {
                    Record::Hidden(field, alive)
                } else {
                    Record::Shown(Seen { replica, liveness })
                }
            }
            _ => Record::Hidden(field, alive),
        })
        .collect())
}

/// Alive first, then by role and name.
fn order(s: &Seen) -> (bool, &'static str, &str) {
    (s.liveness != Liveness::Alive, s.replica.role.as_str(), &s.replica.name)
}

/// Beats every [`HEARTBEAT_EVERY`] until `stop` resolves, each time with
/// `record(now_ms)` (its `heartbeat_ms` is set to now), each call bounded
/// by `timeout`. Redis errors are logged and retried next tick
/// ([`crate::periodic`]); the goodbye is the caller's ([`goodbye`]), once
/// its work is drained. Every twelfth beat (about once a minute; the first
/// included) also [`prune`]s the fleet's forgotten records.
pub async fn beat_every<C, F>(conn: C, keys: &Keys, timeout: Duration, stop: impl Future<Output = ()>, record: F)
where
    C: ConnectionLike + Send + Clone,
    F: Fn(i64) -> Replica,
{
    let mut beats = 0u32;
    crate::periodic::every("heartbeat", HEARTBEAT_EVERY, stop, || {
        let mut conn = conn.clone();
        let now = crate::now_ms();
        let r = Replica { heartbeat_ms: now, ..record(now) };
        let prune_now = beats.is_multiple_of(PRUNE_EVERY_BEATS);
        beats = beats.wrapping_add(1);
        async move {
            crate::redis_conn::bounded(timeout, beat(&mut conn, keys, &r)).await?;
            if prune_now {
                crate::redis_conn::bounded(timeout, prune(&mut conn, keys, now)).await?;
            }
            Ok(())
        }
    })
    .await;
}

/// [`leave`] with `record(now_ms)` marked stopped now, bounded by
/// `timeout`; a failure is logged (the record will then read as gone).
pub async fn goodbye<C, F>(mut conn: C, keys: &Keys, timeout: Duration, record: F)
where
    C: ConnectionLike + Send,
    F: FnOnce(i64) -> Replica,
{
    let now = crate::now_ms();
    let r = Replica { heartbeat_ms: now, stopped_at_ms: Some(now), ..record(now) };
    if let Err(e) = crate::redis_conn::bounded(timeout, leave(&mut conn, keys, &r)).await {
        tracing::debug!(error.kind = ?e.kind(), "cannot say goodbye to the fleet; the record will read as gone");
    }
}

/// The record's JSON. A struct of strings, numbers, plain enums and lists
/// of them (no maps with non-string keys) always serialises, so there is no
/// error to pass on; `Envelope::encode` does the same.
fn encode(r: &Replica) -> String {
    serde_json::to_string(r).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_json_with_snake_case_roles() {
        let r = Replica::new("w-1".into(), Role::Worker, "host-a".into(), 1_700_000_000_000);
        let json = encode(&r);
        assert!(json.contains(r#""role":"worker""#), "{json}");
        assert_eq!(serde_json::from_str::<Replica>(&json).unwrap(), r);
        assert_eq!(serde_json::to_string(&Liveness::Gone).unwrap(), r#""gone""#);
    }

    #[test]
    fn unique_names_carry_host_and_pid_and_differ() {
        let (a, b) = (unique_name("h"), unique_name("h"));
        assert!(a.starts_with(&format!("h-{}-", std::process::id())), "{a}");
        assert_ne!(a, b);
    }
}
