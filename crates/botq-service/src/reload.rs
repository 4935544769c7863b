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

/// Applies every config that arrives on `reloads` with `apply`, which
/// returns the changed settings that only a restart applies (named in a
/// warning). Counts `outcome="applied"`; a failed apply is logged and the
/// running config stays.
pub fn apply_each<F>(mut reloads: Reloads, mut apply: F)
where
    F: FnMut(&Config) -> anyhow::Result<Vec<&'static str>> + Send + 'static,
{
    tokio::spawn(async move {
        while let Some(new) = reloads.recv().await {
            match apply(&new) {
                Ok(restart) => {
                    metrics::counter!(CONFIG_RELOADS, "outcome" => "applied").increment(1);
                    tracing::info!(bots = new.bots.len(), skills = new.skills.len(), "config reloaded");
                    if !restart.is_empty() {
                        tracing::warn!(keys = ?restart, "these settings changed but only take effect after a restart");
                    }
                }
                Err(e) => tracing::error!(error = %e, "config reload failed; the running config stays"),
            }
        }
    });
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
