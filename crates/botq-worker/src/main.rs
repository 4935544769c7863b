//! `botq-worker`: load config, start telemetry, bind the admin listener, run. See `lib.rs`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use botq_core::config::{Config, Service};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "botq-worker",
    version,
    about = "botq's worker: consumes the streams, runs handlers, retries, dead-letters"
)]
struct Cli {
    /// Config file (TOML).
    #[arg(long, env = "BOTQ_CONFIG", default_value = "deploy/botq.example.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Probe the running service's /health/ready (for container health checks).
    Healthcheck,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match real_main().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("botq-worker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg = Config::load(&cli.config, Service::Worker)
        .map_err(|p| anyhow::anyhow!("invalid config {}:\n{p}", cli.config.display()))?;
    if let Some(Command::Healthcheck) = cli.command {
        return botq_core::service::healthcheck(cfg.worker.admin_listen).await.map_err(anyhow::Error::msg);
    }
    botq_core::telemetry::init_logging(&cfg.log);
    botq_worker::metrics::describe();
    let engine = botq_worker::Engine::new(&cfg, Arc::new(botq_worker::NoopHandler))?;
    let admin = tokio::net::TcpListener::bind(cfg.worker.admin_listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.worker.admin_listen))?;
    tracing::info!(
        consumer = engine.consumer(),
        admin_listen = %cfg.worker.admin_listen,
        redis = %cfg.redis_url_redacted(),
        concurrency = cfg.worker.concurrency,
        "botq-worker starting"
    );
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        botq_core::service::shutdown_signal().await;
        tracing::info!("shutdown requested; draining");
        signal.cancel();
    });
    botq_worker::run(engine, admin, shutdown).await
}
