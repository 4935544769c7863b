//! A circuit breaker per upstream skill.
//!
//! Closed: calls go through and consecutive failures are counted; at the
//! threshold the breaker opens. Open: no calls for `open_for` — events get
//! the skill's degraded answer at once instead of waiting on a dead upstream.
//! Then one probe call is let through (half-open); its success closes the
//! breaker, its failure opens it for another `open_for`. Only failures that
//! say the upstream is unhealthy count (timeouts, 5xx, 429, connection
//! errors), not a 4xx about one request.
//!
//! The breaker is per worker process, as in Hystrix or resilience4j: each
//! replica learns the upstream's health from its own calls, which costs a few
//! failed calls per replica and no Redis round trip per call. The clock is a
//! parameter, so the state machine is tested without sleeping.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use botq_core::skill::BreakerConfig;

use crate::metrics::BREAKER_STATE;

/// What a caller may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Call,
    /// The one call that decides whether the breaker closes.
    Probe,
    /// Do not call: answer degraded.
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing_since: Instant },
}

#[derive(Debug)]
pub struct Breaker {
    /// The skill, for the `botq_breaker_state{skill}` gauge.
    skill: String,
    cfg: BreakerConfig,
    state: Mutex<State>,
}

/// The breaker's state as a gauge value: 0 closed, 1 open, 2 half-open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gauge {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

impl Gauge {
    /// `closed`, `open` or `half_open`, as the fleet record shows it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

impl Breaker {
    #[must_use]
    pub fn new(skill: &str, cfg: BreakerConfig) -> Self {
        Self { skill: skill.to_owned(), cfg, state: Mutex::new(State::Closed { failures: 0 }) }
    }

    /// Sets `botq_breaker_state{skill}` to the state now. Every change of
    /// state does this by itself; a new upstream skill calls it once.
    pub fn publish(&self) {
        publish(&self.skill, self.gauge());
    }

    #[must_use]
    pub fn config(&self) -> BreakerConfig {
        self.cfg
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave a torn state (every
        // update is one assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// May a call go out at `now`?
    pub fn admit(&self, now: Instant) -> Admit {
        let mut s = self.lock();
        match *s {
            State::Closed { .. } => Admit::Call,
            State::Open { until } if now >= until => {
                *s = State::HalfOpen { probing_since: now };
                publish(&self.skill, Gauge::HalfOpen);
                Admit::Probe
            }
            State::Open { .. } => Admit::Open,
            // A probe that never reported (its task was cancelled) must not
            // keep the breaker half-open forever.
            State::HalfOpen { probing_since } if now.duration_since(probing_since) >= self.cfg.open_for => {
                *s = State::HalfOpen { probing_since: now };
                Admit::Probe
            }
            State::HalfOpen { .. } => Admit::Open,
        }
    }

    /// Reports a call's result. Returns the new state when it changed.
    pub fn record(&self, healthy: bool, now: Instant) -> Option<Gauge> {
        let mut s = self.lock();
        let next = match (*s, healthy) {
            (State::Closed { failures: 0 }, true) => return None,
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 < self.cfg.failures => {
                State::Closed { failures: failures + 1 }
            }
            (State::Open { .. }, false) => return None,
            (_, false) => State::Open { until: now + self.cfg.open_for },
        };
        let changed = std::mem::discriminant(&next) != std::mem::discriminant(&*s);
        *s = next;
        let now = gauge(next);
        if changed {
            publish(&self.skill, now);
        }
        changed.then_some(now)
    }

    /// The state now, for the `botq_breaker_state` gauge.
    #[must_use]
    pub fn gauge(&self) -> Gauge {
        gauge(*self.lock())
    }

    /// How long until an open breaker lets a probe through.
    #[must_use]
    pub fn open_for(&self, now: Instant) -> Option<Duration> {
        match *self.lock() {
            State::Open { until } => Some(until.saturating_duration_since(now)),
            _ => None,
        }
    }
}

fn publish(skill: &str, state: Gauge) {
    metrics::gauge!(BREAKER_STATE, "skill" => skill.to_owned()).set(f64::from(state as u8));
}

fn gauge(s: State) -> Gauge {
    match s {
        State::Closed { .. } => Gauge::Closed,
        State::Open { .. } => Gauge::Open,
        State::HalfOpen { .. } => Gauge::HalfOpen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new("agent", BreakerConfig { failures: 3, open_for: Duration::from_secs(10) })
    }

    #[test]
    fn opens_after_consecutive_failures_and_a_success_resets_the_count() {
        let b = breaker();
        let t = Instant::now();
        assert_eq!(b.record(false, t), None);
        assert_eq!(b.record(false, t), None);
        assert_eq!(b.record(true, t), None, "success resets the count");
        assert_eq!(b.record(false, t), None);
        assert_eq!(b.record(false, t), None);
        assert_eq!(b.admit(t), Admit::Call);
        assert_eq!(b.record(false, t), Some(Gauge::Open));
        assert_eq!(b.admit(t + Duration::from_secs(9)), Admit::Open);
        assert_eq!(b.open_for(t + Duration::from_secs(4)), Some(Duration::from_secs(6)));
    }

    #[test]
    fn after_the_open_period_one_probe_decides() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            b.record(false, t);
        }
        let later = t + Duration::from_secs(10);
        assert_eq!(b.admit(later), Admit::Probe);
        assert_eq!(b.admit(later), Admit::Open, "only one probe at a time");
        assert_eq!(b.record(false, later), Some(Gauge::Open), "a failed probe opens again");
        assert_eq!(b.admit(later + Duration::from_secs(5)), Admit::Open);
        let again = later + Duration::from_secs(10);
        assert_eq!(b.admit(again), Admit::Probe);
        assert_eq!(b.record(true, again), Some(Gauge::Closed));
        assert_eq!(b.admit(again), Admit::Call);
    }

    #[test]
    fn a_probe_that_never_reports_does_not_wedge_the_breaker() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            b.record(false, t);
        }
        assert_eq!(b.admit(t + Duration::from_secs(10)), Admit::Probe);
        assert_eq!(b.admit(t + Duration::from_secs(15)), Admit::Open);
        assert_eq!(b.admit(t + Duration::from_secs(20)), Admit::Probe);
    }
}
