//! Logs and metrics, set up the same way by every binary.
//!
//! Logs are `tracing` JSON lines (pretty text on a terminal); spans carry the
//! webhook's request id so one grep follows an event from ingest to reply.
//! Metrics go to one process-wide Prometheus recorder, rendered by the admin
//! listener's `/metrics`. Metric names are constants here so the services and
//! the docs cannot drift apart.

use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// How the logs are written (`[log]` in the config file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON lines unless stderr is a terminal.
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter directive such as `info` or `botq_ingest=debug,info`.
    pub level: String,
}

pub const INGEST_REQUESTS: &str = "botq_ingest_requests_total";
pub const INGEST_ACK_DURATION: &str = "botq_ingest_ack_duration_seconds";
pub const EVENTS: &str = "botq_events_total";
pub const BUILD_INFO: &str = "botq_build_info";
/// SIGHUP reloads by outcome (`applied`, `rejected`), both services.
pub const CONFIG_RELOADS: &str = "botq_config_reloads_total";
/// Defined here for its buckets (the worker records it): 3 s is the SLO edge.
pub const REPLY_LATENCY: &str = "botq_event_reply_latency_seconds";
/// Webhooks admitted by a bot's `previous` credential, by bot: 0 for a while
/// means the platform switched and `previous` can go.
pub const PREVIOUS_SECRET: &str = "botq_ingest_previous_secret_total";
/// Webhook-listener connections by outcome: `accepted`, `evicted` (the most
/// stalled one, to make room at `max_connections`), `refused` (at the cap
/// with every connection busy), `header_timeout`, `idle` (closed idle),
/// `accept_error`.
pub const INGEST_CONNECTIONS: &str = "botq_ingest_connections_total";
/// Webhook-listener connections open now.
pub const INGEST_OPEN_CONNECTIONS: &str = "botq_ingest_open_connections";

/// Installs the global log subscriber. Safe to call more than once (tests);
/// only the first call takes effect.
pub fn init_logging(cfg: &LogConfig) {
    let filter = EnvFilter::try_new(&cfg.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match cfg.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if json {
        builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init()
    } else {
        builder.try_init()
    };
    // An error only means a subscriber is already installed (a second service in one test process).
    drop(result);
}

/// The process-wide Prometheus recorder, installed on first use.
///
/// # Panics
/// Never in practice: only if the fixed bucket lists below were empty.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(INGEST_ACK_DURATION.to_owned()),
                    &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
                )
                .expect("bucket list is non-empty")
                .set_buckets_for_metric(
                    Matcher::Full(REPLY_LATENCY.to_owned()),
                    &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0],
                )
                .expect("bucket list is non-empty")
                .set_buckets(&[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
                .expect("bucket list is non-empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (a test harness); ours still renders what it records.
            drop(metrics::set_global_recorder(recorder));
            describe();
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// How often histogram samples are folded into their buckets.
pub const METRICS_UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The recorder keeps every histogram sample until it is folded into the
/// buckets, which happens on a scrape or an upkeep. With no upkeep, a service
/// nobody scrapes grows by every sample it records: the soak found ingest and
/// worker gaining ~0.6 MiB a minute at 400 events/s. One plain thread does the
/// upkeep, whatever runtime (or none) the process has.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new().name("metrics-upkeep".to_owned()).spawn(move || {
        loop {
            std::thread::sleep(METRICS_UPKEEP_INTERVAL);
            handle.run_upkeep();
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histograms are folded on scrapes only");
    }
}

fn describe() {
    metrics::describe_counter!(INGEST_REQUESTS, "Webhook requests by bot and outcome.");
    metrics::describe_histogram!(
        INGEST_ACK_DURATION,
        metrics::Unit::Seconds,
        "Time from request received to response sent (SLO: ack in < 100 ms)."
    );
    metrics::describe_counter!(EVENTS, "Events by bot and outcome (ok, duplicate, retried, dead, dropped).");
    metrics::describe_gauge!(BUILD_INFO, "Always 1; labels carry the version.");
    metrics::describe_counter!(PREVIOUS_SECRET, "Webhooks verified with a bot's previous (rotated-out) credential.");
    metrics::describe_counter!(
        INGEST_CONNECTIONS,
        "Webhook-listener connections by outcome (accepted, evicted, refused, header_timeout, idle, accept_error)."
    );
    metrics::describe_gauge!(INGEST_OPEN_CONNECTIONS, "Webhook-listener connections open now.");
}

/// Records `botq_build_info{service,version,git_sha}` = 1.
pub fn record_build_info(service: &'static str) {
    metrics::gauge!(
        BUILD_INFO,
        "service" => service,
        "version" => crate::build::VERSION,
        "git_sha" => crate::build::GIT_SHA
    )
    .set(1.0);
}

#[cfg(test)]
mod tests {
    /// Without upkeep, histogram samples pile up in memory until a scrape.
    #[test]
    fn the_recorder_comes_with_its_upkeep_thread() {
        drop(super::metrics_handle());
        let names = || -> Vec<String> {
            std::fs::read_dir("/proc/self/task")
                .expect("Linux /proc")
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .map(|n| n.trim().to_owned())
                .collect()
        };
        // A new thread names itself once it runs; until then it shows its parent's name.
        for _ in 0..200 {
            if names().iter().any(|n| n == "metrics-upkeep") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("no metrics-upkeep thread: {:?}", names());
    }
}
