//! The worker's `run` loop: start (scripts, groups), readers, background
//! duties, supervision and graceful shutdown (drain, then the handler's
//! buffered writes, the last history flush and the fleet goodbye).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::state::Engine;
use super::supervise::Supervisor;
use super::{background, reader, records};

/// Runs the worker until `shutdown` is cancelled, then drains: readers stop,
/// in-flight attempts get the grace period, the rest stay pending for other
/// replicas. Serves the admin endpoints on `admin` meanwhile.
///
/// # Errors
/// When a background task dies (the error names it) or the admin listener fails.
pub async fn run(
    engine: Arc<Engine>,
    admin: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    botq_core::telemetry::metrics_handle();
    botq_core::telemetry::record_build_info("worker");
    let stop_admin = CancellationToken::new();
    let ready = botq_service::RedisReady {
        flag: engine.ready.clone(),
        redis: engine.redis.clone(),
        timeout: engine.redis_timeout,
    };
    let admin_task = tokio::spawn(botq_service::serve(admin, Arc::new(ready), stop_admin.clone()));

    let result = if start(&engine, &shutdown).await {
        let stop_tasks = shutdown.child_token();
        let mut sup = Supervisor::new(stop_tasks.clone());
        for &queue in &engine.served {
            sup.spawn(format!("reader[{queue}]"), reader::run(engine.clone(), queue, stop_tasks.clone()));
        }
        sup.spawn("promoter".to_owned(), background::promoter(engine.clone(), stop_tasks.clone()));
        sup.spawn("reclaimer".to_owned(), background::reclaimer(engine.clone(), stop_tasks.clone()));
        sup.spawn("sampler".to_owned(), background::sampler(engine.clone(), stop_tasks.clone()));
        sup.spawn("heartbeat".to_owned(), records::heartbeat(engine.clone(), stop_tasks.clone()));
        sup.spawn("history".to_owned(), records::history(engine.clone(), stop_tasks.clone()));
        let result = sup.wait().await;
        drain(&engine).await;
        if tokio::time::timeout(engine.redis_timeout, engine.handler.flush()).await.is_err() {
            warn!("the handler's buffered writes (audit entries) did not finish in time; they are lost");
        }
        records::farewell(&engine).await;
        result
    } else {
        Ok(())
    };
    stop_admin.cancel();
    admin_task.await.map_err(anyhow::Error::from)??;
    info!("worker stopped");
    result
}

async fn drain(engine: &Engine) {
    engine.set_ready(false);
    engine.jobs.close();
    let grace = engine.cfg.shutdown_grace;
    info!(inflight = engine.inflight(), grace_ms = grace.as_millis(), "draining in-flight work");
    if tokio::time::timeout(grace, engine.jobs.wait()).await.is_err() {
        warn!(
            inflight = engine.inflight(),
            "grace period over; leaving unfinished deliveries pending for other replicas"
        );
        engine.abort_jobs.cancel();
        engine.jobs.wait().await;
    }
}

/// Loads scripts and creates the group on every queue, retrying with
/// capped backoff until Redis answers or `shutdown` fires.
async fn start(engine: &Engine, shutdown: &CancellationToken) -> bool {
    let mut delay = Duration::from_millis(50);
    loop {
        match try_start(engine).await {
            Ok(()) => {
                let mut conn = engine.redis.clone();
                for w in botq_core::redis_conn::server_warnings(&mut conn).await {
                    warn!(warning = %w, "redis is not configured for a durable queue");
                }
                engine.set_ready(true);
                info!(consumer = %engine.consumer, queues = ?engine.served, "worker ready");
                return true;
            }
            Err(e) => warn!(error.kind = ?e.kind(), retry_in_ms = delay.as_millis(), "redis not reachable yet"),
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => return false,
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn try_start(engine: &Engine) -> Result<(), redis::RedisError> {
    let mut conn = engine.redis.clone();
    for script in botq_core::scripts::all() {
        engine.bounded(script.load_async(&mut conn)).await?;
    }
    for &q in &engine.served {
        engine.bounded(botq_core::queue::ensure_group(&mut conn, &engine.keys.queue(q))).await?;
    }
    Ok(())
}
