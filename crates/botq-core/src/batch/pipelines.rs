//! Many tasks' short command sequences, sent as one transaction per hash slot.
//!
//! Outside the queue's scripts, the worker's reply path makes a few small
//! Redis calls per event: the chat's reply count this minute before the skill
//! runs and again before a reply goes, the reply's bookkeeping after it (the
//! count, the bot's own message ids, OneBot's sent record), the audit entry.
//! Each alone is a round trip, and a round trip costs both sides a write, a
//! read and a task wake-up — more than the commands themselves. [`Pipelines`]
//! puts every sequence that queued for one slot while that slot's previous
//! call was out into the next call (a [`Batcher`] per slot, one call in
//! flight), as one `MULTI`/`EXEC`.
//!
//! What each caller keeps:
//! - its own answer: the replies of its own commands, in order;
//! - atomicity: the whole call is one transaction, so each sequence in it is
//!   too (the reply bookkeeping relies on it);
//! - its own failures: a command Redis refuses while running it (a key of the
//!   wrong type) fails only the sequence it belongs to; a call that fails as
//!   a whole (Redis down, timeout) fails exactly the sequences it carried.
//!
//! A slot is a queue (every key of a queue carries that queue's hash tag, so
//! a transaction of them is valid on Redis Cluster) or the audit stream's key.
//! An idle worker sends each sequence at once as a call of one: no timer, no
//! added latency.

use std::sync::OnceLock;
use std::time::Duration;

use redis::{Cmd, FromRedisValue, RedisResult, Value};

use super::{Batcher, each};
use crate::redis_conn::{Redis, bounded};

/// At most this many sequences per call. A transaction blocks Redis while it
/// runs, and a sequence is a handful of O(1) commands, so 64 keeps other
/// clients' waits well under a millisecond.
const MAX_BATCH: usize = 64;

/// Where a sequence's keys live; each slot has its own batcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The keys of one queue (they share its hash tag).
    Queue(u16),
    /// The audit stream's key, which has no queue.
    Audit,
}

type SlotBatcher = Batcher<Vec<Cmd>, RedisResult<Vec<Value>>>;

/// One batcher per slot, each started on first use (it needs a Tokio runtime).
pub struct Pipelines {
    redis: Redis,
    timeout: Duration,
    /// Indexed by queue number; the last one is the audit slot.
    slots: Vec<OnceLock<SlotBatcher>>,
}

impl std::fmt::Debug for Pipelines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipelines").field("queues", &(self.slots.len() - 1)).finish_non_exhaustive()
    }
}

impl Pipelines {
    /// Batchers for `queues` queues and the audit key; each call is bounded by `timeout`.
    #[must_use]
    pub fn new(redis: Redis, queues: u16, timeout: Duration) -> Self {
        let slots = (0..=queues).map(|_| OnceLock::new()).collect();
        Self { redis, timeout, slots }
    }

    /// Runs `cmds` (all of whose keys are in `slot`) in the slot's next call
    /// and returns their replies, in order.
    ///
    /// # Errors
    /// The first command of `cmds` that Redis refused, the call's own error
    /// (for every sequence it carried), or a queue number out of range.
    pub async fn run(&self, slot: Slot, cmds: Vec<Cmd>) -> RedisResult<Vec<Value>> {
        let index = match slot {
            Slot::Queue(q) if usize::from(q) + 1 < self.slots.len() => usize::from(q),
            Slot::Queue(_) => return Err(redis::RedisError::from((redis::ErrorKind::Client, "no such queue"))),
            Slot::Audit => self.slots.len() - 1,
        };
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        let batcher = self.slots[index].get_or_init(|| self.spawn());
        batcher.call(cmds).await?
    }

    /// [`run`](Self::run), with the replies read as `T` (a tuple, one
    /// element per command; `()` when they do not matter).
    ///
    /// # Errors
    /// As [`run`](Self::run), or replies that are not a `T`.
    pub async fn query<T: FromRedisValue>(&self, slot: Slot, cmds: Vec<Cmd>) -> RedisResult<T> {
        let replies = self.run(slot, cmds).await?;
        Ok(T::from_redis_value(Value::Array(replies))?)
    }

    fn spawn(&self) -> SlotBatcher {
        let (redis, timeout) = (self.redis.clone(), self.timeout);
        Batcher::spawn(MAX_BATCH, 1, move |batch: Vec<Vec<Cmd>>| {
            let mut conn = redis.clone();
            async move {
                let lengths: Vec<usize> = batch.iter().map(Vec::len).collect();
                let mut pipe = redis::pipe();
                pipe.atomic().ignore_errors();
                for cmd in batch.into_iter().flatten() {
                    pipe.add_command(cmd);
                }
                match bounded(timeout, pipe.query_async::<Vec<Value>>(&mut conn)).await {
                    Ok(replies) => split(replies, &lengths),
                    Err(e) => each(Err(e), lengths.len()),
                }
            }
        })
    }
}

/// The transaction's replies cut into each sequence's, a sequence with a
/// refused command answered with that command's error.
fn split(replies: Vec<Value>, lengths: &[usize]) -> Vec<RedisResult<Vec<Value>>> {
    if replies.len() != lengths.iter().sum::<usize>() {
        let e =
            redis::RedisError::from((redis::ErrorKind::Client, "the transaction's replies do not match its commands"));
        return each(Err(e), lengths.len());
    }
    let mut replies = replies.into_iter();
    lengths
        .iter()
        // Each sequence's replies taken whole before they are checked, so a
        // refused command cannot leave its sequence's rest to the next.
        .map(|&n| replies.by_ref().take(n).collect::<Vec<Value>>().into_iter().map(Value::extract_error).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_cut_per_sequence_in_order() {
        let replies = (1..=6).map(Value::Int).collect();
        let cut = split(replies, &[1, 3, 2]);
        let ints: Vec<Vec<Value>> = cut.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            ints,
            vec![vec![Value::Int(1)], (2..=4).map(Value::Int).collect(), vec![Value::Int(5), Value::Int(6)]]
        );
    }

    #[test]
    fn a_refused_command_fails_its_own_sequence_and_leaves_the_next_its_replies() {
        let refused = redis::parse_redis_value(b"-ERR value is not an integer\r\n").unwrap();
        let replies = vec![Value::Int(1), refused, Value::Int(3), Value::Int(4), Value::Int(5)];
        let cut = split(replies, &[3, 2]);
        assert!(cut[0].as_ref().is_err_and(|e| e.to_string().contains("not an integer")));
        assert_eq!(cut[1].as_ref().unwrap(), &vec![Value::Int(4), Value::Int(5)]);
    }

    #[test]
    fn replies_that_do_not_match_the_commands_fail_every_sequence() {
        let cut = split(vec![Value::Int(1)], &[1, 1]);
        assert_eq!(cut.len(), 2);
        assert!(cut.iter().all(Result::is_err));
    }
}
