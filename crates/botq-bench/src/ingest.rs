//! `botq-bench ingest`: a sweep of open-loop rate steps against ingest.
//!
//! One step per `--rate` ([`crate::step`]: sign, offer, and with
//! `--fake-url` read the replies back), one row per step as it ends, so a
//! ramp shows where latency bends. Before the sweep, one request is sent and
//! must be acknowledged, so a wrong config or a stopped ingest is a clear
//! error up front rather than a table full of 401s or transport errors; a
//! fake platform to read is asked for its counters just as early.
//!
//! The bench bot should have ingest's abuse limits off (`rate_limit = {
//! group_per_sec = 0.0, sender_per_sec = 0.0 }` on the `[[bot]]`) or set far
//! above the offered per-chat and per-sender rates: events over a limit are
//! acknowledged with 2xx and dropped, so the table would look healthy while
//! measuring a path that skips the stream. The sweep warns when the
//! configured limits would trip, and with `--fake-url` also when botq's
//! reply limits or storm guard would hold back or swallow replies.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use botq_core::config::{BotConfig, RateLimit};
use reqwest::Url;

use crate::cli::{IngestArgs, LoadArgs};
use crate::fake::Fake;
use crate::hooks::{Hooks, Message};
use crate::open_loop::Target;
use crate::report::{Columns, RateReport};
use crate::schedule::{Schedule, Spread};
use crate::step::{self, Setup};

/// Runs `ingest`.
///
/// # Errors
/// Bad config or URL, ingest refusing the pre-flight request, or the fake
/// platform not answering.
pub async fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let max_rate = args.rate.iter().copied().fold(0.0, f64::max);
    let setup =
        setup(&args.target, &args.load, max_rate, &args.text, args.fake_url.as_deref(), args.reply_timeout).await?;
    let columns = Columns { duplicates: args.load.duplicate_every.is_some(), replies: setup.fake.is_some() };
    if !args.load.json {
        println!("{}", RateReport::table_header(columns));
    }
    for &rate in &args.rate {
        let report = step::run(&setup, Schedule::new(rate, args.warmup, args.duration)).await?;
        if args.load.json {
            println!("{}", report.to_json());
        } else {
            println!("{}", report.table_row(columns));
        }
        for note in notes(&report) {
            eprintln!("note: {note}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the config, warns about settings the load would trip, checks that
/// ingest (and the fake, when given) answer, and resolves the target: what
/// `ingest` and `burst` do before their first step.
///
/// # Errors
/// Bad config or URLs, ingest refusing the pre-flight request, the fake
/// platform (when given) not answering.
pub async fn setup(
    target: &crate::cli::Target,
    load: &LoadArgs,
    max_rate: f64,
    text: &str,
    fake_url: Option<&str>,
    reply_timeout: Duration,
) -> anyhow::Result<Setup> {
    let cfg = crate::load_config(&target.config)?;
    let bot = crate::find_bot(&cfg, &target.bot)?;
    let url = crate::webhook_url(&target.url, bot.id.as_str())?;
    let hooks = Arc::new(Hooks::from_bot(bot));
    let spread = Spread { chats: load.chats, senders: load.senders };
    let fake = fake_url.map(Fake::new).transpose()?;
    for warning in warnings(bot, spread, max_rate, fake.is_some()) {
        eprintln!("warning: {warning}");
    }
    if let (Some(fake), Some(base)) = (&fake, fake_url)
        && let Err(e) = fake.delivered().await
    {
        bail!("botq-fakeplatform must be running at {base} to record the replies: {e:#}");
    }
    preflight(&url, &hooks, text).await?;
    let (addr, host, path) = crate::resolve(&url).await?;
    Ok(Setup {
        hooks,
        target: Target {
            addr,
            source: load.source_ip,
            connections: usize::from(load.connections),
            drain: load.drain_timeout,
        },
        host,
        path,
        spread,
        text: text.to_owned(),
        max_pregen_mib: load.max_pregen_mib,
        duplicate_every: load.duplicate_every,
        forge: load.forge,
        duplicate_delay: load.duplicate_delay,
        fake,
        reply_timeout,
        report_every: load.report_every,
    })
}

/// The limit warnings, and with a fake to read the reply warnings, at `rate`.
fn warnings(bot: &BotConfig, spread: Spread, rate: f64, replies: bool) -> Vec<String> {
    let mut out = limit_warnings(&bot.rate_limit, spread, rate);
    if replies {
        out.extend(crate::replies::reply_warnings(bot, spread.per_chat(rate), rate));
    }
    out
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

/// Hints about a step's figures: a generator, not the server, that made
/// requests late; duplicates ingest refused; a fake whose log was too short.
pub(crate) fn notes(r: &RateReport) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(lag), Some(latency)) = (r.send_lag_ms, r.latency_ms)
        && lag.p99 > 2.0
        && lag.p99 > latency.p99 / 2.0
    {
        out.push(format!(
            "at {}/s requests went out late (send lag p99 {:.2} ms of latency p99 {:.2} ms): all --connections \
             were busy or the bench lacked CPU. Raise --connections, or give the bench its own core.",
            r.target_rate, lag.p99, latency.p99
        ));
    }
    let d = r.duplicates;
    if d.acked < d.offered {
        out.push(format!(
            "{} of {} deliberate duplicates were not acknowledged 2xx: a platform would retry them again",
            d.offered - d.acked,
            d.offered
        ));
    }
    if let Some(replies) = r.replies.as_ref().filter(|r| r.dropped > 0) {
        out.push(format!(
            "botq-fakeplatform's delivery log had dropped {} of this step's deliveries before they were read, so \
             some replies count as missing: start it with --max-records above the events of a step",
            replies.dropped
        ));
    }
    if let Some(replies) = r.replies.as_ref().filter(|r| r.missing > 0 && r.dropped == 0) {
        let sample: Vec<String> = replies.missing_sample.iter().map(u64::to_string).collect();
        out.push(format!(
            "{} acknowledged events had no reply {:.1} s after the last was due; they count at that age (≥). \
             Some of them: {} (QQ and Lark event id bench-N, OneBot message_id N)",
            replies.missing,
            replies.collected_after_s,
            sample.join(", ")
        ));
    }
    out
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
