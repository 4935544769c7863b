//! `botq-fakeplatform`: flags, config, logging, bind, run. The logic is in `lib.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use botq_core::config::{Config, Service};
use botq_fakeplatform::{FakeState, Options, QqLimits};
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// A local stand-in for the QQ, Lark and OneBot reply APIs, for botq's quick start, tests and benchmarks.
#[derive(Parser)]
#[command(name = "botq-fakeplatform", version = botq_core::build::LONG_VERSION)]
struct Cli {
    /// botq config file (TOML): the bots whose credentials the fake accepts.
    #[arg(long, env = "BOTQ_CONFIG", default_value = "deploy/botq.example.toml")]
    config: PathBuf,
    /// Address to serve every platform's API and /_fake/ on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Lifetime of QQ and Lark access tokens.
    #[arg(long, default_value_t = 7200)]
    token_ttl_secs: u64,
    /// Added to every message request.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of message requests answered 503.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of message requests answered with the platform's throttle response.
    #[arg(long, default_value_t = 0.0)]
    throttle_rate: f64,
    /// Share of message requests held for --timeout-hold-secs, then answered 504.
    #[arg(long, default_value_t = 0.0)]
    timeout_rate: f64,
    #[arg(long, default_value_t = 30)]
    timeout_hold_secs: u64,
    /// Share of message requests delivered whose answer is then lost (held
    /// for --timeout-hold-secs, then 504): retries must carry idempotency keys.
    #[arg(long, default_value_t = 0.0)]
    lost_answer_rate: f64,
    /// QQ passive-reply window of group messages.
    #[arg(long, default_value_t = 300)]
    qq_group_window_secs: u64,
    /// QQ passive-reply window of C2C messages.
    #[arg(long, default_value_t = 3600)]
    qq_c2c_window_secs: u64,
    /// QQ passive-reply window of guild channel and DM messages.
    #[arg(long, default_value_t = 300)]
    qq_guild_window_secs: u64,
    /// QQ replies (distinct msg_seq) per inbound message.
    #[arg(long, default_value_t = 5)]
    qq_max_replies: u32,
    /// QQ messages per second to one group, user or guild DM (0 = no limit).
    #[arg(long, default_value_t = 5)]
    qq_chat_rate: u32,
    /// QQ messages per second to one guild sub-channel (0 = no limit).
    #[arg(long, default_value_t = 5)]
    qq_channel_rate: u32,
    /// Lark messages per second to one chat (0 = no limit).
    #[arg(long, default_value_t = 5)]
    lark_chat_qps: u32,
    /// Deliveries and rejections kept for /_fake/ (oldest dropped; counters stay exact).
    #[arg(long, default_value_t = 100_000)]
    max_records: usize,
}

impl Cli {
    fn options(&self) -> Options {
        Options {
            token_ttl: Duration::from_secs(self.token_ttl_secs),
            latency: Duration::from_millis(self.latency_ms),
            error_rate: self.error_rate,
            throttle_rate: self.throttle_rate,
            timeout_rate: self.timeout_rate,
            timeout_hold: Duration::from_secs(self.timeout_hold_secs),
            lost_answer_rate: self.lost_answer_rate,
            qq: QqLimits {
                group_window: Duration::from_secs(self.qq_group_window_secs),
                c2c_window: Duration::from_secs(self.qq_c2c_window_secs),
                guild_window: Duration::from_secs(self.qq_guild_window_secs),
                max_replies: self.qq_max_replies,
                chat_rate: self.qq_chat_rate,
                channel_rate: self.qq_channel_rate,
            },
            lark_chat_qps: self.lark_chat_qps,
            max_records: self.max_records,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("botq-fakeplatform: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let opts = cli.options();
    opts.check().context("invalid option")?;
    let cfg = Config::load(&cli.config, Service::Tool)
        .map_err(|p| anyhow::anyhow!("invalid config {}:\n{p}", cli.config.display()))?;
    let state = Arc::new(FakeState::from_config(&cfg, opts)?);
    botq_core::telemetry::init_logging(&cfg.log);
    let listener =
        tokio::net::TcpListener::bind(cli.listen).await.with_context(|| format!("cannot listen on {}", cli.listen))?;
    let listen = listener.local_addr()?;
    let bots: Vec<&str> = state.bots().iter().map(|b| b.id.as_str()).collect();
    tracing::info!(%listen, bots = ?bots, "botq-fakeplatform starting");
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        botq_service::shutdown_signal().await;
        tracing::info!("shutdown requested");
        signal.cancel();
    });
    botq_fakeplatform::run(listener, state, shutdown).await?;
    Ok(())
}
