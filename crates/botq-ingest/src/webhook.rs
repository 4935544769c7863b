//! `POST /webhooks/{bot_id}`: verify, normalise, one Redis round trip (shared
//! with the webhooks that arrived meanwhile, `commit`), answer.
//!
//! Nothing else happens on this path: no skill, no outbound HTTP, no sleep.
//! The answer is 2xx only after Redis accepted the event (or decided it is a
//! duplicate or over an abuse limit, which are acknowledged so the platform
//! stops retrying); a Redis error is a 503 with `Retry-After`, and the
//! platform's retry finds no trace of the failed attempt. A Redis *timeout*
//! is a 503 too, but Redis may have stored the event after all: the retry
//! is then acknowledged as a duplicate, which is right (the event is stored
//! once). Such timeouts are counted apart (`outcome="timeout"`), and so are
//! the duplicates they cause (`duplicate_after_timeout`, `timed_out`).
//!
//! Before anything is read, a client that has spent its budget of refused
//! requests for this bot is answered 429 (`client`); every refusal (4xx)
//! spends one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use botq_core::platform::{HttpAnswer, Inbound, Outcome, ack};
use botq_core::queue::EnqueueOutcome;
use botq_core::telemetry::{EVENTS, INGEST_ACK_DURATION, INGEST_REQUESTS};
use tracing::{Instrument, debug, info_span, warn};

use crate::error::ApiError;
use crate::request_id::RequestIdExt;
use crate::state::{AppState, BotEntry};

/// Bot label for requests whose path names no configured bot: the path is
/// attacker-controlled and must not become a metric label.
const UNKNOWN_BOT: &str = "_unknown";

pub async fn handle(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    RequestIdExt(request_id): RequestIdExt,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let _in_flight = state.handling();
    let bots = state.bots.load_full();
    // A path segment that is not UTF-8 (`%ff`) cannot name a bot.
    let bot = path.ok().and_then(|Path(id)| bots.get(&id));
    let bot_label = bot.map_or(UNKNOWN_BOT, |b| b.id.as_str()).to_owned();
    let budget = budget_of(&state, peer, &headers);
    if let Some((budget, ip)) = budget
        && let Some(wait) = budget.spent(ip, &bot_label, started)
    {
        debug!(%ip, bot = %bot_label, "client over its budget of refused requests");
        // Read (and drop) the body, bounded as ever, so the connection can be
        // reused: a flood that reconnects for every request costs more.
        let _ = read_body(&headers, body, state.body_limit, state.listener.body_timeout).await;
        let response = ApiError::too_many_rejections(wait).into_response();
        metrics::counter!(INGEST_REQUESTS, "bot" => bot_label, "outcome" => "too_many_rejections").increment(1);
        return response;
    }
    let span = info_span!("http.request", request_id = %request_id, bot = %bot_label);
    let (outcome, response) = process(&state, bot, request_id, &headers, body).instrument(span).await;
    if response.status().is_client_error()
        && let Some((budget, ip)) = budget
    {
        budget.record(ip, &bot_label, Instant::now());
    }
    metrics::counter!(INGEST_REQUESTS, "bot" => bot_label, "outcome" => outcome).increment(1);
    let took = started.elapsed();
    metrics::histogram!(INGEST_ACK_DURATION).record(took.as_secs_f64());
    if response.status().is_success() {
        state.history.acked(took);
    }
    response
}

/// The refusal budget and the client it applies to, when the budget is on
/// and the peer is known (the listener puts it in every request).
fn budget_of<'a>(
    state: &'a AppState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
) -> Option<(&'a crate::client::Rejections, std::net::IpAddr)> {
    let budget = state.rejections.as_ref()?;
    let Extension(ConnectInfo(addr)) = peer?;
    Some((budget, crate::client::client_ip(&state.listener.client_address, addr, headers)))
}

/// Any other route or method: the same JSON error body as every refusal.
pub async fn not_found(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    refuse_unrouted(&state, peer, &headers, ApiError::NotFound)
}

/// `GET /webhooks/{id}` and the like.
pub async fn method_not_allowed(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    refuse_unrouted(&state, peer, &headers, ApiError::MethodNotAllowed)
}

fn refuse_unrouted(
    state: &AppState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
    error: ApiError,
) -> Response {
    if let Some((budget, ip)) = budget_of(state, peer, headers) {
        let now = Instant::now();
        if let Some(wait) = budget.spent(ip, UNKNOWN_BOT, now) {
            return ApiError::too_many_rejections(wait).into_response();
        }
        budget.record(ip, UNKNOWN_BOT, now);
    }
    metrics::counter!(INGEST_REQUESTS, "bot" => UNKNOWN_BOT, "outcome" => error.code()).increment(1);
    error.into_response()
}

/// Returns the outcome label and the response.
async fn process(
    state: &AppState,
    bot: Option<&BotEntry>,
    request_id: botq_core::ids::RequestId,
    headers: &HeaderMap,
    body: Body,
) -> (&'static str, Response) {
    let Some(bot) = bot else {
        debug!("webhook for an unknown bot");
        return ("unknown_bot", ApiError::UnknownBot.into_response());
    };
    let body = match read_body(headers, body, state.body_limit, state.listener.body_timeout).await {
        Ok(b) => b,
        Err(e) => return (e.code(), e.into_response()),
    };
    let inbound = Inbound { bot: &bot.id, headers, body: &body, now_ms: botq_core::now_ms(), request_id };
    let event = match bot.adapter.handle(&inbound) {
        Err(reject) => {
            debug!(reason = reject.code(), "webhook rejected");
            return ("rejected", ApiError::Rejected(reject).into_response());
        }
        Ok(Outcome::Handshake(answer)) => return ("handshake", answer_response(answer)),
        Ok(Outcome::Ignored { kind }) => {
            debug!(kind = kind.as_str(), "event type not handled; acknowledged and dropped");
            metrics::counter!(EVENTS, "bot" => bot.id.as_str().to_owned(), "outcome" => "dropped").increment(1);
            return ("ignored", answer_response(ack(bot.adapter.platform())));
        }
        Ok(Outcome::Event(event)) => event,
    };
    let queue = bot.queue_of(&state.keys, &event.envelope.chat_id);
    let unavailable = ApiError::Unavailable { retry_after_secs: state.retry_after_secs };
    let result = tokio::time::timeout(state.redis_timeout, state.commit.enqueue(queue, &event, bot.limits)).await;
    let platform_ack = || answer_response(ack(bot.adapter.platform()));
    match result {
        Ok(Ok(EnqueueOutcome::Accepted { stream_id })) => {
            debug!(event_id = %event.envelope.event_id, stream_id, "event enqueued");
            state.history.ingested();
            ("accepted", platform_ack())
        }
        Ok(Ok(EnqueueOutcome::AcceptedInChatBacklog)) => {
            debug!(event_id = %event.envelope.event_id, "event stored in its chat's backlog (the chat has its share of the stream)");
            state.history.ingested();
            ("accepted", platform_ack())
        }
        Ok(Ok(EnqueueOutcome::Duplicate)) => {
            // The retry of a delivery whose Redis call timed out, stored after all: not the platform's duplicate.
            let outcome =
                if state.timed_out.take(&event.envelope.event_id) { "duplicate_after_timeout" } else { "duplicate" };
            debug!(event_id = %event.envelope.event_id, outcome, "duplicate delivery acknowledged");
            metrics::counter!(EVENTS, "bot" => bot.id.as_str().to_owned(), "outcome" => outcome).increment(1);
            (outcome, platform_ack())
        }
        Ok(Ok(EnqueueOutcome::RateLimited(kind))) => {
            debug!(limit = kind.as_str(), "over the ingest rate limit; acknowledged and dropped");
            metrics::counter!(EVENTS, "bot" => bot.id.as_str().to_owned(), "outcome" => "dropped").increment(1);
            ("rate_limited", platform_ack())
        }
        Ok(Ok(EnqueueOutcome::Backlogged)) => {
            warn!(max_backlog = state.commit.max_backlog(), "stream backlog full; asking the platform to retry");
            ("backlogged", unavailable.into_response())
        }
        Ok(Err(e)) if !e.is_timeout() => {
            warn!(error.kind = ?e.kind(), "redis refused the event; asking the platform to retry");
            ("unavailable", unavailable.into_response())
        }
        // The connection's own response timeout (the same bound) or ours.
        Ok(Err(_)) | Err(_) => {
            // Redis may still have stored it: the platform's retry is then a duplicate.
            state.timed_out.remember(&event.envelope.event_id);
            warn!(
                timeout_ms = state.redis_timeout.as_millis(),
                "redis did not answer in time; asking the platform to retry (the event may be stored already)"
            );
            ("timeout", unavailable.into_response())
        }
    }
}

/// Reads the body within `timeout`, refusing more than `limit` bytes before
/// buffering them. A body over the limit is a 413; one that breaks off or
/// is badly framed (a malformed chunk) is a 400; one that trickles in too
/// slowly is a 408.
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, ApiError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(timeout, http_body_util::BodyExt::collect(limited)).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::PayloadTooLarge),
        Ok(Err(_)) => Err(ApiError::MalformedBody),
        Err(_) => Err(ApiError::BodyTimeout),
    }
}

fn answer_response(answer: HttpAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    match answer.body {
        Some(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        None => status.into_response(),
    }
}
