//! The dead-letter stream of a queue: reading, replaying and purging it.
//!
//! An event that failed for good (a permanent failure, the retry budget spent,
//! or too many deliveries that killed their worker) is one entry of its
//! queue's DLQ, written by `finish.lua` or `reclaim.lua`: `env` (the
//! envelope), `reason`, `att` (failed attempts), `failed_at` (ms) and `src`
//! (its id in the stream). Replay (`queue/replay.lua`) puts the envelope
//! back into the same queue's stream with a fresh retry budget and deletes the
//! dead letter in one step; the queue is right by construction, since the DLQ
//! and the stream of one chat share a queue.

use redis::streams::{StreamId, StreamRangeReply};

use crate::envelope::{DecodeError, Envelope};
use crate::keys::QueueKeys;
use crate::scripts;

/// One entry of a queue's dead-letter stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub queue: u16,
    /// The entry's id in the DLQ (what replay and purge take).
    pub id: String,
    /// The stored envelope bytes.
    pub env: Vec<u8>,
    pub reason: String,
    /// Failed handler attempts when it died.
    pub attempts: u32,
    pub failed_at_ms: i64,
    /// The event's former id in the queue stream.
    pub src: String,
    /// The worker consumer (replica) that gave up on it; empty for letters
    /// written before botq recorded it.
    pub by: String,
}

impl DeadLetter {
    fn from_entry(queue: u16, entry: &StreamId) -> Self {
        let text = |k: &str| entry.get::<String>(k).unwrap_or_default();
        Self {
            queue,
            id: entry.id.clone(),
            env: entry.get("env").unwrap_or_default(),
            reason: text("reason"),
            attempts: text("att").parse().unwrap_or(0),
            failed_at_ms: text("failed_at").parse().unwrap_or(0),
            src: text("src"),
            by: text("by"),
        }
    }

    /// The decoded envelope.
    ///
    /// # Errors
    /// The stored bytes are not an envelope (the reason it died, sometimes).
    pub fn envelope(&self) -> Result<Envelope, DecodeError> {
        Envelope::decode(&self.env)
    }

    /// The event's claim key, or the queue's placeholder when the envelope is unreadable.
    #[must_use]
    pub fn claim_key(&self, keys: &QueueKeys) -> String {
        self.envelope().map_or_else(|_| keys.placeholder(), |e| keys.claim(&e.bot, &e.event_id))
    }
}

/// Up to `count` dead letters of one queue, oldest first, with ids after
/// `after` (`None`: from the start). Page with the last id returned.
///
/// # Errors
/// Redis errors.
pub async fn dead_letters<C>(
    conn: &mut C,
    queue: u16,
    keys: &QueueKeys,
    after: Option<&str>,
    count: usize,
) -> Result<Vec<DeadLetter>, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
    let reply: StreamRangeReply =
        redis::cmd("XRANGE").arg(keys.dlq()).arg(start).arg("+").arg("COUNT").arg(count).query_async(conn).await?;
    Ok(reply.ids.iter().map(|e| DeadLetter::from_entry(queue, e)).collect())
}

/// Up to `count` dead letters of one queue, newest first, with ids from
/// `end` down to `start`: `XREVRANGE` bounds, each `+`/`-`, an id, or
/// `(id` to leave that id out. Page with `(` and the last id returned.
///
/// # Errors
/// Redis errors, including a malformed bound.
pub async fn dead_letters_newest<C>(
    conn: &mut C,
    queue: u16,
    keys: &QueueKeys,
    end: &str,
    start: &str,
    count: usize,
) -> Result<Vec<DeadLetter>, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let reply: StreamRangeReply =
        redis::cmd("XREVRANGE").arg(keys.dlq()).arg(end).arg(start).arg("COUNT").arg(count).query_async(conn).await?;
    Ok(reply.ids.iter().map(|e| DeadLetter::from_entry(queue, e)).collect())
}

/// The dead letter `id` of one queue, if it exists.
///
/// # Errors
/// Redis errors, including a malformed id (`ERR Invalid stream ID`).
pub async fn dead_letter<C>(
    conn: &mut C,
    queue: u16,
    keys: &QueueKeys,
    id: &str,
) -> Result<Option<DeadLetter>, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let reply: StreamRangeReply = redis::cmd("XRANGE").arg(keys.dlq()).arg(id).arg(id).query_async(conn).await?;
    Ok(reply.ids.first().map(|e| DeadLetter::from_entry(queue, e)))
}

/// Moves `dead` back into its queue stream with `att` 0 and deletes it from
/// the DLQ, atomically. Returns the new stream id, or `None` when the dead
/// letter was already gone (replayed or purged meanwhile).
///
/// # Errors
/// Redis errors.
pub async fn replay<C>(conn: &mut C, keys: &QueueKeys, dead: &DeadLetter) -> Result<Option<String>, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    scripts::REPLAY.key(keys.dlq()).key(keys.stream()).key(dead.claim_key(keys)).arg(&dead.id).invoke_async(conn).await
}

/// Deletes dead letters `ids` of one queue; returns how many existed.
///
/// # Errors
/// Redis errors.
pub async fn purge<C>(conn: &mut C, keys: &QueueKeys, ids: &[String]) -> Result<u64, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    if ids.is_empty() {
        return Ok(0);
    }
    redis::cmd("XDEL").arg(keys.dlq()).arg(ids).query_async(conn).await
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::keys::Keys;

    fn entry(fields: &[(&str, &[u8])]) -> StreamId {
        let map: HashMap<String, redis::Value> =
            fields.iter().map(|(k, v)| ((*k).to_owned(), redis::Value::BulkString(v.to_vec()))).collect();
        StreamId { id: "1700000000000-0".into(), map, ..StreamId::default() }
    }

    #[test]
    fn a_dead_letter_reads_the_fields_finish_writes() {
        let d = DeadLetter::from_entry(
            2,
            &entry(&[
                ("env", b"{}"),
                ("reason", b"chat does not exist"),
                ("att", b"3"),
                ("failed_at", b"1700000000123"),
                ("src", b"1699-0"),
            ]),
        );
        assert_eq!((d.queue, d.id.as_str(), d.env.as_slice()), (2, "1700000000000-0", b"{}".as_slice()));
        assert_eq!(
            (d.reason.as_str(), d.attempts, d.failed_at_ms, d.src.as_str()),
            ("chat does not exist", 3, 1_700_000_000_123, "1699-0")
        );
    }

    #[test]
    fn a_dead_letter_with_an_unreadable_envelope_replays_with_the_placeholder_claim_key() {
        let keys = Keys::new("botq", 1).queue(0);
        let d = DeadLetter::from_entry(0, &entry(&[("env", b"not json")]));
        assert!(d.envelope().is_err());
        assert_eq!(d.claim_key(&keys), keys.placeholder());
        assert_eq!((d.attempts, d.failed_at_ms), (0, 0), "missing fields read as zero");
    }
}
