//! The real `botq-worker` binary: ready once Redis is, SIGTERM drains and exits 0.

use std::time::Duration;

use botq_testkit::fixtures::QQ_MAIN_BOT;
use botq_testkit::process::{ServiceProcess, assert_logs_hide_redis_passwords, run_to_end, write_config};
use botq_testkit::redis::{RedisServer, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_botq-worker");

fn toml(redis: &str, admin: u16, extra: &str) -> String {
    format!(
        r#"
redis_url = "{redis}"
[worker]
admin_listen = "127.0.0.1:{admin}"
{extra}
{QQ_MAIN_BOT}"#
    )
}

#[test]
fn with_default_settings_it_consumes_and_sigterm_drains_and_exits_zero() {
    let redis = RedisServer::start();
    let path = write_config(&toml(&redis.url(), free_port(), ""));
    let mut svc = ServiceProcess::start(std::path::Path::new(BIN), &path);
    assert!(svc.wait_ready(Duration::from_secs(20)), "healthcheck never passed");
    // Default read_block (1 s) is longer than redis-rs's default response timeout:
    // the worker must still read, wait after wait.
    std::thread::sleep(Duration::from_millis(2500));
    let env = botq_testkit::events::envelope("qq-main", "chat-1", "ev-1", "/ping");
    let mut c = redis.conn();
    let _: String =
        redis::cmd("XADD").arg("botq:{q0}:stream").arg("*").arg("env").arg(env.encode()).query(&mut c).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let len: u64 = redis::cmd("XLEN").arg("botq:{q0}:stream").query(&mut c).unwrap();
        if len == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the worker never consumed the event");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(svc.wait_ready(Duration::from_secs(1)), "still ready after idle reads");
    let status = svc.terminate(Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn no_log_line_shows_a_redis_password_of_any_url_form() {
    let path = write_config(&toml("redis://127.0.0.1:1", free_port(), ""));
    // And the lines of the failing connection attempts after it.
    let lines = ["botq-worker starting", "redis not reachable yet"];
    assert_logs_hide_redis_passwords(std::path::Path::new(BIN), &path, &lines);
}

#[test]
fn a_lease_shorter_than_the_handler_timeout_is_refused_at_startup() {
    let path = write_config(&toml("redis://127.0.0.1:1", free_port(), "handler_timeout_secs = 30\nlease_secs = 10"));
    let out = run_to_end(std::path::Path::new(BIN), &path, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("worker.lease_secs: must be ≥ handler_timeout_secs + 5 s (35 s)"), "{stderr}");
}

#[test]
fn healthcheck_fails_while_no_worker_runs() {
    let path = write_config(&toml("redis://127.0.0.1:1", free_port(), ""));
    let out = run_to_end(std::path::Path::new(BIN), &path, &["healthcheck"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
}

#[test]
fn lanes_flag_with_an_unknown_lane_is_refused_at_startup() {
    let path = write_config(&toml("redis://127.0.0.1:1", free_port(), ""));
    let out =
        std::process::Command::new(BIN).arg("--config").arg(&path).args(["--lanes", "default,vip"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(r#"no lane named "vip""#), "{stderr}");
}

#[test]
fn version_names_the_release_and_the_commit() {
    let out = std::process::Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("botq-worker {}", botq_core::build::LONG_VERSION));
}
