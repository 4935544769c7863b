//! Shared reply throttling: GCRA limits kept in Redis (`throttle/throttle.lua`).
//!
//! Each limit (a chat's, a bot's) is one key; every worker replica consults
//! the same key, so together they never exceed it. A limited caller gets the
//! time it may try again and is expected to schedule itself for then (the
//! worker's delayed set), never to spin.

use std::time::Duration;

use crate::scripts;

/// GCRA parameters for one limit: `per_sec` sustained, `burst` on top.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gcra {
    pub per_sec: f64,
    pub burst: u32,
}

/// The throttle's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    Allowed,
    /// Over the limit; allowed again after this long.
    Limited {
        wait: Duration,
    },
}

/// Emission interval in µs of a rate (at least 1).
#[must_use]
pub fn interval_us(g: Gcra) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // per_sec > 0 and finite (config checks)
    let us = (1e6 / g.per_sec).round() as u64;
    us.max(1)
}

/// Takes one slot of `limit` at `key`, if there is one at `now_ms`.
///
/// # Errors
/// Redis errors.
pub async fn acquire<C>(conn: &mut C, key: &str, limit: Gcra, now_ms: i64) -> Result<Throttle, redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let wait_ms: u64 =
        scripts::THROTTLE.key(key).arg(now_ms).arg(interval_us(limit)).arg(limit.burst).invoke_async(conn).await?;
    Ok(if wait_ms == 0 { Throttle::Allowed } else { Throttle::Limited { wait: Duration::from_millis(wait_ms) } })
}
