//! The consumer group: creating it, reading new entries, recognising `NOGROUP`.

use std::time::Duration;

use redis::streams::{StreamReadOptions, StreamReadReply};

use crate::envelope::{DecodeError, Envelope};
use crate::keys::{GROUP, QueueKeys};

/// One delivery of a stream entry to this consumer.
#[derive(Debug)]
pub struct Delivery {
    pub queue: u16,
    /// The stream entry id.
    pub id: String,
    /// The stored envelope bytes (kept raw for retry and dead-letter copies).
    pub raw: Vec<u8>,
    /// The decoded envelope; an entry that does not decode is dead-lettered.
    pub envelope: Result<Envelope, DecodeError>,
    /// Failed handler attempts before this delivery (the entry's `att` field).
    pub attempts: u32,
    /// Times this entry has been delivered (1 for a fresh read).
    pub deliveries: u64,
    /// When this process received it (read or reclaimed: both reset the
    /// entry's idle time), for [`super::needs_verify`].
    pub received: std::time::Instant,
}

impl Delivery {
    #[must_use]
    pub fn new(queue: u16, id: String, raw: Vec<u8>, attempts: u32, deliveries: u64) -> Self {
        let envelope = Envelope::decode(&raw);
        Self { queue, id, raw, envelope, attempts, deliveries, received: std::time::Instant::now() }
    }
}

/// Creates the group on the queue stream (and the stream) if missing.
///
/// The group starts at id 0: after a loss of the group, everything still in
/// the stream is unfinished work, because finished entries are deleted.
///
/// # Errors
/// Redis errors other than "group already exists".
pub async fn ensure_group<C>(conn: &mut C, keys: &QueueKeys) -> Result<(), redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let res: Result<(), redis::RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(keys.stream())
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match res {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// `true` when Redis says the group (or its stream) does not exist.
#[must_use]
pub fn is_nogroup(e: &redis::RedisError) -> bool {
    e.code() == Some("NOGROUP")
}

/// Reads up to `count` new entries for `consumer`, blocking up to `block`.
///
/// # Errors
/// Redis errors, including `NOGROUP` (see [`is_nogroup`]).
pub async fn read<C>(
    conn: &mut C,
    queue: u16,
    keys: &QueueKeys,
    consumer: &str,
    count: usize,
    block: Duration,
) -> Result<Vec<Delivery>, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let block_ms = usize::try_from(block.as_millis()).unwrap_or(usize::MAX);
    let opts = StreamReadOptions::default().group(GROUP, consumer).count(count).block(block_ms);
    let reply: Option<StreamReadReply> =
        redis::cmd("XREADGROUP").arg(&opts).arg("STREAMS").arg(keys.stream()).arg(">").query_async(conn).await?;
    let mut out = Vec::new();
    for key in reply.map(|r| r.keys).unwrap_or_default() {
        for entry in key.ids {
            let raw: Vec<u8> = entry.get("env").unwrap_or_default();
            let attempts: u32 = entry.get::<String>("att").and_then(|a| a.parse().ok()).unwrap_or(0);
            out.push(Delivery::new(queue, entry.id, raw, attempts, 1));
        }
    }
    Ok(out)
}
