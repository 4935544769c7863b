//! Sliding-window rate counters, keyed by chat, with time passed in.
//!
//! The platforms state their limits as "N per second per chat" (Lark 5 QPS
//! per chat, QQ guild 5 per second per sub-channel). The fake enforces them
//! with an exact sliding log: each key keeps the times of its last N admitted
//! requests, so a request is refused exactly when N others were admitted in
//! the preceding window. That is stricter than a fixed window (no double burst
//! at a boundary), which is what a client's throttle must survive.
//!
//! `now_ms` is always an argument, so tests drive time explicitly and no test
//! sleeps. Only admitted requests are counted: a refused request does not push
//! the reset further away, so a client that waits for the reset gets through.

use std::collections::{HashMap, VecDeque};

/// How many calls between sweeps of keys that have gone quiet.
const SWEEP_EVERY: u32 = 4096;

/// The answer of a counter: admitted, or refused until a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    Allowed,
    /// Over the limit; the oldest counted request leaves the window at `reset_at_ms`.
    Limited {
        reset_at_ms: i64,
    },
}

/// At most `limit` admitted requests per key in any `window_ms`.
#[derive(Debug)]
pub struct SlidingWindow {
    limit: usize,
    window_ms: i64,
    hits: HashMap<String, VecDeque<i64>>,
    calls_since_sweep: u32,
}

impl SlidingWindow {
    /// A counter allowing `limit` per `window_ms`; a limit of 0 turns it off.
    #[must_use]
    pub fn new(limit: u32, window_ms: i64) -> Self {
        Self { limit: limit as usize, window_ms: window_ms.max(1), hits: HashMap::new(), calls_since_sweep: 0 }
    }

    /// The configured limit per window (0 = off).
    #[must_use]
    pub fn limit(&self) -> u32 {
        u32::try_from(self.limit).unwrap_or(u32::MAX)
    }

    /// Admits and counts one request for `key` at `now_ms`, or says when to retry.
    pub fn try_acquire(&mut self, key: &str, now_ms: i64) -> Throttle {
        if self.limit == 0 {
            return Throttle::Allowed;
        }
        self.maybe_sweep(now_ms);
        let horizon = now_ms - self.window_ms;
        let hits = match self.hits.get_mut(key) {
            Some(hits) => hits,
            None => self.hits.entry(key.to_owned()).or_default(),
        };
        while hits.front().is_some_and(|&t| t <= horizon) {
            hits.pop_front();
        }
        if hits.len() >= self.limit {
            let oldest = hits.front().copied().unwrap_or(now_ms);
            return Throttle::Limited { reset_at_ms: oldest + self.window_ms };
        }
        hits.push_back(now_ms);
        Throttle::Allowed
    }

    /// Forgets every key.
    pub fn clear(&mut self) {
        self.hits.clear();
        self.calls_since_sweep = 0;
    }

    /// Drops keys with nothing inside the window, so memory follows the number
    /// of active chats rather than every chat ever seen.
    fn maybe_sweep(&mut self, now_ms: i64) {
        self.calls_since_sweep += 1;
        if self.calls_since_sweep < SWEEP_EVERY {
            return;
        }
        self.calls_since_sweep = 0;
        let horizon = now_ms - self.window_ms;
        self.hits.retain(|_, hits| hits.back().is_some_and(|&t| t > horizon));
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.hits.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_admitted_within_one_window_and_the_next_is_refused_until_the_oldest_leaves() {
        let mut w = SlidingWindow::new(5, 1000);
        for i in 0..5 {
            assert_eq!(w.try_acquire("chat", 10_000 + i * 100), Throttle::Allowed);
        }
        assert_eq!(w.try_acquire("chat", 10_450), Throttle::Limited { reset_at_ms: 11_000 });
        assert_eq!(w.try_acquire("chat", 10_999), Throttle::Limited { reset_at_ms: 11_000 });
        assert_eq!(w.try_acquire("chat", 11_000), Throttle::Allowed);
        assert_eq!(w.try_acquire("chat", 11_001), Throttle::Limited { reset_at_ms: 11_100 });
    }

    #[test]
    fn refused_requests_do_not_push_the_reset_further_away() {
        let mut w = SlidingWindow::new(1, 1000);
        assert_eq!(w.try_acquire("chat", 0), Throttle::Allowed);
        for t in [100, 500, 900] {
            assert_eq!(w.try_acquire("chat", t), Throttle::Limited { reset_at_ms: 1000 });
        }
        assert_eq!(w.try_acquire("chat", 1000), Throttle::Allowed);
    }

    #[test]
    fn each_key_has_its_own_window() {
        let mut w = SlidingWindow::new(1, 1000);
        assert_eq!(w.try_acquire("a", 0), Throttle::Allowed);
        assert_eq!(w.try_acquire("b", 0), Throttle::Allowed);
        assert!(matches!(w.try_acquire("a", 1), Throttle::Limited { .. }));
    }

    #[test]
    fn a_limit_of_zero_admits_everything() {
        let mut w = SlidingWindow::new(0, 1000);
        for _ in 0..100 {
            assert_eq!(w.try_acquire("chat", 0), Throttle::Allowed);
        }
    }

    #[test]
    fn quiet_keys_are_swept_so_memory_follows_active_chats() {
        let mut w = SlidingWindow::new(5, 1000);
        for i in 0..100 {
            w.try_acquire(&format!("chat-{i}"), 0);
        }
        for _ in 0..SWEEP_EVERY {
            w.try_acquire("busy", 5_000);
        }
        assert_eq!(w.keys(), 1);
    }
}
