//! Checking the `[ingest]` table (its `[ingest.listener]` is `listener.rs`;
//! its `[ingest.rate_limit]` is every bot's default, checked with the bots).

use std::net::SocketAddr;
use std::time::Duration;

use super::raw::RawIngest;
use super::{IngestConfig, Problems, listener};

/// The webhook service's settings, or `None` (with the problems recorded)
/// when an address does not parse.
pub(super) fn check(raw: &RawIngest, problems: &mut Problems) -> Option<IngestConfig> {
    let mut addr = |key: &str, s: &str| {
        s.parse::<SocketAddr>()
            .map_err(|_| problems.push(key.into(), format!("{s:?} is not an address like 0.0.0.0:8080")))
            .ok()
    };
    let listen = addr("ingest.listen", &raw.listen);
    let admin_listen = addr("ingest.admin_listen", &raw.admin_listen);
    if raw.body_limit_bytes < 1024 {
        problems.push("ingest.body_limit_bytes".into(), "must be ≥ 1024".into());
    }
    if raw.max_backlog == 0 {
        problems.push("ingest.max_backlog".into(), "must be ≥ 1".into());
    }
    if raw.redis_timeout_ms == 0 {
        problems.push("ingest.redis_timeout_ms".into(), "must be ≥ 1".into());
    }
    let listener = listener::check(&raw.listener, problems);
    Some(IngestConfig {
        listen: listen?,
        admin_listen: admin_listen?,
        body_limit_bytes: raw.body_limit_bytes,
        max_backlog: raw.max_backlog,
        retry_after_secs: raw.retry_after_secs,
        redis_timeout: Duration::from_millis(raw.redis_timeout_ms),
        shutdown_grace: Duration::from_secs(raw.shutdown_grace_secs),
        listener,
    })
}
