//! `botqctl status`: the queue gauges of every queue, who is consuming it,
//! and the fleet: every ingest and worker process on record (alive,
//! stopped, or gone without a goodbye), with its build and what it does.

use std::collections::HashMap;
use std::io::Write;

use botq_core::fleet::{self, Seen};
use botq_core::keys::{GROUP, Keys, QueueKeys};
use botq_core::queue::{QueueStats, is_nogroup, stats};
use serde::Serialize;

use crate::output;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueStatus {
    pub queue: u16,
    pub stream: String,
    /// Entries in the stream (waiting + in flight).
    pub depth: u64,
    /// Entries not yet delivered to the group.
    pub lag: u64,
    /// Entries delivered and not yet settled.
    pub pending: u64,
    /// Retries waiting for their due time.
    pub delayed: u64,
    pub dlq: u64,
    pub consumers: Vec<Consumer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consumer {
    pub name: String,
    pub pending: u64,
    pub idle_ms: u64,
}

/// Reads the status of one queue. A stream that does not exist yet (nothing
/// ever enqueued, no worker started) reads as empty rather than an error.
///
/// # Errors
/// Redis errors.
pub async fn queue_status<C>(conn: &mut C, queue: u16, keys: &QueueKeys) -> Result<QueueStatus, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let exists: bool = redis::cmd("EXISTS").arg(keys.stream()).query_async(conn).await?;
    let s = if exists {
        stats(conn, keys).await?
    } else {
        let (delayed, dlq): (u64, u64) =
            redis::pipe().cmd("ZCARD").arg(keys.delayed()).cmd("XLEN").arg(keys.dlq()).query_async(conn).await?;
        QueueStats { delayed, dlq, ..QueueStats::default() }
    };
    let consumers = if exists { consumers(conn, keys).await? } else { Vec::new() };
    Ok(QueueStatus {
        queue,
        stream: keys.stream(),
        depth: s.depth,
        lag: s.lag,
        pending: s.pending,
        delayed: s.delayed,
        dlq: s.dlq,
        consumers,
    })
}

async fn consumers<C>(conn: &mut C, keys: &QueueKeys) -> Result<Vec<Consumer>, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let reply: Result<Vec<HashMap<String, redis::Value>>, _> =
        redis::cmd("XINFO").arg("CONSUMERS").arg(keys.stream()).arg(GROUP).query_async(conn).await;
    let list = match reply {
        Ok(list) => list,
        Err(e) if is_nogroup(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(list
        .iter()
        .map(|c| {
            let num = |k: &str| c.get(k).and_then(|v| redis::from_redis_value_ref::<u64>(v).ok()).unwrap_or(0);
            Consumer {
                name: c.get("name").and_then(|v| redis::from_redis_value_ref(v).ok()).unwrap_or_default(),
                pending: num("pending"),
                idle_ms: num("idle"),
            }
        })
        .collect())
}

pub(crate) async fn run<C>(conn: &mut C, keys: &Keys, json: bool, out: &mut impl Write) -> Result<(), crate::Error>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut queues = Vec::new();
    for s in 0..keys.queue_count() {
        queues.push(queue_status(conn, s, &keys.queue(s)).await?);
    }
    let now = botq_core::now_ms();
    let replicas = fleet::list(conn, keys, now).await?;
    if json {
        output::json(out, &serde_json::json!({ "group": GROUP, "queues": queues, "replicas": replicas }))?;
    } else {
        out.write_all(render(&queues).as_bytes())?;
        out.write_all(b"\n")?;
        out.write_all(render_replicas(&replicas, now).as_bytes())?;
    }
    Ok(())
}

/// The fleet table: one row per replica on record, as `fleet::list` sorts them.
#[must_use]
pub fn render_replicas(replicas: &[Seen], now_ms: i64) -> String {
    if replicas.is_empty() {
        return "no replicas on record\n".to_owned();
    }
    let dash = || "-".to_owned();
    let rows: Vec<Vec<String>> = replicas
        .iter()
        .map(|s| {
            let r = &s.replica;
            vec![
                output::one_line(&r.name),
                r.role.as_str().to_owned(),
                output::one_line(&r.host),
                output::one_line(&r.version),
                output::one_line(&r.git_sha),
                r.image_digest.as_deref().map_or_else(dash, short_digest),
                output::rfc3339_ms(r.started_at_ms),
                age(now_ms - r.heartbeat_ms),
                r.in_flight.to_string(),
                if r.lanes.is_empty() { dash() } else { output::one_line(&r.lanes.join(",")) },
                s.liveness.as_str().to_owned(),
            ]
        })
        .collect();
    output::table(
        &[
            "replica",
            "role",
            "host",
            "version",
            "git_sha",
            "digest",
            "started",
            "heartbeat",
            "in_flight",
            "lanes",
            "state",
        ],
        &rows,
    )
}

/// `sha256:` and the first 12 hex digits, like `docker images` shows them.
fn short_digest(d: &str) -> String {
    let (algo, hex) = d.split_once(':').unwrap_or(("", d));
    let hex: String = hex.chars().take(12).collect();
    output::one_line(&if algo.is_empty() { hex } else { format!("{algo}:{hex}") })
}

/// How long ago, for a person: `4s`, `3m`, `5h`, `2d` ago.
fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86_400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// The human form: one row per queue, then one row per consumer.
#[must_use]
pub fn render(queues: &[QueueStatus]) -> String {
    let rows: Vec<Vec<String>> = queues
        .iter()
        .map(|s| {
            vec![
                s.queue.to_string(),
                s.stream.clone(),
                s.depth.to_string(),
                s.lag.to_string(),
                s.pending.to_string(),
                s.delayed.to_string(),
                s.dlq.to_string(),
            ]
        })
        .collect();
    let mut text = output::table(&["queue", "stream", "depth", "lag", "pending", "delayed", "dlq"], &rows);
    let consumers: Vec<Vec<String>> = queues
        .iter()
        .flat_map(|s| {
            s.consumers
                .iter()
                .map(|c| vec![s.queue.to_string(), c.name.clone(), c.pending.to_string(), c.idle_ms.to_string()])
        })
        .collect();
    text.push('\n');
    if consumers.is_empty() {
        text.push_str(&format!("no consumers in group {GROUP}\n"));
    } else {
        text.push_str(&output::table(&["queue", "consumer", "pending", "idle_ms"], &consumers));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lists_queues_then_consumers() {
        let s = QueueStatus {
            queue: 0,
            stream: "botq:{q0}:stream".into(),
            depth: 3,
            lag: 1,
            pending: 2,
            delayed: 0,
            dlq: 5,
            consumers: vec![Consumer { name: "w-1".into(), pending: 2, idle_ms: 40 }],
        };
        assert_eq!(
            render(&[s]),
            "queue  stream            depth  lag  pending  delayed  dlq\n\
             0      botq:{q0}:stream  3      1    2        0        5\n\
             \n\
             queue  consumer  pending  idle_ms\n\
             0      w-1       2        40\n"
        );
    }

    fn replica(name: &str, role: fleet::Role, liveness: fleet::Liveness) -> Seen {
        let mut r = fleet::Replica::new(name.into(), role, "host-a".into(), 1_700_000_000_000);
        r.version = "0.1.0".into();
        r.git_sha = "0123456789ab".into();
        r.image_digest = None;
        r.heartbeat_ms = 1_700_000_100_000;
        Seen { replica: r, liveness }
    }

    #[test]
    fn replicas_show_build_age_work_and_state() {
        let mut w = replica("w-1", fleet::Role::Worker, fleet::Liveness::Alive);
        w.replica.in_flight = 3;
        w.replica.lanes = vec!["default".into(), "noisy".into()];
        w.replica.image_digest = Some(format!("sha256:{}", "f".repeat(64)));
        let mut i = replica("i-1", fleet::Role::Ingest, fleet::Liveness::Stopped);
        i.replica.stopped_at_ms = Some(1_700_000_100_000);
        let gone = replica("w-0", fleet::Role::Worker, fleet::Liveness::Gone);
        let now = 1_700_000_104_500;
        assert_eq!(
            render_replicas(&[w, i, gone], now),
            "replica  role    host    version  git_sha       digest               started                   heartbeat  in_flight  lanes          state\n\
             w-1      worker  host-a  0.1.0    0123456789ab  sha256:ffffffffffff  2023-11-14T22:13:20.000Z  4s ago     3          default,noisy  alive\n\
             i-1      ingest  host-a  0.1.0    0123456789ab  -                    2023-11-14T22:13:20.000Z  4s ago     0          -              stopped\n\
             w-0      worker  host-a  0.1.0    0123456789ab  -                    2023-11-14T22:13:20.000Z  4s ago     0          -              gone\n"
        );
        assert_eq!(render_replicas(&[], now), "no replicas on record\n");
    }

    #[test]
    fn ages_read_in_the_largest_whole_unit() {
        assert_eq!(age(-5), "0s ago", "a clock a little ahead is now");
        assert_eq!(age(59_999), "59s ago");
        assert_eq!(age(60_000), "1m ago");
        assert_eq!(age(7_200_000), "2h ago");
        assert_eq!(age(3 * 86_400_000), "3d ago");
    }

    #[test]
    fn status_without_consumers_says_so() {
        let s = QueueStatus {
            queue: 0,
            stream: "s".into(),
            depth: 0,
            lag: 0,
            pending: 0,
            delayed: 0,
            dlq: 0,
            consumers: vec![],
        };
        assert!(render(&[s]).ends_with("no consumers in group botq-workers\n"));
    }
}
