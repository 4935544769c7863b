//! Dead letters: the list with filters (bot, lane, queue, reason, age), one
//! letter with why it died, its attempts in the audit log and the replica
//! that gave up on it, and replay or purge of one, a selection or a filter.
//!
//! An action is two POSTs. The first resolves the selection *now* and shows
//! how many letters it names; the second carries exactly those ids and the
//! count that was confirmed, so letters that died in between are never swept
//! along. If one of them was replayed or purged meanwhile (by another
//! operator, or `botqctl`), nothing is done and the page says so. Selection
//! and action reuse `botqctl dlq`'s functions, so the console and the CLI
//! cannot disagree about what a filter means.

use axum::extract::{Path, State};
use axum::{Extension, Form};
use botq_core::audit::Entry;
use botq_core::fleet;
use botq_core::queue::DeadLetter;
use maud::{Markup, html};

use super::access::Session;
use super::error::WebError;
use super::layout::{self, Nav, age, badge, count, counted, csrf, when};
use super::query::{self, Fields};
use super::{Shared, fleet_page};
use crate::Error;
use crate::audit::{self as audit_log, Filter as AuditFilter};
use crate::dlq::{self, DlqRef, Filter, Row, Selection, newest};

/// Letters per page of the list.
const PER_PAGE: usize = 50;
/// Letters a confirmation lists by name (it acts on all it counts).
const LISTED: usize = 50;
/// Letters one console action may name. A confirmation carries the ids it
/// acts on, so it stays a page a browser sends back whole; more than this
/// is `botqctl dlq replay|purge`'s job, or a narrower filter's.
pub const MAX_ACTION: usize = 10_000;
/// Audit entries shown as one letter's history.
const HISTORY: usize = 50;

/// The filter fields, as the list's form and an action's form send them.
const FILTER_FIELDS: [&str; 6] = ["bot", "lane", "queue", "reason", "within", "older"];

/// Reads a [`Filter`] from the fields (see [`FILTER_FIELDS`]).
///
/// # Errors
/// A field that does not parse, by name.
pub fn filter(c: &Shared, f: &Fields, now_ms: i64) -> Result<Filter, WebError> {
    let ms_ago = |field: &str| -> Result<Option<i64>, WebError> {
        f.get(field)
            .map(|v| query::duration(field, v).map(|d| now_ms - i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
            .transpose()
    };
    let lane = f.get("lane").map(|l| query::name("lane", l)).transpose()?;
    if let Some(l) = lane
        && c.keys.lane_index(l).is_none()
    {
        return Err(WebError::BadRequest(format!("lane: no lane named {l:?}")));
    }
    let queue = match f.get("queue") {
        None => None,
        Some(v) => match v.parse::<u16>() {
            Ok(q) if q < c.keys.queue_count() => Some(q),
            _ => {
                return Err(WebError::BadRequest(format!(
                    "queue: {v:?} is not a queue number from 0 to {}",
                    c.keys.queue_count() - 1
                )));
            }
        },
    };
    let reason = f.get("reason").map(str::to_owned);
    if reason.as_ref().is_some_and(|r| r.len() > 200) {
        return Err(WebError::BadRequest("reason: at most 200 characters".into()));
    }
    Ok(Filter {
        bot: f.get("bot").map(|b| query::name("bot", b).map(str::to_owned)).transpose()?,
        lane: lane.map(str::to_owned),
        queue,
        reason_contains: reason,
        since_ms: ms_ago("within")?,
        before_ms: ms_ago("older")?,
    })
}

fn lanes(c: &Shared) -> Vec<&str> {
    let mut names: Vec<&str> = (0..c.keys.queue_count()).map(|q| c.keys.lane_of_queue(q)).collect();
    names.dedup();
    names
}

/// Every letter `sel` names now, newest first; one more than
/// [`MAX_ACTION`] at most (then the action is refused).
async fn matching(c: &Shared, sel: &Selection) -> Result<Vec<DeadLetter>, WebError> {
    let mut letters =
        dlq::select_letters(&mut c.redis.clone(), &c.keys, sel, Some(MAX_ACTION + 1)).await.map_err(from_ctl)?;
    letters.sort_by(|a, b| (b.failed_at_ms, b.queue, &b.id).cmp(&(a.failed_at_ms, a.queue, &a.id)));
    Ok(letters)
}

/// A letter named with its queue, `QUEUE/ID`, as forms and cursors carry it.
///
/// # Errors
/// Anything else, naming `field`.
fn letter_ref(c: &Shared, field: &str, v: &str) -> Result<DlqRef, WebError> {
    let r: DlqRef = v.parse().map_err(|e| WebError::BadRequest(format!("{field}: {e}")))?;
    query::stream_id(field, &r.id)?;
    match r.queue {
        Some(q) if q < c.keys.queue_count() => Ok(r),
        _ => Err(WebError::BadRequest(format!("{field}: {v:?} must name its queue, like 0/1700000000000-0"))),
    }
}

fn from_ctl(e: Error) -> WebError {
    match e {
        Error::Redis(e) => WebError::Redis(e),
        Error::UnknownId(id) => WebError::Conflict(format!(
            "dead letter {id} is not there (replayed or purged meanwhile?); nothing was changed"
        )),
        other => WebError::BadRequest(other.to_string()),
    }
}

fn reason_badge(reason: &str) -> Markup {
    badge("bad", &crate::output::one_line(reason))
}

/// `GET /dead-letters?…&after=QUEUE/ID`: newest first, a page at a time
/// (see [`dlq::newest`]: a page never reads a whole DLQ).
pub async fn list(
    State(c): State<Shared>,
    Extension(s): Extension<Session>,
    fields: Fields,
) -> Result<Markup, WebError> {
    let now = botq_core::now_ms();
    let f = filter(&c, &fields, now)?;
    let after = fields.get("after").map(|a| letter_ref(&c, "after", a)).transpose()?;
    let mut conn = c.redis.clone();
    let found = newest::newest(&mut conn, &c.keys, &f, after.as_ref(), PER_PAGE).await.map_err(from_ctl)?;
    // Exact when the filter names no more than where to look; otherwise
    // known only when this one page holds every match.
    let by_place_only = Filter { lane: None, queue: None, ..f.clone() }.is_empty();
    let total = if by_place_only {
        Some(newest::total(&mut conn, &c.keys, &newest::queues(&c.keys, &f)).await.map_err(from_ctl)?)
    } else {
        (after.is_none() && found.older.is_none()).then_some(found.letters.len() as u64)
    };
    let shown: Vec<Row> = found.letters.iter().map(Row::from).collect();
    let keep: Vec<(&str, &str)> = FILTER_FIELDS.iter().map(|k| (*k, fields.get(k).unwrap_or(""))).collect();
    let at = |cursor: &str| {
        let mut pairs = keep.clone();
        pairs.push(("after", cursor));
        query::link("/dead-letters", &pairs)
    };
    let older = found.older.as_ref().map(ToString::to_string);
    let bulk = |verb: &str| match total {
        Some(n) if f.is_empty() => format!("{verb} all {}…", count(n)),
        Some(n) => format!("{verb} the {} matching…", count(n)),
        None => format!("{verb} all matching…"),
    };
    let v = |k: &str| fields.get(k).unwrap_or("").to_owned();
    let body = html! {
        form.filters method="get" action="/dead-letters" {
            label { "Bot" input type="text" name="bot" value=(v("bot")) placeholder="any"; }
            label { "Lane" select name="lane" {
                option value="" { "any" }
                @for l in lanes(&c) { option value=(l) selected[fields.get("lane") == Some(l)] { (l) } }
            } }
            label { "Queue" input type="text" name="queue" value=(v("queue")) placeholder="any" size="4"; }
            label { "Reason contains" input type="search" name="reason" value=(v("reason")) placeholder="e.g. timeout"; }
            label { "Died within" input type="text" name="within" value=(v("within")) placeholder="e.g. 1h" size="6"; }
            label { "Older than" input type="text" name="older" value=(v("older")) placeholder="e.g. 7d" size="6"; }
            button.primary type="submit" { "Filter" }
            a href="/dead-letters" { "clear" }
        }
        p.muted {
            @match total {
                Some(n) => { (counted(n, "dead letter")) @if !f.is_empty() { @if n == 1 { " matches" } @else { " match" } } }
                None => { "Dead letters that match, newest first" }
            }
            @if after.is_some() { " · older than " code { (after.as_ref().map(ToString::to_string).unwrap_or_default()) } }
        }
        @if found.bounded {
            p.hint { "Stopped after reading " (found.scanned) " dead letters; the next page searches on from there." }
        }
        @if shown.is_empty() && older.is_none() {
            p.panel { "Nothing here: no event has failed for good" @if !f.is_empty() { " that matches" } @if after.is_some() { " before this point" } "." }
        } @else {
            @if !c.read_only {
                form #by-filter method="post" action="/dead-letters/replay" {
                    (csrf(&s))
                    input type="hidden" name="scope" value="filter";
                    @for (k, val) in &keep { @if !val.is_empty() { input type="hidden" name=(k) value=(val); } }
                    div.actions {
                        button.primary type="submit" { (bulk("Replay")) }
                        button.danger type="submit" formaction="/dead-letters/purge" { (bulk("Purge")) }
                        span.hint { "Each asks for confirmation first." }
                    }
                }
            }
            form #selection method="post" action="/dead-letters/replay" {
                (csrf(&s))
                input type="hidden" name="scope" value="ids";
                div.wrap { table {
                    thead { tr {
                        @if !c.read_only { th { input type="checkbox" data-select-all="selection" aria-label="select all on this page"; } }
                        th { "Dead letter" } th { "Died" } th { "Reason" } th.num { "Attempts" } th { "Bot" }
                        th { "Lane / queue" } th { "Event" } th { "Chat" }
                    } }
                    tbody {
                        @for r in &shown {
                            tr {
                                @if !c.read_only { td { input type="checkbox" name="id" value=(format!("{}/{}", r.queue, r.id)) aria-label="select"; } }
                                td { a href=(format!("/dead-letters/{}/{}", r.queue, r.id)) { code { (r.queue) "/" (r.id) } } }
                                td { (when(r.failed_at_ms)) br; span.hint { (age(r.failed_at_ms, now)) " ago" } }
                                td { (reason_badge(&r.reason)) }
                                td.num { (r.attempts) }
                                td { (r.bot) }
                                td { (c.keys.lane_of_queue(r.queue)) " / " (r.queue) }
                                td { code { (r.event_id) } }
                                td { code { (r.chat) } }
                            }
                        }
                    }
                } }
                @if !c.read_only {
                    div.actions {
                        button.primary type="submit" { "Replay selected…" }
                        button.danger type="submit" formaction="/dead-letters/purge" { "Purge selected…" }
                    }
                }
            }
        }
        nav.pager {
            @if after.is_some() { a href=(at("")) { "← newest" } }
            @if let Some(o) = &older { a href=(at(o)) { "older →" } }
        }
    };
    Ok(layout::page(&c, &s, Nav::DeadLetters, "Dead letters", &body))
}

/// `GET /dead-letters/{queue}/{id}`.
pub async fn show(
    State(c): State<Shared>,
    Extension(s): Extension<Session>,
    Path((queue, id)): Path<(String, String)>,
) -> Result<Markup, WebError> {
    let queue: u16 = queue
        .parse()
        .ok()
        .filter(|q| *q < c.keys.queue_count())
        .ok_or_else(|| WebError::BadRequest(format!("queue: {queue:?} is not a queue number")))?;
    let id = query::stream_id("id", &id)?.to_owned();
    let mut conn = c.redis.clone();
    let d = match dlq::find(&mut conn, &c.keys, &DlqRef { queue: Some(queue), id: id.clone() }).await {
        Ok(d) => d,
        Err(Error::UnknownId(_)) => {
            return Err(WebError::NotFound(format!("no dead letter {queue}/{id}: replayed or purged already?")));
        }
        Err(e) => return Err(from_ctl(e)),
    };
    let row = Row::from(&d);
    let now = botq_core::now_ms();
    let envelope = d.envelope();
    let history = match &envelope {
        Ok(e) => {
            let f =
                AuditFilter { bot: Some(e.bot.to_string()), event: Some(e.event_id.clone()), ..AuditFilter::default() };
            audit_log::scan(&mut conn, &c.keys.audit(), HISTORY, &f, audit_log::MAX_SCAN).await?.entries
        }
        Err(_) => Vec::new(),
    };
    let seen = fleet::list(&mut conn, &c.keys, now).await?;
    let by: Vec<&fleet::Seen> = seen.iter().filter(|r| !d.by.is_empty() && r.replica.name == d.by).collect();
    let pretty = match &envelope {
        Ok(e) => {
            let mut v = dlq::readable(e);
            if !c.show_text {
                v["text"] = "(hidden: start the console with --show-text to see message text)".into();
            }
            serde_json::to_string_pretty(&v).unwrap_or_default()
        }
        Err(_) => String::new(),
    };
    let title = format!("Dead letter {queue}/{id}");
    let body = html! {
        div.panel {
            dl.facts {
                dt { "Why it died" } dd { (reason_badge(&row.reason)) }
                dt { "Died" } dd { (when(row.failed_at_ms)) " (" (age(row.failed_at_ms, now)) " ago)" }
                dt { "Failed attempts" } dd { (row.attempts) }
                dt { "Bot" } dd { (row.bot) }
                dt { "Lane / queue" } dd { (c.keys.lane_of_queue(queue)) " / " (queue) }
                dt { "Event" } dd { code { (row.event_id) } }
                dt { "Chat" } dd { code { (row.chat) } }
                dt { "Stream id before it died" } dd { code { (row.src) } }
                dt { "Gave up" } dd {
                    @if d.by.is_empty() { span.muted { "not recorded" } }
                    @else { code { (d.by) } @if by.is_empty() { " " span.hint { "(no longer in the fleet record)" } } }
                }
            }
        }
        @if !c.read_only {
            form method="post" action="/dead-letters/replay" {
                (csrf(&s))
                input type="hidden" name="scope" value="ids";
                input type="hidden" name="id" value=(format!("{queue}/{id}"));
                div.actions {
                    button.primary type="submit" { "Replay…" }
                    button.danger type="submit" formaction="/dead-letters/purge" { "Purge…" }
                }
            }
        }
        @if !by.is_empty() {
            h2 { "The replica that gave up" }
            (fleet_page::table(&by, now))
        }
        h2 { "Attempts in the audit log" }
        @if history.is_empty() {
            p.muted { "No skill ran for this event (it died before a skill was called, or its entries were trimmed)." }
        } @else {
            (attempts(&history, c.show_text))
        }
        h2 { "Envelope" }
        @match &envelope {
            Ok(_) => pre { (pretty) },
            Err(e) => p.problem { "The stored envelope does not decode: " (e.to_string()) },
        }
    };
    Ok(layout::page(&c, &s, Nav::DeadLetters, &title, &body))
}

fn attempts(entries: &[Entry], show_text: bool) -> Markup {
    html! {
        div.wrap { table {
            thead { tr { th { "When" } th.num { "Attempt" } th { "Replica" } th { "Skill" } th { "Outcome" } th { "Reason" } th.num { "Took" }
                @if show_text { th { "Text" } } } }
            tbody { @for e in entries { tr {
                td { (when(e.ts_ms)) }
                td.num { (e.attempt) }
                td { (super::audit_page::replica(&e.replica)) }
                td { (e.skill) }
                td { (super::audit_page::outcome(e.outcome)) }
                td { (e.reason) }
                td.num { (e.duration_ms) " ms" }
                @if show_text { td { (e.text.as_deref().unwrap_or("")) } }
            } } }
        } }
    }
}

/// What an action form asks for.
enum Ask {
    /// Resolve and ask for confirmation.
    Resolve(Selection),
    /// Act on exactly these, confirmed as `n`.
    Confirmed(Vec<DlqRef>),
}

fn ask(c: &Shared, form: &Fields) -> Result<Ask, WebError> {
    let ids = || -> Result<Vec<DlqRef>, WebError> {
        if form.all("id").nth(MAX_ACTION).is_some() {
            return Err(WebError::BadRequest(format!("id: at most {MAX_ACTION} dead letters at a time")));
        }
        form.all("id").map(|v| letter_ref(c, "id", v)).collect()
    };
    match (form.get("scope"), form.get("confirm")) {
        (Some("ids"), Some(n)) => {
            let ids = ids()?;
            if ids.is_empty() {
                return Err(WebError::BadRequest("id: a confirmation names the dead letters it acts on".into()));
            }
            if n.parse::<usize>().ok() != Some(ids.len()) {
                return Err(WebError::BadRequest(format!(
                    "confirm: {n:?} does not match the {} dead letters sent",
                    ids.len()
                )));
            }
            Ok(Ask::Confirmed(ids))
        }
        (Some("ids"), None) => {
            let ids = ids()?;
            if ids.is_empty() {
                return Err(WebError::BadRequest("select at least one dead letter".into()));
            }
            Ok(Ask::Resolve(Selection::Ids(ids)))
        }
        (Some("filter"), None) => Ok(Ask::Resolve(filter(c, form, botq_core::now_ms())?.into())),
        (Some("filter"), Some(_)) => Err(WebError::BadRequest("confirm: a confirmation names its ids".into())),
        (scope, _) => Err(WebError::BadRequest(format!("scope: {:?} is not ids or filter", scope.unwrap_or("")))),
    }
}

#[derive(Clone, Copy)]
enum Action {
    Replay,
    Purge,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Self::Replay => "Replay",
            Self::Purge => "Purge",
        }
    }
    fn path(self) -> &'static str {
        match self {
            Self::Replay => "/dead-letters/replay",
            Self::Purge => "/dead-letters/purge",
        }
    }
}

/// `POST /dead-letters/replay`.
pub async fn replay(
    State(c): State<Shared>,
    Extension(s): Extension<Session>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Markup, WebError> {
    act(&c, &s, &Fields::new(form), Action::Replay).await
}

/// `POST /dead-letters/purge`.
pub async fn purge(
    State(c): State<Shared>,
    Extension(s): Extension<Session>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Markup, WebError> {
    act(&c, &s, &Fields::new(form), Action::Purge).await
}

async fn act(c: &Shared, s: &Session, form: &Fields, action: Action) -> Result<Markup, WebError> {
    let mut conn = c.redis.clone();
    match ask(c, form)? {
        Ask::Resolve(sel) => Ok(confirm(c, s, action, &matching(c, &sel).await?)),
        Ask::Confirmed(ids) => {
            let targets =
                dlq::select_letters(&mut conn, &c.keys, &Selection::Ids(ids), None).await.map_err(from_ctl)?;
            let (title, summary, replayed) = match action {
                Action::Replay => {
                    let done = dlq::replay_letters(&mut conn, &c.keys, &targets).await.map_err(from_ctl)?;
                    let gone = done.iter().filter(|r| r.stream_id.is_none()).count();
                    tracing::info!(replayed = done.len() - gone, gone, "console: replayed dead letters");
                    let text = format!(
                        "Replayed {} ({gone} already gone).",
                        counted((done.len() - gone) as u64, "dead letter")
                    );
                    ("Replayed", text, done)
                }
                Action::Purge => {
                    let n = dlq::purge_letters(&mut conn, &c.keys, &targets).await.map_err(from_ctl)?;
                    tracing::info!(purged = n, "console: purged dead letters");
                    ("Purged", format!("Purged {}.", counted(n, "dead letter")), Vec::new())
                }
            };
            let body = html! {
                p.notice role="status" { (summary) }
                @if !replayed.is_empty() {
                    div.wrap { table {
                        thead { tr { th { "Dead letter" } th { "Event" } th { "Back in the stream as" } th { "How it goes" } } }
                        tbody { @for r in &replayed { tr {
                            td { code { (r.queue) "/" (r.id) } }
                            td { code { (r.event_id) } }
                            td { @match &r.stream_id { Some(id) => code { (id) }, None => span.muted { "gone" } } }
                            td { a href=(query::link("/audit", &[("event", r.event_id.as_str())])) { "its attempts in the audit log" } }
                        } } }
                    } }
                }
                p { a href="/dead-letters" { "Back to the dead letters" } }
            };
            Ok(layout::page(c, s, Nav::DeadLetters, title, &body))
        }
    }
}

fn confirm(c: &Shared, s: &Session, action: Action, targets: &[DeadLetter]) -> Markup {
    let n = targets.len();
    let title = format!("{} {}?", action.verb(), counted(n as u64, "dead letter"));
    let what = match action {
        Action::Replay => "Each goes back into its queue with a fresh retry budget and is handled again.",
        Action::Purge => "They are deleted for good. This cannot be undone.",
    };
    let body = html! {
        @if n == 0 {
            p.panel { "Nothing matches any more: there is nothing to " (action.verb().to_lowercase()) "." }
            p { a href="/dead-letters" { "Back to the dead letters" } }
        } @else if n > MAX_ACTION {
            p.problem {
                "This names more than " (count(MAX_ACTION as u64)) " dead letters; the console "
                (action.verb().to_lowercase()) "s at most " (count(MAX_ACTION as u64))
                " at a time. Narrow the filter (by age, bot or reason), or use "
                code { "botqctl dlq " (action.verb().to_lowercase()) } " on the box. Nothing was changed."
            }
            p { a href="/dead-letters" { "Back to the dead letters" } }
        } @else {
            p { (what) }
            div.wrap { table {
                thead { tr { th { "Dead letter" } th { "Died" } th { "Reason" } th { "Bot" } th { "Event" } } }
                tbody {
                    @for d in targets.iter().take(LISTED) {
                        @let r = Row::from(d);
                        tr {
                            td { code { (r.queue) "/" (r.id) } }
                            td { (when(r.failed_at_ms)) }
                            td { (reason_badge(&r.reason)) }
                            td { (r.bot) }
                            td { code { (r.event_id) } }
                        }
                    }
                }
            } }
            @if n > LISTED { p.hint { "… and " (count((n - LISTED) as u64)) " more." } }
            form method="post" action=(action.path()) {
                (csrf(s))
                input type="hidden" name="scope" value="ids";
                input type="hidden" name="confirm" value=(n);
                @for d in targets { input type="hidden" name="id" value=(format!("{}/{}", d.queue, d.id)); }
                div.actions {
                    @match action {
                        Action::Replay => button.primary type="submit" { "Replay " (counted(n as u64, "dead letter")) },
                        Action::Purge => button.danger type="submit" { "Purge " (counted(n as u64, "dead letter")) },
                    }
                    a href="/dead-letters" { "Cancel" }
                }
            }
        }
    };
    layout::page(c, s, Nav::DeadLetters, &title, &body)
}
