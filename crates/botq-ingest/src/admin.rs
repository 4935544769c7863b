//! The admin listener: `/metrics`, `/health/live`, `/health/ready`.
//!
//! It is a separate listener (default 127.0.0.1:9090) so that metrics and
//! probes are never exposed on the public webhook port.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::state::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(state)
}

async fn metrics() -> Response {
    let body = botq_core::telemetry::metrics_handle().render();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn live() -> Response {
    axum::Json(json!({ "status": "live" })).into_response()
}

/// Ready when startup finished and Redis answers a PING now.
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let version = env!("CARGO_PKG_VERSION");
    if !state.started() {
        let body = json!({ "status": "not_ready", "reason": "starting", "version": version });
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
    let mut conn = state.redis.clone();
    if botq_core::redis_conn::ping(&mut conn, state.redis_timeout).await {
        axum::Json(json!({ "status": "ready", "version": version })).into_response()
    } else {
        let body = json!({ "status": "not_ready", "reason": "redis_unreachable", "version": version });
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}
