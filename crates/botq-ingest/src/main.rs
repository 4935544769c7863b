//! `botq-ingest`: load config, start telemetry, bind, run. See `lib.rs`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use botq_core::config::{Config, Service};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "botq-ingest", version, about = "botq's webhook front door")]
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
            eprintln!("botq-ingest: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg = Config::load(&cli.config, Service::Ingest)
        .map_err(|p| anyhow::anyhow!("invalid config {}:\n{p}", cli.config.display()))?;
    if let Some(Command::Healthcheck) = cli.command {
        return botq_core::service::healthcheck(cfg.ingest.admin_listen).await.map_err(anyhow::Error::msg);
    }
    botq_core::telemetry::init_logging(&cfg.log);
    let state = Arc::new(botq_ingest::AppState::from_config(&cfg)?);
    let listener = tokio::net::TcpListener::bind(cfg.ingest.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.ingest.listen))?;
    let admin = tokio::net::TcpListener::bind(cfg.ingest.admin_listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.ingest.admin_listen))?;
    tracing::info!(
        listen = %cfg.ingest.listen,
        admin_listen = %cfg.ingest.admin_listen,
        redis = %cfg.redis_url_redacted(),
        bots = cfg.bots.len(),
        "botq-ingest starting"
    );
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        botq_core::service::shutdown_signal().await;
        tracing::info!("shutdown requested; draining");
        signal.cancel();
    });
    botq_ingest::run(listener, admin, state, cfg.ingest.shutdown_grace, shutdown).await?;
    Ok(())
}
