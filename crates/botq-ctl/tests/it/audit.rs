//! `botqctl audit tail` against a real redis-server: counting, filters, JSON
//! lines, undecodable entries, following, and the scan bound. Entries are
//! written with `botq_core::audit::append`: the same `XADD` (`audit::xadd`)
//! the worker's audit writer pipelines.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use botq_core::audit::{Access, Entry, Outcome};
use botq_ctl::audit::{Filter, OutcomeArg, scan};
use botq_testkit::process::{TempPath, write_config};
use botq_testkit::redis::RedisServer;

const AUDIT: &str = "botq:audit";

use botq_testkit::fixtures::QQ_MAIN_BOT as BOT;

/// How long a test waits for a line from a following botqctl.
const WITHIN: Duration = Duration::from_secs(10);

fn config() -> TempPath {
    write_config(BOT)
}

fn command(redis_url: &str, config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_botqctl"));
    cmd.arg("--config").arg(config).args(args).env("BOTQ_REDIS_URL", redis_url).env_remove("BOTQ_CONFIG");
    cmd
}

fn botqctl(server: &RedisServer, args: &[&str]) -> Output {
    command(&server.url(), &config(), args).output().expect("run botqctl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The request ids of the entry lines of a human tail (the last column), header skipped.
fn request_ids(o: &Output) -> Vec<String> {
    assert!(o.status.success(), "botqctl failed: {}", stderr(o));
    let text = stdout(o);
    let mut lines = text.lines();
    if let Some(header) = lines.next() {
        assert!(header.starts_with("time "), "{text}");
    }
    lines.map(|l| l.split_whitespace().last().unwrap_or_default().to_owned()).collect()
}

fn entry(i: u32) -> Entry {
    Entry {
        id: String::new(),
        ts_ms: 1_700_000_000_000 + i64::from(i) * 1000,
        request_id: format!("req-{i}"),
        event_id: format!("ev-{i}"),
        bot: "qq-main".into(),
        platform: "qq".into(),
        chat_kind: "group".into(),
        chat_id: "chat-1".into(),
        sender_id: "user-1".into(),
        skill: "ping".into(),
        kind: "builtin".into(),
        access: Access::Read,
        outcome: Outcome::Ok,
        reason: String::new(),
        attempt: 1,
        replica: format!("worker-{}", i % 2),
        duration_ms: 3,
        request_bytes: 40,
        response_bytes: 4,
        replies: 1,
        text: None,
        answer: None,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// Appends the entries as the worker does.
fn append(server: &RedisServer, entries: &[Entry]) {
    runtime().block_on(async {
        let mut conn = server.async_conn().await;
        for e in entries {
            botq_core::audit::append(&mut conn, AUDIT, 100_000, e).await.expect("append audit entry");
        }
    });
}

/// An entry the worker could not have written: an outcome no botq knows. Returns its id.
fn append_undecodable(server: &RedisServer) -> String {
    let mut c = server.conn();
    let mut cmd = redis::cmd("XADD");
    cmd.arg(AUDIT).arg("*");
    for (k, v) in entry(99).to_fields() {
        cmd.arg(k).arg(if k == "outcome" { "exploded".to_owned() } else { v });
    }
    cmd.query(&mut c).expect("XADD")
}

/// botqctl with `--follow`, its stdout read line by line; killed (SIGKILL) on drop.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Kept while botqctl runs: the file is removed on drop.
    _config: TempPath,
}

impl Follower {
    fn start(server: &RedisServer, args: &[&str]) -> Self {
        let config = config();
        let mut child = command(&server.url(), &config, &["audit", "tail", "--follow"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start botqctl");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, _config: config }
    }

    fn next_line(&self) -> String {
        self.lines.recv_timeout(WITHIN).expect("botqctl printed a line in time")
    }

    /// Sends SIGTERM and waits for the exit.
    fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("run kill").success());
        let deadline = Instant::now() + WITHIN;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within {WITHIN:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    assert!(o.status.success(), "botqctl failed: {}", stderr(o));
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

#[test]
fn tail_prints_the_newest_n_entries_oldest_first() {
    let server = RedisServer::start();
    append(&server, &(0..5).map(entry).collect::<Vec<_>>());

    assert_eq!(request_ids(&botqctl(&server, &["audit", "tail", "-n", "3"])), ["req-2", "req-3", "req-4"]);
    assert_eq!(request_ids(&botqctl(&server, &["audit", "tail"])).len(), 5, "the default 20 takes all five");

    let o = botqctl(&server, &["audit", "tail", "-n", "1"]);
    let line = stdout(&o).lines().nth(1).expect("one entry line").to_owned();
    assert!(line.starts_with("2023-11-14T22:13:24.000Z  qq-main"), "RFC 3339 UTC time first: {line}");
    assert_eq!(stderr(&o), "");
}

#[test]
fn each_filter_applies_before_counting_even_across_pages() {
    let server = RedisServer::start();
    // The two failures are the oldest entries, behind more than a page of others.
    let mut entries = vec![
        Entry { outcome: Outcome::Failed, reason: "timeout".into(), ..entry(0) },
        Entry { outcome: Outcome::Failed, reason: "upstream_5xx".into(), ..entry(1) },
    ];
    entries.extend((2..1200).map(entry));
    entries.push(Entry { bot: "lark-main".into(), ..entry(1200) });
    entries.push(Entry { skill: "agent".into(), access: Access::Write, ..entry(1201) });
    entries.push(Entry { bot: "lark-main".into(), skill: "agent".into(), ..entry(1202) });
    append(&server, &entries);

    let tail = |args: &[&str]| request_ids(&botqctl(&server, &[&["audit", "tail"][..], args].concat()));
    assert_eq!(tail(&["-n", "2", "--outcome", "failed"]), ["req-0", "req-1"]);
    assert_eq!(tail(&["--bot", "lark-main"]), ["req-1200", "req-1202"]);
    assert_eq!(tail(&["--skill", "agent"]), ["req-1201", "req-1202"]);
    assert_eq!(tail(&["--bot", "lark-main", "--skill", "agent", "--outcome", "ok"]), ["req-1202"]);
    assert_eq!(tail(&["-n", "3", "--bot", "qq-main", "--skill", "ping"]), ["req-1197", "req-1198", "req-1199"]);

    let o = botqctl(&server, &["audit", "tail", "--outcome", "denied"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), ""));
    assert_eq!(stderr(&o), "no matching audit entries\n");
}

#[test]
fn json_lines_parse_back_and_carry_content_which_the_human_form_shows_only_on_request() {
    let server = RedisServer::start();
    let with_content = Entry {
        skill: "agent".into(),
        kind: "http".into(),
        access: Access::Write,
        outcome: Outcome::Degraded,
        reason: "breaker_open".into(),
        text: Some("/ask weather".into()),
        answer: Some("sunny\nand warm".into()),
        ..entry(1)
    };
    append(&server, &[entry(0), with_content.clone()]);

    let lines = json_lines(&botqctl(&server, &["audit", "tail", "--json"]));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["request_id"], "req-0");
    assert!(lines[0].get("text").is_none() && lines[0].get("reason").is_none(), "{}", lines[0]);
    let v = &lines[1];
    assert!(v["id"].as_str().is_some_and(|id| id.contains('-')), "the stream id: {v}");
    let mut expected = serde_json::to_value(&with_content).unwrap();
    expected["id"] = v["id"].clone();
    assert_eq!(v, &expected);

    let plain = stdout(&botqctl(&server, &["audit", "tail", "-n", "1"]));
    assert_eq!(plain.lines().count(), 2, "header and one line, no content: {plain}");
    assert!(plain.contains("degraded  breaker_open"), "{plain}");
    let shown = stdout(&botqctl(&server, &["audit", "tail", "-n", "1", "--content"]));
    assert!(shown.ends_with("    text:   /ask weather\n    answer: sunny\n            and warm\n"), "{shown}");
}

#[test]
fn an_undecodable_entry_is_skipped_and_named_on_stderr() {
    let server = RedisServer::start();
    append(&server, &[entry(0)]);
    let bad = append_undecodable(&server);
    append(&server, &[entry(1)]);

    let o = botqctl(&server, &["audit", "tail"]);
    assert_eq!(request_ids(&o), ["req-0", "req-1"]);
    assert_eq!(stderr(&o), format!("skipped: audit entry {bad} has an unknown outcome \"exploded\"\n"));

    let o = botqctl(&server, &["audit", "tail", "-n", "1", "--json"]);
    assert_eq!(json_lines(&o)[0]["request_id"], "req-1");
    assert_eq!(stderr(&o), "", "an entry older than those shown is not read");
}

#[test]
fn follow_prints_entries_appended_after_it_started_and_sigterm_ends_it_with_exit_0() {
    let server = RedisServer::start();
    append(&server, &[entry(0)]);
    let f = Follower::start(&server, &["--json", "--bot", "qq-main"]);
    let first: serde_json::Value = serde_json::from_str(&f.next_line()).unwrap();
    assert_eq!(first["request_id"], "req-0", "the tail comes first");

    append(&server, &[Entry { bot: "lark-main".into(), ..entry(1) }, entry(2)]);
    let next: serde_json::Value = serde_json::from_str(&f.next_line()).unwrap();
    assert_eq!(next["request_id"], "req-2", "new, and filtered like the tail");

    assert!(f.terminate().success());
}

#[test]
fn follow_on_a_missing_stream_prints_the_header_with_the_first_entry() {
    let server = RedisServer::start();
    let f = Follower::start(&server, &[]);
    append(&server, &[entry(7)]);
    assert!(f.next_line().starts_with("time "));
    assert!(f.next_line().ends_with("req-7"));
}

#[test]
fn a_missing_audit_stream_prints_nothing_and_exits_0() {
    let server = RedisServer::start();
    let o = botqctl(&server, &["audit", "tail"]);
    assert_eq!((o.status.code(), stdout(&o).as_str(), stderr(&o).as_str()), (Some(0), "", "no audit entries\n"));
    let o = botqctl(&server, &["audit", "tail", "--json"]);
    assert_eq!((o.status.code(), stdout(&o).as_str(), stderr(&o).as_str()), (Some(0), "", ""));
}

#[test]
fn a_scan_stops_at_its_bound_and_says_whether_older_entries_were_left() {
    let server = RedisServer::start();
    append(&server, &(0..25).map(entry).collect::<Vec<_>>());
    let failed = Filter { outcome: Some(OutcomeArg::Failed), ..Filter::default() };
    runtime().block_on(async {
        let mut conn = server.async_conn().await;
        let s = scan(&mut conn, AUDIT, 5, &failed, 10).await.unwrap();
        assert_eq!((s.entries.len(), s.scanned, s.bounded), (0, 10, true));
        assert!(s.newest_id.is_some(), "a follow would start after the newest entry");

        let s = scan(&mut conn, AUDIT, 5, &failed, 25).await.unwrap();
        assert_eq!((s.scanned, s.bounded), (25, false), "the bound reached exactly at the stream's start");

        let s = scan(&mut conn, AUDIT, 3, &Filter::default(), 10).await.unwrap();
        let ids: Vec<&str> = s.entries.iter().map(|e| e.request_id.as_str()).collect();
        assert_eq!((ids, s.scanned, s.bounded), (vec!["req-22", "req-23", "req-24"], 3, false));
    });
}
