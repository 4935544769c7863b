//! `POST /webhooks/{bot_id}`: verify, normalise, one Redis round trip, answer.
//!
//! Nothing else happens on this path: no skill, no outbound HTTP, no sleep.
//! The answer is 2xx only after Redis accepted the event (or decided it is a
//! duplicate or over an abuse limit, which are acknowledged so the platform
//! stops retrying); any Redis failure is a 503 with `Retry-After`, and the
//! platform's retry finds no trace of the failed attempt.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use botq_core::platform::{Inbound, Outcome, Reply, ack};
use botq_core::queue::{EnqueueOutcome, EnqueueParams, enqueue};
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
    Path(bot_id): Path<String>,
    RequestIdExt(request_id): RequestIdExt,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let bots = state.bots.load_full();
    let bot = bots.get(&bot_id);
    let bot_label = bot.map_or(UNKNOWN_BOT, |b| b.id.as_str()).to_owned();
    let span = info_span!("http.request", request_id = %request_id, bot = %bot_label);
    let (outcome, response) = process(&state, bot, request_id, &headers, body).instrument(span).await;
    metrics::counter!(INGEST_REQUESTS, "bot" => bot_label, "outcome" => outcome).increment(1);
    metrics::histogram!(INGEST_ACK_DURATION).record(started.elapsed().as_secs_f64());
    response
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
    let body = match read_body(headers, body, state.body_limit).await {
        Ok(b) => b,
        Err(e) => return ("too_large", e.into_response()),
    };
    let inbound = Inbound { bot: &bot.id, headers, body: &body, now_ms: botq_core::now_ms(), request_id };
    let event = match bot.adapter.handle(&inbound) {
        Err(reject) => {
            debug!(reason = reject.code(), "webhook rejected");
            return ("rejected", ApiError::Rejected(reject).into_response());
        }
        Ok(Outcome::Handshake(reply)) => return ("handshake", reply_response(reply)),
        Ok(Outcome::Ignored { kind }) => {
            debug!(kind = kind.as_str(), "event type not handled; acknowledged and dropped");
            metrics::counter!(EVENTS, "bot" => bot.id.as_str().to_owned(), "outcome" => "dropped").increment(1);
            return ("ignored", reply_response(ack(bot.adapter.platform())));
        }
        Ok(Outcome::Event(event)) => event,
    };
    let shard = state.keys.shard(bot.queue_of(&state.keys, &event.envelope.chat_id));
    let params = EnqueueParams {
        now_ms: inbound.now_ms,
        dedupe_ttl: state.dedupe_ttl,
        max_backlog: state.max_backlog,
        limits: bot.limits,
        fair_share: state.fair_share,
    };
    let mut conn = state.redis.clone();
    let unavailable = ApiError::Unavailable { retry_after_secs: state.retry_after_secs };
    let result = tokio::time::timeout(state.redis_timeout, enqueue(&mut conn, &shard, &event, params)).await;
    let platform_ack = || reply_response(ack(bot.adapter.platform()));
    match result {
        Ok(Ok(EnqueueOutcome::Accepted { stream_id })) => {
            debug!(event_id = %event.envelope.event_id, stream_id, "event enqueued");
            ("accepted", platform_ack())
        }
        Ok(Ok(EnqueueOutcome::AcceptedInChatBacklog)) => {
            debug!(event_id = %event.envelope.event_id, "event stored in its chat's backlog (the chat has its share of the stream)");
            ("accepted", platform_ack())
        }
        Ok(Ok(EnqueueOutcome::Duplicate)) => {
            debug!(event_id = %event.envelope.event_id, "duplicate delivery acknowledged");
            metrics::counter!(EVENTS, "bot" => bot.id.as_str().to_owned(), "outcome" => "duplicate").increment(1);
            ("duplicate", platform_ack())
        }
        Ok(Ok(EnqueueOutcome::RateLimited(kind))) => {
            debug!(limit = kind.as_str(), "over the ingest rate limit; acknowledged and dropped");
            metrics::counter!(EVENTS, "bot" => bot.id.as_str().to_owned(), "outcome" => "dropped").increment(1);
            ("rate_limited", platform_ack())
        }
        Ok(Ok(EnqueueOutcome::Backlogged)) => {
            warn!(max_backlog = state.max_backlog, "stream backlog full; asking the platform to retry");
            ("backlogged", unavailable.into_response())
        }
        Ok(Err(e)) => {
            warn!(error.kind = ?e.kind(), "redis refused the event; asking the platform to retry");
            ("unavailable", unavailable.into_response())
        }
        Err(_) => {
            warn!(
                timeout_ms = state.redis_timeout.as_millis(),
                "redis did not answer in time; asking the platform to retry"
            );
            ("unavailable", unavailable.into_response())
        }
    }
}

/// Reads the body, refusing more than `limit` bytes before buffering them.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    // A body that breaks off or exceeds the limit mid-stream is refused the same way.
    axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::PayloadTooLarge)
}

fn reply_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    match reply.body {
        Some(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        None => status.into_response(),
    }
}
