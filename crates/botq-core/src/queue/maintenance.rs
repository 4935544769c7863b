//! The worker's background duties on Redis: promoting due retries, reclaiming
//! deliveries of dead consumers, and sampling queue gauges.

use std::time::Duration;

use crate::keys::{GROUP, QueueKeys};
use crate::queue::Delivery;
use crate::scripts;

/// Moves up to `limit` retries due at `now_ms` back into the stream; returns how many.
///
/// # Errors
/// Redis errors.
pub async fn promote<C>(conn: &mut C, keys: &QueueKeys, now_ms: i64, limit: usize) -> Result<usize, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    scripts::PROMOTE.key(keys.stream()).key(keys.delayed()).arg(now_ms).arg(limit).invoke_async(conn).await
}

/// `true` when some delivery of the queue has been idle longer than `min_idle`
/// (its consumer is presumably dead), without claiming anything.
///
/// # Errors
/// Redis errors.
pub async fn has_idle<C>(conn: &mut C, keys: &QueueKeys, min_idle: Duration) -> Result<bool, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let idle_ms = u64::try_from(min_idle.as_millis()).unwrap_or(u64::MAX);
    let entries: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg(keys.stream())
        .arg(GROUP)
        .arg("IDLE")
        .arg(idle_ms)
        .arg("-")
        .arg("+")
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(!entries.is_empty())
}

/// `{id, env, att, deliveries}` as `reclaim.lua` returns them.
type ReclaimedEntry = (String, Vec<u8>, String, u64);

/// What one reclaim step found.
#[derive(Debug)]
pub struct Reclaimed {
    /// `0-0` when the scan wrapped.
    pub next_cursor: String,
    /// Deliveries now ours, to handle like fresh reads.
    pub deliveries: Vec<Delivery>,
    /// Envelopes of entries dead-lettered for too many deliveries: count
    /// each out of its chat's fair share ([`super::Settlement::pump`] with `release`).
    pub dead: Vec<Vec<u8>>,
}

/// One reclaimer pass over a queue (`reclaim.lua`): whose stalled entries
/// to take over, how many, and from where.
#[derive(Debug, Clone, Copy)]
pub struct ReclaimPass<'a> {
    /// The consumer taking the entries over.
    pub consumer: &'a str,
    /// Entries idle at least this long are stalled (the lease).
    pub min_idle: Duration,
    /// Where the previous pass stopped (`0-0` to start over).
    pub cursor: &'a str,
    /// At most this many entries (the free handler permits).
    pub count: usize,
    /// An entry delivered this many times is dead-lettered instead of handled again.
    pub max_deliveries: u32,
    pub now_ms: i64,
    /// The dead-letter stream's `MAXLEN ~`.
    pub dlq_max_len: u64,
}

/// Takes over the entries of queue `queue` that `pass` finds stalled.
///
/// # Errors
/// Redis errors.
pub async fn reclaim<C>(
    conn: &mut C,
    queue: u16,
    keys: &QueueKeys,
    pass: &ReclaimPass<'_>,
) -> Result<Reclaimed, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let (next_cursor, entries, dead): (String, Vec<ReclaimedEntry>, Vec<Vec<u8>>) = scripts::RECLAIM
        .key(keys.stream())
        .key(keys.dlq())
        .arg(GROUP)
        .arg(pass.consumer)
        .arg(u64::try_from(pass.min_idle.as_millis()).unwrap_or(u64::MAX))
        .arg(pass.cursor)
        .arg(pass.count)
        .arg(pass.max_deliveries)
        .arg(pass.now_ms)
        .arg(pass.dlq_max_len)
        .invoke_async(conn)
        .await?;
    let deliveries = entries
        .into_iter()
        .map(|(id, raw, att, n)| Delivery::new(queue, id, raw, att.parse().unwrap_or(0), n))
        .collect();
    Ok(Reclaimed { next_cursor, deliveries, dead })
}

/// Deletes consumers of this group that own no pending entries and have been
/// idle longer than `idle`, except `me`. Every worker process joins with a new
/// name, so without this the group's consumer list grows forever: Redis never
/// deletes a consumer by itself (<https://github.com/redis/redis/issues/8635>).
/// A consumer with pending entries is never deleted: that would drop its PEL.
/// Returns how many were deleted.
///
/// # Errors
/// Redis errors.
pub async fn prune_consumers<C>(
    conn: &mut C,
    keys: &QueueKeys,
    me: &str,
    idle: Duration,
) -> Result<usize, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let consumers: Vec<std::collections::HashMap<String, redis::Value>> =
        redis::cmd("XINFO").arg("CONSUMERS").arg(keys.stream()).arg(GROUP).query_async(conn).await?;
    let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
    let mut deleted = 0;
    for c in consumers {
        let field = |k: &str| c.get(k).and_then(|v| redis::from_redis_value_ref::<u64>(v).ok()).unwrap_or(0);
        let name: String = c.get("name").and_then(|v| redis::from_redis_value_ref(v).ok()).unwrap_or_default();
        if name.is_empty() || name == me || field("pending") > 0 || field("idle") < idle_ms {
            continue;
        }
        // The script re-checks "owns nothing" atomically with the delete.
        let done: u64 = scripts::PRUNE.key(keys.stream()).arg(GROUP).arg(&name).invoke_async(conn).await?;
        deleted += usize::try_from(done).unwrap_or(0);
    }
    Ok(deleted)
}

/// Queue gauges of one queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Entries in the stream (waiting + in flight).
    pub depth: u64,
    /// Entries not yet delivered to the group (`XINFO GROUPS` lag).
    pub lag: u64,
    /// Entries delivered and not yet settled (the PEL).
    pub pending: u64,
    pub delayed: u64,
    pub dlq: u64,
    /// Chats with events waiting in their own backlog (fair share).
    pub backlogged_chats: u64,
}

/// Samples the gauges of one queue in one pipelined round trip.
///
/// # Errors
/// Redis errors.
pub async fn stats<C>(conn: &mut C, keys: &QueueKeys) -> Result<QueueStats, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let (depth, groups, delayed, dlq, backlogged_chats): (u64, redis::Value, u64, u64, u64) = redis::pipe()
        .cmd("XLEN")
        .arg(keys.stream())
        .cmd("XINFO")
        .arg("GROUPS")
        .arg(keys.stream())
        .cmd("ZCARD")
        .arg(keys.delayed())
        .cmd("XLEN")
        .arg(keys.dlq())
        .cmd("ZCARD")
        .arg(keys.backlogged())
        .query_async(conn)
        .await?;
    let (mut lag, mut pending) = (0, 0);
    if let redis::Value::Array(groups) = groups {
        for g in groups {
            let fields: std::collections::HashMap<String, redis::Value> =
                redis::from_redis_value(g).unwrap_or_default();
            let name: String = fields.get("name").and_then(|v| redis::from_redis_value_ref(v).ok()).unwrap_or_default();
            if name == GROUP {
                pending = fields.get("pending").and_then(|v| redis::from_redis_value_ref(v).ok()).unwrap_or(0);
                // lag is nil when Redis cannot compute it (after deletions); depth - pending bounds it.
                lag = fields
                    .get("lag")
                    .and_then(|v| redis::from_redis_value_ref(v).ok())
                    .unwrap_or_else(|| depth.saturating_sub(pending));
            }
        }
    }
    Ok(QueueStats { depth, lag, pending, delayed, dlq, backlogged_chats })
}

/// Trims entries older than `max_age` from stream `key` (`XTRIM MINID`,
/// exact): the age bound of the dead-letter and audit streams, beside their
/// length bound. Stream ids start with the entry's Unix ms. Returns how many
/// entries went.
///
/// # Errors
/// Redis errors.
pub async fn trim_by_age<C>(conn: &mut C, key: &str, max_age: Duration, now_ms: i64) -> Result<u64, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let cut = now_ms.saturating_sub(i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX)).max(0);
    redis::cmd("XTRIM").arg(key).arg("MINID").arg(format!("{cut}-0")).query_async(conn).await
}
