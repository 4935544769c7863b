//! The real `botq-ingest` binary: bad config fails fast, SIGTERM drains and exits 0.

use std::time::Duration;

use botq_testkit::process::{ServiceProcess, assert_logs_hide_redis_passwords, run_to_end, write_config};
use botq_testkit::redis::{RedisServer, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_botq-ingest");

fn toml(redis: &str, listen: u16, admin: u16, extra: &str) -> String {
    format!(
        r#"
redis_url = "{redis}"
[ingest]
listen = "127.0.0.1:{listen}"
admin_listen = "127.0.0.1:{admin}"
{extra}
[[bot]]
id = "qq-main"
platform = "qq"
app_id = "102000000"
secret = {{ env = "BOTQ_TEST_QQ_SECRET_THAT_IS_NOT_SET" }}
"#
    )
}

#[test]
fn bad_config_exits_non_zero_with_key_paths_before_binding_any_port() {
    let (listen, admin) = (free_port(), free_port());
    let path = write_config(&toml("redis://127.0.0.1:1", listen, admin, "body_limit = 10"));
    let out = run_to_end(std::path::Path::new(BIN), &path, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ingest.body_limit: unknown field"), "{stderr}");
    assert!(std::net::TcpListener::bind(("127.0.0.1", listen)).is_ok(), "the webhook port was never bound");
    assert!(std::net::TcpListener::bind(("127.0.0.1", admin)).is_ok(), "the admin port was never bound");
}

#[test]
fn a_missing_secret_variable_is_named_and_its_value_never_printed() {
    let path = write_config(&toml("redis://127.0.0.1:1", free_port(), free_port(), ""));
    let out = run_to_end(std::path::Path::new(BIN), &path, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bot[0].secret: environment variable BOTQ_TEST_QQ_SECRET_THAT_IS_NOT_SET is not set"),
        "{stderr}"
    );
}

fn with_a_secret(text: &str) -> String {
    text.replace(r#"{ env = "BOTQ_TEST_QQ_SECRET_THAT_IS_NOT_SET" }"#, r#""naOC0ocQE3shWLAfffVLB1rhYPG7""#)
}

#[test]
fn no_log_line_shows_a_redis_password_of_any_url_form() {
    let path = write_config(&with_a_secret(&toml("redis://127.0.0.1:1", free_port(), free_port(), "")));
    // And the lines of the failing connection attempts after it.
    let lines = ["botq-ingest starting", "redis not reachable yet"];
    assert_logs_hide_redis_passwords(std::path::Path::new(BIN), &path, &lines);
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let redis = RedisServer::start();
    let text = with_a_secret(&toml(&redis.url(), free_port(), free_port(), ""));
    let path = write_config(&text);
    let mut svc = ServiceProcess::start(std::path::Path::new(BIN), &path);
    assert!(svc.wait_ready(Duration::from_secs(20)), "healthcheck never passed");
    let status = svc.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status:?}");
}

/// Under a low open-file limit, the connection cap is lowered to fit (with
/// room for Redis and the admin listener) and the operator is told.
#[test]
fn the_connection_cap_is_fitted_under_the_open_file_limit() {
    use std::io::{BufRead, BufReader};
    let path = write_config(&with_a_secret(&toml("redis://127.0.0.1:1", free_port(), free_port(), "")));
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 256 && exec "$0" --config "$1""#)
        .arg(BIN)
        .arg(&*path)
        .env("BOTQ_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    let line = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains("does not fit under the open-file limit") => break Some(l),
            Ok(l) => seen.push(l),
            Err(_) => break None,
        }
    };
    drop(child.kill());
    drop(child.wait());
    let line = line.unwrap_or_else(|| panic!("no warning about the cap; log: {seen:#?}"));
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(json["open_file_limit"], 256, "{line}");
    assert_eq!(json["using"], 128, "256 less the 128 kept for Redis, admin and logs: {line}");
}

/// A Lark bot without an encrypt key has no replay protection: ingest says
/// so at start, naming the bot's key path.
#[test]
fn a_lark_bot_without_an_encrypt_key_is_warned_about_at_start() {
    let text = format!(
        "{}\n[[bot]]\nid = \"lark-plain\"\nplatform = \"lark\"\napp_id = \"cli_a\"\napp_secret = \"s\"\nverification_token = \"t\"\n",
        with_a_secret(&toml("redis://127.0.0.1:1", free_port(), free_port(), ""))
    );
    let path = write_config(&text);
    let svc = ServiceProcess::start(std::path::Path::new(BIN), &path);
    let warned = svc.wait_log("no encrypt_key: Lark signs nothing", Duration::from_secs(10));
    let log = svc.log();
    svc.kill();
    assert!(warned, "{log}");
    assert!(log.contains("bot[1]"), "the warning names the bot: {log}");
}
