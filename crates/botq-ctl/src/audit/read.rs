//! Reading the audit stream in pages, in either direction, keeping each
//! entry's stream id even when the entry does not decode.
//!
//! `botq_core::audit::{newest, after}` return only `Result<Entry, String>`,
//! which loses the id of an undecodable entry; a pager needs it to carry on
//! past that entry, so botqctl reads the ranges itself and decodes with
//! [`Entry::from_fields`], the same rules the core uses.

use std::collections::HashMap;

use botq_core::audit::Entry;
use redis::streams::{StreamId, StreamRangeReply};

/// One stream entry: its id, and the entry or why it does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub id: String,
    pub entry: Result<Entry, String>,
}

/// Up to `count` entries older than `before` (exclusive; `None`: the newest), newest first.
///
/// # Errors
/// Redis errors (a missing stream reads as empty).
pub async fn before<C>(conn: &mut C, key: &str, before: Option<&str>, count: usize) -> redis::RedisResult<Vec<Read>>
where
    C: redis::aio::ConnectionLike + Send,
{
    let end = before.map_or_else(|| "+".to_owned(), |id| format!("({id}"));
    let reply: StreamRangeReply =
        redis::cmd("XREVRANGE").arg(key).arg(end).arg("-").arg("COUNT").arg(count).query_async(conn).await?;
    Ok(reply.ids.iter().map(decode).collect())
}

/// Up to `count` entries newer than `after` (exclusive), oldest first.
///
/// # Errors
/// Redis errors (a missing stream reads as empty).
pub async fn after<C>(conn: &mut C, key: &str, after: &str, count: usize) -> redis::RedisResult<Vec<Read>>
where
    C: redis::aio::ConnectionLike + Send,
{
    let reply: StreamRangeReply = redis::cmd("XRANGE")
        .arg(key)
        .arg(format!("({after}"))
        .arg("+")
        .arg("COUNT")
        .arg(count)
        .query_async(conn)
        .await?;
    Ok(reply.ids.iter().map(decode).collect())
}

fn decode(e: &StreamId) -> Read {
    let fields: Result<HashMap<String, String>, String> = e
        .map
        .iter()
        .map(|(k, v)| {
            redis::from_redis_value_ref::<String>(v)
                .map(|v| (k.clone(), v))
                .map_err(|_| format!("audit entry {} has a {k:?} that is not text", e.id))
        })
        .collect();
    Read { id: e.id.clone(), entry: fields.and_then(|f| Entry::from_fields(&e.id, &f)) }
}
