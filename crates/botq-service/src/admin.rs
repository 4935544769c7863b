//! The admin listener every botq service runs beside its real work:
//! `GET /metrics` (Prometheus text), `GET /health/live`, `GET /health/ready`.
//!
//! It is its own listener (ingest 127.0.0.1:9090, worker 127.0.0.1:9091) so
//! metrics and probes are never exposed on the public webhook port. What
//! "ready" means is the service's business, behind [`Readiness`]; both
//! services use [`RedisReady`](crate::RedisReady).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// A service's answer to "can you do your job right now?".
pub trait Readiness: Send + Sync + 'static {
    /// `Ok` when ready, else a short stable reason such as `starting` or
    /// `redis_unreachable`.
    fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), &'static str>> + Send + '_>>;
}

/// The admin routes for a service whose readiness is `ready`.
pub fn router(ready: Arc<dyn Readiness>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health/live", get(live))
        .route("/health/ready", get(readiness))
        .with_state(ready)
}

/// Serves the admin routes on `listener` until `shutdown` is cancelled.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ready: Arc<dyn Readiness>,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(ready)).with_graceful_shutdown(shutdown.cancelled_owned()).await
}

async fn metrics() -> Response {
    let body = botq_core::telemetry::metrics_handle().render();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn live() -> Response {
    axum::Json(json!({ "status": "live" })).into_response()
}

async fn readiness(State(ready): State<Arc<dyn Readiness>>) -> Response {
    let (version, git_sha) = (botq_core::build::VERSION, botq_core::build::GIT_SHA);
    match ready.check().await {
        Ok(()) => axum::Json(json!({ "status": "ready", "version": version, "git_sha": git_sha })).into_response(),
        Err(reason) => {
            let body = json!({ "status": "not_ready", "reason": reason, "version": version, "git_sha": git_sha });
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}
