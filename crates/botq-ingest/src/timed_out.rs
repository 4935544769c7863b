//! Events whose Redis call timed out, so their retries can be counted apart.
//!
//! A 503 after a Redis *timeout* does not mean the event was not stored:
//! the script may have run after ingest stopped waiting. The platform's retry
//! then finds the event stored and is acknowledged as a duplicate, which is
//! right, but it is not a duplicate the platform sent on its own. Ingest
//! remembers the last few thousand event ids it answered that way, and a
//! duplicate of one of them is counted `duplicate_after_timeout` instead of
//! `duplicate`. The memory is per process: a retry that reaches another
//! ingest replica is counted as a plain duplicate.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

/// How many timed-out event ids are remembered (oldest forgotten first).
const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub struct TimedOut {
    ids: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl TimedOut {
    /// Notes that the enqueue of `event_id` timed out.
    pub fn remember(&self, event_id: &str) {
        let mut guard = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        let (set, order) = &mut *guard;
        if set.insert(event_id.to_owned()) {
            order.push_back(event_id.to_owned());
            if order.len() > CAPACITY
                && let Some(oldest) = order.pop_front()
            {
                set.remove(&oldest);
            }
        }
    }

    /// Whether `event_id` timed out before (and forgets it: one retry is counted apart).
    pub fn take(&self, event_id: &str) -> bool {
        let mut guard = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        let (set, order) = &mut *guard;
        if set.remove(event_id) {
            order.retain(|id| id != event_id);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timed_out_id_is_taken_once_and_the_oldest_are_forgotten() {
        let t = TimedOut::default();
        t.remember("a");
        assert!(t.take("a"));
        assert!(!t.take("a"), "counted apart once");
        for i in 0..=CAPACITY {
            t.remember(&i.to_string());
        }
        assert!(!t.take("0"), "the oldest was forgotten");
        assert!(t.take(&CAPACITY.to_string()));
    }
}
