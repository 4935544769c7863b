//! `botqctl dlq …`: list, show, replay and purge dead letters.
//!
//! Each queue has its own dead-letter stream, so a dead letter is named by its
//! id, or `QUEUE/ID` when one id exists in two queues. Replay and purge first
//! resolve their whole selection, then act: a missing id fails the command
//! before anything changed, and `--all` cannot chase the letters that events
//! failing again right after their replay add behind it.

pub mod newest;
mod render;
mod select;

use std::io::Write;

use botq_core::keys::Keys;
use botq_core::queue::{DeadLetter, purge, replay};
use clap::{Args, Subcommand};
use serde::Serialize;

pub use self::render::{Row, readable, render_rows};
pub use self::select::{BadRef, DlqRef, Filter, Selection, find, select_letters};
use crate::{Error, output};

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// The newest dead letters of every queue, a page at a time.
    List {
        /// Letters per page.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        /// Start strictly below this letter (`QUEUE/ID`): the previous
        /// page's last, which the listing prints.
        #[arg(long, value_name = "QUEUE/ID")]
        after: Option<DlqRef>,
    },
    /// One dead letter with its decoded envelope.
    Show { id: DlqRef },
    /// Put dead events back into their stream with a fresh retry budget.
    Replay {
        #[command(flatten)]
        select: ReplaySelect,
        /// Show what would be replayed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete dead letters for good.
    Purge {
        #[command(flatten)]
        select: PurgeSelect,
        /// Show what would be deleted; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ReplaySelect {
    /// Dead letter ids (`ID` or `QUEUE/ID`).
    pub ids: Vec<DlqRef>,
    /// Every dead letter.
    #[arg(long)]
    pub all: bool,
    /// Every dead letter of this bot.
    #[arg(long)]
    pub bot: Option<String>,
    /// Every dead letter whose reason contains this text.
    #[arg(long)]
    pub reason_contains: Option<String>,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct PurgeSelect {
    /// Dead letter ids (`ID` or `QUEUE/ID`).
    pub ids: Vec<DlqRef>,
    /// Every dead letter.
    #[arg(long)]
    pub all: bool,
}

impl From<ReplaySelect> for Selection {
    fn from(s: ReplaySelect) -> Self {
        match (s.all, s.bot, s.reason_contains) {
            (true, _, _) => Self::All,
            (_, Some(bot), _) => Self::Filter(Filter { bot: Some(bot), ..Filter::default() }),
            (_, _, Some(text)) => Self::Filter(Filter { reason_contains: Some(text), ..Filter::default() }),
            _ => Self::Ids(s.ids),
        }
    }
}

impl From<PurgeSelect> for Selection {
    fn from(s: PurgeSelect) -> Self {
        if s.all { Self::All } else { Self::Ids(s.ids) }
    }
}

pub(crate) async fn run<C>(
    conn: &mut C,
    keys: &Keys,
    cmd: DlqCommand,
    json: bool,
    out: &mut impl Write,
) -> Result<(), Error>
where
    C: redis::aio::ConnectionLike + Send,
{
    match cmd {
        DlqCommand::List { limit, after } => list(conn, keys, usize::from(limit), after.as_ref(), json, out).await,
        DlqCommand::Show { id } => show(conn, keys, &id, json, out).await,
        DlqCommand::Replay { select, dry_run } => {
            let targets = select_letters(conn, keys, &select.into(), None).await?;
            let done = if dry_run { planned(&targets) } else { replay_letters(conn, keys, &targets).await? };
            print_replayed(&done, dry_run, json, out)
        }
        DlqCommand::Purge { select, dry_run } => {
            let targets = select_letters(conn, keys, &select.into(), None).await?;
            let deleted = if dry_run { 0 } else { purge_letters(conn, keys, &targets).await? };
            print_purged(&targets, deleted, dry_run, json, out)
        }
    }
}

/// One page of the newest-first listing (the console's), the total, and
/// the `--after` of the next page when there are older letters.
async fn list<C>(
    conn: &mut C,
    keys: &Keys,
    limit: usize,
    after: Option<&DlqRef>,
    json: bool,
    out: &mut impl Write,
) -> Result<(), Error>
where
    C: redis::aio::ConnectionLike + Send,
{
    let every = Filter::default();
    let page = newest::newest(conn, keys, &every, after, limit).await?;
    let total = newest::total(conn, keys, &newest::queues(keys, &every)).await?;
    let rows: Vec<Row> = page.letters.iter().map(Row::from).collect();
    let older = page.older.as_ref().map(ToString::to_string);
    if json {
        output::json(out, &serde_json::json!({ "entries": rows, "total": total, "older": older }))?;
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "{}", if after.is_some() { "no older dead letters" } else { "no dead letters" })?;
    } else {
        out.write_all(render_rows(&rows).as_bytes())?;
        writeln!(out, "{} of {total} dead letters, newest first", rows.len())?;
    }
    if let Some(older) = older {
        writeln!(out, "older: botqctl dlq list --after {older}")?;
    }
    Ok(())
}

async fn show<C>(conn: &mut C, keys: &Keys, id: &DlqRef, json: bool, out: &mut impl Write) -> Result<(), Error>
where
    C: redis::aio::ConnectionLike + Send,
{
    let d = find(conn, keys, id).await?;
    let row = Row::from(&d);
    let envelope = d.envelope().map(|e| readable(&e)).map_err(|e| e.to_string());
    if json {
        let mut v = serde_json::to_value(&row).map_err(std::io::Error::other)?;
        match envelope {
            Ok(env) => v["envelope"] = env,
            Err(e) => {
                v["envelope_error"] = e.into();
                v["raw"] = String::from_utf8_lossy(&d.env).into_owned().into();
            }
        }
        output::json(out, &v)?;
    } else {
        writeln!(out, "id:         {}/{}", row.queue, row.id)?;
        writeln!(out, "failed_at:  {} ({} ms)", row.failed_at, row.failed_at_ms)?;
        writeln!(out, "attempts:   {}", row.attempts)?;
        writeln!(out, "reason:     {}", row.reason)?;
        writeln!(out, "stream id:  {}", row.src)?;
        match envelope {
            Ok(env) => {
                let pretty = serde_json::to_string_pretty(&env).map_err(std::io::Error::other)?;
                writeln!(out, "envelope:\n{pretty}")?;
            }
            Err(e) => writeln!(out, "envelope (does not decode: {e}):\n{}", String::from_utf8_lossy(&d.env))?,
        }
    }
    Ok(())
}

/// One dead letter put back.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    pub queue: u16,
    pub id: String,
    pub event_id: String,
    /// The event's new id in the queue stream; `None` on a dry run or when it was gone.
    pub stream_id: Option<String>,
}

/// Replays `targets`, in order, each atomically (`botq_core::queue::replay`).
/// A letter someone else replayed or purged meanwhile comes back with no
/// stream id.
///
/// # Errors
/// Redis errors; the letters before the failing one are replayed.
pub async fn replay_letters<C>(conn: &mut C, keys: &Keys, targets: &[DeadLetter]) -> Result<Vec<Replayed>, Error>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut done = Vec::with_capacity(targets.len());
    for d in targets {
        let stream_id = replay(conn, &keys.queue(d.queue), d).await?;
        done.push(Replayed { queue: d.queue, id: d.id.clone(), event_id: Row::from(d).event_id, stream_id });
    }
    Ok(done)
}

/// Deletes `targets` for good; returns how many were still there.
///
/// # Errors
/// Redis errors.
pub async fn purge_letters<C>(conn: &mut C, keys: &Keys, targets: &[DeadLetter]) -> Result<u64, Error>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut deleted = 0;
    for s in 0..keys.queue_count() {
        let ids: Vec<String> = targets.iter().filter(|d| d.queue == s).map(|d| d.id.clone()).collect();
        if !ids.is_empty() {
            deleted += purge(conn, &keys.queue(s), &ids).await?;
        }
    }
    Ok(deleted)
}

/// What a dry run would replay: each letter, with no new stream id.
fn planned(targets: &[DeadLetter]) -> Vec<Replayed> {
    targets
        .iter()
        .map(|d| Replayed { queue: d.queue, id: d.id.clone(), event_id: Row::from(d).event_id, stream_id: None })
        .collect()
}

fn print_replayed(done: &[Replayed], dry_run: bool, json: bool, out: &mut impl Write) -> Result<(), Error> {
    let gone = if dry_run { 0 } else { done.iter().filter(|r| r.stream_id.is_none()).count() };
    if json {
        output::json(out, &serde_json::json!({ "dry_run": dry_run, "replayed": done, "gone": gone }))?;
        return Ok(());
    }
    if done.is_empty() {
        writeln!(out, "nothing to replay")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = done
        .iter()
        .map(|r| {
            let new = r.stream_id.clone().unwrap_or_else(|| if dry_run { "-".into() } else { "gone".into() });
            vec![format!("{}/{}", r.queue, r.id), r.event_id.clone(), new]
        })
        .collect();
    out.write_all(output::table(&["id", "event_id", "stream_id"], &rows).as_bytes())?;
    if dry_run {
        writeln!(out, "dry run: would replay {} dead letters", done.len())?;
    } else {
        writeln!(out, "replayed {} dead letters ({gone} already gone)", done.len() - gone)?;
    }
    Ok(())
}

fn print_purged(
    targets: &[DeadLetter],
    deleted: u64,
    dry_run: bool,
    json: bool,
    out: &mut impl Write,
) -> Result<(), Error> {
    let ids: Vec<String> = targets.iter().map(|d| format!("{}/{}", d.queue, d.id)).collect();
    if json {
        output::json(out, &serde_json::json!({ "dry_run": dry_run, "selected": ids, "deleted": deleted }))?;
    } else if dry_run {
        for id in &ids {
            writeln!(out, "{id}")?;
        }
        writeln!(out, "dry run: would delete {} dead letters", ids.len())?;
    } else {
        writeln!(out, "deleted {deleted} dead letters")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn dlq(args: &[&str]) -> Result<DlqCommand, clap::Error> {
        let cli = Cli::try_parse_from(["botqctl", "dlq"].into_iter().chain(args.iter().copied()))?;
        match cli.command {
            Command::Dlq(cmd) => Ok(cmd),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn a_dead_letter_id_may_name_its_queue() {
        assert_eq!("17-0".parse(), Ok(DlqRef { queue: None, id: "17-0".into() }));
        assert_eq!("3/17-2".parse(), Ok(DlqRef { queue: Some(3), id: "17-2".into() }));
        for bad in ["17", "abc-0", "17-", "x/17-0", "-", "", "99999999999999999999-0", "1-99999999999999999999"] {
            assert!(bad.parse::<DlqRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn replay_takes_ids_or_exactly_one_filter() {
        let DlqCommand::Replay { select, dry_run } = dlq(&["replay", "1-0", "0/2-0", "--dry-run"]).unwrap() else {
            panic!()
        };
        assert!(dry_run);
        assert_eq!(
            Selection::from(select),
            Selection::Ids(vec![DlqRef { queue: None, id: "1-0".into() }, DlqRef { queue: Some(0), id: "2-0".into() }])
        );
        let DlqCommand::Replay { select, .. } = dlq(&["replay", "--reason-contains", "timeout"]).unwrap() else {
            panic!()
        };
        assert_eq!(
            Selection::from(select),
            Selection::Filter(Filter { reason_contains: Some("timeout".into()), ..Filter::default() })
        );
        assert!(dlq(&["replay"]).is_err(), "a replay must say what");
        assert!(dlq(&["replay", "--all", "--bot", "qq-main"]).is_err(), "one selector at a time");
        assert!(dlq(&["replay", "1-0", "--all"]).is_err());
        assert!(dlq(&["replay", "not-an-id"]).is_err());
    }

    #[test]
    fn purge_takes_ids_or_all_but_not_filters() {
        let DlqCommand::Purge { select, dry_run } = dlq(&["purge", "--all"]).unwrap() else { panic!() };
        assert_eq!((Selection::from(select), dry_run), (Selection::All, false));
        assert!(dlq(&["purge", "--bot", "qq-main"]).is_err());
        assert!(dlq(&["purge"]).is_err());
    }

    #[test]
    fn list_defaults_to_fifty_entries() {
        assert!(matches!(dlq(&["list"]).unwrap(), DlqCommand::List { limit: 50, after: None }));
        assert!(matches!(dlq(&["list", "--limit", "5"]).unwrap(), DlqCommand::List { limit: 5, after: None }));
        assert!(matches!(
            dlq(&["list", "--after", "2/5-0"]).unwrap(),
            DlqCommand::List { after: Some(DlqRef { queue: Some(2), .. }), .. }
        ));
        assert!(dlq(&["list", "--limit", "0"]).is_err(), "a page holds at least one letter");
        assert!(dlq(&["list", "--after", "yesterday"]).is_err());
    }

    #[test]
    fn a_dead_letter_row_shows_when_why_and_which_event() {
        let row = Row {
            queue: 0,
            id: "1700000000000-0".into(),
            failed_at: output::rfc3339_ms(1_700_000_000_123),
            failed_at_ms: 1_700_000_000_123,
            attempts: 3,
            reason: "gave up\nafter 3".into(),
            bot: "qq-main".into(),
            event_id: "ev-1".into(),
            chat: "chat-1".into(),
            src: "1-0".into(),
        };
        assert_eq!(
            render_rows(&[row]),
            "id                 failed_at                 attempts  reason           bot      event_id  chat\n\
             0/1700000000000-0  2023-11-14T22:13:20.123Z  3         gave up after 3  qq-main  ev-1      chat-1\n"
        );
    }

    #[test]
    fn an_unreadable_envelope_still_lists_with_question_marks() {
        let d = DeadLetter {
            queue: 1,
            id: "5-0".into(),
            env: b"garbage".to_vec(),
            reason: "envelope does not decode".into(),
            attempts: 0,
            failed_at_ms: 0,
            src: "4-0".into(),
            by: String::new(),
        };
        let row = Row::from(&d);
        assert_eq!((row.bot.as_str(), row.event_id.as_str(), row.chat.as_str()), ("?", "?", "?"));
        let keys = Keys::new("botq", 2);
        assert!(!Filter { bot: Some("qq-main".into()), ..Filter::default() }.matches(&keys, &d));
        assert!(Filter { reason_contains: Some("decode".into()), ..Filter::default() }.matches(&keys, &d));
        assert!(Filter { queue: Some(1), lane: Some("default".into()), ..Filter::default() }.matches(&keys, &d));
        assert!(!Filter { queue: Some(0), ..Filter::default() }.matches(&keys, &d));
        assert!(Filter { since_ms: Some(0), before_ms: Some(1), ..Filter::default() }.matches(&keys, &d));
        assert!(!Filter { before_ms: Some(0), ..Filter::default() }.matches(&keys, &d));
    }
}
