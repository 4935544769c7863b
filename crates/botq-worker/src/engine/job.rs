//! One delivery from read to settlement: order, claim, attempt, settle.
//!
//! Each attempt is bounded by the handler timeout and its panics are caught,
//! so a panic or an overrun is one failed attempt, never a dead worker. Settling is
//! one atomic script (ack + delete + done/retry/dead). If anything between the
//! read and the settlement fails (Redis down, process killed), the delivery
//! stays pending and the reclaimer of some replica brings it back after the
//! lease; replies are idempotent, so a repeated attempt does no harm.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use botq_core::envelope::Envelope;
use botq_core::queue::{self, Claim, ClaimRequest, Delivery, Settlement, Verdict};
use botq_core::telemetry::EVENTS;
use futures_util::FutureExt;
use tokio::sync::OwnedSemaphorePermit;
use tracing::{Instrument, debug, info_span, warn};

use crate::engine::Engine;
use crate::engine::retry;
use crate::handler::{HandleError, Job};
use crate::metrics::{INFLIGHT, SKILL_DURATION};

/// Starts work on a delivery that holds `permit`, in order behind its chat
/// when per-chat ordering is on.
pub fn dispatch(engine: &Arc<Engine>, d: Delivery, permit: OwnedSemaphorePermit) {
    let chat = match (&d.envelope, engine.cfg.per_chat_ordering) {
        (Ok(env), true) => Some(format!("{}\u{0}{}", env.bot, env.chat_id)),
        _ => None,
    };
    let engine2 = engine.clone();
    match chat {
        None => {
            engine.jobs.spawn(async move { process(&engine2, d, permit).await });
        }
        Some(chat) => {
            if let Some(first) = engine.chats.enter(&chat, (d, permit)) {
                engine.jobs.spawn(async move {
                    let mut slot = Some(first);
                    while let Some((d, permit)) = slot {
                        if engine2.abort_jobs.is_cancelled() {
                            // Shutdown past its grace: leave what waits pending for other replicas.
                            drop((d, permit));
                        } else {
                            process(&engine2, d, permit).await;
                        }
                        slot = engine2.chats.next(&chat);
                    }
                });
            }
        }
    }
}

async fn process(engine: &Engine, d: Delivery, permit: OwnedSemaphorePermit) {
    metrics::gauge!(INFLIGHT).increment(1.0);
    engine.handling.fetch_add(1, Ordering::Relaxed);
    let token = format!("{}/{}", engine.consumer, d.id);
    match &d.envelope {
        Ok(env) if expired(engine, env) => {
            let age_s = (botq_core::now_ms() - env.received_at_ms) / 1000;
            warn!(request_id = %env.request_id, age_s, "event older than worker.max_event_age_secs; dead-lettering it unhandled");
            dead_letter_unhandled(engine, &d, &token, format!("expired: received {age_s} s ago"), env.bot.as_str())
                .await;
        }
        Ok(env) => {
            let span = info_span!("job", request_id = %env.request_id, event_id = %env.event_id, attempt = d.attempts + 1, bot = %env.bot);
            tokio::select! {
                () = attempt(engine, &d, env, &token).instrument(span) => {}
                () = engine.abort_jobs.cancelled() => {
                    debug!(stream_id = %d.id, "shutdown grace over; delivery left pending");
                }
            }
        }
        Err(why) => {
            warn!(stream_id = %d.id, error = %why, "stream entry is not a valid envelope; dead-lettering it");
            dead_letter_unhandled(engine, &d, &token, format!("undecodable: {why}"), "_unknown").await;
        }
    }
    metrics::gauge!(INFLIGHT).decrement(1.0);
    engine.handling.fetch_sub(1, Ordering::Relaxed);
    drop(permit);
}

async fn attempt(engine: &Engine, d: &Delivery, env: &Envelope, token: &str) {
    let keys = engine.keys.queue(d.queue);
    let bot = env.bot.as_str().to_owned();
    let plan = engine.handler.skill(env);
    let _skill_permit = match engine.skill_semaphore(&plan) {
        Some(sem) => Some(sem.acquire_owned().await),
        None => None,
    };
    let max_attempts = plan.max_attempts.unwrap_or(engine.cfg.max_attempts);
    let skill = plan.name;
    let claim_key = keys.claim(&env.bot, &env.event_id);
    let chat_key =
        if engine.cfg.per_chat_ordering { keys.chat_lock(&env.bot, &env.chat_id) } else { keys.placeholder() };
    let request = ClaimRequest {
        claim_key: claim_key.clone(),
        chat_lock: chat_key.clone(),
        stream_id: d.id.clone(),
        token: token.to_owned(),
        verify: true,
    };
    let started_waiting = Instant::now();
    let mut wait = Duration::from_millis(20);
    loop {
        let request = ClaimRequest { verify: queue::needs_verify(d.received.elapsed()), ..request.clone() };
        match engine.batches.claim(d.queue, request).await {
            Ok(Claim::Fresh) => break,
            Ok(Claim::Duplicate) => {
                debug!("already handled; acknowledging the duplicate delivery");
                settle(engine, &keys, d, &held(d, token, &claim_key, &chat_key), &Verdict::Drop).await;
                metrics::counter!(EVENTS, "bot" => bot, "outcome" => "duplicate").increment(1);
                return;
            }
            Ok(Claim::InProgress) => {
                debug!("another delivery of this event is being handled; leaving this one pending");
                return;
            }
            Ok(Claim::Lost) => {
                debug!("delivery was taken over by another replica");
                return;
            }
            Ok(Claim::ChatBusy) if started_waiting.elapsed() < engine.cfg.lease => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
            Ok(Claim::ChatBusy) => {
                debug!("chat stayed busy for a whole lease; leaving the delivery pending");
                return;
            }
            Err(e) => {
                warn!(error.kind = ?e.kind(), "cannot claim; the delivery stays pending and will be reclaimed");
                return;
            }
        }
    }

    let attempt = d.attempts + 1;
    let job = Job {
        envelope: Arc::new(env.clone()),
        attempt,
        stream_id: d.id.clone(),
        replica: engine.consumer.clone(),
        // The chat's side keys (its reply count) live in its home queue:
        // only a lock there makes this attempt their one writer.
        holds_chat: engine.cfg.per_chat_ordering && d.queue == engine.keys.home_queue(&env.bot, &env.chat_id),
    };
    let started = Instant::now();
    let outcome = run_isolated(engine, job).await;
    metrics::histogram!(SKILL_DURATION, "skill" => skill).record(started.elapsed().as_secs_f64());

    let verdict = match outcome {
        Ok(()) => {
            metrics::counter!(EVENTS, "bot" => bot, "outcome" => "ok").increment(1);
            Verdict::Done { done_ttl: engine.done_ttl }
        }
        Err(HandleError::Permanent(reason)) => {
            warn!(%reason, "permanent failure; dead-lettering");
            metrics::counter!(EVENTS, "bot" => bot, "outcome" => "dead").increment(1);
            dead(engine, reason, attempt)
        }
        Err(HandleError::Deferred(wait)) => {
            debug!(wait_ms = wait.as_millis(), "throttled; rescheduled without counting an attempt");
            metrics::counter!(EVENTS, "bot" => bot, "outcome" => "deferred").increment(1);
            Verdict::Retry { due_ms: due_after(wait), attempts: d.attempts }
        }
        Err(e @ (HandleError::Transient(_) | HandleError::RetryAfter(..))) => {
            let floor = if let HandleError::RetryAfter(d, _) = &e { Some(*d) } else { None };
            if attempt >= max_attempts {
                warn!(error = %e, attempt, "out of attempts; dead-lettering");
                metrics::counter!(EVENTS, "bot" => bot, "outcome" => "dead").increment(1);
                dead(engine, format!("gave up after {attempt} attempts: {e}"), attempt)
            } else {
                let delay = retry::delay(&engine.cfg.backoff, attempt, floor);
                warn!(error = %e, attempt, retry_in_ms = delay.as_millis(), "attempt failed; retrying later");
                metrics::counter!(EVENTS, "bot" => bot, "outcome" => "retried").increment(1);
                Verdict::Retry { due_ms: due_after(delay), attempts: attempt }
            }
        }
    };
    settle(engine, &keys, d, &held(d, token, &claim_key, &chat_key), &verdict).await;
}

/// The time, Unix milliseconds, no earlier than `wait` from now: both the
/// clock and `wait` are rounded up, since a wait is a floor (a platform's
/// `Retry-After`, a throttle's next slot) and truncating either would let
/// the retry start up to 2 ms early.
fn due_after(wait: Duration) -> i64 {
    let wait_ms = i64::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(i64::MAX);
    botq_core::now_ms().saturating_add(1).saturating_add(wait_ms)
}

/// Runs the handler with the handler timeout: a panic or an overrun becomes
/// a transient failure of this attempt. The attempt runs inside this task
/// (no task of its own per event): a panic is caught at this await, and an
/// overrun drops the handler's future, which cancels whatever it awaited.
async fn run_isolated(engine: &Engine, job: Job) -> Result<(), HandleError> {
    let attempt = AssertUnwindSafe(engine.handler.handle(job)).catch_unwind();
    match tokio::time::timeout(engine.cfg.handler_timeout, attempt).await {
        Ok(Ok(result)) => result,
        Ok(Err(_panic)) => Err(HandleError::Transient("handler panicked".to_owned())),
        Err(_) => Err(HandleError::Transient(format!(
            "handler timed out after {} ms",
            engine.cfg.handler_timeout.as_millis()
        ))),
    }
}

/// Dead-letters a delivery without claiming or handling it (no claim or
/// chat lock was taken, so placeholders stand in for them).
async fn dead_letter_unhandled(engine: &Engine, d: &Delivery, token: &str, reason: String, bot: &str) {
    let keys = engine.keys.queue(d.queue);
    let placeholder = keys.placeholder();
    let verdict = dead(engine, reason, d.attempts);
    settle(engine, &keys, d, &held(d, token, &placeholder, &placeholder), &verdict).await;
    metrics::counter!(EVENTS, "bot" => bot.to_owned(), "outcome" => "dead").increment(1);
}

/// Past `worker.max_event_age_secs` since ingest received it: the platforms'
/// reply windows are long closed, so the event is kept for inspection only.
fn expired(engine: &Engine, env: &Envelope) -> bool {
    engine.cfg.max_event_age.is_some_and(|max| {
        let age_ms = botq_core::now_ms().saturating_sub(env.received_at_ms);
        u128::try_from(age_ms).unwrap_or(0) > max.as_millis()
    })
}

/// The dead-letter verdict, counted in the history.
fn dead(engine: &Engine, reason: String, attempts: u32) -> Verdict {
    engine.history.dead();
    Verdict::Dead { reason, attempts, now_ms: botq_core::now_ms(), dlq_max_len: engine.cfg.dlq_max_len }
}

fn held<'a>(d: &'a Delivery, token: &'a str, claim_key: &'a str, chat_lock: &'a str) -> queue::Held<'a> {
    queue::Held { id: &d.id, token, claim_key, chat_lock }
}

async fn settle(
    engine: &Engine,
    keys: &botq_core::keys::QueueKeys,
    d: &Delivery,
    held: &queue::Held<'_>,
    verdict: &Verdict,
) {
    let chat = match (&d.envelope, engine.fair_share.max_queued_per_chat) {
        (Ok(env), Some(_)) => Some(queue::ChatShare::new(keys, &env.bot, &env.chat_id, engine.fair_share)),
        _ => None,
    };
    let settlement = Settlement::new(keys, held, chat.as_ref(), &d.raw, verdict);
    match engine.batches.settle(d.queue, settlement).await {
        Ok(()) => debug!(stream_id = %d.id, "delivery settled"),
        Err(e) => {
            warn!(error.kind = ?e.kind(), stream_id = %d.id, "cannot settle; the delivery stays pending and will be reclaimed");
        }
    }
}
