//! `botqctl pending`: deliveries handed to a consumer and not settled for a
//! while. An entry idle past the lease belongs to a dead consumer and is the
//! reclaimer's next job; one with many deliveries is a poison message heading
//! for the DLQ.

use std::io::Write;

use botq_core::keys::{GROUP, Keys, QueueKeys};
use botq_core::queue::is_nogroup;
use serde::Serialize;

use crate::output;

/// Entries shown per queue (`XPENDING … COUNT`).
pub const PER_QUEUE: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingEntry {
    pub queue: u16,
    pub id: String,
    pub consumer: String,
    pub idle_ms: u64,
    pub deliveries: u64,
}

/// Up to [`PER_QUEUE`] entries of one queue pending for at least `min_idle_ms`.
///
/// # Errors
/// Redis errors (a missing stream or group reads as nothing pending).
pub async fn queue_pending<C>(
    conn: &mut C,
    queue: u16,
    keys: &QueueKeys,
    min_idle_ms: u64,
) -> Result<Vec<PendingEntry>, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let reply: Result<Vec<(String, String, u64, u64)>, _> = redis::cmd("XPENDING")
        .arg(keys.stream())
        .arg(GROUP)
        .arg("IDLE")
        .arg(min_idle_ms)
        .arg("-")
        .arg("+")
        .arg(PER_QUEUE)
        .query_async(conn)
        .await;
    match reply {
        Ok(list) => Ok(list
            .into_iter()
            .map(|(id, consumer, idle_ms, deliveries)| PendingEntry { queue, id, consumer, idle_ms, deliveries })
            .collect()),
        Err(e) if is_nogroup(&e) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

pub(crate) async fn run<C>(
    conn: &mut C,
    keys: &Keys,
    min_idle_ms: u64,
    json: bool,
    out: &mut impl Write,
) -> Result<(), crate::Error>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut all = Vec::new();
    for s in 0..keys.queue_count() {
        all.extend(queue_pending(conn, s, &keys.queue(s), min_idle_ms).await?);
    }
    if json {
        output::json(out, &serde_json::json!({ "min_idle_ms": min_idle_ms, "entries": all }))?;
    } else {
        out.write_all(render(&all, min_idle_ms).as_bytes())?;
    }
    Ok(())
}

#[must_use]
pub fn render(entries: &[PendingEntry], min_idle_ms: u64) -> String {
    if entries.is_empty() {
        return format!("nothing pending for {min_idle_ms} ms or longer\n");
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![e.queue.to_string(), e.id.clone(), e.consumer.clone(), e.idle_ms.to_string(), e.deliveries.to_string()]
        })
        .collect();
    output::table(&["queue", "id", "consumer", "idle_ms", "deliveries"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_entries_show_consumer_idle_time_and_deliveries() {
        let e = PendingEntry { queue: 1, id: "1-0".into(), consumer: "w-9".into(), idle_ms: 61_000, deliveries: 3 };
        assert_eq!(
            render(&[e], 60_000),
            "queue  id   consumer  idle_ms  deliveries\n1      1-0  w-9       61000    3\n"
        );
    }

    #[test]
    fn nothing_pending_is_a_sentence_not_an_empty_table() {
        assert_eq!(render(&[], 500), "nothing pending for 500 ms or longer\n");
    }
}
