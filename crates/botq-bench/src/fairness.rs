//! `botq-bench fairness`: do quiet groups keep their reply latency when one
//! group sends many times their traffic?
//!
//! One noisy group and `--quiet-groups` quiet ones each send signed message
//! webhooks at a fixed rate ([`timetable`]), open loop ([`load`]): the noisy
//! group at `--noisy-rate`, each quiet group at `--quiet-rate`. Every event
//! is `/echo botq-fair <run> <index>`, so the built-in echo skill replies
//! with the event's index and botq-fakeplatform records when the reply
//! arrived. After the load the bench reads `GET /_fake/deliveries` and
//! computes each event's reply latency, due time → reply accepted ([`tally`]),
//! per class ([`report`]): quiet p50/p95/p99 (and the worst single quiet
//! group's p95), noisy p50/p95, achieved rates, missing replies.
//!
//! The bench does not configure botq: the scenario (fair share on or off,
//! the noisy group on its own lane, how many workers serve what) is the
//! deployment under test, set up by `scripts/bench-fairness.sh`. The bench
//! reads the same config, reports the fair-share setting and the noisy
//! group's lane beside the figures, and warns about settings that would make
//! the figures lie: ingest limits that drop events, reply limits and storm
//! guards that delay or swallow replies, a group mode that ignores `/echo`.
//!
//! The noisy group is bench chat 0 (`Hooks::chat_id(0)`; OneBot group
//! 700000000); quiet groups are chats 1..=n. The bench only waits for the
//! quiet groups' replies (up to `--drain-timeout` after the last event is
//! due): a noisy group offered more than its serial capacity has a backlog
//! that drains long after the run, and its unanswered events are counted at
//! their age at collection, as lower bounds.

pub mod load;
pub mod report;
pub mod tally;
pub mod timetable;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use botq_core::config::BotConfig;
use tokio::time::Instant;

use crate::cli::FairnessArgs;
use crate::conn::Route;
use crate::cpu;
use crate::fake::Fake;
use crate::hooks::{Hooks, Message};
use crate::replies::Replies;
use crate::report::Quantiles;
use load::Timed;
use report::{ClassReport, FairnessReport};
use timetable::{Class, NOISY, Timetable, Traffic};

/// How long a webhook may take to be acknowledged before it counts as failed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `fairness`.
///
/// # Errors
/// Bad config or URLs, ingest refusing the pre-flight request, the fake
/// platform not answering.
pub async fn run(args: FairnessArgs) -> anyhow::Result<ExitCode> {
    let cfg = crate::load_config(&args.target.config)?;
    let bot = crate::find_bot(&cfg, &args.target.bot)?;
    let url = crate::webhook_url(&args.target.url, bot.id.as_str())?;
    let fake = Fake::new(&args.fake_url)?;
    let hooks = Hooks::from_bot(bot);
    let traffic = Traffic { quiet: args.quiet_groups, quiet_rate: args.quiet_rate, noisy_rate: args.noisy_rate };
    let noisy_chat = hooks.chat_id(u64::from(NOISY));
    for warning in warnings(bot, traffic) {
        eprintln!("warning: {warning}");
    }
    fake.delivered().await.context("botq-fakeplatform must be running to record the replies")?;
    crate::ingest::preflight(&url, &hooks, "/ping").await?;
    let (addr, host, path) = crate::resolve(&url).await?;

    let table = Timetable::new(traffic, args.warmup, args.duration);
    let run_id = crate::event_base();
    let requests = sign(&hooks, &Route::new(&host, &path).map_err(anyhow::Error::msg)?, &table, run_id)?;
    eprintln!(
        "{}: {} quiet groups at {}/s, noisy group {noisy_chat} at {}/s; {} events over {:.0} s warm-up + {:.0} s",
        args.label,
        traffic.quiet,
        traffic.quiet_rate,
        traffic.noisy_rate,
        requests.len(),
        args.warmup.as_secs_f64(),
        args.duration.as_secs_f64()
    );

    let cpu_before = cpu::process();
    let start = Instant::now() + Duration::from_millis(100);
    let start_us = crate::unix_micros() + 100_000;
    let sent = load::run(addr, usize::from(args.connections), start, requests, ANSWER_TIMEOUT).await;
    let watched = if traffic.quiet > 0 { Class::Quiet } else { Class::Noisy };
    let deadline = start + table.last_due() + args.drain_timeout;
    // A reply missing from the list was not delivered when it was asked for:
    // its age then is a lower bound of its latency.
    let (replies, collected_us) = loop {
        let asked_us = crate::unix_micros();
        let replies = Replies::collect(run_id, table.arrivals.len(), &fake.log().await?);
        if tally::all_replied(&table, &replies, watched) || Instant::now() >= deadline {
            break (replies, asked_us);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let counted = tally::tally(&table, start_us, collected_us, &replies);
    let window_end_us = start_us + crate::duration_us(args.warmup + args.duration);
    #[allow(clippy::cast_precision_loss)]
    let collected_after_s = collected_us.saturating_sub(window_end_us) as f64 / 1e6;
    let bench_cpu_s = cpu::process().zip(cpu_before).map(|(a, b)| a.saturating_sub(b).as_secs_f64());

    let class_report = |class: Class, groups: u32, rate: f64| {
        let t = counted.class(class);
        let acks = sent.acks(class);
        #[allow(clippy::cast_precision_loss)]
        let per_sec = |n: u64| n as f64 / args.duration.as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let worst = t.worst_group_p95_us().map(|us| (us as f64 / 10.0).round() / 100.0);
        ClassReport {
            class: class.as_str(),
            groups,
            rate_per_group: rate,
            events: t.events,
            acks,
            acked_per_sec: per_sec(acks.ok),
            replied: t.replied,
            missing: t.missing,
            duplicates: t.duplicates,
            out_of_order: t.out_of_order,
            replies_per_sec: per_sec(t.replies_in_window),
            latency_ms: Quantiles::from_micros(&t.latency),
            worst_group_p95_ms: worst,
        }
    };
    let report = FairnessReport {
        label: args.label.clone(),
        warmup_s: args.warmup.as_secs_f64(),
        duration_s: args.duration.as_secs_f64(),
        fair_share: cfg.fair_share.max_queued_per_chat,
        noisy_lane: lane_of(bot, &noisy_chat).to_owned(),
        noisy_chat,
        quiet: class_report(Class::Quiet, traffic.quiet, traffic.quiet_rate),
        noisy: (traffic.noisy_rate > 0.0).then(|| class_report(Class::Noisy, 1, traffic.noisy_rate)),
        ack_ms: Quantiles::from_micros(&sent.ack),
        send_lag_ms: Quantiles::from_micros(&sent.lag),
        collected_after_s,
        foreign_deliveries: counted.foreign,
        bench_cpu_s,
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{}", FairnessReport::table_header());
        println!("{}", report.table_rows());
        if let (Some(ack), Some(lag)) = (report.ack_ms, report.send_lag_ms) {
            println!("ack p99 {:.1} ms, send lag p99 {:.1} ms (due → acknowledged, due → sent)", ack.p99, lag.p99);
        }
        if report.quiet.missing + report.noisy.as_ref().map_or(0, |n| n.missing) > 0 {
            println!(
                "replies read {:.1} s after the window closed; missing ones count at their age then (≥)",
                report.collected_after_s
            );
        }
    }
    if let Some(lag) = report.send_lag_ms.filter(|l| l.p99 > 10.0) {
        eprintln!(
            "note: webhooks went out late (send lag p99 {:.1} ms): raise --connections, or the machine lacked CPU",
            lag.p99
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs every event of `table` before the clock starts.
fn sign(hooks: &Hooks, route: &Route, table: &Timetable, run: u64) -> anyhow::Result<Vec<Timed>> {
    let groups = table.arrivals.iter().map(|a| a.group).max().unwrap_or(0);
    let chats: Vec<String> = (0..=groups).map(|g| hooks.chat_id(u64::from(g))).collect();
    let senders: Vec<String> = (0..=groups).map(|g| hooks.sender_id(u64::from(g))).collect();
    let unix_secs = crate::unix_secs();
    table
        .arrivals
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let g = usize::try_from(a.group).unwrap_or(usize::MAX);
            let text = crate::replies::message_text(run, i as u64);
            let msg = Message {
                event: run.wrapping_add(i as u64),
                chat: &chats[g],
                sender: &senders[g],
                text: &text,
                unix_secs,
            };
            let hook = hooks.build(&msg)?;
            let request = route.request(hook.headers, hook.body).map_err(anyhow::Error::msg)?;
            Ok(Timed { due: a.due, class: Class::of(a.group), measured: a.measured, request })
        })
        .collect()
}

/// The lane the events of `chat` go to.
fn lane_of<'a>(bot: &'a BotConfig, chat: &str) -> &'a str {
    let group = bot.routing.groups.get(chat).and_then(|g| g.lane.as_deref());
    group.or(bot.routing.lane.as_deref()).unwrap_or(botq_core::keys::DEFAULT_LANE)
}

/// Settings of `bot` that would drop, delay or swallow events or replies of
/// `traffic`, so the figures would measure them instead of fairness.
#[must_use]
pub fn warnings(bot: &BotConfig, traffic: Traffic) -> Vec<String> {
    let busiest = traffic.noisy_rate.max(if traffic.quiet > 0 { traffic.quiet_rate } else { 0.0 });
    let total = traffic.noisy_rate + f64::from(traffic.quiet) * traffic.quiet_rate;
    let mut out = Vec::new();
    for (name, gcra) in [("group_per_sec", bot.rate_limit.group), ("sender_per_sec", bot.rate_limit.sender)] {
        if let Some(g) = gcra.filter(|g| g.per_sec < busiest) {
            out.push(format!(
                "ingest limit {name} = {} is below the busiest group's {busiest}/s: events over it are acknowledged \
                 and dropped, never replied to. Set rate_limit = {{ group_per_sec = 0.0, sender_per_sec = 0.0 }}.",
                g.per_sec
            ));
        }
    }
    out.extend(crate::replies::reply_warnings(bot, busiest, total));
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_bench_config_warns_about_reply_limits_and_guards_but_not_ingest_limits() {
        let cfg = crate::load_config(&Path::new(env!("CARGO_MANIFEST_DIR")).join("bench.example.toml")).unwrap();
        let bot = crate::find_bot(&cfg, "onebot-bench").unwrap();
        let w = warnings(bot, Traffic { quiet: 20, quiet_rate: 2.0, noisy_rate: 100.0 });
        assert!(w.iter().all(|w| !w.contains("ingest limit")), "{w:?}");
        assert!(w.iter().any(|w| w.contains("chat_per_sec")), "{w:?}");
        assert!(w.iter().any(|w| w.contains("chat_replies_per_min")), "{w:?}");
        assert_eq!(lane_of(bot, "700000000"), "default");
    }
}
