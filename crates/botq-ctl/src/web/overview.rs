//! The overview: is botq healthy right now? The two SLOs, the last hour as
//! charts, every queue's gauges by lane, and who is running.
//!
//! The SLOs, over the chosen span, from the history's latency buckets:
//! - **ack**: at least 99 % of webhooks answered within 100 ms;
//! - **reply**: the 95th percentile of ingest-to-reply latency within 3 s.
//!
//! Green means met, red missed, grey no traffic in the span.

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use botq_core::fleet::{self, Liveness, Role};
use botq_core::history::{self, Point};
use maud::{Markup, html};

use super::access::Session;
use super::chart::{self, Series};
use super::error::WebError;
use super::layout::{self, Nav, badge, count};
use super::query::Fields;
use super::{Shared, queues};

/// The ack SLO: this share of acks within [`ACK_BOUND_MS`].
pub const ACK_SHARE: f64 = 0.99;
pub const ACK_BOUND_MS: u64 = 100;
/// The reply SLO: the 95th percentile within [`REPLY_BOUND_MS`].
pub const REPLY_BOUND_MS: u64 = 3000;

/// The spans a chart may cover.
const SPANS: [(&str, Duration); 3] =
    [("1h", Duration::from_secs(3600)), ("6h", Duration::from_secs(6 * 3600)), ("24h", Duration::from_secs(86_400))];

/// What an SLO looks like over the span.
#[derive(Debug, Clone, PartialEq)]
pub enum Slo {
    Met(String),
    Missed(String),
    NoTraffic,
}

/// The ack SLO over `points`.
#[must_use]
pub fn ack_slo(points: &[Point]) -> Slo {
    let buckets = sum(points, |p| &p.ack);
    let n: u64 = buckets.iter().sum();
    match history::share_within(&buckets, ACK_BOUND_MS) {
        None => Slo::NoTraffic,
        Some(share) => {
            let text = format!("{:.2} % of {} acks within {ACK_BOUND_MS} ms", share * 100.0, count(n));
            if share >= ACK_SHARE { Slo::Met(text) } else { Slo::Missed(text) }
        }
    }
}

/// The reply SLO over `points`.
#[must_use]
pub fn reply_slo(points: &[Point]) -> Slo {
    let buckets = sum(points, |p| &p.reply);
    let n: u64 = buckets.iter().sum();
    match history::share_within(&buckets, REPLY_BOUND_MS) {
        None => Slo::NoTraffic,
        Some(share) => {
            let p95 = history::quantile(&buckets, 0.95).map_or_else(String::new, |d| p95_text(&buckets, d));
            let text = format!("p95 {p95} over {} replies", count(n));
            if share >= 0.95 { Slo::Met(text) } else { Slo::Missed(text) }
        }
    }
}

fn p95_text(buckets: &[u64], d: Duration) -> String {
    let slowest = history::BUCKETS_MS[history::BUCKETS_MS.len() - 1];
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    // The quantile is a bucket's upper bound; in the overflow bucket it is "more than the last".
    let overflow = buckets.last().copied().unwrap_or(0) > 0
        && ms == slowest
        && history::share_within(buckets, slowest) < Some(0.95);
    #[allow(clippy::cast_precision_loss)] // bucket bounds are a few thousand ms
    let when = if ms >= 1000 { format!("{} s", chart::number(ms as f64 / 1000.0)) } else { format!("{ms} ms") };
    if overflow { format!("> {when}") } else { format!("≤ {when}") }
}

fn sum<'a>(points: &'a [Point], pick: impl Fn(&'a Point) -> &'a Vec<u64>) -> Vec<u64> {
    let mut total = vec![0; history::BUCKETS];
    for p in points {
        for (t, n) in total.iter_mut().zip(pick(p)) {
            *t += n;
        }
    }
    total
}

/// The charts' series: per-second rates and the per-step reply p95.
fn series(points: &[Point]) -> [Series; 3] {
    let secs = history::STEP.as_secs_f64();
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let rate = |n: u64| Some(n as f64 / secs);
    [
        Series {
            title: "Ingested",
            unit: "/s",
            values: points.iter().map(|p| rate(p.ingested)).collect(),
            class: "ingest",
            limit: None,
        },
        Series {
            title: "Replies",
            unit: "/s",
            values: points.iter().map(|p| rate(p.replies)).collect(),
            class: "reply",
            limit: None,
        },
        Series {
            title: "Reply latency p95",
            unit: "ms",
            #[allow(clippy::cast_precision_loss)]
            values: points.iter().map(|p| history::quantile(&p.reply, 0.95).map(|d| d.as_millis() as f64)).collect(),
            class: "latency",
            #[allow(clippy::cast_precision_loss)]
            limit: Some((REPLY_BOUND_MS as f64, "SLO 3 s")),
        },
    ]
}

fn slo_card(label: &str, slo: &Slo) -> Markup {
    let (class, word, text) = match slo {
        Slo::Met(t) => ("ok", "met", t.as_str()),
        Slo::Missed(t) => ("bad", "missed", t.as_str()),
        Slo::NoTraffic => ("neutral", "no traffic", "nothing to measure in this span"),
    };
    html! {
        div class={ "card " (class) } {
            div.label { (label) }
            div.value { (badge(class, word)) }
            div.hint { (text) }
        }
    }
}

/// `GET /?span=1h|6h|24h`.
pub async fn page(
    State(c): State<Shared>,
    Extension(s): Extension<Session>,
    fields: Fields,
) -> Result<Markup, WebError> {
    let span_name = fields.get("span").unwrap_or("1h");
    let span = SPANS
        .iter()
        .find(|(n, _)| *n == span_name)
        .map(|(_, d)| *d)
        .ok_or_else(|| WebError::BadRequest(format!("span: {span_name:?} is not one of 1h, 6h, 24h")))?;
    let mut conn = c.redis.clone();
    let now = botq_core::now_ms();
    let points = history::read(&mut conn, &c.keys, now, span).await?;
    let rows = queues::read(&mut conn, &c.keys).await?;
    let replicas = fleet::list(&mut conn, &c.keys, now).await?;
    let alive =
        |role: Role| replicas.iter().filter(|r| r.replica.role == role && r.liveness == Liveness::Alive).count();
    let gone = replicas.iter().filter(|r| r.liveness == Liveness::Gone).count();
    let dead_total: u64 = rows.iter().map(|r| r.dlq).sum();
    let span_label = match span_name {
        "1h" => "60 min",
        "6h" => "6 h",
        _ => "24 h",
    };
    let body = html! {
        div data-refresh="10" {
            div.actions {
                span.muted { "Span:" }
                @for (name, _) in SPANS {
                    @if name == span_name { span.badge.neutral { (name) } }
                    @else { a href=(format!("/?span={name}")) { (name) } }
                }
                label.refresh hidden { input #auto-refresh type="checkbox" hidden; "auto-refresh every 10 s" }
            }
            div.cards {
                (slo_card("Ack within 100 ms (99 %)", &ack_slo(&points)))
                (slo_card("Reply p95 within 3 s", &reply_slo(&points)))
                div class={ "card " (if dead_total > 0 { "warn" } else { "ok" }) } {
                    div.label { "Dead letters" }
                    div.value { a href="/dead-letters" { (count(dead_total)) } }
                    div.hint { "events that failed for good, waiting for replay or purge" }
                }
                div class={ "card " (if gone > 0 || alive(Role::Worker) == 0 { "warn" } else { "ok" }) } {
                    div.label { "Replicas alive" }
                    div.value { a href="/fleet" { (alive(Role::Ingest)) " ingest · " (alive(Role::Worker)) " worker" } }
                    div.hint { @if gone > 0 { (gone) " gone without a goodbye" } @else { "none gone" } }
                }
            }
            h2 { "Last " (span_label) }
            div.charts { @for s in series(&points) { (chart::render(&s, span_label)) } }
            h2 { "Queues" }
            (queues::table(&c.keys, &rows))
        }
    };
    Ok(layout::page(&c, &s, Nav::Overview, "Overview", &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(ack: &[(usize, u64)], reply: &[(usize, u64)]) -> Point {
        let mut p = Point { ack: vec![0; history::BUCKETS], reply: vec![0; history::BUCKETS], ..Point::default() };
        for &(i, n) in ack {
            p.ack[i] = n;
        }
        for &(i, n) in reply {
            p.reply[i] = n;
        }
        p
    }

    fn idx(bound: u64) -> usize {
        history::BUCKETS_MS.iter().position(|&b| b == bound).unwrap()
    }

    #[test]
    fn the_ack_slo_needs_ninety_nine_percent_within_100_ms() {
        assert_eq!(ack_slo(&[]), Slo::NoTraffic);
        let ok = [point(&[(idx(5), 990)], &[]), point(&[(idx(250), 10)], &[])];
        assert!(matches!(ack_slo(&ok), Slo::Met(t) if t.contains("99.00 %")));
        let bad = [point(&[(idx(5), 980), (idx(250), 20)], &[])];
        assert!(matches!(ack_slo(&bad), Slo::Missed(_)));
    }

    #[test]
    fn the_reply_slo_is_a_p95_within_3_s() {
        let ok = [point(&[], &[(idx(1000), 96), (idx(10000), 4)])];
        assert!(matches!(reply_slo(&ok), Slo::Met(t) if t.contains("p95 ≤ 1 s")), "{:?}", reply_slo(&ok));
        let bad = [point(&[], &[(idx(1000), 90), (idx(5000), 10)])];
        assert!(matches!(reply_slo(&bad), Slo::Missed(t) if t.contains("p95 ≤ 5 s")), "{:?}", reply_slo(&bad));
        let slowest = [point(&[], &[(history::BUCKETS - 1, 10)])];
        assert!(matches!(reply_slo(&slowest), Slo::Missed(t) if t.contains("p95 > 10 s")), "{:?}", reply_slo(&slowest));
    }
}
