//! `botqctl status`: the queue gauges of every shard and who is consuming it.

use std::collections::HashMap;
use std::io::Write;

use botq_core::keys::{GROUP, Keys, ShardKeys};
use botq_core::queue::{QueueStats, is_nogroup, stats};
use serde::Serialize;

use crate::output;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardStatus {
    pub shard: u16,
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

/// Reads the status of one shard. A stream that does not exist yet (nothing
/// ever enqueued, no worker started) reads as empty rather than an error.
///
/// # Errors
/// Redis errors.
pub async fn shard_status<C>(conn: &mut C, shard: u16, keys: &ShardKeys) -> Result<ShardStatus, redis::RedisError>
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
    Ok(ShardStatus {
        shard,
        stream: keys.stream(),
        depth: s.depth,
        lag: s.lag,
        pending: s.pending,
        delayed: s.delayed,
        dlq: s.dlq,
        consumers,
    })
}

async fn consumers<C>(conn: &mut C, keys: &ShardKeys) -> Result<Vec<Consumer>, redis::RedisError>
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
    let mut shards = Vec::new();
    for s in 0..keys.shards() {
        shards.push(shard_status(conn, s, &keys.shard(s)).await?);
    }
    if json {
        output::json(out, &serde_json::json!({ "group": GROUP, "shards": shards }))?;
    } else {
        out.write_all(render(&shards).as_bytes())?;
    }
    Ok(())
}

/// The human form: one row per shard, then one row per consumer.
#[must_use]
pub fn render(shards: &[ShardStatus]) -> String {
    let rows: Vec<Vec<String>> = shards
        .iter()
        .map(|s| {
            vec![
                s.shard.to_string(),
                s.stream.clone(),
                s.depth.to_string(),
                s.lag.to_string(),
                s.pending.to_string(),
                s.delayed.to_string(),
                s.dlq.to_string(),
            ]
        })
        .collect();
    let mut text = output::table(&["shard", "stream", "depth", "lag", "pending", "delayed", "dlq"], &rows);
    let consumers: Vec<Vec<String>> = shards
        .iter()
        .flat_map(|s| {
            s.consumers
                .iter()
                .map(|c| vec![s.shard.to_string(), c.name.clone(), c.pending.to_string(), c.idle_ms.to_string()])
        })
        .collect();
    text.push('\n');
    if consumers.is_empty() {
        text.push_str(&format!("no consumers in group {GROUP}\n"));
    } else {
        text.push_str(&output::table(&["shard", "consumer", "pending", "idle_ms"], &consumers));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lists_shards_then_consumers() {
        let s = ShardStatus {
            shard: 0,
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
            "shard  stream            depth  lag  pending  delayed  dlq\n\
             0      botq:{q0}:stream  3      1    2        0        5\n\
             \n\
             shard  consumer  pending  idle_ms\n\
             0      w-1       2        40\n"
        );
    }

    #[test]
    fn status_without_consumers_says_so() {
        let s = ShardStatus {
            shard: 0,
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
