//! The tool-call audit log, newest first, filtered by bot, skill, read or
//! write, outcome and event (every attempt at one event, with the replica
//! that ran it); "older" pages on from the last entry shown. The same
//! scan as `botqctl audit tail` (filters apply before counting).

use axum::Extension;
use axum::extract::State;
use botq_core::audit::Outcome;
use maud::{Markup, html};

use super::Shared;
use super::access::Session;
use super::error::WebError;
use super::layout::{self, Nav, badge, when};
use super::query::{self, Fields};
use crate::audit::{self as audit_log, AccessArg, Filter, OutcomeArg};

const PER_PAGE: usize = 50;

/// The replica that ran an attempt, linked to the fleet; a dash for
/// entries written before botq recorded it.
pub fn replica(name: &str) -> Markup {
    html! { @if name.is_empty() { span.muted { "—" } } @else { a href="/fleet" { code { (name) } } } }
}

/// An outcome as a coloured word.
pub fn outcome(o: Outcome) -> Markup {
    let kind = match o {
        Outcome::Ok => "ok",
        Outcome::Retry | Outcome::Degraded => "warn",
        Outcome::Failed | Outcome::Denied => "bad",
    };
    badge(kind, o.as_str())
}

const OUTCOMES: [(&str, OutcomeArg); 5] = [
    ("ok", OutcomeArg::Ok),
    ("retry", OutcomeArg::Retry),
    ("failed", OutcomeArg::Failed),
    ("denied", OutcomeArg::Denied),
    ("degraded", OutcomeArg::Degraded),
];

fn filter(f: &Fields) -> Result<Filter, WebError> {
    let outcome = match f.get("outcome") {
        None => None,
        Some(v) => Some(OUTCOMES.iter().find(|(n, _)| *n == v).map(|(_, o)| *o).ok_or_else(|| {
            WebError::BadRequest(format!("outcome: {v:?} is not one of ok, retry, failed, denied, degraded"))
        })?),
    };
    let access = match f.get("access") {
        None => None,
        Some("read") => Some(AccessArg::Read),
        Some("write") => Some(AccessArg::Write),
        Some(v) => return Err(WebError::BadRequest(format!("access: {v:?} is not read or write"))),
    };
    Ok(Filter {
        bot: f.get("bot").map(|b| query::name("bot", b).map(str::to_owned)).transpose()?,
        skill: f.get("skill").map(|b| query::name("skill", b).map(str::to_owned)).transpose()?,
        outcome,
        access,
        event: f.get("event").map(|e| event_id(e).map(str::to_owned)).transpose()?,
    })
}

/// A platform event id as a filter takes it: at most 200 characters, none
/// of them a control character (ids are the platforms' own, so no narrower
/// alphabet holds for all).
fn event_id(v: &str) -> Result<&str, WebError> {
    if v.chars().count() <= 200 && !v.chars().any(char::is_control) {
        Ok(v)
    } else {
        Err(WebError::BadRequest("event: at most 200 characters, no control characters".into()))
    }
}

/// `GET /audit?bot=&skill=&access=&outcome=&before=`.
pub async fn page(
    State(c): State<Shared>,
    Extension(s): Extension<Session>,
    fields: Fields,
) -> Result<Markup, WebError> {
    let f = filter(&fields)?;
    let before = fields.get("before").map(|b| query::stream_id("before", b)).transpose()?;
    let found =
        audit_log::scan_before(&mut c.redis.clone(), &c.keys.audit(), before, PER_PAGE, &f, audit_log::MAX_SCAN)
            .await?;
    let mut entries = found.entries;
    entries.reverse(); // newest first
    let v = |k: &str| fields.get(k).unwrap_or("").to_owned();
    let older = (entries.len() == PER_PAGE).then(|| entries.last().map(|e| e.id.clone())).flatten();
    let keep = |before: &str| {
        query::link(
            "/audit",
            &[
                ("bot", &v("bot")),
                ("skill", &v("skill")),
                ("access", &v("access")),
                ("outcome", &v("outcome")),
                ("event", &v("event")),
                ("before", before),
            ],
        )
    };
    let body = html! {
        form.filters method="get" action="/audit" {
            label { "Bot" input type="text" name="bot" value=(v("bot")) placeholder="any"; }
            label { "Skill" input type="text" name="skill" value=(v("skill")) placeholder="any"; }
            label { "Read / write" select name="access" {
                option value="" { "any" }
                @for a in ["read", "write"] { option value=(a) selected[fields.get("access") == Some(a)] { (a) } }
            } }
            label { "Outcome" select name="outcome" {
                option value="" { "any" }
                @for (o, _) in OUTCOMES { option value=(o) selected[fields.get("outcome") == Some(o)] { (o) } }
            } }
            label { "Event" input type="text" name="event" value=(v("event")) placeholder="any"; }
            button.primary type="submit" { "Filter" }
            a href="/audit" { "clear" }
        }
        @if !found.skipped.is_empty() {
            p.problem { (found.skipped.len()) " entries could not be read and were skipped: " (found.skipped.join("; ")) }
        }
        @if found.bounded {
            p.hint { "Stopped after reading " (found.scanned) " entries; older ones were not searched." }
        }
        @if entries.is_empty() {
            p.panel { "No audit entries" @if !f.is_empty() { " match" } @if before.is_some() { " before this point" } "." }
        } @else {
            div.wrap { table {
                thead { tr {
                    th { "When" } th { "Bot" } th { "Skill" } th { "Access" } th { "Outcome" } th { "Reason" }
                    th.num { "Attempt" } th { "Replica" } th.num { "Took" } th { "Chat" } th { "Event" }
                    @if c.show_text { th { "Text" } th { "Answer" } }
                } }
                tbody { @for e in &entries { tr {
                    td { (when(e.ts_ms)) }
                    td { (e.bot) }
                    td { (e.skill) br; span.hint { (e.kind) } }
                    td { (e.access.as_str()) }
                    td { (outcome(e.outcome)) }
                    td { (e.reason) }
                    td.num { (e.attempt) }
                    td { (replica(&e.replica)) }
                    td.num { (e.duration_ms) " ms" }
                    td { code { (e.chat_id) } }
                    td { code { (e.event_id) } }
                    @if c.show_text {
                        td { (e.text.as_deref().unwrap_or("")) }
                        td { (e.answer.as_deref().unwrap_or("")) }
                    }
                } } }
            } }
            nav.pager {
                @if before.is_some() { a href=(keep("")) { "← newest" } }
                @if let Some(id) = &older { a href=(keep(id)) { "older →" } }
            }
        }
    };
    Ok(layout::page(&c, &s, Nav::Audit, "Audit log", &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_filters_name_their_field() {
        let f = |q: &str| filter(&Fields::parse(Some(q)));
        assert!(f("").unwrap().is_empty());
        let ok = f("bot=qq-main&access=write&outcome=denied").unwrap();
        assert_eq!(ok.access, Some(AccessArg::Write));
        assert_eq!(ok.outcome, Some(OutcomeArg::Denied));
        assert!(f("access=admin").unwrap_err().to_string().starts_with("access: "));
        assert!(f("outcome=boom").unwrap_err().to_string().starts_with("outcome: "));
        assert!(f("bot=a%20b").unwrap_err().to_string().starts_with("bot: "));
    }
}
