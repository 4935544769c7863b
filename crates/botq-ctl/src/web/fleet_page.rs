//! The fleet: every ingest and worker replica seen in the last day, with
//! its build (version, git sha, image digest), when it started and last beat,
//! what it has in flight, its lanes and its circuit breakers. A replica that
//! left shows as stopped; one whose heartbeat ran out as gone.

use axum::Extension;
use axum::extract::State;
use botq_core::fleet::{self, Liveness, Seen};
use maud::{Markup, html};

use super::Shared;
use super::access::Session;
use super::error::WebError;
use super::layout::{self, Nav, age, badge, when};

fn liveness(l: Liveness) -> Markup {
    let kind = match l {
        Liveness::Alive => "ok",
        Liveness::Stopped => "neutral",
        Liveness::Gone => "bad",
    };
    badge(kind, l.as_str())
}

fn breaker(state: &str) -> &'static str {
    match state {
        "closed" => "ok",
        "half_open" => "warn",
        _ => "bad",
    }
}

/// The replicas table (also used on a dead letter's page for the replica
/// that gave up on it).
pub fn table(seen: &[&Seen], now: i64) -> Markup {
    html! {
        div.wrap { table {
            thead { tr {
                th { "State" } th { "Replica" } th { "Role" } th { "Host" } th { "Version" } th { "Git sha" }
                th { "Image digest" } th { "Started" } th { "Last heartbeat" } th.num { "In flight" }
                th { "Lanes" } th { "Breakers" }
            } }
            tbody {
                @for s in seen {
                    @let r = &s.replica;
                    tr id=(format!("replica-{}", r.name)) {
                        td { (liveness(s.liveness)) }
                        td { code { (r.name) } }
                        td { (r.role.as_str()) }
                        td { (r.host) }
                        td { (r.version) }
                        td { code { (r.git_sha) } }
                        td { @if let Some(d) = &r.image_digest { code title=(d) { (short_digest(d)) } } @else { span.muted { "—" } } }
                        td { (when(r.started_at_ms)) }
                        td { (age(r.heartbeat_ms, now)) " ago"
                            @if let Some(stopped) = r.stopped_at_ms { br; span.hint { "stopped " (age(stopped, now)) " ago" } } }
                        td.num { (r.in_flight) }
                        td { @if r.lanes.is_empty() { span.muted { "—" } } @else { (r.lanes.join(", ")) } }
                        td {
                            @if r.breakers.is_empty() { span.muted { "—" } }
                            @for b in &r.breakers { span title=(b.state) { (badge(breaker(&b.state), &b.skill)) } " " }
                        }
                    }
                }
            }
        } }
    }
}

/// `sha256:0123456789ab…` for a long digest, in full as the tooltip.
fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((algo, hex)) if hex.len() > 12 => format!("{algo}:{}…", &hex[..12]),
        _ => d.to_owned(),
    }
}

/// `GET /fleet`.
pub async fn page(State(c): State<Shared>, Extension(s): Extension<Session>) -> Result<Markup, WebError> {
    let now = botq_core::now_ms();
    let seen = fleet::list(&mut c.redis.clone(), &c.keys, now).await?;
    let all: Vec<&Seen> = seen.iter().collect();
    let body = html! {
        div data-refresh="5" {
            div.actions {
                span.muted { (seen.iter().filter(|r| r.liveness == Liveness::Alive).count()) " alive of " (seen.len())
                    " seen in the last day. A replica beats every " (fleet::HEARTBEAT_EVERY.as_secs()) " s; silent for "
                    (fleet::HEARTBEAT_TTL.as_secs()) " s, it is gone." }
                label.refresh hidden { input #auto-refresh type="checkbox" hidden; "auto-refresh every 5 s" }
            }
            @if seen.is_empty() {
                p.panel { "No replica has registered. Start " code { "botq-ingest" } " and " code { "botq-worker" }
                    " with this config (same Redis, same key prefix)." }
            } @else {
                (table(&all, now))
            }
        }
    };
    Ok(layout::page(&c, &s, Nav::Fleet, "Fleet", &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_digests_are_shortened_for_the_table() {
        assert_eq!(short_digest("sha256:0123456789abcdef0123"), "sha256:0123456789ab…");
        assert_eq!(short_digest("sha256:abc"), "sha256:abc");
        assert_eq!(short_digest("local-build"), "local-build");
    }
}
