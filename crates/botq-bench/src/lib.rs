//! botq-bench: signed webhooks in, latency report out.
//!
//! - `send` ([`send`]) posts one correctly signed message webhook for a
//!   configured bot and shows ingest's answer: the quick start's "is it
//!   working?" step.
//! - `ingest` ([`ingest`]) offers ingest an open-loop load ([`open_loop`],
//!   [`schedule`]) of unique signed events ([`hooks`], signed ahead of time by
//!   [`generate`]) and reports latency, status classes and the generator's own
//!   CPU per rate ([`report`], [`cpu`]).
//!
//! The bench only ever talks to the one URL it is given: no proxy from the
//! environment, no redirects, plain HTTP/1.1 (loopback benchmarks measure
//! ingest, not TLS).

pub mod cli;
pub mod cpu;
pub mod generate;
pub mod hooks;
pub mod ingest;
pub mod open_loop;
pub mod report;
pub mod schedule;
pub mod send;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use botq_core::config::{BotConfig, Config, Service};
use reqwest::Url;

use crate::cli::{Cli, Command};

/// Runs one command line.
///
/// # Errors
/// Anything that stops the command before it could report (bad config, bad
/// URL, unknown bot); a webhook that ingest refuses is an exit code, not an error.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Send(args) => send::run(args).await,
        Command::Ingest(args) => ingest::run(args).await,
    }
}

/// Loads the config like ingest does and finds `bot` in it.
///
/// # Errors
/// The config's problems, or the bot ids it does have.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    Config::load(path, Service::Tool).map_err(|p| anyhow!("{} is not a valid botq config:\n{p}", path.display()))
}

/// The bot named `id`, or an error listing the ones there are.
///
/// # Errors
/// When the config has no such bot.
pub fn find_bot<'a>(cfg: &'a Config, id: &str) -> anyhow::Result<&'a BotConfig> {
    cfg.bot(id).ok_or_else(|| {
        let ids: Vec<&str> = cfg.bots.iter().map(|b| b.id.as_str()).collect();
        anyhow!("the config has no bot {id:?}; its bots are: {}", ids.join(", "))
    })
}

/// `{base}/webhooks/{bot}`, for an `http://` base URL only.
///
/// # Errors
/// A base that is not an `http://` URL with a host.
pub fn webhook_url(base: &str, bot: &str) -> anyhow::Result<Url> {
    let parsed = Url::parse(base).with_context(|| format!("--url {base:?} is not a URL like http://127.0.0.1:8080"))?;
    if parsed.scheme() != "http" || parsed.host().is_none() {
        bail!("--url {base:?} must be a plain http:// URL of botq-ingest (the bench speaks no TLS)");
    }
    let url = format!("{}/webhooks/{bot}", base.trim_end_matches('/'));
    Url::parse(&url).with_context(|| format!("{url:?} is not a valid URL"))
}

/// An HTTP client that goes straight to the given URL and nowhere else.
///
/// # Errors
/// When the TLS-less client cannot be built (not expected).
pub fn client(connections: usize, timeout: Option<Duration>) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .pool_max_idle_per_host(connections)
        .user_agent(concat!("botq-bench/", env!("CARGO_PKG_VERSION")));
    if let Some(t) = timeout {
        b = b.timeout(t);
    }
    b.build().context("building the HTTP client")
}

/// A number no earlier run has used for its first event: Unix nanoseconds.
/// Events of a run are `base + i`, so runs started more than a few
/// milliseconds apart never reuse an event id (which ingest would dedupe).
#[must_use]
pub fn event_base() -> u64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Wall-clock Unix seconds, for signed timestamps.
#[must_use]
pub fn unix_secs() -> i64 {
    botq_core::now_ms() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_url_is_built_from_the_base_without_doubling_slashes() {
        assert_eq!(
            webhook_url("http://127.0.0.1:8080", "qq-main").unwrap().as_str(),
            "http://127.0.0.1:8080/webhooks/qq-main"
        );
        assert_eq!(webhook_url("http://localhost:8080/", "b").unwrap().as_str(), "http://localhost:8080/webhooks/b");
    }

    #[test]
    fn only_plain_http_urls_are_targets() {
        for bad in ["https://example.com", "127.0.0.1:8080", "ftp://x", "http://"] {
            assert!(webhook_url(bad, "b").is_err(), "{bad}");
        }
    }
}
