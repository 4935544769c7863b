//! `botqctl audit tail`: the newest entries of the tool-call audit log
//! (`botq_core::audit`), and with `--follow` the new ones as they arrive.
//!
//! Filters apply before counting, so `-n 20 --outcome failed` is the last 20
//! failures, not the failures among the last 20 entries. The stream is read
//! backwards in pages until enough entries match, the stream begins, or
//! [`MAX_SCAN`] entries were read; the log is capped at `audit.max_len`
//! (100 000 by default), so the bound normally covers all of it, and when it
//! does not, stderr says so rather than implying there were no more matches.
//!
//! `--follow` then polls for entries after the newest id the scan saw, so an
//! entry appended in between is neither lost nor printed twice. Polling
//! (not `XREAD BLOCK`) keeps the one multiplexed connection free and makes
//! Ctrl-C and SIGTERM take effect at once; both end the command with exit 0,
//! as does a closed stdout (`| head`), noticed at the next write.
//!
//! An entry that does not decode is reported on stderr with its id and
//! skipped: one bad entry must not hide the rest of the log. The human form is
//! one line per entry; `--json` is one JSON object per line (JSON lines, not
//! one document as in the other commands), so a follow can pipe into `jq`.

pub mod render;

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use botq_core::audit::{self, Access, Entry, Outcome};
use clap::{Args, Subcommand, ValueEnum};

use crate::Error;

/// Entries read per `XREVRANGE` / `XRANGE`.
pub const PAGE: usize = 1000;

/// The most entries one tail reads looking for matches: the default
/// `audit.max_len`, so normally the whole log.
pub const MAX_SCAN: usize = 100_000;

/// How often `--follow` asks for new entries.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The newest entries, oldest first; with --follow, new ones as they arrive.
    ///
    /// --json prints one JSON object per line.
    Tail(TailArgs),
}

#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    /// How many matching entries to show.
    #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 20)]
    pub lines: usize,
    /// Keep printing new entries until Ctrl-C or SIGTERM.
    #[arg(short, long)]
    pub follow: bool,
    #[command(flatten)]
    pub filter: Filter,
    /// Also show the recorded message text and answer (skills with
    /// `audit_content = true`); --json always includes them.
    #[arg(long)]
    pub content: bool,
}

/// Which entries to show; every given condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct Filter {
    /// Only this bot's entries.
    #[arg(long, value_name = "ID")]
    pub bot: Option<String>,
    /// Only this skill's entries.
    #[arg(long, value_name = "NAME")]
    pub skill: Option<String>,
    /// Only entries with this outcome.
    #[arg(long, value_enum)]
    pub outcome: Option<OutcomeArg>,
    /// Only read-only or only writing skills.
    #[arg(long, value_enum)]
    pub access: Option<AccessArg>,
    /// Only the entries of this platform event id (every attempt at it).
    #[arg(long, value_name = "ID")]
    pub event: Option<String>,
}

impl Filter {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    #[must_use]
    pub fn matches(&self, e: &Entry) -> bool {
        self.bot.as_ref().is_none_or(|b| *b == e.bot)
            && self.skill.as_ref().is_none_or(|s| *s == e.skill)
            && self.outcome.is_none_or(|o| Outcome::from(o) == e.outcome)
            && self.access.is_none_or(|a| Access::from(a) == e.access)
            && self.event.as_ref().is_none_or(|id| *id == e.event_id)
    }
}

/// [`Outcome`] as a command-line value (the core type stays free of clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutcomeArg {
    Ok,
    Retry,
    Failed,
    Denied,
    Degraded,
}

impl From<OutcomeArg> for Outcome {
    fn from(o: OutcomeArg) -> Self {
        match o {
            OutcomeArg::Ok => Self::Ok,
            OutcomeArg::Retry => Self::Retry,
            OutcomeArg::Failed => Self::Failed,
            OutcomeArg::Denied => Self::Denied,
            OutcomeArg::Degraded => Self::Degraded,
        }
    }
}

/// [`Access`] as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessArg {
    Read,
    Write,
}

impl From<AccessArg> for Access {
    fn from(a: AccessArg) -> Self {
        match a {
            AccessArg::Read => Self::Read,
            AccessArg::Write => Self::Write,
        }
    }
}

/// What a backward scan found.
#[derive(Debug, Default)]
pub struct Scan {
    /// The newest matching entries, oldest first.
    pub entries: Vec<Entry>,
    /// Why each undecodable entry among those read was skipped, newest first.
    pub skipped: Vec<String>,
    /// The newest id in the stream when the scan began: where a follow starts.
    pub newest_id: Option<String>,
    /// How many entries were read.
    pub scanned: usize,
    /// The scan stopped at its bound with older entries left unread.
    pub bounded: bool,
}

/// The newest `want` entries of stream `key` that match `filter`, reading at
/// most `max_scan` entries.
///
/// # Errors
/// Redis errors (a missing stream is an empty scan).
pub async fn scan<C>(conn: &mut C, key: &str, want: usize, filter: &Filter, max_scan: usize) -> redis::RedisResult<Scan>
where
    C: redis::aio::ConnectionLike + Send,
{
    scan_before(conn, key, None, want, filter, max_scan).await
}

/// [`scan`], starting below stream id `before` (exclusive; `None`: the
/// newest entry): the next page of an older-first listing.
///
/// # Errors
/// Redis errors (a missing stream is an empty scan).
pub async fn scan_before<C>(
    conn: &mut C,
    key: &str,
    before: Option<&str>,
    want: usize,
    filter: &Filter,
    max_scan: usize,
) -> redis::RedisResult<Scan>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut s = Scan::default();
    let mut cursor: Option<String> = before.map(str::to_owned);
    'pages: loop {
        let budget = max_scan - s.scanned;
        if budget == 0 {
            s.bounded = !audit::before(conn, key, cursor.as_deref(), 1).await?.is_empty();
            break;
        }
        // Unfiltered, the entries still wanted are enough (more only past
        // undecodable ones); at least one, so a follow learns the newest id.
        let count = if filter.is_empty() { want - s.entries.len() } else { PAGE }.clamp(1, PAGE).min(budget);
        let page = audit::before(conn, key, cursor.as_deref(), count).await?;
        let Some(last) = page.last() else { break };
        cursor = Some(last.id.clone());
        s.newest_id.get_or_insert_with(|| page[0].id.clone());
        let end = page.len() < count;
        for r in page {
            if s.entries.len() == want {
                break 'pages;
            }
            s.scanned += 1;
            match r.entry {
                Ok(e) if filter.matches(&e) => s.entries.push(e),
                Ok(_) => {}
                Err(why) => s.skipped.push(why.to_string()),
            }
        }
        if end || s.entries.len() == want {
            break;
        }
    }
    s.entries.reverse();
    Ok(s)
}

/// Runs `audit …`: entries to `out`, skipped entries and notes to `err`;
/// a follow ends when `stop` resolves.
pub(crate) async fn run<C>(
    conn: &mut C,
    key: &str,
    cmd: AuditCommand,
    json: bool,
    out: &mut impl Write,
    err: &mut impl Write,
    stop: impl Future<Output = ()>,
) -> Result<(), Error>
where
    C: redis::aio::ConnectionLike + Send,
{
    let AuditCommand::Tail(args) = cmd;
    let mut printer = Printer { out, err, json, content: args.content, header_done: false };
    match tail(conn, key, &args, &mut printer, stop).await {
        // Whoever read our output has gone (`| head`): that is the end, not a failure.
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

async fn tail<C>(
    conn: &mut C,
    key: &str,
    args: &TailArgs,
    printer: &mut Printer<'_, impl Write, impl Write>,
    stop: impl Future<Output = ()>,
) -> Result<(), Error>
where
    C: redis::aio::ConnectionLike + Send,
{
    let found = scan(conn, key, args.lines, &args.filter, MAX_SCAN).await?;
    for why in found.skipped.iter().rev() {
        writeln!(printer.err, "skipped: {why}")?;
    }
    if found.bounded {
        writeln!(
            printer.err,
            "stopped after reading the newest {} audit entries ({} of {} wanted matched); older ones were not searched",
            found.scanned,
            found.entries.len(),
            args.lines
        )?;
    }
    if found.entries.is_empty() && args.lines > 0 && !printer.json {
        writeln!(
            printer.err,
            "{}",
            if args.filter.is_empty() { "no audit entries" } else { "no matching audit entries" }
        )?;
    }
    for e in &found.entries {
        printer.entry(e)?;
    }
    printer.out.flush()?;
    if !args.follow {
        return Ok(());
    }
    // "0-0": the stream was empty or missing, so everything appended from now on is new.
    let from = found.newest_id.unwrap_or_else(|| "0-0".to_owned());
    follow(conn, key, &args.filter, from, printer, stop).await
}

async fn follow<C>(
    conn: &mut C,
    key: &str,
    filter: &Filter,
    mut last: String,
    printer: &mut Printer<'_, impl Write, impl Write>,
    stop: impl Future<Output = ()>,
) -> Result<(), Error>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut stop = std::pin::pin!(stop);
    loop {
        let page = tokio::select! {
            () = &mut stop => return Ok(()),
            page = audit::after(conn, key, &last, PAGE) => page?,
        };
        let full = page.len() == PAGE;
        for r in page {
            last = r.id;
            match r.entry {
                Ok(e) if filter.matches(&e) => printer.entry(&e)?,
                Ok(_) => {}
                Err(why) => writeln!(printer.err, "skipped: {why}")?,
            }
        }
        printer.out.flush()?;
        if !full {
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// Writes entries in the chosen form; the human form's header comes once,
/// before the first entry (with `--follow`, perhaps long after the start).
struct Printer<'a, W, E> {
    out: &'a mut W,
    /// Skipped entries and notes, apart from the entries.
    err: &'a mut E,
    json: bool,
    content: bool,
    header_done: bool,
}

impl<W: Write, E: Write> Printer<'_, W, E> {
    fn entry(&mut self, e: &Entry) -> std::io::Result<()> {
        if self.json {
            return render::json_line(self.out, e);
        }
        if !self.header_done {
            self.out.write_all(render::header().as_bytes())?;
            self.header_done = true;
        }
        self.out.write_all(render::line(e, self.content).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn tail_args(args: &[&str]) -> Result<TailArgs, clap::Error> {
        let cli = Cli::try_parse_from(["botqctl", "audit", "tail"].into_iter().chain(args.iter().copied()))?;
        match cli.command {
            Command::Audit(AuditCommand::Tail(args)) => Ok(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn tail_shows_twenty_entries_unfiltered_by_default() {
        let a = tail_args(&[]).unwrap();
        assert_eq!((a.lines, a.follow, a.content), (20, false, false));
        assert!(a.filter.is_empty());
    }

    #[test]
    fn tail_takes_a_count_follow_and_filters() {
        let a = tail_args(&["-n", "5", "-f", "--bot", "qq-main", "--skill", "agent", "--outcome", "denied"]).unwrap();
        assert_eq!((a.lines, a.follow), (5, true));
        assert_eq!(
            a.filter,
            Filter {
                bot: Some("qq-main".into()),
                skill: Some("agent".into()),
                outcome: Some(OutcomeArg::Denied),
                ..Filter::default()
            }
        );
        assert_eq!(tail_args(&["--lines", "7", "--follow"]).unwrap().lines, 7);
    }

    #[test]
    fn an_unknown_outcome_or_count_is_a_usage_error() {
        assert!(tail_args(&["--outcome", "exploded"]).is_err());
        assert!(tail_args(&["-n", "-1"]).is_err());
        assert!(tail_args(&["-n", "many"]).is_err());
    }
}
