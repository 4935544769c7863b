//! Naming dead letters: one by id (`ID` or `QUEUE/ID`, every queue searched
//! for a bare id), or a whole selection resolved now against every queue.
//! The console and `botqctl dlq` both resolve through here, so a filter means
//! the same in both.

use botq_core::keys::Keys;
use botq_core::queue::{DeadLetter, dead_letter, dead_letters};

use super::newest::{CLOCK_SLACK_MS, queues};
use crate::Error;

/// Dead letters read per `XRANGE` when scanning a whole DLQ.
const PAGE: usize = 500;

/// A dead letter as named on the command line: `1700000000000-0` or `2/1700000000000-0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqRef {
    pub queue: Option<u16>,
    pub id: String,
}

/// A string that does not name a dead letter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRef {
    #[error("bad queue number in {0:?}")]
    Queue(String),
    #[error("{0:?} is not a dead letter id (like 1700000000000-0 or 0/1700000000000-0)")]
    Id(String),
}

impl std::str::FromStr for DlqRef {
    type Err = BadRef;

    fn from_str(s: &str) -> Result<Self, BadRef> {
        let (queue, id) = match s.split_once('/') {
            Some((queue, id)) => (Some(queue.parse().map_err(|_| BadRef::Queue(s.to_owned()))?), id),
            None => (None, s),
        };
        // Both parts digits that fit a stream id's u64s.
        let ok = id.split_once('-').is_some_and(|(ms, seq)| {
            [ms, seq].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u64>().is_ok())
        });
        if !ok {
            return Err(BadRef::Id(s.to_owned()));
        }
        Ok(Self { queue, id: id.to_owned() })
    }
}

impl std::fmt::Display for DlqRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.queue {
            Some(s) => write!(f, "{s}/{}", self.id),
            None => f.write_str(&self.id),
        }
    }
}

/// Which dead letters a replay or purge acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Ids(Vec<DlqRef>),
    All,
    Filter(Filter),
}

/// Dead letters by what they are; every given condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub bot: Option<String>,
    /// The lane of the queue it died in.
    pub lane: Option<String>,
    /// The queue it died in (a global queue number).
    pub queue: Option<u16>,
    pub reason_contains: Option<String>,
    /// Died at or after this, Unix ms.
    pub since_ms: Option<i64>,
    /// Died before this, Unix ms.
    pub before_ms: Option<i64>,
}

impl Filter {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    #[must_use]
    pub fn matches(&self, keys: &Keys, d: &DeadLetter) -> bool {
        self.bot.as_ref().is_none_or(|bot| d.envelope().is_ok_and(|e| e.bot.as_str() == bot))
            && self.lane.as_ref().is_none_or(|lane| keys.lane_of_queue(d.queue) == lane)
            && self.queue.is_none_or(|q| q == d.queue)
            && self.reason_contains.as_ref().is_none_or(|text| d.reason.contains(text.as_str()))
            && self.since_ms.is_none_or(|t| d.failed_at_ms >= t)
            && self.before_ms.is_none_or(|t| d.failed_at_ms < t)
    }
}

/// A filter that names nothing in particular is every letter.
impl From<Filter> for Selection {
    fn from(f: Filter) -> Self {
        if f.is_empty() { Self::All } else { Self::Filter(f) }
    }
}

impl Selection {
    fn matches(&self, keys: &Keys, d: &DeadLetter) -> bool {
        match self {
            Self::Ids(_) | Self::All => true,
            Self::Filter(f) => f.matches(keys, d),
        }
    }
}

/// The one dead letter `r` names.
///
/// # Errors
/// No such letter, an id in several queues, or Redis errors.
pub async fn find<C>(conn: &mut C, keys: &Keys, r: &DlqRef) -> Result<DeadLetter, Error>
where
    C: redis::aio::ConnectionLike + Send,
{
    let queues: Vec<u16> = match r.queue {
        Some(s) if s < keys.queue_count() => vec![s],
        Some(_) => return Err(Error::UnknownId(r.to_string())),
        None => (0..keys.queue_count()).collect(),
    };
    let mut found = Vec::new();
    for s in queues {
        found.extend(dead_letter(conn, s, &keys.queue(s), &r.id).await?);
    }
    match found.len() {
        0 => Err(Error::UnknownId(r.to_string())),
        1 => Ok(found.remove(0)),
        _ => Err(Error::Ambiguous {
            id: r.id.clone(),
            queues: found.iter().map(|d| d.queue.to_string()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Resolves a selection to the dead letters it names, now; with `limit`,
/// stops once that many match (a caller that refuses more than it can act
/// on passes one past its bound). A filter reads only the queues of its lane
/// or queue, and only the ids its time bounds allow (with
/// [`CLOCK_SLACK_MS`] to spare for worker clocks).
///
/// # Errors
/// An id that names no dead letter (nothing is changed then), or Redis errors.
pub async fn select_letters<C>(
    conn: &mut C,
    keys: &Keys,
    sel: &Selection,
    limit: Option<usize>,
) -> Result<Vec<DeadLetter>, Error>
where
    C: redis::aio::ConnectionLike + Send,
{
    if let Selection::Ids(ids) = sel {
        let mut out = Vec::with_capacity(ids.len());
        for r in ids {
            let d = find(conn, keys, r).await?;
            if !out.contains(&d) {
                out.push(d);
            }
        }
        return Ok(out);
    }
    let every = Filter::default();
    let filter = if let Selection::Filter(f) = sel { f } else { &every };
    // Ids start with the ms they were added at: the first id a `since` allows
    // is `(SINCE − slack)-0`, i.e. strictly after `(SINCE − slack − 1)-MAX`.
    let first_ms = filter.since_ms.map(|t| t - CLOCK_SLACK_MS).filter(|&ms| ms > 0);
    let start = first_ms.map(|ms| format!("{}-{}", ms - 1, u64::MAX));
    let last_ms = filter.before_ms.map(|t| t.saturating_add(CLOCK_SLACK_MS));
    let full = |out: &Vec<DeadLetter>| limit.is_some_and(|n| out.len() >= n);
    let mut out = Vec::new();
    for s in queues(keys, filter) {
        let queue = keys.queue(s);
        let mut after = start.clone();
        while !full(&out) {
            let page = dead_letters(conn, s, &queue, after.as_deref(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            let more = page.len() == PAGE && last_ms.is_none_or(|b| id_ms(&last.id) < b);
            out.extend(page.into_iter().filter(|d| sel.matches(keys, d)));
            if !more {
                break;
            }
        }
    }
    if let Some(n) = limit {
        out.truncate(n);
    }
    Ok(out)
}

/// The ms part of a stream id (0 when it does not parse).
fn id_ms(id: &str) -> i64 {
    id.split_once('-').and_then(|(ms, _)| ms.parse().ok()).unwrap_or(0)
}
