//! The operator's console in a real browser: headless Chromium from Debian's
//! packages, driven over WebDriver (`chromedriver`, with thirtyfour), against
//! a real stack — Redis, ingest, the worker with the bot handler,
//! botq-fakeplatform with its stand-in agent — and the real `botqctl web`
//! binary.
//!
//! It walks the console as a new operator would: the agent refuses an
//! event, the event is dead-lettered, the operator finds it, sees why it died
//! and which replica gave up (with its version), replays it, and the
//! platform gets exactly one answer. Then the guards, from the browser: a POST
//! without the CSRF token is refused, and off loopback the console asks for
//! its token. Every page is photographed into `BOTQ_CONSOLE_SHOTS` (default
//! `target/console-shots`); `make console-shots` writes them to docs/console/,
//! where the README shows them.
//!
//! A missing `chromium` or `chromedriver` is a loud failure with the install
//! hint, never a skip (`.ci/run` installs both).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use botq_e2e::{Fake, REPLY_WORKER, eventually, post};
use botq_fakeplatform::Options;
use botq_testkit::ingest::IngestHandle;
use botq_testkit::process::{binary, write_config};
use botq_testkit::redis::RedisServer;
use botq_testkit::sign;
use botq_testkit::worker::{WorkerHandle, config};
use botq_worker::BotHandler;
use thirtyfour::{By, ChromiumLikeCapabilities, DesiredCapabilities, SameSite, WebDriver};

const GROUP: i64 = 5_550_001;
const USER: i64 = 424_242;
const ACCESS_TOKEN: &str = "onebot-access-token-not-for-pages";
const CONSOLE_TOKEN: &str = "console-token-for-the-browser-test";

/// One OneBot bot whose messages go to the fake platform's stand-in agent,
/// which refuses a message containing `reject` once (a 4xx: dead at once).
fn toml(redis_url: &str, fake: u16) -> String {
    format!(
        r#"redis_url = "{redis_url}"
{REPLY_WORKER}

[ingest.rate_limit]
group_per_sec = 0.0
sender_per_sec = 0.0

[[skill]]
name = "agent"
url = "http://127.0.0.1:{fake}/_fake/agent"
timeout_ms = 3000

[[bot]]
id = "ob"
platform = "onebot"
app_id = "10001000"
access_token = "{ACCESS_TOKEN}"
api_base = "http://127.0.0.1:{fake}/onebot"
group_mode = "all"
default_skill = "agent"
reply_limit = {{ chat_per_sec = 0.0, bot_per_sec = 0.0 }}
"#
    )
}

/// A child process killed when dropped.
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The program `env` names, else the first of `names` on PATH.
fn program(env: &str, names: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "{} not found: install Debian's chromium and chromium-driver (`apt-get install chromium chromium-driver`; \
         .ci/run does), or set {env}",
        names.join(" / ")
    );
}

/// chromedriver on a free port and a headless Chromium session through it.
async fn browser() -> (WebDriver, Kid) {
    let driver = program("BOTQ_CHROMEDRIVER", &["chromedriver"]);
    let chromium = program("BOTQ_CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]);
    let port = free_port();
    let kid = Kid(Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver"));
    let url = format!("http://127.0.0.1:{port}");
    let status = format!("{url}/status");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if http.get(&status).send().await.is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "chromedriver did not answer at {status}");
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(&chromium.to_string_lossy()).unwrap();
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--window-size=1400,1000",
        "--force-color-profile=srgb",
    ] {
        caps.add_arg(arg).unwrap();
    }
    let client = WebDriver::new(&url, caps).await.expect("a Chromium session");
    (client, kid)
}

/// `botqctl web` on a free port; returns its URL (from the line it prints).
fn console(config: &std::path::Path, listen: &str, token: Option<&str>) -> (String, Kid) {
    let mut cmd = Command::new(binary("botqctl"));
    cmd.arg("--config").arg(config).args(["web", "--listen", listen]);
    cmd.env_remove("BOTQ_CONSOLE_TOKEN");
    if let Some(t) = token {
        cmd.env("BOTQ_CONSOLE_TOKEN", t);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start botqctl web");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("botqctl web said {line:?}"))
        .trim_end_matches(';')
        .trim_end_matches('/')
        .to_owned();
    (url, Kid(child))
}

/// Where the screenshots go.
fn shots() -> PathBuf {
    let dir = std::env::var_os("BOTQ_CONSOLE_SHOTS")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-shots"), PathBuf::from);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shoot(b: &WebDriver, name: &str) {
    let png = b.screenshot_as_png().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

async fn open(b: &WebDriver, url: &str) -> String {
    b.goto(url).await.unwrap();
    b.source().await.unwrap()
}

/// Clicks `css` and waits for the page that follows to contain `expect`
/// (a click does not wait for the navigation it starts).
async fn click(b: &WebDriver, css: &str, expect: &str) -> String {
    b.find(By::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).click().await.unwrap();
    let mut page = String::new();
    for _ in 0..100 {
        page = b.source().await.unwrap();
        if page.contains(expect) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("after clicking {css}, no {expect:?} in {page}");
}

fn xlen(redis: &RedisServer, key: &str) -> u64 {
    redis::cmd("XLEN").arg(key).query(&mut redis.conn()).unwrap()
}

#[tokio::test]
async fn a_new_operator_finds_a_dead_letter_sees_why_and_replays_it_once() {
    let redis = RedisServer::start();
    let url = redis.url();
    let mut fake_port = 0;
    let (cfg, fake) = Fake::start(Options::default(), |port| {
        fake_port = port;
        config(&toml(&url, port), &url)
    })
    .await;
    let file = write_config(&toml(&url, fake_port));
    let ingest = IngestHandle::start(&cfg).await;
    let worker = WorkerHandle::start(&cfg, Arc::new(BotHandler::new(&cfg.app()).unwrap())).await;
    let consumer = worker.engine.consumer().to_owned();

    // The agent refuses the message: a 4xx is permanent, so it dies at once.
    let now = botq_core::now_ms() / 1000;
    let hook =
        sign::onebot("10001000", None, &sign::onebot_group_body("10001000", 1, GROUP, USER, "please reject this", now));
    assert_eq!(post(&reqwest::Client::new(), &ingest.webhook_url("ob"), &hook).await.0, 204);
    assert!(eventually(Duration::from_secs(10), || xlen(&redis, "botq:{q0}:dlq") == 1).await, "dead-lettered");
    assert!(fake.state.deliveries().is_empty(), "no answer yet");

    let (base, _console) = console(&file, "127.0.0.1:0", None);
    let (b, _driver) = browser().await;

    let overview = open(&b, &format!("{base}/")).await;
    assert!(overview.contains("Overview") && overview.contains("botq:{q0}:stream"), "{overview}");
    assert!(overview.contains("Dead letters"));

    let fleet = open(&b, &format!("{base}/fleet")).await;
    assert!(fleet.contains(&consumer), "the worker replica is listed: {fleet}");
    assert!(fleet.contains(botq_core::build::VERSION) && fleet.contains(botq_core::build::GIT_SHA));
    assert!(fleet.contains("alive"));
    shoot(&b, "fleet").await;

    let list = open(&b, &format!("{base}/dead-letters")).await;
    assert!(list.contains("1 dead letter"), "{list}");
    assert!(list.contains("upstream answered 422"), "the list says why: {list}");
    shoot(&b, "dead-letters").await;

    let detail = click(&b, "a[href^='/dead-letters/0/']", "Why it died").await;
    assert!(detail.contains("upstream answered 422"), "{detail}");
    assert!(detail.contains(&consumer), "the replica that gave up: {detail}");
    assert!(detail.contains("The replica that gave up"), "with its fleet row (version, sha): {detail}");
    assert!(detail.contains(">failed<"), "its attempt in the audit log: {detail}");
    assert!(!detail.contains("please reject this"), "message text stays hidden without --show-text");
    shoot(&b, "dead-letter").await;

    let confirm = click(&b, "form[action='/dead-letters/replay'] button.primary", "dead letter?").await;
    assert!(confirm.contains("Replay 1 dead letter?"), "{confirm}");
    shoot(&b, "confirm-replay").await;
    let done = click(&b, "form[action='/dead-letters/replay'] button.primary", "Replayed").await;
    assert!(done.contains("Replayed 1 dead letter (0 already gone)"), "{done}");
    shoot(&b, "replayed").await;

    let answered = fake.state.wait_for_deliveries(1, Duration::from_secs(10)).await.expect("the replay is answered");
    assert_eq!(answered[0].text, "(fake agent) you said: please reject this");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.state.deliveries().len(), 1, "answered exactly once");
    assert_eq!(xlen(&redis, "botq:{q0}:dlq"), 0);
    // How it went: the replayed event's attempts, the last one ok, each with
    // the replica that ran it.
    let attempts = click(&b, "a[href^='/audit?event=']", "Audit log").await;
    assert!(attempts.contains(">ok<") && attempts.contains(">failed<"), "both attempts: {attempts}");
    assert!(attempts.contains(&consumer), "the replica that handled it: {attempts}");

    // Some traffic, so the overview's charts and SLOs have something to show
    // once the services' next history step is written. Four groups: one
    // chat gets at most 30 replies a minute (the storm guard).
    for id in 2..42 {
        let text = format!("hello {id}");
        let group = GROUP + id % 4;
        let hook = sign::onebot("10001000", None, &sign::onebot_group_body("10001000", id, group, USER, &text, now));
        assert_eq!(post(&reqwest::Client::new(), &ingest.webhook_url("ob"), &hook).await.0, 204);
    }
    fake.state.wait_for_deliveries(41, Duration::from_secs(15)).await.expect("every message answered");
    let mut conn = redis.async_conn().await;
    let keys = botq_core::keys::Keys::new("botq", 1);
    let mut written = false;
    for _ in 0..150 {
        let points =
            botq_core::history::read(&mut conn, &keys, botq_core::now_ms(), Duration::from_secs(60)).await.unwrap();
        if points.iter().map(|p| p.replies).sum::<u64>() >= 41 {
            written = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(written, "the services wrote their counts to the history within a step");
    let overview = open(&b, &format!("{base}/")).await;
    assert!(overview.contains(">met<"), "both SLOs are met on loopback: {overview}");
    assert!(!overview.contains("no traffic"), "{overview}");
    shoot(&b, "overview").await;

    let audit = open(&b, &format!("{base}/audit")).await;
    assert!(audit.contains(">failed<") && audit.contains(">ok<"), "both attempts are in the audit log: {audit}");
    shoot(&b, "audit").await;
    let chats = open(&b, &format!("{base}/chats")).await;
    assert!(chats.contains("Backlogged") && chats.contains("Storm guard"));
    shoot(&b, "chats").await;
    let settings = open(&b, &format!("{base}/config")).await;
    assert!(settings.contains("valid") && !settings.contains(ACCESS_TOKEN), "secrets never reach the page");
    shoot(&b, "config").await;

    // A POST without the CSRF token, from the page itself, is refused and changes nothing.
    let status = b
        .execute_async(
            "const done = arguments[0];
             fetch('/dead-letters/purge', {method: 'POST', body: new URLSearchParams({scope: 'filter'})})
               .then(r => done(r.status));",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(status.json(), &serde_json::json!(403));

    b.quit().await.unwrap();
    worker.shutdown().await.unwrap();
}

#[tokio::test]
async fn off_loopback_the_console_needs_its_token() {
    let redis = RedisServer::start();
    let file = write_config(&format!("redis_url = \"{}\"\n", redis.url()));

    // Without a token it refuses to listen off loopback at all.
    let out = Command::new(binary("botqctl"))
        .arg("--config")
        .arg(&file)
        .args(["web", "--listen", "0.0.0.0:0"])
        .env_remove("BOTQ_CONSOLE_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a token"), "{err}");

    let (base, _console) = console(&file, "0.0.0.0:0", Some(CONSOLE_TOKEN));
    let base = base.replace("0.0.0.0", "127.0.0.1");
    let (b, _driver) = browser().await;
    b.goto(&format!("{base}/dead-letters")).await.unwrap();
    assert_eq!(b.current_url().await.unwrap().path(), "/login", "every page asks for the token first");
    shoot(&b, "login").await;

    b.find(By::Css("#token")).await.unwrap().send_keys("not-the-console-token").await.unwrap();
    let refused = click(&b, "button[type='submit']", "not the token").await;
    assert!(refused.contains("That is not the token.") && !refused.contains(CONSOLE_TOKEN), "{refused}");

    b.find(By::Css("#token")).await.unwrap().send_keys(CONSOLE_TOKEN).await.unwrap();
    let page = click(&b, "button[type='submit']", "Dead letters</h1>").await;
    assert_eq!(b.current_url().await.unwrap().path(), "/dead-letters", "back to the page asked for");
    assert!(page.contains("Sign out"), "{page}");
    let cookies = b.get_all_cookies().await.unwrap();
    let session = cookies.iter().find(|c| c.name == "botq_console").expect("a session cookie");
    assert_eq!(session.http_only, Some(true));
    assert_eq!(session.same_site, Some(SameSite::Strict));
    b.quit().await.unwrap();
}
