//! botqctl, the operator's view into a running botq: what the queue holds
//! (`status`, `pending`), what died and why (`dlq list`, `dlq show`), putting
//! dead events back (`dlq replay`) or dropping them (`dlq purge`), what the
//! skills did (`audit tail`, the tool-call audit log), and whether a config
//! file is valid (`config check`, which needs no Redis), and all of that in
//! a browser (`web`, the operator's console: see [`web`]).
//!
//! It reads the same config file as the services, so it finds the same Redis,
//! key prefix and queues. Every command prints a table for a person, or one
//! JSON document with `--json` for scripts (`audit tail`, which may follow
//! the log, one JSON object per line). The state-changing commands reuse
//! the queue's own scripts (`botq_core::queue::replay`), so a replay is as
//! atomic as anything the worker does.

pub mod audit;
pub mod dlq;
pub mod output;
pub mod pending;
pub mod status;
pub mod web;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use botq_core::config::{Config, Problems, QueueSettings, Service};
use botq_core::redis_conn::Redis;
use clap::{Parser, Subcommand};

/// How long to wait for Redis to answer before calling it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(name = "botqctl", version = botq_core::build::LONG_VERSION, about = "botq's operator CLI")]
pub struct Cli {
    /// The botq config file (the services' own).
    #[arg(long, env = "BOTQ_CONFIG", default_value = "deploy/botq.example.toml", global = true)]
    pub config: PathBuf,
    /// Print one JSON document instead of tables (`audit tail`: one JSON object per line).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the config file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Per queue: depth, lag, pending, delayed, DLQ, and the consumers.
    Status,
    /// Deliveries pending (handed to a consumer, not settled) for at least --min-idle-ms.
    Pending {
        #[arg(long, default_value_t = 0)]
        min_idle_ms: u64,
    },
    /// The dead-letter streams.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// The tool-call audit log: one entry per skill invocation.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// The operator's console in a browser: queues, fleet, dead letters, audit, chats, config.
    Web(web::WebArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load the file and print `ok: N bots` or every problem with its key path.
    Check,
}

/// Why a command could not do its job. Printed as `error: …` on one line
/// (config problems: one line each); never carries the Redis password.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid config {path}:\n{problems}")]
    Config { path: String, problems: Problems },
    #[error("cannot reach Redis at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("no dead letter {0}")]
    UnknownId(String),
    #[error("dead letter {id} exists in queues {queues}; name one as QUEUE/{id}")]
    Ambiguous { id: String, queues: String },
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
    #[error("console: {0}")]
    Console(#[from] web::StartError),
}

/// Runs one command, writing its report to `out`. `Ok(false)` is a failure
/// already reported on `out` (a config with problems); exit 1 without more.
///
/// # Errors
/// See [`Error`].
pub async fn run(cli: Cli, out: &mut impl Write) -> Result<bool, Error> {
    if let Command::Config(ConfigCommand::Check) = cli.command {
        return config_check(&cli, out);
    }
    let cfg = load(&cli)?;
    let mut conn = connect(&cfg).await?;
    let keys = cfg.keys();
    match cli.command {
        Command::Config(_) => unreachable!("handled above"),
        Command::Status => status::run(&mut conn, &keys, cli.json, out).await?,
        Command::Pending { min_idle_ms } => pending::run(&mut conn, &keys, min_idle_ms, cli.json, out).await?,
        Command::Dlq(cmd) => dlq::run(&mut conn, &keys, cmd, cli.json, out).await?,
        Command::Audit(cmd) => {
            let stop = botq_service::shutdown_signal();
            audit::run(&mut conn, &keys.audit(), cmd, cli.json, out, &mut std::io::stderr(), stop).await?;
        }
        Command::Web(args) => web_console(&cli.config, args, cfg, conn, out).await?,
    }
    Ok(true)
}

/// `botqctl web`: checks the access policy before binding, says where it
/// listens, serves until Ctrl-C or SIGTERM.
async fn web_console(
    config: &std::path::Path,
    args: web::WebArgs,
    settings: QueueSettings,
    redis: Redis,
    out: &mut impl Write,
) -> Result<(), Error> {
    let access = web::Access::from_args(&args, std::env::var("BOTQ_CONSOLE_TOKEN").ok())?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| web::StartError::Bind { listen: args.listen, source })?;
    let addr = listener.local_addr()?;
    let console = std::sync::Arc::new(web::Console {
        redis,
        keys: settings.keys(),
        settings,
        config_path: config.to_path_buf(),
        read_only: args.read_only,
        show_text: args.show_text,
        access,
    });
    let mode = match (console.access.needs_token(), args.read_only) {
        (true, true) => " (token required, read-only)",
        (true, false) => " (token required)",
        (false, true) => " (read-only)",
        (false, false) => "",
    };
    writeln!(out, "botq console on http://{addr}/{mode}; Ctrl-C to stop")?;
    out.flush()?;
    web::serve(listener, console, botq_service::shutdown_signal()).await?;
    Ok(())
}

/// Inspecting queues needs only Redis settings, not the bots' secrets.
fn load(cli: &Cli) -> Result<QueueSettings, Error> {
    Config::load_queue_settings(&cli.config)
        .map_err(|problems| Error::Config { path: cli.config.display().to_string(), problems })
}

fn config_check(cli: &Cli, out: &mut impl Write) -> Result<bool, Error> {
    match Config::load(&cli.config, Service::Tool) {
        Ok(cfg) => {
            let warnings = cfg.warnings();
            if cli.json {
                let list: Vec<_> =
                    warnings.iter().map(|w| serde_json::json!({ "path": w.path, "message": w.message })).collect();
                output::json(out, &serde_json::json!({ "ok": true, "bots": cfg.bots.len(), "warnings": list }))?;
            } else {
                writeln!(out, "ok: {} bots", cfg.bots.len())?;
                for w in &warnings {
                    writeln!(out, "warning: {}: {}", w.path, w.message)?;
                }
            }
            Ok(true)
        }
        Err(problems) => {
            if cli.json {
                let list: Vec<_> =
                    problems.0.iter().map(|p| serde_json::json!({ "path": p.path, "message": p.message })).collect();
                output::json(out, &serde_json::json!({ "ok": false, "problems": list }))?;
            } else {
                writeln!(out, "{problems}")?;
            }
            Ok(false)
        }
    }
}

/// Connects and PINGs, so a wrong URL or password fails here, in one line.
async fn connect(cfg: &QueueSettings) -> Result<Redis, Error> {
    let url = cfg.redis_url_redacted();
    let unreachable = |detail: String| Error::Unreachable { url: url.clone(), detail };
    let mut conn = botq_core::redis_conn::connect_lazy(&cfg.redis_target(), CONNECT_TIMEOUT)
        .map_err(|e| unreachable(e.to_string()))?;
    let attempt = async {
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok::<_, redis::RedisError>(conn)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("botqctl").chain(args.iter().copied()))
    }

    #[test]
    fn global_flags_are_accepted_after_the_subcommand() {
        let cli = parse(&["status", "--json", "--config", "/etc/botq.toml"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.config, PathBuf::from("/etc/botq.toml"));
        assert!(matches!(cli.command, Command::Status));
    }

    #[test]
    fn pending_takes_a_minimum_idle_time() {
        let cli = parse(&["pending", "--min-idle-ms", "5000"]).unwrap();
        assert!(matches!(cli.command, Command::Pending { min_idle_ms: 5000 }));
        assert!(matches!(parse(&["pending"]).unwrap().command, Command::Pending { min_idle_ms: 0 }));
        assert!(parse(&["pending", "--min-idle-ms", "soon"]).is_err());
    }

    #[test]
    fn an_unknown_command_is_a_usage_error() {
        let e = parse(&["drain"]).unwrap_err();
        assert!(e.use_stderr());
    }
}
