//! Every queue's gauges, read live (what `botqctl status` reads, plus the
//! chats waiting in their own backlog), and the table the overview shows.

use botq_core::keys::Keys;
use maud::{Markup, html};

use super::layout::count;
use crate::status::{QueueStatus, queue_status};

/// One queue now.
#[derive(Debug, Clone)]
pub struct Row {
    pub status: QueueStatus,
    pub lane: String,
    /// Chats whose events wait in their own backlog (fair share).
    pub backlogged: u64,
}

impl std::ops::Deref for Row {
    type Target = QueueStatus;
    fn deref(&self) -> &QueueStatus {
        &self.status
    }
}

/// Reads every queue of every lane.
///
/// # Errors
/// Redis errors.
pub async fn read<C>(conn: &mut C, keys: &Keys) -> Result<Vec<Row>, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut rows = Vec::with_capacity(usize::from(keys.queue_count()));
    for q in 0..keys.queue_count() {
        let queue = keys.queue(q);
        let status = queue_status(conn, q, &queue).await?;
        let backlogged: u64 = redis::cmd("ZCARD").arg(queue.backlogged()).query_async(conn).await?;
        rows.push(Row { status, lane: keys.lane_of_queue(q).to_owned(), backlogged });
    }
    Ok(rows)
}

/// The table: one row per queue, a total per lane when it has several.
pub fn table(keys: &Keys, rows: &[Row]) -> Markup {
    let lanes: Vec<&str> = {
        let mut l: Vec<&str> = rows.iter().map(|r| r.lane.as_str()).collect();
        l.dedup();
        l
    };
    let cells = |r: &QueueStatus, backlogged: u64| {
        html! {
            td.num { (count(r.depth)) }
            td.num { (count(r.lag)) }
            td.num { (count(r.pending)) }
            td.num { (count(r.delayed)) }
            td.num { (count(backlogged)) }
            td.num { @if r.dlq > 0 { a href=(format!("/dead-letters?queue={}", r.queue)) { (count(r.dlq)) } } @else { "0" } }
        }
    };
    html! {
        div.wrap { table {
            thead { tr {
                th { "Lane" } th { "Queue" } th { "Stream" }
                th.num title="entries in the stream, waiting or in flight" { "Depth" }
                th.num title="entries not yet delivered to a worker" { "Lag" }
                th.num title="delivered, not yet settled" { "Pending" }
                th.num title="retries waiting for their time" { "Delayed" }
                th.num title="chats waiting in their own backlog (fair share)" { "Backlogged chats" }
                th.num { "Dead letters" }
                th.num { "Consumers" }
            } }
            tbody {
                @for lane in &lanes {
                    @let mine: Vec<&Row> = rows.iter().filter(|r| r.lane == *lane).collect();
                    @for r in &mine {
                        tr {
                            td { (lane) } td.num { (r.queue) } td { code { (r.stream) } }
                            (cells(r, r.backlogged))
                            td.num { (r.consumers.len()) }
                        }
                    }
                    @if mine.len() > 1 {
                        @let total = total(&mine);
                        tr.total {
                            td { (lane) } td { "all" } td {}
                            (cells(&total, mine.iter().map(|r| r.backlogged).sum()))
                            td {}
                        }
                    }
                }
            }
        } }
        @if keys.queue_count() == 0 { p.muted { "no queues configured" } }
    }
}

fn total(rows: &[&Row]) -> QueueStatus {
    let mut t = QueueStatus {
        queue: 0,
        stream: String::new(),
        depth: 0,
        lag: 0,
        pending: 0,
        delayed: 0,
        dlq: 0,
        consumers: Vec::new(),
    };
    for r in rows {
        t.depth += r.depth;
        t.lag += r.lag;
        t.pending += r.pending;
        t.delayed += r.delayed;
        t.dlq += r.dlq;
    }
    t
}
