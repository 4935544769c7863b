//! The real binary: bad flags and bad config exit non-zero; a good config is
//! served and SIGTERM stops it with exit 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_botq-fakeplatform");

const CONFIG: &str = r#"
[[bot]]
id = "qq-main"
platform = "qq"
app_id = "102000000"
secret = "bin-test-secret"
"#;

/// A config file in the temp dir, removed on drop.
fn temp_config(text: &str) -> tempfile::TempPath {
    let mut file = tempfile::Builder::new().prefix("botq-fake-").suffix(".toml").tempfile().expect("create config");
    std::io::Write::write_all(&mut file, text.as_bytes()).expect("write config");
    file.into_temp_path()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn bad_flags_and_bad_config_exit_non_zero_with_the_reason() {
    let good = temp_config(CONFIG);
    let out = Command::new(BIN).arg("--config").arg(&good).args(["--error-rate", "2"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("error-rate"));
    let bad = temp_config("[[bot]]\nid = \"x\"\nplatform = \"qq\"\n");
    let out = Command::new(BIN).arg("--config").arg(&bad).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bot[0].app_id"));
}

#[tokio::test]
async fn the_binary_serves_the_configured_bots_and_exits_zero_on_sigterm() {
    let cfg = temp_config(CONFIG);
    let port = free_port();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("BOTQ_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/app/getAppAccessToken");
    let body = json!({"appId": "102000000", "clientSecret": "bin-test-secret"});
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        match client.post(&url).json(&body).send().await {
            Ok(r) => break r.json::<serde_json::Value>().await.unwrap(),
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("the binary never answered: {e}"),
        }
    };
    assert!(answer["access_token"].is_string(), "{answer}");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}
