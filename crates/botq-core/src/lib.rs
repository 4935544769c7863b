//! botq's core: everything both services share, with no HTTP framework in it.
//!
//! - [`envelope`]: the normalised event stored in the streams.
//! - [`platform`]: per-platform verification and normalisation of webhooks.
//! - [`config`]: the TOML file, env overrides and validation with key paths.
//! - [`routing`] and [`skill`]: the bot application's domain model (which
//!   messages a bot answers, who may use it, what each skill is), built by
//!   `config` and used by the worker's bot application.
//! - [`keys`]: every Redis key, in one place; [`scripts`]: the Lua scripts (each `.lua` beside its caller).
//! - [`queue`]: the Redis operations on the streams.
//! - [`reply`]: building replies and classifying the platforms' answers.
//! - [`telemetry`]: logs and the Prometheus recorder.
//! - [`ids`]: validated identifier newtypes.
//! - [`redis_url`]: Redis URLs with every credential redacted, for messages.
//! - [`build`]: version and git commit of this build.
//! - [`audit`]: the tool-call audit stream (metadata of every skill invocation).
//! - [`batch`]: group commit, many tasks' small Redis calls sent as one.
//! - [`fleet`]: every ingest and worker process's record and heartbeat.
//! - [`history`]: a bounded time series of rates, latencies and queue gauges.
//! - [`periodic`]: the timer those two records are kept up to date on.
//! - [`message`]: the message model, segments between the platforms and the skills.
//! - [`redis_conn`]: one connection type for a Redis server or a Redis Cluster.
//! - [`throttle`]: the shared reply rate limits (GCRA in Redis).
//! - [`rfc3339`]: timestamps to and from Unix time.

pub mod audit;
pub mod batch;
pub mod build;
pub mod config;
pub mod envelope;
pub mod fleet;
pub mod history;
pub mod ids;
pub mod keys;
pub mod message;
pub mod periodic;
pub mod platform;
pub mod queue;
pub mod redis_conn;
pub mod redis_url;
pub mod reply;
pub mod rfc3339;
pub mod routing;
pub mod scripts;
pub mod skill;
pub mod telemetry;
pub mod throttle;

/// Wall-clock now as Unix milliseconds.
#[must_use]
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
