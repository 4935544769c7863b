//! `botq-bench ingest`: a sweep of open-loop rate steps against ingest.
//!
//! Per step: sign the requests ([`crate::generate`]), run the timed phase
//! ([`crate::open_loop`]), print the row. Before the sweep, one request is
//! sent and must be acknowledged, so a wrong config or a stopped ingest is a
//! clear error up front rather than a table full of 401s or transport errors.
//!
//! The bench bot should have ingest's abuse limits off (`rate_limit = {
//! group_per_sec = 0.0, sender_per_sec = 0.0 }` on the `[[bot]]`) or set far
//! above the offered per-chat and per-sender rates: events over a limit are
//! acknowledged with 2xx and dropped, so the table would look healthy while
//! measuring a path that skips the stream. The sweep warns when the
//! configured limits would trip.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use botq_core::config::RateLimit;
use reqwest::Url;

use crate::cli::IngestArgs;
use crate::generate::{self, Generator, Mode, Plan};
use crate::hooks::{Hooks, Message};
use crate::open_loop::{self, Target};
use crate::report::RateReport;
use crate::schedule::{Schedule, Spread};

/// Runs `ingest`.
///
/// # Errors
/// Bad config or URL, or ingest refusing the pre-flight request.
pub async fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let cfg = crate::load_config(&args.target.config)?;
    let bot = crate::find_bot(&cfg, &args.target.bot)?;
    let url = crate::webhook_url(&args.target.url, bot.id.as_str())?;
    let hooks = Arc::new(Hooks::from_bot(bot)?);
    let spread = Spread { chats: args.chats, senders: args.senders };
    let max_rate = args.rate.iter().copied().fold(0.0, f64::max);
    for warning in limit_warnings(&bot.rate_limit, spread, max_rate) {
        eprintln!("warning: {warning}");
    }
    preflight(&url, &hooks, &args.text).await?;
    let (addr, host, path) = crate::resolve(&url).await?;
    let target = Target { addr, connections: usize::from(args.connections), drain: args.drain_timeout };

    if !args.json {
        println!("{}", RateReport::table_header());
    }
    for &rate in &args.rate {
        let schedule = Schedule::new(rate, args.warmup, args.duration);
        let plan = Plan {
            total: schedule.total(),
            spread,
            text: args.text.clone(),
            event_base: crate::event_base(),
            unix_secs: crate::unix_secs(),
            host: host.clone(),
            path: path.clone(),
        };
        let (feed, generator) =
            generate::start(hooks.clone(), plan, args.max_pregen_mib.saturating_mul(1 << 20)).await?;
        eprintln!("{}", describe_generation(rate, schedule.total(), &generator, args.max_pregen_mib));
        let report = open_loop::run(&target, schedule, feed, &generator).await;
        generator.join().await;
        if args.json {
            println!("{}", report.to_json());
        } else {
            println!("{}", report.table_row());
        }
        if let Some(note) = lag_note(&report) {
            eprintln!("note: {note}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One request that must be acknowledged before any load is offered.
pub(crate) async fn preflight(url: &Url, hooks: &Hooks, text: &str) -> anyhow::Result<()> {
    let (chat, sender) = (hooks.chat_id(0), hooks.sender_id(0));
    let msg = Message { event: crate::event_base(), chat: &chat, sender: &sender, text, unix_secs: crate::unix_secs() };
    let hook = hooks.build(&msg)?;
    let client = crate::client(Duration::from_secs(10))?;
    let mut req = client.post(url.clone()).body(hook.body);
    for (k, v) in hook.headers {
        req = req.header(k, v);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => bail!("cannot connect to {url}: is botq-ingest running and listening there?"),
        Err(e) if e.is_timeout() => bail!("{url} did not answer the pre-flight request within 10 s"),
        Err(e) => bail!("the pre-flight request to {url} failed: {e}"),
    };
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        bail!(
            "ingest refused the pre-flight request with {status}: {body}\n\
             run `botq-bench send` with the same --config, --bot and --url to see why"
        );
    }
    Ok(())
}

/// Warnings for limits the offered load would exceed at `rate`.
#[must_use]
pub fn limit_warnings(limits: &RateLimit, spread: Spread, rate: f64) -> Vec<String> {
    let mut out = Vec::new();
    let checks = [
        ("group", "chats", "--chats", limits.group, spread.per_chat(rate)),
        ("sender", "senders", "--senders", limits.sender, spread.per_sender(rate)),
    ];
    for (limit, over, flag, gcra, offered) in checks {
        if let Some(g) = gcra.filter(|g| offered > g.per_sec) {
            out.push(format!(
                "at {rate}/s over the {over} of this run each gets {offered:.1} events/s, above the bot's ingest \
                 {limit} limit of {}/s: those events get 2xx but are dropped, not queued. Turn the limit off on the \
                 bench bot (rate_limit = {{ {limit}_per_sec = 0.0, ... }}) or raise {flag}.",
                g.per_sec
            ));
        }
    }
    out
}

fn describe_generation(rate: f64, total: u64, g: &Generator, budget_mib: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let cpu_each_us = g.cpu().as_secs_f64() * 1e6 / g.prefilled.max(1) as f64;
    let mib = total.saturating_mul(g.est_bytes_per_request) >> 20;
    let head = format!(
        "rate {rate}/s: signed {} of {total} requests in {:.2} s on {} threads ({cpu_each_us:.1} µs CPU each)",
        g.prefilled,
        g.prefill_wall.as_secs_f64(),
        g.threads
    );
    match g.mode {
        Mode::Pregenerated => format!("{head}; all signed before the clock started (~{mib} MiB)"),
        Mode::Streamed => format!(
            "{head}; the step needs ~{mib} MiB, more than --max-pregen-mib {budget_mib}, so the rest is signed \
             while it runs (that CPU is reported apart)"
        ),
    }
}

/// A hint when the generator, not the server, made requests late.
fn lag_note(r: &RateReport) -> Option<String> {
    let (lag, latency) = (r.send_lag_ms?, r.latency_ms?);
    (lag.p99 > 2.0 && lag.p99 > latency.p99 / 2.0).then(|| {
        format!(
            "at {}/s requests went out late (send lag p99 {:.2} ms of latency p99 {:.2} ms): all --connections \
             were busy or the bench lacked CPU. Raise --connections, or give the bench its own core.",
            r.target_rate, lag.p99, latency.p99
        )
    })
}

#[cfg(test)]
mod tests {
    use botq_core::config::Gcra;

    use super::*;

    #[test]
    fn limits_the_load_would_trip_are_warned_about_with_the_fix() {
        let limits = RateLimit {
            group: Some(Gcra { per_sec: 20.0, burst: 60 }),
            sender: Some(Gcra { per_sec: 3.0, burst: 15 }),
        };
        let spread = Spread { chats: 1000, senders: 100_000 };
        assert!(limit_warnings(&limits, spread, 20_000.0).is_empty(), "20/s per chat, 0.2/s per sender: within");
        let w = limit_warnings(&limits, spread, 50_000.0);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("50.0 events/s") && w[0].contains("group_per_sec = 0.0"), "{}", w[0]);
        let w = limit_warnings(&limits, Spread { chats: 10, senders: 10 }, 1000.0);
        assert_eq!(w.len(), 2, "{w:?}");
    }

    #[test]
    fn limits_that_are_off_never_warn() {
        let off = RateLimit { group: None, sender: None };
        assert!(limit_warnings(&off, Spread { chats: 1, senders: 1 }, 1e6).is_empty());
    }
}
