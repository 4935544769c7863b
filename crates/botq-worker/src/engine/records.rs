//! What the worker keeps about itself in Redis, for `botqctl status` and
//! the console: its fleet record (`botq_core::fleet`) and its history
//! counts (`botq_core::history`).
//!
//! Two supervised loops keep them current — **heartbeat** every
//! `fleet::HEARTBEAT_EVERY`, **history** every `history::STEP` — and
//! [`farewell`] runs once the drain is over, so the last flush holds the
//! replies and dead letters of the drained attempts and the goodbye comes
//! when nothing is in flight any more. Neither ever fails the worker: a
//! Redis error is logged and the next tick tries again.

use std::sync::Arc;

use botq_core::{fleet, history};
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;

pub async fn heartbeat(engine: Arc<Engine>, stop: CancellationToken) -> anyhow::Result<()> {
    let (conn, timeout) = (engine.redis.clone(), engine.redis_timeout);
    fleet::beat_every(conn, &engine.keys, timeout, stop.cancelled(), |now| engine.record(now)).await;
    Ok(())
}

pub async fn history(engine: Arc<Engine>, stop: CancellationToken) -> anyhow::Result<()> {
    let (conn, timeout, retention) = (engine.redis.clone(), engine.redis_timeout, engine.history_retention);
    history::flush_every(conn, &engine.keys, &engine.history, retention, timeout, stop.cancelled()).await;
    Ok(())
}

/// After the drain: the last history counts, then the goodbye.
pub async fn farewell(engine: &Engine) {
    let (retention, timeout) = (engine.history_retention, engine.redis_timeout);
    history::flush_last(engine.redis.clone(), &engine.keys, &engine.history, retention, timeout).await;
    fleet::goodbye(engine.redis.clone(), &engine.keys, timeout, |now| engine.record(now)).await;
}
