//! The real `botqctl` binary against a real redis-server: exit codes, error
//! lines, `status --json` numbers, and DLQ replay (dry run and for real).

use std::path::Path;
use std::process::{Command, Output};

use botq_testkit::events::envelope;
use botq_testkit::process::{TempPath, write_config};
use botq_testkit::redis::RedisServer;
use redis::Commands;

const STREAM: &str = "botq:{q0}:stream";
const DLQ: &str = "botq:{q0}:dlq";
const DELAYED: &str = "botq:{q0}:delayed";
const GROUP: &str = "botq-workers";

use botq_testkit::fixtures::QQ_MAIN_BOT as BOT;

fn config() -> TempPath {
    write_config(BOT)
}

fn botqctl(redis_url: &str, config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_botqctl"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("BOTQ_REDIS_URL", redis_url)
        .env_remove("BOTQ_CONFIG")
        .output()
        .expect("run botqctl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "botqctl failed: {}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

/// A dead letter like finish.lua writes it; returns its DLQ id.
fn dead_letter(c: &mut redis::Connection, event_id: &str, reason: &str) -> String {
    let env = envelope("qq-main", "chat-1", event_id, "/ping").encode();
    redis::cmd("XADD")
        .arg(DLQ)
        .arg("*")
        .arg("env")
        .arg(env)
        .arg("reason")
        .arg(reason)
        .arg("att")
        .arg(3)
        .arg("failed_at")
        .arg(1_700_000_000_000_i64)
        .arg("src")
        .arg("1-0")
        .query(c)
        .unwrap()
}

#[test]
fn config_check_on_a_bad_config_exits_1_naming_the_key_path() {
    let path = write_config(&format!("queues = 0\n{BOT}"));
    let o = botqctl("redis://127.0.0.1:1", &path, &["config", "check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).starts_with("queues: "), "{}", stdout(&o));

    let o = botqctl("redis://127.0.0.1:1", &config(), &["config", "check"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "ok: 1 bots\n"), "no Redis needed");
}

#[test]
fn a_bad_argument_exits_1() {
    let o = botqctl("redis://127.0.0.1:1", &config(), &["dlq", "replay", "--all", "--bot", "qq-main"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
}

#[test]
fn an_unreachable_redis_is_one_line_without_the_password() {
    let port = botq_testkit::redis::free_port();
    let o = botqctl(&format!("redis://:hunter2@127.0.0.1:{port}"), &config(), &["status"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with(&format!("error: cannot reach Redis at redis://:***@127.0.0.1:{port}: ")), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("hunter2"));
}

#[test]
fn an_unreachable_unix_socket_redis_is_named_without_its_query_credentials() {
    let o = botqctl("unix:///nonexistent/botq.sock?db=2&user=ops&pass=hunter2", &config(), &["status"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: cannot reach Redis at unix:///nonexistent/botq.sock?db=2&user=***&pass=***: "),
        "{err}"
    );
    assert!(!err.contains("hunter2") && !err.contains("ops"), "{err}");
}

#[test]
fn status_json_reports_the_numbers_redis_holds() {
    let redis = RedisServer::start();
    let mut c = redis.conn();
    let () = redis::cmd("XGROUP").arg("CREATE").arg(STREAM).arg(GROUP).arg("0").arg("MKSTREAM").query(&mut c).unwrap();
    for i in 0..3 {
        let _: String = c.xadd(STREAM, "*", &[("env", format!("e{i}")), ("att", "0".into())]).unwrap();
    }
    // Two entries delivered to one consumer and not settled: pending 2, lag 1.
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg("w-1")
        .arg("COUNT")
        .arg(2)
        .arg("STREAMS")
        .arg(STREAM)
        .arg(">")
        .query(&mut c)
        .unwrap();
    let _: u64 = c.zadd(DELAYED, "0:x", 1).unwrap();
    dead_letter(&mut c, "ev-a", "boom");
    dead_letter(&mut c, "ev-b", "boom");

    let v = json(&botqctl(&redis.url(), &config(), &["status", "--json"]));
    let s = &v["queues"][0];
    assert_eq!(
        [&s["depth"], &s["lag"], &s["pending"], &s["delayed"], &s["dlq"]].map(|n| n.as_u64().unwrap()),
        [3, 1, 2, 1, 2],
        "{v}"
    );
    assert_eq!(s["consumers"][0]["name"], "w-1");
    assert_eq!(s["consumers"][0]["pending"], 2);

    let v = json(&botqctl(&redis.url(), &config(), &["pending", "--json"]));
    assert_eq!(v["entries"].as_array().unwrap().len(), 2);
    assert_eq!(v["entries"][0]["consumer"], "w-1");
    assert_eq!(v["entries"][0]["deliveries"], 1);
    let v = json(&botqctl(&redis.url(), &config(), &["pending", "--json", "--min-idle-ms", "3600000"]));
    assert_eq!(v["entries"].as_array().unwrap().len(), 0, "nothing idle for an hour");
}

#[test]
fn status_of_a_fresh_redis_is_all_zeros_not_an_error() {
    let redis = RedisServer::start();
    let v = json(&botqctl(&redis.url(), &config(), &["status", "--json"]));
    assert_eq!(v["queues"][0]["depth"], 0);
    assert_eq!(v["queues"][0]["consumers"].as_array().unwrap().len(), 0);
}

#[test]
fn dlq_replay_dry_run_changes_nothing_and_replay_moves_the_event_back_fresh() {
    let redis = RedisServer::start();
    let mut c = redis.conn();
    let id = dead_letter(&mut c, "ev-dead", "chat does not exist");
    let claim = "botq:{q0}:claim:qq-main:ev-dead";
    let () = c.set(claim, "stale-token").unwrap();

    let list = json(&botqctl(&redis.url(), &config(), &["dlq", "list", "--json"]));
    assert_eq!(list["entries"][0]["id"], id.as_str());
    assert_eq!(list["entries"][0]["event_id"], "ev-dead");
    assert_eq!(list["entries"][0]["reason"], "chat does not exist");
    let shown = json(&botqctl(&redis.url(), &config(), &["dlq", "show", &id, "--json"]));
    assert_eq!(shown["envelope"]["event_id"], "ev-dead");

    let dry = json(&botqctl(&redis.url(), &config(), &["dlq", "replay", &id, "--dry-run", "--json"]));
    assert_eq!(dry["replayed"][0]["stream_id"], serde_json::Value::Null);
    assert_eq!((c.xlen::<_, u64>(DLQ).unwrap(), c.xlen::<_, u64>(STREAM).unwrap()), (1, 0), "dry run changed nothing");
    assert!(c.exists::<_, bool>(claim).unwrap());

    let done = json(&botqctl(&redis.url(), &config(), &["dlq", "replay", &id, "--json"]));
    let new_id = done["replayed"][0]["stream_id"].as_str().expect("a new stream id").to_owned();
    assert_eq!(c.xlen::<_, u64>(DLQ).unwrap(), 0);
    let r: redis::streams::StreamRangeReply = c.xrange_all(STREAM).unwrap();
    assert_eq!(r.ids.len(), 1);
    assert_eq!(r.ids[0].id, new_id);
    assert_eq!(r.ids[0].get::<String>("att").as_deref(), Some("0"), "a fresh retry budget");
    assert!(!c.exists::<_, bool>(claim).unwrap(), "the stale claim is gone");
}

/// What an operator looks for first is what died last: `dlq list` pages
/// newest first, and each page names the `--after` of the next.
#[test]
fn dlq_list_pages_newest_first_and_names_the_next_page() {
    let redis = RedisServer::start();
    let mut c = redis.conn();
    let ids: Vec<String> = (0..3).map(|i| dead_letter(&mut c, &format!("ev-{i}"), "boom")).collect();
    let cfg = config();

    let first = json(&botqctl(&redis.url(), &cfg, &["dlq", "list", "--limit", "2", "--json"]));
    let listed = |v: &serde_json::Value| -> Vec<String> {
        v["entries"].as_array().unwrap().iter().map(|e| e["event_id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(listed(&first), ["ev-2", "ev-1"]);
    assert_eq!(first["total"], 3);
    let older = first["older"].as_str().expect("a next page").to_owned();
    assert_eq!(older, format!("0/{}", ids[1]));

    let second = json(&botqctl(&redis.url(), &cfg, &["dlq", "list", "--limit", "2", "--after", &older, "--json"]));
    assert_eq!(listed(&second), ["ev-0"]);
    assert_eq!(second["older"], serde_json::Value::Null, "nothing is older");

    let text = stdout(&botqctl(&redis.url(), &cfg, &["dlq", "list", "--limit", "2"]));
    assert!(text.contains("2 of 3 dead letters, newest first"), "{text}");
    assert!(text.ends_with(&format!("older: botqctl dlq list --after {older}\n")), "{text}");
    let past = stdout(&botqctl(&redis.url(), &cfg, &["dlq", "list", "--after", &format!("0/{}", ids[0])]));
    assert_eq!(past, "no older dead letters\n");
}

#[test]
fn replaying_an_unknown_id_is_a_clear_error_and_changes_nothing() {
    let redis = RedisServer::start();
    let mut c = redis.conn();
    let id = dead_letter(&mut c, "ev-dead", "boom");
    let o = botqctl(&redis.url(), &config(), &["dlq", "replay", &id, "1-0"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "error: no dead letter 1-0\n");
    assert_eq!(c.xlen::<_, u64>(DLQ).unwrap(), 1, "the known id was not replayed either");
}

#[test]
fn purge_deletes_the_selected_dead_letters() {
    let redis = RedisServer::start();
    let mut c = redis.conn();
    let a = dead_letter(&mut c, "ev-a", "boom");
    dead_letter(&mut c, "ev-b", "boom");
    let o = botqctl(&redis.url(), &config(), &["dlq", "purge", "--all", "--dry-run"]);
    assert!(stdout(&o).ends_with("dry run: would delete 2 dead letters\n"), "{}", stdout(&o));
    assert_eq!(c.xlen::<_, u64>(DLQ).unwrap(), 2);
    let o = botqctl(&redis.url(), &config(), &["dlq", "purge", &a]);
    assert_eq!(stdout(&o), "deleted 1 dead letters\n");
    assert_eq!(c.xlen::<_, u64>(DLQ).unwrap(), 1);
}

#[test]
fn queues_can_be_inspected_without_the_bots_secrets() {
    let redis = RedisServer::start();
    let path =
        write_config(&BOT.replace(r#""naOC0ocQE3shWLAfffVLB1rhYPG7""#, r#"{ env = "BOTQ_TEST_SECRET_NOT_SET" }"#));
    let o = botqctl(&redis.url(), &path, &["status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let check = botqctl(&redis.url(), &path, &["config", "check"]);
    assert!(!check.status.success(), "config check still resolves every secret");
    assert!(stdout(&check).contains("BOTQ_TEST_SECRET_NOT_SET"), "{}", stdout(&check));
}
