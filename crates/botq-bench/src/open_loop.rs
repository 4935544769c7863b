//! The timed phase of one rate step: send each request at its due time.
//!
//! A pool of `--connections` sender tasks shares one dispenser that hands out
//! the next request index with a signed request. A task sleeps until that
//! request is due, sends it on its own keep-alive connection ([`crate::conn`]),
//! reads the answer, and asks for the next one, so up to `connections`
//! requests are in flight at once. When all of them are busy the next request goes
//! out late, and because latency is measured from the due time, not the send
//! time, that wait is counted: the server's stall is charged to every request
//! it delayed, as in wrk2. The lag between due and send is recorded too, so
//! a pool that is too small (or a generator that cannot keep up) is visible
//! as such. Tokio's timer has 1 ms resolution, so even on an idle machine
//! lag is about 1 ms at p50 and 2 ms at p99; it is part of the measured
//! latency, and the price of not spinning a core on a 2-core machine.
//!
//! Nothing waits forever: the phase ends by itself at the last due time plus
//! the drain timeout. Requests still unanswered then, or never sent, count as
//! timeouts.
//!
//! For the reply readback the step also remembers which events (not
//! requests: a deliberate duplicate re-sends an event) ingest acknowledged,
//! and when request 0 was due on the wall clock, the clock the fake platform
//! stamps replies with. With `--report-every` a task prints one line per
//! window to stderr while the step runs, for long soaks.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout_at};

use crate::conn::Conn;
use crate::cpu;
use crate::duplicates::Duplicates;
use crate::generate::{Generator, Prepared};
use crate::report::window::Window;
use crate::report::{DuplicateCounts, Percentiles, RateReport, histogram};
use crate::schedule::Schedule;

/// Where and how to send. The requests themselves carry `Host` and path.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub addr: SocketAddr,
    /// The local address to connect from; `None`: the system's choice.
    pub source: Option<std::net::IpAddr>,
    pub connections: usize,
    pub drain: Duration,
}

/// What one step offers, and what it keeps track of.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub schedule: Schedule,
    pub duplicates: Duplicates,
    /// Remember which events were acknowledged (for the reply readback).
    pub track_acks: bool,
    /// Print a line per window of this length to stderr.
    pub report_every: Option<Duration>,
}

impl Load {
    /// `schedule` alone: no duplicates, nothing tracked, no window lines.
    #[must_use]
    pub fn new(schedule: Schedule) -> Self {
        Self { schedule, duplicates: Duplicates::NONE, track_acks: false, report_every: None }
    }
}

/// What one step observed.
#[derive(Debug)]
pub struct Outcome {
    pub report: RateReport,
    /// When request 0 was due, Unix microseconds.
    pub start_unix_us: i64,
    /// Per event: acknowledged 2xx by any of its requests (empty unless tracked).
    pub acked: Vec<bool>,
}

/// Hands out request indices in order, each with the next signed request.
struct Dispenser {
    rx: mpsc::Receiver<Vec<Prepared>>,
    buf: std::vec::IntoIter<Prepared>,
    next: u64,
    total: u64,
}

impl Dispenser {
    async fn take(&mut self) -> Option<(u64, Prepared)> {
        if self.next >= self.total {
            return None;
        }
        let req = match self.buf.next() {
            Some(r) => r,
            None => {
                self.buf = self.rx.recv().await?.into_iter();
                self.buf.next()?
            }
        };
        let i = self.next;
        self.next += 1;
        Some((i, req))
    }
}

/// What the sender tasks observed.
struct Tally {
    /// The measured window's requests: statuses, due → response read.
    measured: Window,
    /// Due → sent, microseconds, measured requests.
    lag: Histogram<u64>,
    last_done: Option<Instant>,
    /// Measured duplicates answered 2xx.
    duplicates_ok: u64,
    /// Every request since the last window line, warm-up included.
    window: Window,
}

struct Step {
    target: Target,
    schedule: Schedule,
    duplicates: Duplicates,
    start: Instant,
    hard_end: Instant,
    dispenser: tokio::sync::Mutex<Dispenser>,
    tally: Mutex<Tally>,
    acked: Vec<AtomicBool>,
}

/// Runs one step: `load` against `target`, with requests from `feed`.
///
/// # Panics
/// Only on a poisoned tally lock, i.e. after a sender task panicked.
pub async fn run(target: &Target, load: Load, feed: mpsc::Receiver<Vec<Prepared>>, generator: &Generator) -> Outcome {
    let schedule = load.schedule;
    let start = Instant::now() + Duration::from_millis(5);
    let start_unix_us = crate::unix_micros() + 5_000;
    let hard_end = start + schedule.last_due() + target.drain;
    let events = if load.track_acks { load.duplicates.events(schedule.total()) } else { 0 };
    let step = Arc::new(Step {
        target: *target,
        schedule,
        duplicates: load.duplicates,
        start,
        hard_end,
        dispenser: tokio::sync::Mutex::new(Dispenser {
            rx: feed,
            buf: Vec::new().into_iter(),
            next: 0,
            total: schedule.total(),
        }),
        tally: Mutex::new(Tally {
            measured: Window::new(),
            lag: histogram(),
            last_done: None,
            duplicates_ok: 0,
            window: Window::new(),
        }),
        acked: (0..events).map(|_| AtomicBool::new(false)).collect(),
    });

    let measure_from = start + schedule.measured_start();
    let senders: Vec<_> = (0..target.connections.max(1)).map(|_| tokio::spawn(sender(step.clone()))).collect();
    let windows = load.report_every.map(|every| (tokio::spawn(report_windows(step.clone(), every)), every));
    sleep_until(measure_from).await;
    let cpu_before = (cpu::process(), generator.cpu());
    for s in senders {
        drop(s.await);
    }
    let cpu_after = (cpu::process(), generator.cpu());
    if let Some((task, every)) = windows {
        task.abort();
        flush_window(&step, every);
    }

    let tally = step.tally.lock().expect("a sender task panicked");
    let mut counts = tally.measured.counts;
    counts.timeout = schedule.measured().saturating_sub(counts.responses() + counts.transport_error);
    let span = schedule.measured_span();
    let elapsed = tally.last_done.map_or(span, |t| t.saturating_duration_since(measure_from).max(span));
    #[allow(clippy::cast_precision_loss)]
    let achieved_rate = counts.responses() as f64 / elapsed.as_secs_f64();
    let cpu_s = cpu_after.0.zip(cpu_before.0).map(|(after, before)| after.saturating_sub(before).as_secs_f64());
    let duplicates = DuplicateCounts {
        offered: load.duplicates.duplicates(schedule.total() - schedule.measured()..schedule.total()),
        acked: tally.duplicates_ok,
    };
    let report = RateReport {
        target_rate: schedule.rate(),
        duration_s: span.as_secs_f64(),
        requests: schedule.measured(),
        achieved_rate,
        counts,
        latency_ms: Percentiles::from_micros(&tally.measured.latency),
        send_lag_ms: Percentiles::from_micros(&tally.lag),
        cpu_s,
        signing_cpu_s: cpu_after.1.saturating_sub(cpu_before.1).as_secs_f64(),
        signing: generator.mode.as_str(),
        duplicates,
        replies: None,
    };
    let acked = step.acked.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    Outcome { report, start_unix_us, acked }
}

/// One connection's worth of sending, until the schedule or the time runs out.
async fn sender(step: Arc<Step>) {
    let mut conn = Conn::new(step.target.addr).from_source(step.target.source);
    loop {
        let next = timeout_at(step.hard_end, async { step.dispenser.lock().await.take().await }).await;
        let Ok(Some((i, req))) = next else { return };
        let due = step.start + step.schedule.due(i);
        sleep_until(due).await;
        let sent = Instant::now();
        let Ok(result) = timeout_at(step.hard_end, conn.roundtrip(req.request)).await else { return };
        let done = Instant::now();
        let latency = micros(done.saturating_duration_since(due));
        let status = result.ok();
        let ok = matches!(status, Some(200..=299));
        let (event, duplicate) = step.duplicates.event(i);
        if ok && let Some(a) = usize::try_from(event).ok().and_then(|e| step.acked.get(e)) {
            a.store(true, Ordering::Relaxed);
        }
        let Ok(mut t) = step.tally.lock() else { return };
        t.window.record(status, latency);
        if !step.schedule.is_measured(i) {
            continue;
        }
        t.measured.record(status, latency);
        t.lag.saturating_record(micros(sent.saturating_duration_since(due)));
        if status.is_some() {
            t.last_done = Some(t.last_done.map_or(done, |l| l.max(done)));
        }
        t.duplicates_ok += u64::from(duplicate && ok);
    }
}

/// The line of the last, shorter window, when it saw any answer.
fn flush_window(step: &Step, every: Duration) {
    let Ok(mut t) = step.tally.lock() else { return };
    if t.window.counts.responses() + t.window.counts.transport_error == 0 {
        return;
    }
    let elapsed = Instant::now().saturating_duration_since(step.start);
    let full = every.mul_f64((elapsed.as_secs_f64() / every.as_secs_f64()).floor());
    eprintln!("{}", std::mem::take(&mut t.window).line(elapsed, elapsed.saturating_sub(full)));
}

/// One stderr line per `every` until aborted: rate, statuses and ack latency
/// of the requests answered in that window.
async fn report_windows(step: Arc<Step>, every: Duration) {
    let mut end = step.start + every;
    loop {
        sleep_until(end).await;
        let window = match step.tally.lock() {
            Ok(mut t) => std::mem::take(&mut t.window),
            Err(_) => return,
        };
        eprintln!("{}", window.line(end.saturating_duration_since(step.start), every));
        end += every;
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}
