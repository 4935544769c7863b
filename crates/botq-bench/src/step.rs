//! One step of load, the same for every rate of an `ingest` ramp and for a
//! `burst`: sign the step's requests ([`crate::generate`]), offer them open
//! loop ([`crate::open_loop`]), and with a fake platform to read, wait for
//! the replies and count them ([`crate::readback`]).
//!
//! Each step gets its own event base, which is also the run id its `/echo`
//! texts carry, so replies to an earlier step (or an earlier run) never
//! count for this one.

use std::sync::Arc;
use std::time::Duration;

use crate::duplicates::Duplicates;
use crate::fake::Fake;
use crate::generate::{self, Generator, Mode, Plan, Text};
use crate::hooks::Hooks;
use crate::open_loop::{self, Load, Target};
use crate::readback::{self, Sent};
use crate::report::RateReport;
use crate::schedule::{Schedule, Spread};

/// What every step of a run shares.
#[derive(Debug)]
pub struct Setup {
    pub hooks: Arc<Hooks>,
    pub target: Target,
    /// `Host` header and path of every request.
    pub host: String,
    pub path: String,
    pub spread: Spread,
    /// `--text`; ignored with a fake to read, where every event is an `/echo` naming it.
    pub text: String,
    pub max_pregen_mib: u64,
    /// `--duplicate-every` and `--duplicate-delay`.
    pub duplicate_every: Option<u64>,
    pub duplicate_delay: Duration,
    /// `--forge`: every request's signature is broken (a forgery flood).
    pub forge: bool,
    /// Where replies are read back, and how long to wait for them after the load.
    pub fake: Option<Fake>,
    pub reply_timeout: Duration,
    pub report_every: Option<Duration>,
}

/// Runs one step of `schedule`.
///
/// # Errors
/// A request that cannot be built, or the fake platform not answering.
pub async fn run(setup: &Setup, schedule: Schedule) -> anyhow::Result<RateReport> {
    let duplicates = setup.duplicate_every.map_or(Duplicates::NONE, |every| {
        Duplicates::every_with_delay(every, setup.duplicate_delay.as_secs_f64(), schedule.rate())
    });
    let plan = Plan {
        total: schedule.total(),
        spread: setup.spread,
        text: if setup.fake.is_some() { Text::Echo } else { Text::Fixed(setup.text.clone()) },
        event_base: crate::event_base(),
        unix_secs: crate::unix_secs(),
        host: setup.host.clone(),
        path: setup.path.clone(),
        duplicates,
        forge: setup.forge,
    };
    let run_id = plan.event_base;
    let (feed, generator) =
        generate::start(setup.hooks.clone(), plan, setup.max_pregen_mib.saturating_mul(1 << 20)).await?;
    eprintln!("{}", describe_generation(schedule, &generator, setup.max_pregen_mib));
    let before = match &setup.fake {
        Some(fake) => Some(fake.delivered().await?),
        None => None,
    };
    let load = Load { schedule, duplicates, track_acks: setup.fake.is_some(), report_every: setup.report_every };
    let outcome = open_loop::run(&setup.target, load, feed, &generator).await;
    generator.join().await;
    let mut report = outcome.report;
    if let (Some(fake), Some(before)) = (&setup.fake, before) {
        let sent =
            Sent { run: run_id, schedule, duplicates, start_unix_us: outcome.start_unix_us, acked: &outcome.acked };
        let collected = readback::wait(fake, before, &sent, setup.reply_timeout).await?;
        report.replies = Some(readback::tally(&sent, &collected));
    }
    Ok(report)
}

fn describe_generation(schedule: Schedule, g: &Generator, budget_mib: u64) -> String {
    let (rate, total) = (schedule.rate(), schedule.total());
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
