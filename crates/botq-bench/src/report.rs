//! What one rate step measured, as a table row or a JSON line.
//!
//! One row per target rate, printed as soon as the step ends so a long sweep
//! shows progress; `--json` prints one object per line instead, for scripts
//! that fill `BENCHMARKS.md`. Latency is in milliseconds from each request's
//! due time. Send lag (how late the generator itself sent) is shown beside
//! it: when lag approaches latency, the generator, not the server, was the
//! bottleneck. `cpu s` is the whole bench process's CPU over the measured
//! window, `sign s` the part of it the signing threads used (zero when the
//! step was signed beforehand), and `µs/req` the rest over the responses
//! received: the generator's cost per request.
//!
//! Two groups of columns appear only when the run asks for them
//! ([`Columns`]): deliberate duplicates (`--duplicate-every`: how many the
//! window offered and how many ingest acknowledged) and the replies read back
//! from botq-fakeplatform (`--fake-url`, [`replies::ReplyReport`]). A sweep
//! without them prints the table it always printed.

pub mod replies;
pub mod window;

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use self::replies::ReplyReport;

/// How the scheduled requests of the measured window ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    pub client_error: u64,
    pub unavailable: u64,
    /// Any other status: 1xx, 3xx, 5xx but 503.
    pub other: u64,
    /// Connection refused or reset, malformed response.
    pub transport_error: u64,
    /// Not answered before the drain timeout, or never sent.
    pub timeout: u64,
}

impl Counts {
    /// Files one HTTP status under its class.
    pub fn add_status(&mut self, status: u16) {
        match status {
            200..=299 => self.ok += 1,
            400..=499 => self.client_error += 1,
            503 => self.unavailable += 1,
            _ => self.other += 1,
        }
    }

    /// Requests that got an HTTP answer of any status.
    #[must_use]
    pub fn responses(&self) -> u64 {
        self.ok + self.client_error + self.unavailable + self.other
    }
}

/// Empty histogram of microseconds, 1 µs to 1 h, 3 significant digits: what
/// every latency is recorded in before [`Percentiles`] or [`Quantiles`] read it.
#[must_use]
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds are valid")
}

/// A latency distribution in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// Reads a histogram of microseconds; `None` when it is empty.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn from_micros(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Some(Self { p50: ms(0.5), p90: ms(0.9), p99: ms(0.99), p999: ms(0.999), max: h.max() as f64 / 1000.0 })
    }

    fn to_json(self) -> Value {
        json!({ "p50": self.p50, "p90": self.p90, "p99": self.p99, "p99.9": self.p999, "max": self.max })
    }
}

/// A reply latency distribution in milliseconds, rounded to 10 µs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Quantiles {
    /// From a histogram of microseconds; `None` when it is empty.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn from_micros(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |q: f64| round2(h.value_at_quantile(q) as f64 / 1000.0);
        Some(Self { p50: ms(0.5), p95: ms(0.95), p99: ms(0.99), max: round2(h.max() as f64 / 1000.0) })
    }

    #[must_use]
    pub fn to_json(self) -> Value {
        json!({ "p50": self.p50, "p95": self.p95, "p99": self.p99, "max": self.max })
    }
}

/// Deliberate duplicates among the measured window's requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DuplicateCounts {
    /// Scheduled in the window.
    pub offered: u64,
    /// Of those, acknowledged 2xx (as they must be: a redelivery is accepted, not stored).
    pub acked: u64,
}

/// Which optional column groups a table has; the same for every row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Columns {
    pub duplicates: bool,
    pub replies: bool,
}

/// The result of one rate step.
#[derive(Debug, Clone, PartialEq)]
pub struct RateReport {
    pub target_rate: f64,
    pub duration_s: f64,
    /// Requests scheduled in the measured window.
    pub requests: u64,
    /// HTTP responses per second over the measured window (drain included).
    pub achieved_rate: f64,
    pub counts: Counts,
    pub latency_ms: Option<Percentiles>,
    pub send_lag_ms: Option<Percentiles>,
    /// Process CPU over the measured window; `None` without `/proc`.
    pub cpu_s: Option<f64>,
    /// CPU of the signing threads inside the measured window (0 when pregenerated).
    pub signing_cpu_s: f64,
    /// `pregenerated` or `streamed`.
    pub signing: &'static str,
    pub duplicates: DuplicateCounts,
    /// Read back from botq-fakeplatform (`--fake-url`).
    pub replies: Option<ReplyReport>,
}

impl RateReport {
    /// Sender CPU per response, in microseconds.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn cpu_us_per_request(&self) -> Option<f64> {
        let responses = self.counts.responses();
        let cpu = self.cpu_s?;
        (responses > 0).then(|| (cpu - self.signing_cpu_s).max(0.0) * 1e6 / responses as f64)
    }

    /// One JSON object, printed on one line by `--json`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let c = &self.counts;
        json!({
            "target_rate": self.target_rate,
            "duration_s": self.duration_s,
            "requests": self.requests,
            "achieved_rate": round2(self.achieved_rate),
            "status": {
                "2xx": c.ok, "4xx": c.client_error, "503": c.unavailable, "other": c.other,
                "transport_errors": c.transport_error, "timeouts": c.timeout,
            },
            "latency_ms": self.latency_ms.map(Percentiles::to_json),
            "send_lag_ms": self.send_lag_ms.map(Percentiles::to_json),
            "cpu_s": self.cpu_s.map(round2),
            "signing_cpu_s": round2(self.signing_cpu_s),
            "cpu_us_per_request": self.cpu_us_per_request().map(round2),
            "signing": self.signing,
            "duplicates": { "offered": self.duplicates.offered, "acked_2xx": self.duplicates.acked },
            "replies": self.replies.as_ref().map(ReplyReport::to_json),
        })
    }

    /// The column titles of [`RateReport::table_row`].
    #[must_use]
    pub fn table_header(columns: Columns) -> String {
        let mut header = format!(
            "{:>9} {:>10} {:>9} {:>7} {:>7} {:>6} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7}",
            "target/s",
            "achieved/s",
            "2xx",
            "4xx",
            "503",
            "other",
            "errors",
            "timeouts",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "lag p99",
            "cpu s",
            "sign s",
            "µs/req",
        );
        if columns.duplicates {
            let _ = write!(header, " {:>7} {:>7}", "dups", "dup 2xx");
        }
        if columns.replies {
            header.push_str(&ReplyReport::table_header());
        }
        header
    }

    /// One line of the human table.
    #[must_use]
    pub fn table_row(&self, columns: Columns) -> String {
        let c = &self.counts;
        let mut row = format!(
            "{:>9} {:>10.1} {:>9} {:>7} {:>7} {:>6} {:>7} {:>8}",
            trim_rate(self.target_rate),
            self.achieved_rate,
            c.ok,
            c.client_error,
            c.unavailable,
            c.other,
            c.transport_error,
            c.timeout,
        );
        match self.latency_ms {
            Some(l) => {
                let _ = write!(row, " {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}", l.p50, l.p90, l.p99, l.p999, l.max);
            }
            None => row.push_str(&format!(" {:>8}", "-").repeat(5)),
        }
        let _ = write!(row, " {:>8}", self.send_lag_ms.map_or("-".into(), |l| format!("{:.2}", l.p99)));
        let _ = write!(row, " {:>7}", self.cpu_s.map_or("-".into(), |s| format!("{s:.2}")));
        let _ = write!(row, " {:>7.2}", self.signing_cpu_s);
        let _ = write!(row, " {:>7}", self.cpu_us_per_request().map_or("-".into(), |u| format!("{u:.1}")));
        if columns.duplicates {
            let _ = write!(row, " {:>7} {:>7}", self.duplicates.offered, self.duplicates.acked);
        }
        if columns.replies {
            row.push_str(&self.replies.as_ref().map_or_else(ReplyReport::table_dashes, ReplyReport::table_cells));
        }
        row
    }
}

/// `20000` for whole rates, `2.5` otherwise.
pub(crate) fn trim_rate(rate: f64) -> String {
    if rate.fract() == 0.0 { format!("{rate:.0}") } else { format!("{rate}") }
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
pub(crate) mod tests;
