//! What ingest keeps about itself in Redis, for `botqctl status` and the
//! console: its fleet record (`botq_core::fleet`) and its history counts —
//! events stored, ack latencies (`botq_core::history`).
//!
//! [`start`] runs the heartbeat and the history flush beside the
//! listeners until shutdown; [`farewell`] runs once the listeners have
//! drained, so the last flush holds the last requests' counts. Neither
//! ever fails ingest: a Redis error is logged and the next tick tries again.

use std::sync::Arc;

use botq_core::{fleet, history};
use tokio_util::sync::CancellationToken;

use crate::AppState;

/// Starts the heartbeat and the history flush; both end with `shutdown`.
pub fn start(state: &Arc<AppState>, shutdown: &CancellationToken) -> tokio::task::JoinHandle<()> {
    let (state, shutdown) = (state.clone(), shutdown.clone());
    tokio::spawn(async move {
        let s = &state;
        let beat = fleet::beat_every(s.redis.clone(), &s.keys, s.redis_timeout, shutdown.cancelled(), |_| s.record());
        let flush = history::flush_every(
            s.redis.clone(),
            &s.keys,
            &s.history,
            s.history_retention,
            s.redis_timeout,
            shutdown.cancelled(),
        );
        tokio::join!(beat, flush);
    })
}

/// After the drain: the last history counts, then the goodbye.
pub async fn farewell(s: &AppState) {
    history::flush_last(s.redis.clone(), &s.keys, &s.history, s.history_retention, s.redis_timeout).await;
    fleet::goodbye(s.redis.clone(), &s.keys, s.redis_timeout, |_| s.record()).await;
}
