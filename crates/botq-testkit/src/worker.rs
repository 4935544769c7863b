//! botq-worker in-process: on the test's runtime (stoppable gracefully), or on
//! a runtime of its own that can be killed mid-job like `kill -9`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use botq_core::config::{Config, Service};
use botq_worker::{Engine, Handler};
use tokio_util::sync::CancellationToken;

/// Parses worker config text with `redis_url` as `BOTQ_REDIS_URL`.
///
/// # Panics
/// When the config is invalid: the test wrote it.
#[must_use]
pub fn config(toml: &str, redis_url: &str) -> Config {
    let url = redis_url.to_owned();
    let env = move |k: &str| (k == "BOTQ_REDIS_URL").then(|| url.clone());
    Config::from_toml(toml, Service::Worker, &env, Path::new("."))
        .unwrap_or_else(|p| panic!("test config invalid:\n{p}"))
}

/// A worker running on the caller's runtime.
pub struct WorkerHandle {
    pub engine: Arc<Engine>,
    pub admin_addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl WorkerHandle {
    /// # Panics
    /// When the admin port cannot be bound or the engine cannot be built.
    pub async fn start(cfg: &Config, handler: Arc<dyn Handler>) -> Self {
        crate::init_test_logging();
        let engine = Engine::new(cfg.engine(), handler).expect("engine");
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
        let admin_addr = admin.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(botq_worker::run(engine.clone(), admin, shutdown.clone()));
        Self { engine, admin_addr, shutdown, task }
    }

    /// What SIGTERM does: stop reading, drain within the grace period.
    ///
    /// # Panics
    /// When the worker task panicked.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await.expect("worker task")
    }

    #[must_use]
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }
}

/// A worker on its own runtime and thread, for crash tests.
pub struct CrashableWorker {
    pub engine: Arc<Engine>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl CrashableWorker {
    /// # Panics
    /// When the runtime or engine cannot be built.
    #[must_use]
    pub fn start(cfg: &Config, handler: Arc<dyn Handler>) -> Self {
        crate::init_test_logging();
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let engine = {
            let _in_runtime = runtime.enter();
            Engine::new(cfg.engine(), handler).expect("engine")
        };
        let e = engine.clone();
        runtime.spawn(async move {
            let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
            drop(botq_worker::run(e, admin, CancellationToken::new()).await);
        });
        Self { engine, runtime: Some(runtime) }
    }

    /// Kills the worker: every task is dropped wherever it is, nothing is
    /// settled or released, connections close. What `kill -9` leaves behind.
    pub fn kill(mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for CrashableWorker {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
