//! botq-ingest: the webhook front door.
//!
//! [`run`] serves two listeners: the public webhook listener
//! (`POST /webhooks/{bot_id}`) and the private admin listener (`/metrics`,
//! `/health/*`). `main.rs` only loads config, starts telemetry and calls it;
//! tests call the same function on port-0 listeners.
//!
//! The webhook listener is served by `listener` (timeouts, a connection cap)
//! rather than `axum::serve`, because it faces the internet.
//!
//! Beside them, `records` keeps this process's fleet record and history
//! counts in Redis.
//!
//! Shutdown: when `shutdown` is cancelled the webhook listener stops accepting
//! and closes connections with nothing in flight; in-flight requests get
//! `grace` to finish (each ends with its Redis answer, so nothing
//! acknowledged is lost); then the last history counts are flushed, the
//! fleet record says goodbye, and both listeners close.

pub mod client;
pub mod commit;
pub mod error;
pub mod listener;
pub mod records;
pub mod request_id;
pub mod state;
pub mod timed_out;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use state::AppState;

/// The webhook router (public listener). Every answer, unknown routes and
/// methods included, carries the JSON error body and `X-Request-Id`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhooks/{bot_id}", post(webhook::handle))
        .fallback(webhook::not_found)
        .method_not_allowed_fallback(webhook::method_not_allowed)
        .layer(axum::middleware::from_fn(request_id::stamp))
        .with_state(state)
}

/// Serves webhooks on `listener` and admin endpoints on `admin` until
/// `shutdown` is cancelled, then drains for up to `grace`.
///
/// # Errors
/// An I/O error of either listener.
pub async fn run(
    listener: TcpListener,
    admin: TcpListener,
    state: Arc<AppState>,
    grace: Duration,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    botq_core::telemetry::metrics_handle();
    botq_core::telemetry::record_build_info("ingest");
    let startup = tokio::spawn(finish_startup(state.clone(), shutdown.clone()));
    let stop_records = shutdown.child_token();
    let records = records::start(&state, &stop_records);

    let mut limits = state.listener.clone();
    limits.max_connections = crate::listener::fit_connection_cap(limits.max_connections);
    let public = crate::listener::serve(listener, router(state.clone()), limits, shutdown.clone());
    let stop_admin = CancellationToken::new();
    let ready = botq_service::RedisReady {
        flag: state.started.clone(),
        redis: state.redis.clone(),
        timeout: state.redis_timeout,
    };
    let admin_task = tokio::spawn(botq_service::serve(admin, Arc::new(ready), stop_admin.clone()));

    let public_task = tokio::spawn(public);
    let public_result = tokio::select! {
        r = wait_public(public_task) => r,
        () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            warn!(grace_ms = grace.as_millis(), "drain did not finish within the grace period; closing");
            Ok(())
        }
    };
    startup.abort();
    stop_records.cancel();
    drop(records.await);
    records::farewell(&state).await;
    stop_admin.cancel();
    let admin_result = admin_task.await.unwrap_or(Ok(()));
    info!("ingest stopped");
    public_result.and(admin_result)
}

async fn wait_public(task: tokio::task::JoinHandle<std::io::Result<()>>) -> std::io::Result<()> {
    task.await.unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// Loads the ingest script and marks the service started once Redis answers;
/// retried with capped backoff so ingest can start before Redis.
async fn finish_startup(state: Arc<AppState>, shutdown: CancellationToken) {
    let mut delay = Duration::from_millis(50);
    loop {
        let mut conn = state.redis.clone();
        let load = botq_core::scripts::INGEST.load_async(&mut conn);
        match tokio::time::timeout(state.redis_timeout, load).await {
            Ok(Ok(_)) => {
                for w in botq_core::redis_conn::server_warnings(&mut conn).await {
                    warn!(warning = %w, "redis is not configured for a durable queue");
                }
                state.mark_started();
                info!("redis reachable; ingest ready");
                return;
            }
            Ok(Err(e)) => warn!(error.kind = ?e.kind(), retry_in_ms = delay.as_millis(), "redis not reachable yet"),
            Err(_) => warn!(retry_in_ms = delay.as_millis(), "redis did not answer in time"),
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
