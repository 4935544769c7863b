//! One page of dead letters, newest first across queues, read a chunk at a
//! time.
//!
//! A queue's DLQ holds up to `dlq_max_len` letters (100 000 by default), and
//! an incident is exactly when it is full and the console is open. So a page
//! never reads a whole DLQ: each queue's stream is read backwards
//! (`XREVRANGE`) in chunks, the chunks are merged by id, and the scan stops
//! when the page is full or after a fixed number of letters examined. The
//! page ends with a cursor, the last letter shown (`QUEUE/ID`), and the next
//! page starts strictly below it.
//!
//! Order is by DLQ id, the time Redis stored the letter, then by queue: a
//! total order that a cursor can name. A letter's `failed_at` is the
//! worker's clock at the same moment, so the time filters bound the read by
//! id with [`CLOCK_SLACK_MS`] to spare and then check `failed_at` exactly.

use std::collections::VecDeque;

use botq_core::keys::Keys;
use botq_core::queue::{DeadLetter, dead_letters_newest};

use super::{DlqRef, Filter};
use crate::Error;

/// Letters examined per request at most; past it the page ends early and its
/// cursor continues the search.
pub const SCAN_BUDGET: usize = 20_000;
/// Letters read per `XREVRANGE`.
const CHUNK: usize = 200;
/// How far a worker's clock may be from Redis's for the time filters' id
/// bounds to hold.
pub const CLOCK_SLACK_MS: i64 = 60_000;

/// A page of the newest-first listing.
#[derive(Debug, Default)]
pub struct Page {
    /// At most the page size, newest first.
    pub letters: Vec<DeadLetter>,
    /// Where the next page starts (strictly older), when there may be more.
    pub older: Option<DlqRef>,
    /// Letters examined for this page.
    pub scanned: usize,
    /// The scan stopped at [`SCAN_BUDGET`] before the page was full.
    pub bounded: bool,
}

/// A position in the order: (id's ms, id's seq, queue).
type Key = (u64, u64, u16);

fn key_of(d: &DeadLetter) -> Key {
    let (ms, seq) = parse_id(&d.id).unwrap_or((0, 0));
    (ms, seq, d.queue)
}

fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// An `XREVRANGE` end bound: ids at or (when `exclusive`) below `(ms, seq)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct End {
    ms: u64,
    seq: u64,
    exclusive: bool,
}

impl End {
    /// The stricter of two bounds.
    fn min(self, other: Self) -> Self {
        match (self.ms, self.seq).cmp(&(other.ms, other.seq)) {
            std::cmp::Ordering::Less => self,
            std::cmp::Ordering::Greater => other,
            std::cmp::Ordering::Equal => Self { exclusive: self.exclusive || other.exclusive, ..self },
        }
    }

    /// As Redis takes it; `None` when nothing can be below it.
    fn arg(self) -> Option<String> {
        match (self.exclusive, self.ms, self.seq) {
            (true, 0, 0) => None,
            (true, ms, seq) => Some(format!("({ms}-{seq}")),
            (false, ms, seq) => Some(format!("{ms}-{seq}")),
        }
    }
}

/// One queue's DLQ, read backwards a chunk at a time.
struct Source {
    queue: u16,
    buf: VecDeque<DeadLetter>,
    /// The next chunk's end bound; `None` once the stream is exhausted.
    end: Option<String>,
}

/// The queues `filter` can match, by its lane and queue.
#[must_use]
pub fn queues(keys: &Keys, filter: &Filter) -> Vec<u16> {
    (0..keys.queue_count())
        .filter(|&q| filter.queue.is_none_or(|f| f == q))
        .filter(|&q| filter.lane.as_ref().is_none_or(|l| keys.lane_of_queue(q) == l))
        .collect()
}

/// Up to `per_page` letters that `filter` matches, newest first, strictly
/// older than `after` when given.
///
/// # Errors
/// Redis errors.
pub async fn newest<C>(
    conn: &mut C,
    keys: &Keys,
    filter: &Filter,
    after: Option<&DlqRef>,
    per_page: usize,
) -> Result<Page, Error>
where
    C: redis::aio::ConnectionLike + Send,
{
    let cursor = after.and_then(|r| Some((parse_id(&r.id)?, r.queue.unwrap_or(0))));
    let before = filter.before_ms.map(|b| End { ms: ms_bound(b + CLOCK_SLACK_MS), seq: 0, exclusive: true });
    let start = filter.since_ms.map_or_else(|| "-".to_owned(), |s| format!("{}-0", ms_bound(s - CLOCK_SLACK_MS)));
    let mut sources: Vec<Source> = queues(keys, filter)
        .into_iter()
        .map(|queue| {
            // Below the cursor: its own id is left out in its queue and the
            // queues after it (they came first at that id), kept in the others.
            let below = cursor.map(|((ms, seq), cq)| End { ms, seq, exclusive: queue >= cq });
            let end = match (below, before) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let end = end.map_or_else(|| Some("+".to_owned()), End::arg);
            Source { queue, buf: VecDeque::new(), end }
        })
        .collect();
    let mut page = Page::default();
    loop {
        for s in sources.iter_mut().filter(|s| s.buf.is_empty()) {
            let Some(end) = s.end.take() else { continue };
            let chunk = dead_letters_newest(conn, s.queue, &keys.queue(s.queue), &end, &start, CHUNK).await?;
            if chunk.len() == CHUNK {
                s.end = chunk.last().map(|d| format!("({}", d.id));
            }
            s.buf.extend(chunk);
        }
        let Some(next) = sources.iter_mut().filter(|s| !s.buf.is_empty()).max_by_key(|s| s.buf.front().map(key_of))
        else {
            break;
        };
        let Some(d) = next.buf.pop_front() else { break };
        page.scanned += 1;
        let (ms, seq, queue) = key_of(&d);
        if filter.matches(keys, &d) {
            page.letters.push(d);
            if page.letters.len() > per_page {
                page.letters.truncate(per_page);
                page.older = page.letters.last().map(|d| DlqRef { queue: Some(d.queue), id: d.id.clone() });
                break;
            }
        }
        if page.scanned >= SCAN_BUDGET {
            page.bounded = sources.iter().any(|s| !s.buf.is_empty() || s.end.is_some());
            // The next page searches on below the last letter examined.
            page.older = page.bounded.then(|| DlqRef { queue: Some(queue), id: format!("{ms}-{seq}") });
            break;
        }
    }
    Ok(page)
}

/// A Unix ms time as a stream id's ms part (times before 1970 are 0).
fn ms_bound(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}

/// How many letters the queues hold in all (`XLEN`): the exact count of a
/// filter that names only a lane or a queue.
///
/// # Errors
/// Redis errors.
pub async fn total<C>(conn: &mut C, keys: &Keys, queues: &[u16]) -> Result<u64, Error>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut n = 0u64;
    for &q in queues {
        let len: u64 = redis::cmd("XLEN").arg(keys.queue(q).dlq()).query_async(conn).await?;
        n += len;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stricter_end_bound_wins() {
        let a = End { ms: 5, seq: 0, exclusive: false };
        let b = End { ms: 4, seq: 9, exclusive: false };
        assert_eq!(a.min(b), b);
        assert_eq!(b.min(a), b);
        let ex = End { exclusive: true, ..a };
        assert_eq!(a.min(ex), ex, "at the same id, leaving it out is stricter");
        assert_eq!(ex.arg().as_deref(), Some("(5-0"));
        assert_eq!(a.arg().as_deref(), Some("5-0"));
        assert_eq!(End { ms: 0, seq: 0, exclusive: true }.arg(), None, "nothing is below 0-0");
    }

    #[test]
    fn a_filter_narrows_the_queues_read() {
        let keys = Keys::new("botq", 4);
        assert_eq!(queues(&keys, &Filter::default()), [0, 1, 2, 3]);
        assert_eq!(queues(&keys, &Filter { queue: Some(2), ..Filter::default() }), [2]);
        assert_eq!(queues(&keys, &Filter { lane: Some("default".into()), ..Filter::default() }), [0, 1, 2, 3]);
        assert!(queues(&keys, &Filter { lane: Some("vip".into()), ..Filter::default() }).is_empty());
    }

    #[test]
    fn ids_order_by_time_then_sequence_then_queue() {
        let d = |queue, id: &str| DeadLetter {
            queue,
            id: id.into(),
            env: vec![],
            reason: String::new(),
            attempts: 0,
            failed_at_ms: 0,
            src: String::new(),
            by: String::new(),
        };
        assert!(key_of(&d(0, "10-1")) > key_of(&d(3, "10-0")));
        assert!(key_of(&d(1, "10-0")) > key_of(&d(0, "10-0")));
        assert!(key_of(&d(0, "11-0")) > key_of(&d(3, "10-5")));
    }
}
