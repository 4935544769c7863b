//! botq-bench: signed webhooks in, latency report out.
//!
//! - `send` ([`send`]) posts one correctly signed message webhook for a
//!   configured bot and shows ingest's answer: the quick start's "is it
//!   working?" step.
//! - `ingest` ([`ingest`]) offers ingest an open-loop load ([`open_loop`],
//!   [`schedule`]) of signed events ([`hooks`], signed ahead of time by
//!   [`generate`]), one step per rate ([`step`]: a ramp finds the knee), and
//!   reports latency, status classes and the generator's own CPU per rate
//!   ([`report`], [`cpu`]). Events are unique unless `--duplicate-every`
//!   makes some requests platform-style redeliveries ([`duplicates`]). With
//!   `--fake-url` each step's replies are read back from botq-fakeplatform
//!   ([`fake`], [`readback`]) and matched to their events ([`replies`]):
//!   replied, missing, duplicate replies, end-to-end latency.
//! - `burst` ([`burst`]) offers many events at once, far above worker speed,
//!   and reports how they were absorbed (statuses, ack latency) and drained
//!   (when the last reply arrived, replies per second).
//! - `worker` ([`drain`]) preloads a stream and times botq-worker processes
//!   draining it: events/s and CPU per event of the workers and of Redis.
//! - `fairness` ([`fairness`]) offers one noisy group and many quiet ones
//!   fixed rates of `/echo` webhooks and reads the replies back from
//!   botq-fakeplatform (the same matching, [`replies`]): do quiet groups keep
//!   their reply latency?
//!
//! `bench.example.toml` next to this crate is a config for benchmark runs:
//! ingest's abuse limits off (events over them are acknowledged and dropped,
//! which would make the numbers lie), a high backlog cap, quiet logs.
//!
//! The bench only ever talks to the one URL it is given: no proxy from the
//! environment, no redirects, plain HTTP/1.1 (loopback benchmarks measure
//! ingest, not TLS).

pub mod burst;
pub mod cli;
pub mod conn;
pub mod cpu;
pub mod drain;
pub mod duplicates;
pub mod fairness;
pub mod fake;
pub mod generate;
pub mod hooks;
pub mod ingest;
pub mod open_loop;
pub mod readback;
pub mod replies;
pub mod report;
pub mod schedule;
pub mod send;
pub mod step;

use std::net::SocketAddr;
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
        Command::Burst(args) => burst::run(args).await,
        Command::Worker(args) => drain::run(args).await,
        Command::Fairness(args) => fairness::run(args).await,
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
    http_url("--url", "botq-ingest", "http://127.0.0.1:8080", base, &format!("webhooks/{bot}"))
}

/// `{base}/{path}`, where `base`, given as `flag` (e.g. `example`), must be a
/// plain `http://` URL of `service` with a host.
pub(crate) fn http_url(flag: &str, service: &str, example: &str, base: &str, path: &str) -> anyhow::Result<Url> {
    let parsed = Url::parse(base).with_context(|| format!("{flag} {base:?} is not a URL like {example}"))?;
    if parsed.scheme() != "http" || parsed.host().is_none() {
        bail!("{flag} {base:?} must be a plain http:// URL of {service} (the bench speaks no TLS)");
    }
    let url = format!("{}/{path}", base.trim_end_matches('/'));
    Url::parse(&url).with_context(|| format!("{url:?} is not a valid URL"))
}

/// Where the load goes: the first address of `url`'s host that accepts a
/// connection (`localhost` may name `::1` while ingest listens on
/// 127.0.0.1), and the `Host` header and path each request carries.
///
/// # Errors
/// A host name that does not resolve.
pub async fn resolve(url: &Url) -> anyhow::Result<(SocketAddr, String, String)> {
    let host = url.host_str().context("the URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .collect();
    let mut chosen = *addrs.first().with_context(|| format!("{host} resolves to no address"))?;
    for addr in &addrs {
        let probe = tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await;
        if matches!(probe, Ok(Ok(_))) {
            chosen = *addr;
            break;
        }
    }
    let host_header = url.port().map_or_else(|| host.to_owned(), |p| format!("{host}:{p}"));
    Ok((chosen, host_header, url.path().to_owned()))
}

/// An HTTP client for single requests (`send`, the pre-flight) that goes
/// straight to the given URL and nowhere else.
///
/// # Errors
/// When the TLS-less client cannot be built (not expected).
pub fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("botq-bench/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
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

/// Wall-clock Unix microseconds: the clock botq-fakeplatform stamps replies
/// with (in ms), so reply latency is due time → `received_at_ms` on one clock.
#[must_use]
pub fn unix_micros() -> i64 {
    duration_us(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default())
}

/// `d` in microseconds, to add to a [`unix_micros`] time (due times, windows).
pub(crate) fn duration_us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
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
    fn the_shipped_bench_config_loads_with_every_platform_and_limits_off() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench.example.toml");
        let cfg = load_config(&path).unwrap();
        assert_eq!(cfg.bots.len(), 3);
        for bot in &cfg.bots {
            assert_eq!((bot.rate_limit.group, bot.rate_limit.sender), (None, None), "{}", bot.id);
            assert_eq!(hooks::Hooks::from_bot(bot).platform(), bot.platform(), "{}", bot.id);
        }
        assert!(find_bot(&cfg, "nope").unwrap_err().to_string().contains("qq-bench, lark-bench, onebot-bench"));
    }

    #[tokio::test]
    async fn the_load_target_keeps_host_port_and_path() {
        let url = webhook_url("http://127.0.0.1:8080", "qq-main").unwrap();
        let (addr, host, path) = resolve(&url).await.unwrap();
        assert_eq!(addr.to_string(), "127.0.0.1:8080");
        assert_eq!((host.as_str(), path.as_str()), ("127.0.0.1:8080", "/webhooks/qq-main"));
        let (addr, host, _) = resolve(&webhook_url("http://[::1]", "b").unwrap()).await.unwrap();
        assert_eq!((addr.to_string().as_str(), host.as_str()), ("[::1]:80", "[::1]"));
    }

    #[test]
    fn only_plain_http_urls_are_targets() {
        for bad in ["https://example.com", "127.0.0.1:8080", "ftp://x", "http://"] {
            assert!(webhook_url(bad, "b").is_err(), "{bad}");
        }
    }
}
