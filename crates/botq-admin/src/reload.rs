//! Config reload on SIGHUP.
//!
//! On SIGHUP the config file is read and checked again exactly as at start
//! (every key, every secret, every bot's verifier). A file with problems is
//! rejected with every problem and its key path in the log, counted as
//! `botq_config_reloads_total{outcome="rejected"}`, and the running config
//! stays; a good one is handed to the service, which applies what it can
//! without a restart (bots, their secrets and routing, skills) and counts
//! `outcome="applied"`. Problems name keys, never secret values, so the log
//! line is safe.

use std::path::PathBuf;

use botq_core::config::{Config, Service};
use botq_core::telemetry::CONFIG_RELOADS;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Checked configs from SIGHUP, in order.
pub type Reloads = mpsc::Receiver<Config>;

/// Counts a reload the service applied.
pub fn applied() {
    metrics::counter!(CONFIG_RELOADS, "outcome" => "applied").increment(1);
}

/// Listens for SIGHUP until `shutdown`, sending each good config on.
pub(crate) fn spawn(path: PathBuf, service: Service, shutdown: CancellationToken) -> Reloads {
    let (tx, rx) = mpsc::channel(4);
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; config reload is off");
            return;
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                got = hup.recv() => if got.is_none() { return },
            }
            match Config::load(&path, service) {
                Ok(cfg) => {
                    tracing::info!(config = %path.display(), "SIGHUP: config checked; applying");
                    if tx.send(cfg).await.is_err() {
                        return;
                    }
                }
                Err(problems) => {
                    metrics::counter!(CONFIG_RELOADS, "outcome" => "rejected").increment(1);
                    tracing::error!(
                        config = %path.display(),
                        problems = %problems.to_string().replace('\n', "; "),
                        "SIGHUP: config reload rejected; the running config stays"
                    );
                }
            }
        }
    });
    #[cfg(not(unix))]
    drop((path, service, shutdown, tx));
    rx
}
