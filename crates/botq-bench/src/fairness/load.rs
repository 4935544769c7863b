//! The timed phase: every signed webhook goes out at its due time.
//!
//! The same open-loop scheme as `botq-bench ingest` ([`crate::open_loop`]):
//! a pool of sender tasks, each with one keep-alive connection
//! ([`crate::conn::Conn`]), takes the next request in due order, sleeps
//! until it is due and sends it. Nothing waits for a reply before sending
//! the next event, so the offered rates hold whatever the system does, and
//! how late a request went out (send lag) is recorded to show when the pool
//! or the machine, not botq, held it back. Here the acknowledgement is only
//! a side figure (the reply latency is measured at the fake platform), but a
//! refused webhook explains a missing reply, so statuses are counted per class.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::timetable::Class;
use crate::conn::{Body, Conn};
use crate::report::histogram;

/// One signed webhook and when it is due.
#[derive(Debug)]
pub struct Timed {
    pub due: Duration,
    pub class: Class,
    pub measured: bool,
    pub request: http::Request<Body>,
}

/// How the measured webhooks of one class were answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Acks {
    /// 2xx: stored (or deliberately dropped by a limit: see the limit warnings).
    pub ok: u64,
    /// Any other HTTP status.
    pub refused: u64,
    /// No answer: connection errors, timeouts, never sent.
    pub failed: u64,
}

/// What the senders saw.
#[derive(Debug, Clone)]
pub struct Sent {
    pub quiet: Acks,
    pub noisy: Acks,
    /// Due → acknowledgement read, microseconds, measured webhooks.
    pub ack: Histogram<u64>,
    /// Due → sent, microseconds, measured webhooks.
    pub lag: Histogram<u64>,
}

impl Sent {
    #[must_use]
    pub fn acks(&self, class: Class) -> Acks {
        match class {
            Class::Quiet => self.quiet,
            Class::Noisy => self.noisy,
        }
    }

    fn acks_mut(&mut self, class: Class) -> &mut Acks {
        match class {
            Class::Quiet => &mut self.quiet,
            Class::Noisy => &mut self.noisy,
        }
    }
}

struct Shared {
    queue: Mutex<std::vec::IntoIter<Timed>>,
    start: Instant,
    hard_end: Instant,
    sent: Mutex<Sent>,
}

/// Sends `requests` (in due order) to `addr` over `connections` connections,
/// from `start`; gives up on answers `answer_timeout` after the last due time.
///
/// # Panics
/// Only on a poisoned lock, i.e. after a sender task panicked.
pub async fn run(
    addr: SocketAddr,
    connections: usize,
    start: Instant,
    requests: Vec<Timed>,
    answer_timeout: Duration,
) -> Sent {
    let measured: Vec<Class> = requests.iter().filter(|r| r.measured).map(|r| r.class).collect();
    let last_due = requests.last().map_or(Duration::ZERO, |r| r.due);
    let shared = Arc::new(Shared {
        queue: Mutex::new(requests.into_iter()),
        start,
        hard_end: start + last_due + answer_timeout,
        sent: Mutex::new(Sent { quiet: Acks::default(), noisy: Acks::default(), ack: histogram(), lag: histogram() }),
    });
    let tasks: Vec<_> = (0..connections.max(1)).map(|_| tokio::spawn(sender(addr, shared.clone()))).collect();
    for t in tasks {
        drop(t.await);
    }
    let mut sent = shared.sent.lock().expect("a sender task panicked").clone();
    // Whatever got no answer of any kind failed: refused connections, timeouts, never sent.
    for class in [Class::Quiet, Class::Noisy] {
        let total = measured.iter().filter(|&&c| c == class).count() as u64;
        let a = sent.acks_mut(class);
        a.failed = total.saturating_sub(a.ok + a.refused);
    }
    sent
}

async fn sender(addr: SocketAddr, shared: Arc<Shared>) {
    let mut conn = Conn::new(addr);
    loop {
        let next = shared.queue.lock().ok().and_then(|mut q| q.next());
        let Some(timed) = next else { return };
        let due = shared.start + timed.due;
        sleep_until(due).await;
        let sent_at = Instant::now();
        let Ok(result) = timeout_at(shared.hard_end, conn.roundtrip(timed.request)).await else { return };
        let done = Instant::now();
        if !timed.measured {
            continue;
        }
        let Ok(mut s) = shared.sent.lock() else { return };
        s.lag.saturating_record(micros(sent_at.saturating_duration_since(due)));
        if let Ok(status) = result {
            s.ack.saturating_record(micros(done.saturating_duration_since(due)));
            let a = s.acks_mut(timed.class);
            if (200..300).contains(&status) {
                a.ok += 1;
            } else {
                a.refused += 1;
            }
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}
