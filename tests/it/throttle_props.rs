//! Property tests of botq's one GCRA (`throttle/gcra.lua`), through the
//! reply throttle (`throttle.lua`), against a real Redis, with the clock
//! passed in. The ingest rate limits run the same chunk (`ingest.lua`), so
//! these bounds hold for them too. The backoff's bounds are property-tested
//! in `botq-worker/src/engine/retry.rs`.
//!
//! For random rates, bursts and request times:
//! - no window of time admits more than `burst + rate × window` replies;
//! - a limited caller that comes back after the wait it was given is admitted;
//! - a steady caller at the rate is never refused.

use botq_core::config::Gcra;
use botq_core::throttle::interval_us;
use botq_testkit::redis::RedisServer;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

/// Runs `property` on 64 cases of `strategy` against a Redis of its own,
/// which stops when the property is done. (A server kept in a `static`
/// would outlive the test binary: statics are never dropped.)
fn check<S: Strategy>(strategy: S, property: impl Fn(&mut redis::Connection, S::Value) -> Result<(), TestCaseError>) {
    let server = RedisServer::start();
    let mut runner = TestRunner::new(ProptestConfig { cases: 64, ..ProptestConfig::default() });
    if let Err(e) = runner.run(&strategy, |value| property(&mut server.conn(), value)) {
        panic!("{e}\n{runner}");
    }
}

/// One call of the script at `now_ms`: 0 = admitted, else the wait in ms.
fn take(conn: &mut redis::Connection, key: &str, limit: Gcra, now_ms: i64) -> u64 {
    botq_core::scripts::THROTTLE.key(key).arg(now_ms).arg(interval_us(limit)).arg(limit.burst).invoke(conn).unwrap()
}

fn fresh_key() -> String {
    format!("props:{}", uuid::Uuid::now_v7().simple())
}

#[test]
fn no_window_admits_more_than_the_burst_plus_the_rate() {
    let gaps = proptest::collection::vec(0i64..120, 1..150);
    check((1.0f64..50.0, 1u32..10, gaps), |conn, (per_sec, burst, gaps)| {
        let limit = Gcra { per_sec, burst };
        let key = fresh_key();
        let mut now = 1_700_000_000_000i64;
        let mut admitted = Vec::new();
        for gap in gaps {
            now += gap;
            if take(conn, &key, limit, now) == 0 {
                admitted.push(now);
            }
        }
        for (i, &from) in admitted.iter().enumerate() {
            for (j, &to) in admitted.iter().enumerate().skip(i) {
                let in_window = j - i + 1;
                #[allow(clippy::cast_precision_loss)] // a window of a few thousand ms and replies
                let (allowed, in_window_f) =
                    (f64::from(burst) + (to - from) as f64 * per_sec / 1000.0, in_window as f64);
                // +1: interval_us rounds the rate to whole microseconds.
                prop_assert!(
                    in_window_f <= allowed + 1.0,
                    "{in_window} admitted in {} ms at {per_sec}/s burst {burst}",
                    to - from
                );
            }
        }
        Ok(())
    });
}

#[test]
fn coming_back_after_the_given_wait_is_admitted() {
    check((0.5f64..50.0, 1u32..5, 1u32..20), |conn, (per_sec, burst, extra)| {
        let limit = Gcra { per_sec, burst };
        let key = fresh_key();
        let now = 1_700_000_000_000i64;
        // Use up the burst at one instant, then ask again.
        let mut wait = 0;
        for _ in 0..burst + extra {
            wait = take(conn, &key, limit, now);
            if wait > 0 {
                break;
            }
        }
        prop_assert!(wait > 0, "more than the burst at one instant");
        prop_assert_eq!(take(conn, &key, limit, now + i64::try_from(wait).unwrap()), 0);
        Ok(())
    });
}

#[test]
fn a_caller_at_the_rate_is_never_refused() {
    check((1.0f64..20.0, 1u32..5, 1usize..60), |conn, (per_sec, burst, n)| {
        let limit = Gcra { per_sec, burst };
        let key = fresh_key();
        #[allow(clippy::cast_possible_truncation)]
        let step = (1000.0 / per_sec).ceil() as i64;
        for k in 0..n {
            let now = 1_700_000_000_000i64 + i64::try_from(k).unwrap() * step;
            prop_assert_eq!(take(conn, &key, limit, now), 0);
        }
        Ok(())
    });
}
