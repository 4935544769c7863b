//! Fault injection for the message endpoints (never the token endpoints).
//!
//! Two sources, checked in this order for every authenticated message request:
//!
//! 1. **The script** (`POST /_fake/script`): a queue of steps, each consumed by
//!    the next message request (of its `platform`, when it names one). This is
//!    how a test says "the next send gets 503, the one after 429 with a 2 s
//!    reset" and then asserts on exactly that.
//! 2. **Random rates** (`--error-rate`, `--throttle-rate`, `--timeout-rate`):
//!    one roll per request, for soak tests and benchmarks.
//!
//! `--lost-answer-rate` is the one fault served *after* handling
//! (`lose_answers`): the message is delivered, then its answer is held and
//! replaced by a 504, as when a platform stored a message and its response
//! timed out. Only an idempotent retry survives it without a duplicate.
//!
//! A fault is decided under the state lock (so two concurrent requests never
//! consume the same step) and then served outside it: the handler sleeps the
//! delay without holding anything, then answers the platform-shaped error. A
//! faulted request is never a delivery and leaves the idempotency ledgers
//! untouched, so the client's retry is judged as if the fault never happened.
//! `--latency-ms` is added to every message request, faulted or not.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use botq_core::envelope::Platform;
use rand::Rng;

use crate::options::Options;
use crate::records::FaultCounts;
use crate::script::ScriptStep;
use crate::state::FakeState;

/// A failure answer the platform module renders in its own shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An error status (5xx, or any non-429 status a script asks for).
    Error { status: u16, code: Option<i64> },
    /// The platform's throttle answer. `reset_secs` is `None` only when a QQ
    /// script gave none (QQ documents no retry header, so none is sent).
    Throttle { reset_secs: Option<u64>, code: Option<i64> },
}

/// What to do with one request: wait this long, then fail or carry on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub delay: Duration,
    pub fault: Option<Fault>,
}

/// Picks the plan for a request to `platform` from the script, else from the
/// random `roll` in `[0, 1)`; counts what it injects.
pub(crate) fn plan(
    script: &mut VecDeque<ScriptStep>,
    opts: &Options,
    platform: Platform,
    roll: f64,
    counts: &mut FaultCounts,
) -> Plan {
    let next = script.iter().position(|s| s.platform.is_none_or(|p| p == platform)).and_then(|i| script.remove(i));
    match next {
        Some(step) => scripted(&step, platform, counts),
        None => random(opts, platform, roll, counts),
    }
}

/// QQ documents no retry header; Lark and OneBot answers say "wait 1 s" unless told otherwise.
fn default_reset(platform: Platform) -> Option<u64> {
    (platform != Platform::Qq).then_some(1)
}

fn scripted(step: &ScriptStep, platform: Platform, counts: &mut FaultCounts) -> Plan {
    counts.scripted += 1;
    let delay = Duration::from_millis(step.delay_ms.unwrap_or(0));
    let fault = match step.status {
        None | Some(200) => {
            counts.delay += 1;
            None
        }
        Some(429) => {
            counts.throttle += 1;
            Some(Fault::Throttle { reset_secs: step.reset_secs.or(default_reset(platform)), code: step.code })
        }
        Some(status) => {
            if status == 504 && !delay.is_zero() {
                counts.timeout += 1;
            } else {
                counts.error += 1;
            }
            Some(Fault::Error { status, code: step.code })
        }
    };
    Plan { delay, fault }
}

fn random(opts: &Options, platform: Platform, roll: f64, counts: &mut FaultCounts) -> Plan {
    let mut threshold = opts.error_rate;
    if roll < threshold {
        counts.error += 1;
        return Plan { delay: Duration::ZERO, fault: Some(Fault::Error { status: 503, code: None }) };
    }
    threshold += opts.throttle_rate;
    if roll < threshold {
        counts.throttle += 1;
        let fault = Fault::Throttle { reset_secs: default_reset(platform), code: None };
        return Plan { delay: Duration::ZERO, fault: Some(fault) };
    }
    threshold += opts.timeout_rate;
    if roll < threshold {
        counts.timeout += 1;
        return Plan { delay: opts.timeout_hold, fault: Some(Fault::Error { status: 504, code: None }) };
    }
    Plan { delay: Duration::ZERO, fault: None }
}

/// Middleware of the message routes for `--lost-answer-rate`: the request is
/// handled first (a success is a delivery, with its ledgers written), then a
/// rolled share of successful answers is held for `timeout_hold` and replaced
/// by a 504. A client that gave up meanwhile never learns the message went
/// out. (OneBot answers failures with HTTP 200 and a `retcode`; such an
/// answer may be lost too, which is harmless: the client retries.)
pub(crate) async fn lose_answers(State(state): State<Arc<FakeState>>, request: Request, next: Next) -> Response {
    let rate = state.opts.lost_answer_rate;
    let lose = rate > 0.0 && rand::rng().random::<f64>() < rate;
    let response = next.run(request).await;
    if !lose || !response.status().is_success() {
        return response;
    }
    state.book().records.stats.faults.lost_answer += 1;
    tokio::select! {
        () = tokio::time::sleep(state.opts.timeout_hold) => {}
        () = state.released() => {}
    }
    (StatusCode::GATEWAY_TIMEOUT, "upstream timed out").into_response()
}

/// Applies latency and any fault to a message request; `Some` means answer with that fault.
pub(crate) async fn before_message(state: &FakeState, platform: Platform) -> Option<Fault> {
    let no_faults = state.opts.error_rate + state.opts.throttle_rate + state.opts.timeout_rate == 0.0;
    let plan = {
        let mut book = state.book();
        if no_faults && book.script.is_empty() {
            Plan { delay: Duration::ZERO, fault: None }
        } else {
            let roll = if no_faults { 1.0 } else { rand::rng().random::<f64>() };
            let book = &mut *book;
            plan(&mut book.script, &state.opts, platform, roll, &mut book.records.stats.faults)
        }
    };
    let wait = state.opts.latency + plan.delay;
    if !wait.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.released() => {}
        }
    }
    plan.fault
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(json: &str) -> ScriptStep {
        serde_json::from_str(json).unwrap()
    }

    fn run(script: &mut VecDeque<ScriptStep>, opts: &Options, platform: Platform, roll: f64) -> Plan {
        plan(script, opts, platform, roll, &mut FaultCounts::default())
    }

    #[test]
    fn scripted_steps_are_consumed_in_order_one_per_request() {
        let mut script: VecDeque<_> =
            [step(r#"{"status":503}"#), step(r#"{"status":429,"reset_secs":2}"#), step(r#"{"delay_ms":3000}"#)].into();
        let o = Options::default();
        let p = run(&mut script, &o, Platform::Lark, 0.5);
        assert_eq!(p.fault, Some(Fault::Error { status: 503, code: None }));
        let p = run(&mut script, &o, Platform::Lark, 0.5);
        assert_eq!(p.fault, Some(Fault::Throttle { reset_secs: Some(2), code: None }));
        let p = run(&mut script, &o, Platform::Lark, 0.5);
        assert_eq!(p, Plan { delay: Duration::from_secs(3), fault: None });
        assert_eq!(run(&mut script, &o, Platform::Lark, 0.5).fault, None);
    }

    #[test]
    fn a_step_naming_a_platform_waits_for_a_request_to_that_platform() {
        let mut script: VecDeque<_> = [step(r#"{"platform":"qq","status":500}"#)].into();
        let o = Options::default();
        assert_eq!(run(&mut script, &o, Platform::Lark, 0.5).fault, None);
        assert_eq!(run(&mut script, &o, Platform::Qq, 0.5).fault, Some(Fault::Error { status: 500, code: None }));
    }

    #[test]
    fn random_faults_split_the_roll_into_error_throttle_timeout_and_none() {
        let o = Options { error_rate: 0.1, throttle_rate: 0.2, timeout_rate: 0.3, ..Options::default() };
        let mut counts = FaultCounts::default();
        let mut s = VecDeque::new();
        assert_eq!(
            plan(&mut s, &o, Platform::Qq, 0.05, &mut counts).fault,
            Some(Fault::Error { status: 503, code: None })
        );
        let throttle = plan(&mut s, &o, Platform::Lark, 0.2, &mut counts);
        assert_eq!(throttle.fault, Some(Fault::Throttle { reset_secs: Some(1), code: None }));
        let timeout = plan(&mut s, &o, Platform::Qq, 0.5, &mut counts);
        assert_eq!(timeout, Plan { delay: o.timeout_hold, fault: Some(Fault::Error { status: 504, code: None }) });
        assert_eq!(plan(&mut s, &o, Platform::Qq, 0.7, &mut counts).fault, None);
        assert_eq!(counts, FaultCounts { error: 1, throttle: 1, timeout: 1, lost_answer: 0, delay: 0, scripted: 0 });
    }

    #[test]
    fn a_qq_throttle_carries_a_reset_only_when_the_script_gives_one() {
        let o = Options { throttle_rate: 1.0, ..Options::default() };
        let mut s = VecDeque::new();
        assert_eq!(run(&mut s, &o, Platform::Qq, 0.5).fault, Some(Fault::Throttle { reset_secs: None, code: None }));
        s.push_back(step(r#"{"status":429,"reset_secs":4,"code":22009}"#));
        assert_eq!(
            run(&mut s, &o, Platform::Qq, 0.5).fault,
            Some(Fault::Throttle { reset_secs: Some(4), code: Some(22009) })
        );
    }

    #[test]
    fn unknown_script_fields_are_errors_not_silently_ignored() {
        assert!(serde_json::from_str::<ScriptStep>(r#"{"stauts":503}"#).is_err());
    }
}
