//! Connections to Redis for request paths.
//!
//! Request paths (ingest's webhook, readiness probes) share one multiplexed,
//! auto-reconnecting [`ConnectionManager`]: concurrent requests are pipelined
//! on one socket, and a checkout costs no extra round trip (a pool that PINGs
//! on checkout would double the webhook's Redis time). It connects lazily, so
//! a service starts while Redis is down and reports not-ready until it is up.
//! Blocking reads (the worker's `XREADGROUP BLOCK`) need exclusive connections
//! and use a deadpool pool instead.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};

/// A lazily connecting, self-healing connection. Every call must still be
/// bounded by the caller's own timeout: while Redis is down, a call waits for
/// the reconnect attempt (each bounded by `timeout`).
///
/// # Errors
/// An invalid URL.
pub fn connect_lazy(url: &SecretString, timeout: Duration) -> Result<ConnectionManager, redis::RedisError> {
    let client = redis::Client::open(url.expose_secret())?;
    let cfg = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(20))
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, cfg)
}

/// `PING` within `timeout`: is Redis reachable right now?
pub async fn ping(conn: &mut ConnectionManager, timeout: Duration) -> bool {
    let cmd = redis::cmd("PING");
    matches!(tokio::time::timeout(timeout, cmd.query_async::<String>(conn)).await, Ok(Ok(_)))
}

/// What is risky about this Redis for a queue, in words an operator can act on.
///
/// botq's guarantee "ack means durable" holds only as far as Redis keeps what
/// it acknowledged: an eviction policy other than `noeviction` lets Redis drop
/// queued events under memory pressure, and a Redis without AOF or snapshots
/// loses everything on restart. Managed Redis often disables `CONFIG`; then
/// nothing can be checked and nothing is reported.
pub async fn server_warnings<C>(conn: &mut C) -> Vec<String>
where
    C: redis::aio::ConnectionLike + Send,
{
    let get = |name: &'static str| {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("GET").arg(name);
        cmd
    };
    let mut warnings = Vec::new();
    if let Ok((_, policy)) = get("maxmemory-policy").query_async::<(String, String)>(conn).await
        && policy != "noeviction"
    {
        warnings.push(format!(
            "Redis maxmemory-policy is {policy}: under memory pressure Redis may evict queued events; set it to noeviction"
        ));
    }
    let aof = get("appendonly").query_async::<(String, String)>(conn).await.ok().map(|(_, v)| v);
    let save = get("save").query_async::<(String, String)>(conn).await.ok().map(|(_, v)| v);
    if let (Some(aof), Some(save)) = (aof, save)
        && aof == "no"
        && save.trim().is_empty()
    {
        warnings.push(
            "Redis has no persistence (appendonly no, no save points): a Redis restart loses every queued event; enable AOF (appendonly yes, appendfsync everysec or always)".to_owned(),
        );
    }
    warnings
}
