//! The command line every service binary shares: `--config PATH` (or
//! `BOTQ_CONFIG`), the `healthcheck` subcommand for container probes, config
//! loading before anything else, logging, SIGTERM wired to a cancellation
//! token and SIGHUP to config reloads (`reload`). A service's `main` is then
//! just its `run`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use botq_core::config::{Config, Service};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(version = botq_core::build::LONG_VERSION)]
struct Cli<A: Args> {
    /// Config file (TOML).
    #[arg(long, env = "BOTQ_CONFIG", default_value = "deploy/botq.example.toml")]
    config: PathBuf,
    #[command(flatten)]
    extra: A,
    #[command(subcommand)]
    command: Option<Command>,
}

/// A service without flags of its own.
#[derive(Args, Debug, Clone, Copy)]
pub struct NoArgs {}

#[derive(Subcommand)]
enum Command {
    /// Probe the running service's /health/ready (exit 0 when ready).
    Healthcheck,
}

/// Everything a service binary does around its own `run`.
pub struct ServiceMain {
    pub name: &'static str,
    pub about: &'static str,
    pub service: Service,
    /// Where this service's admin listener is, for `healthcheck`.
    pub admin_addr: fn(&Config) -> SocketAddr,
}

impl ServiceMain {
    /// Parses the command line, loads the config (exiting non-zero with every
    /// problem before any port is bound), answers `healthcheck`, starts
    /// logging, cancels the token on SIGTERM / Ctrl-C, checks the file again
    /// on SIGHUP, and runs `run`.
    pub async fn run<F, Fut>(self, run: F) -> ExitCode
    where
        F: FnOnce(Config, CancellationToken, crate::reload::Reloads) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        self.run_with(|cfg, shutdown, reloads, _: NoArgs| run(cfg, shutdown, reloads)).await
    }

    /// As [`ServiceMain::run`], for a service with flags of its own (`A`).
    pub async fn run_with<A, F, Fut>(self, run: F) -> ExitCode
    where
        A: Args,
        F: FnOnce(Config, CancellationToken, crate::reload::Reloads, A) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let matches = Cli::<A>::command().name(self.name).about(self.about).get_matches();
        let cli = match Cli::<A>::from_arg_matches(&matches) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        };
        match self.run_cli(cli, run).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}: {e:#}", self.name);
                ExitCode::FAILURE
            }
        }
    }

    async fn run_cli<A, F, Fut>(&self, cli: Cli<A>, run: F) -> anyhow::Result<()>
    where
        A: Args,
        F: FnOnce(Config, CancellationToken, crate::reload::Reloads, A) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let cfg = Config::load(&cli.config, self.service)
            .map_err(|p| anyhow::anyhow!("invalid config {}:\n{p}", cli.config.display()))?;
        if let Some(Command::Healthcheck) = cli.command {
            return crate::probe::healthcheck((self.admin_addr)(&cfg)).await.map_err(anyhow::Error::from);
        }
        botq_core::telemetry::init_logging(&cfg.log);
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        tokio::spawn(async move {
            crate::shutdown_signal().await;
            tracing::info!("shutdown requested; draining");
            signal.cancel();
        });
        let reloads = crate::reload::spawn(cli.config.clone(), self.service, shutdown.clone());
        run(cfg, shutdown, reloads, cli.extra).await
    }
}
