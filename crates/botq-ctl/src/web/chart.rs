//! Small server-rendered SVG charts: one series over time, drawn as a line
//! with a shaded area, a gap where there is no data, the scale's top and the
//! span labelled. No script and no inline style, so the CSP stays strict;
//! colours come from the stylesheet through classes.

use std::fmt::Write;

use maud::{Markup, PreEscaped, html};

const W: f64 = 420.0;
const H: f64 = 110.0;
/// Room at the top for the scale label.
const TOP: f64 = 14.0;

/// A series of values, one per equal step, oldest first; `None` is a step
/// with no data (a gap, not a zero).
#[derive(Debug, Clone)]
pub struct Series {
    pub title: &'static str,
    /// How a value reads: `12.5/s`, `830 ms`.
    pub unit: &'static str,
    pub values: Vec<Option<f64>>,
    /// CSS class of the line: `ingest`, `reply`, `latency`.
    pub class: &'static str,
    /// A threshold to draw as a dashed line (an SLO), with its label.
    pub limit: Option<(f64, &'static str)>,
}

/// The smallest 1-2-5 step number at or above `v` (the scale's top).
#[must_use]
pub fn nice_ceiling(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|&c| c >= v).unwrap_or(10.0 * magnitude)
}

/// Formats a value for a label: no decimals from 100, one below 100, two below 1.
#[must_use]
pub fn number(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 || v == 0.0 {
        format!("{v:.1}").trim_end_matches(".0").to_owned()
    } else {
        format!("{v:.2}")
    }
}

/// The chart of `s` spanning `span_label` (e.g. `60 min`).
pub fn render(s: &Series, span_label: &str) -> Markup {
    // The scale follows the data; a limit above it is not drawn (the SLO
    // card says whether it is met), so small values stay readable.
    let peak = s.values.iter().flatten().copied().fold(0.0, f64::max);
    let top = nice_ceiling(peak);
    let limit = s.limit.filter(|(l, _)| *l <= top);
    let last = s.values.iter().rev().flatten().next().copied();
    let n = s.values.len().max(2);
    #[allow(clippy::cast_precision_loss)] // a few thousand points at most
    let x = |i: usize| i as f64 * W / (n - 1) as f64;
    let y = |v: f64| H - (v / top).clamp(0.0, 1.0) * (H - TOP);
    // One path per run of consecutive points; a point alone is a dot.
    let (mut line, mut area, mut dots) = (String::new(), String::new(), Vec::new());
    let mut run: Vec<(f64, f64)> = Vec::new();
    let mut flush = |run: &mut Vec<(f64, f64)>| {
        if let [only] = run.as_slice() {
            dots.push(*only);
        } else if let (Some(first), Some(end)) = (run.first(), run.last()) {
            let pts: String = run.iter().map(|(px, py)| format!("{px:.1},{py:.1} ")).collect();
            let _ = write!(line, "M{}", pts.trim_end().replace(' ', " L"));
            let _ = write!(area, "M{:.1},{H} L{} L{:.1},{H} Z ", first.0, pts.trim_end().replace(' ', " L"), end.0);
        }
        run.clear();
    };
    for (i, v) in s.values.iter().enumerate() {
        match v {
            Some(v) => run.push((x(i), y(*v))),
            None => flush(&mut run),
        }
    }
    flush(&mut run);
    let summary = match last {
        Some(v) => format!("{}: {} {} now, scale to {} {}", s.title, number(v), s.unit, number(top), s.unit),
        None => format!("{}: no data in the last {span_label}", s.title),
    };
    html! {
        figure.chart {
            figcaption {
                span.title { (s.title) }
                span.now { @if let Some(v) = last { (number(v)) " " (s.unit) } @else { "no data" } }
            }
            svg viewBox=(format!("0 0 {W} {}", H + 16.0)) role="img" aria-label=(summary) class=(s.class) {
                title { (summary) }
                line.grid x1="0" y1=(TOP) x2=(W) y2=(TOP) {}
                line.grid x1="0" y1=(H) x2=(W) y2=(H) {}
                @if let Some((limit, label)) = limit {
                    line.limit x1="0" y1=(format!("{:.1}", y(limit))) x2=(W) y2=(format!("{:.1}", y(limit))) {}
                    text.limit-label x=(W - 4.0) y=(format!("{:.1}", y(limit) - 3.0)) text-anchor="end" { (label) }
                }
                path.area d=(PreEscaped(area.trim_end())) {}
                path.line d=(PreEscaped(line)) {}
                @for (cx, cy) in &dots { circle.dot cx=(format!("{cx:.1}")) cy=(format!("{cy:.1}")) r="3" {} }
                text.axis x="2" y="10" { (number(top)) " " (s.unit) }
                text.axis x="2" y=(H + 13.0) { "−" (span_label) }
                text.axis x=(W - 2.0) y=(H + 13.0) text-anchor="end" { "now" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_ends_on_a_round_number() {
        assert!((nice_ceiling(0.0) - 1.0).abs() < f64::EPSILON);
        assert!((nice_ceiling(3.2) - 5.0).abs() < f64::EPSILON);
        assert!((nice_ceiling(120.0) - 200.0).abs() < f64::EPSILON);
        assert!((nice_ceiling(1000.0) - 1000.0).abs() < f64::EPSILON);
        assert!((nice_ceiling(0.03) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn a_gap_in_the_data_breaks_the_line() {
        let s = Series {
            title: "Replies",
            unit: "/s",
            values: vec![Some(1.0), Some(2.0), None, Some(4.0), Some(3.0)],
            class: "reply",
            limit: None,
        };
        let svg = render(&s, "60 min").into_string();
        let line = svg.split("class=\"line\" d=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(line.matches('M').count(), 2, "{line}");
        assert!(svg.contains("3 /s now"), "the newest value is the caption");
    }

    #[test]
    fn a_point_alone_is_a_dot_and_a_limit_above_the_data_is_left_out() {
        let s = Series {
            title: "Reply latency p95",
            unit: "ms",
            values: vec![None, Some(10.0), None],
            class: "latency",
            limit: Some((3000.0, "SLO 3 s")),
        };
        let svg = render(&s, "60 min").into_string();
        assert!(svg.contains("<circle class=\"dot\""), "{svg}");
        assert!(!svg.contains("SLO 3 s"), "the scale stays at the data: {svg}");
        let high = Series { values: vec![Some(2500.0), Some(4000.0)], ..s };
        assert!(render(&high, "60 min").into_string().contains("SLO 3 s"));
    }

    #[test]
    fn no_data_says_so() {
        let s = Series { title: "Ingest", unit: "/s", values: vec![None; 10], class: "ingest", limit: None };
        let svg = render(&s, "60 min").into_string();
        assert!(svg.contains("no data in the last 60 min"));
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn numbers_read_short() {
        assert_eq!(number(1234.4), "1234");
        assert_eq!(number(12.0), "12");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(0.5), "0.50");
        assert_eq!(number(0.0), "0");
    }
}
