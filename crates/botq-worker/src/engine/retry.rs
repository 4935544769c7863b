//! When to try a failed event again.
//!
//! Exponential, capped and jittered delays from the `backoff` crate, one
//! schedule per attempt number (the attempt count travels in the stream entry,
//! not in memory, so any replica computes the same schedule), and never
//! earlier than a `Retry-After` the platform gave.

use std::time::Duration;

use backoff::backoff::Backoff as _;
use botq_core::config::Backoff;

/// The delay before attempt `failed + 1`, after `failed` failures (≥ 1), at
/// least `floor` (a platform's Retry-After).
#[must_use]
pub fn delay(cfg: &Backoff, failed: u32, floor: Option<Duration>) -> Duration {
    let mut b = backoff::ExponentialBackoff {
        current_interval: cfg.initial,
        initial_interval: cfg.initial,
        randomization_factor: cfg.jitter,
        multiplier: cfg.multiplier,
        max_interval: cfg.max,
        max_elapsed_time: None,
        ..backoff::ExponentialBackoff::default()
    };
    let mut d = cfg.initial;
    for _ in 0..failed.clamp(1, 64) {
        d = b.next_backoff().unwrap_or(cfg.max);
    }
    // Jitter may push a capped interval above the cap; the cap is a promise.
    let d = d.min(cfg.max);
    floor.map_or(d, |f| d.max(f))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn cfg() -> Backoff {
        Backoff { initial: Duration::from_millis(1000), max: Duration::from_secs(60), multiplier: 2.0, jitter: 0.2 }
    }

    #[test]
    fn delays_grow_exponentially_within_the_jitter() {
        let c = cfg();
        for (failed, base) in [(1, 1000.0), (2, 2000.0), (3, 4000.0), (4, 8000.0)] {
            let ms = delay(&c, failed, None).as_secs_f64() * 1000.0;
            assert!((base * 0.8..=base * 1.2).contains(&ms), "attempt {failed}: {ms} ms");
        }
    }

    #[test]
    fn a_retry_after_is_a_floor() {
        assert!(delay(&cfg(), 1, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
    }

    proptest! {
        #[test]
        fn delays_stay_within_bounds(failed in 1u32..200, jitter in 0.0f64..0.99, floor_ms in proptest::option::of(0u64..600_000)) {
            let c = Backoff { jitter, ..cfg() };
            let floor = floor_ms.map(Duration::from_millis);
            let d = delay(&c, failed, floor);
            let lower = Duration::from_secs_f64(c.initial.as_secs_f64() * (1.0 - jitter)).min(c.max);
            prop_assert!(d >= lower.saturating_sub(Duration::from_millis(1)));
            prop_assert!(d <= c.max.max(floor.unwrap_or_default()));
            if let Some(f) = floor { prop_assert!(d >= f); }
        }
    }
}
