//! One line per `--report-every` window while a step runs.
//!
//! A soak's final row averages an hour; a slow leak or a stall in minute 40
//! hides in it. The window line shows each stretch on its own: requests
//! answered per second, how many were not 2xx, and ack latency (due →
//! answer) at p50, p99 and max. It goes to stderr, so the table or the
//! JSON lines on stdout stay parseable.

use hdrhistogram::Histogram;

use super::{Counts, Percentiles};

/// How a set of requests ended: those of one window (warm-up included), and
/// in the open-loop run (`open_loop`) also those of the measured window.
#[derive(Debug, Clone)]
pub struct Window {
    pub counts: Counts,
    /// Due → answer, microseconds.
    pub latency: Histogram<u64>,
}

impl Window {
    #[must_use]
    pub fn new() -> Self {
        Self { counts: Counts::default(), latency: super::histogram() }
    }

    /// One request's end: its status, or `None` for a transport error.
    pub fn record(&mut self, status: Option<u16>, latency_us: u64) {
        match status {
            Some(s) => {
                self.counts.add_status(s);
                self.latency.saturating_record(latency_us);
            }
            None => self.counts.transport_error += 1,
        }
    }

    /// The line for the window that ended `at` after the step's start and lasted `length`.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn line(&self, at: std::time::Duration, length: std::time::Duration) -> String {
        let c = &self.counts;
        let rate = c.responses() as f64 / length.as_secs_f64().max(1e-9);
        let head = format!(
            "[{:>7.1} s] answered {rate:>9.1}/s  2xx {:>8}  non-2xx {:>6}  errors {:>5}",
            at.as_secs_f64(),
            c.ok,
            c.responses() - c.ok,
            c.transport_error,
        );
        match Percentiles::from_micros(&self.latency) {
            Some(p) => format!("{head}  ack p50 {:.2} p99 {:.2} max {:.2} ms", p.p50, p.p99, p.max),
            None => format!("{head}  ack -"),
        }
    }
}

impl Default for Window {
    fn default() -> Self {
        Self::new()
    }
}
