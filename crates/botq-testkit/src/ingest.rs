//! botq-ingest in-process on port-0 listeners, for end-to-end tests.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use botq_core::config::{Config, Service};
use tokio_util::sync::CancellationToken;

/// A running ingest; cancelled (and drained) on [`IngestHandle::shutdown`] or drop.
#[derive(Debug)]
pub struct IngestHandle {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub state: Arc<botq_ingest::AppState>,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Parses `toml` (with `redis_url` replaced by `redis_url`) like the binary would.
///
/// # Panics
/// When the config is invalid: the test wrote it.
#[must_use]
pub fn config(toml: &str, redis_url: &str) -> Config {
    let url = redis_url.to_owned();
    let env = move |k: &str| (k == "BOTQ_REDIS_URL").then(|| url.clone());
    Config::from_toml(toml, Service::Ingest, &env, Path::new("."))
        .unwrap_or_else(|p| panic!("test config invalid:\n{p}"))
}

impl IngestHandle {
    /// Starts ingest for `cfg` and waits until it reports ready.
    ///
    /// # Panics
    /// When it cannot bind or does not become ready within 10 s.
    pub async fn start(cfg: &Config) -> Self {
        let h = Self::start_unready(cfg).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !h.state.started() {
            assert!(tokio::time::Instant::now() < deadline, "ingest did not become ready");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        h
    }

    /// Starts ingest without waiting for Redis.
    ///
    /// # Panics
    /// When it cannot bind.
    pub async fn start_unready(cfg: &Config) -> Self {
        crate::init_test_logging();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind webhook port");
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind admin port");
        let addr = listener.local_addr().expect("local addr");
        let admin_addr = admin.local_addr().expect("local addr");
        let state = Arc::new(botq_ingest::AppState::new(&cfg.ingest_service()).expect("ingest state"));
        let shutdown = CancellationToken::new();
        let task =
            tokio::spawn(botq_ingest::run(listener, admin, state.clone(), cfg.ingest.shutdown_grace, shutdown.clone()));
        Self { addr, admin_addr, state, shutdown, task: Some(task) }
    }

    #[must_use]
    pub fn webhook_url(&self, bot: &str) -> String {
        format!("http://{}/webhooks/{bot}", self.addr)
    }

    #[must_use]
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }

    /// Signals shutdown and waits for the drain to finish.
    ///
    /// # Panics
    /// When the server task failed.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            t.await.expect("ingest task").expect("ingest run");
        }
    }
}

impl Drop for IngestHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
