//! The operator's console (`botqctl web`) against a real Redis: every page
//! and action, over real HTTP on loopback.
//!
//! Each test starts a `redis-server`, fills it through botq's own functions
//! (events enqueued and dead-lettered by `queue::finish` as a worker does,
//! audit entries, fleet heartbeats and a goodbye, a backlogged chat, a
//! history step), serves a [`Console`] on 127.0.0.1:0 and talks to it with
//! reqwest as a browser would, but by hand: no cookie store (the session
//! cookie is read from `set-cookie` and sent back), no redirects followed,
//! the CSRF token read from the page's hidden field.
//!
//! What is checked:
//! - every page answers with its data and the security headers;
//! - replay and purge take two POSTs, the confirmation says how many, and a
//!   confirmation whose letters changed meanwhile changes nothing (409);
//! - every POST needs its session's CSRF token and the console's own origin;
//! - bad input is a 400 that names the field, never a 500;
//! - token mode signs in and out; loopback mode refuses a foreign `Host`;
//! - `read_only` refuses actions, `show_text` alone shows what users wrote;
//! - no page shows the bot's secret.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use botq_core::audit::{self, Access as SkillAccess, Entry, Outcome};
use botq_core::config::Config;
use botq_core::envelope::Envelope;
use botq_core::fleet::{self, Replica, Role};
use botq_core::history::{self, Counters};
use botq_core::ids::BotId;
use botq_core::keys::Keys;
use botq_core::queue::{self, Claim, ClaimRequest, DeadLetter, Settlement, Verdict};
use botq_core::redis_conn::{Redis, connect_lazy};
use botq_ctl::web::{self, Access, Console};
use botq_testkit::events::{Enqueuer, envelope};
use botq_testkit::fixtures::{QQ_MAIN_BOT, QQ_SECRET};
use botq_testkit::process::write_config;
use botq_testkit::redis::RedisServer;
use reqwest::header::{self, HeaderMap};

const TOKEN: &str = "a-long-enough-console-token";
/// The worker replica that gives up on every dead letter here.
const WORKER: &str = "worker-a-1";
const LEASE: Duration = Duration::from_secs(30);
const HOUR: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------
// Redis with botq's data in it

/// A stream entry as XRANGE answers: its id and its fields.
type StreamEntry = (String, Vec<(String, Vec<u8>)>);

/// A Redis, the config file naming it, and botq's writers.
struct Store {
    _redis: RedisServer,
    config: Box<dyn AsRef<Path> + Send + Sync>,
    conn: Redis,
    keys: Keys,
    enq: Enqueuer,
}

impl Store {
    async fn start() -> Self {
        let redis = RedisServer::start();
        let config = write_config(&format!("redis_url = \"{}\"\n{QQ_MAIN_BOT}", redis.url()));
        let settings = Config::load_queue_settings(&config).expect("queue settings");
        let keys = settings.keys();
        let mut conn = connect_lazy(&settings.redis_target(), Duration::from_secs(1)).expect("redis url");
        for q in 0..keys.shards() {
            queue::ensure_group(&mut conn, &keys.shard(q)).await.unwrap();
        }
        let enq = Enqueuer::new(&redis.url(), &settings.key_prefix, settings.shards).await;
        Self { _redis: redis, config: Box::new(config), conn, keys, enq }
    }

    fn path(&self) -> &Path {
        (*self.config).as_ref()
    }

    /// Enqueues an event and lets [`WORKER`] read, claim and give up on it,
    /// as the worker's settle batch does.
    async fn kill(&mut self, bot: &str, chat: &str, event: &str, text: &str, reason: &str) -> DeadLetter {
        let q = self.keys.shard_of(&BotId::parse(bot).unwrap(), chat);
        let k = self.keys.shard(q);
        assert!(self.enq.push(envelope(bot, chat, event, text)).await, "{event} enqueued");
        let read = queue::read(&mut self.conn, q, &k, WORKER, 10, Duration::from_millis(50)).await.unwrap();
        assert_eq!(read.len(), 1, "{event} delivered");
        let d = &read[0];
        let e = d.envelope.as_ref().unwrap();
        let req = ClaimRequest {
            claim_key: k.claim(&e.bot, &e.event_id),
            chat_lock: k.chat_lock(&e.bot, &e.chat_id),
            stream_id: d.id.clone(),
            token: format!("{WORKER}/{}", d.id),
            verify: true,
        };
        let claimed = queue::claim(&mut self.conn, &k, WORKER, LEASE, true, std::slice::from_ref(&req)).await;
        assert_eq!(claimed.unwrap(), [Claim::Fresh]);
        let verdict =
            Verdict::Dead { reason: reason.into(), attempts: 2, now_ms: botq_core::now_ms(), dlq_max_len: 1000 };
        let s = Settlement::new(&k, &d.id, &req.token, &req.claim_key, &req.chat_lock, None, &d.raw, &verdict);
        queue::finish(&mut self.conn, &k, WORKER, &[s]).await.unwrap();
        let letter = self.letters().await.into_iter().find(|l| l.src == d.id).expect("the dead letter");
        assert_eq!(letter.by, WORKER);
        letter
    }

    /// Every dead letter, oldest first.
    async fn letters(&mut self) -> Vec<DeadLetter> {
        let mut all = Vec::new();
        for q in 0..self.keys.shards() {
            all.extend(queue::dead_letters(&mut self.conn, q, &self.keys.shard(q), None, 1000).await.unwrap());
        }
        all
    }

    /// The event ids of the dead letters, oldest first.
    async fn dead_events(&mut self) -> Vec<String> {
        self.letters().await.iter().map(|l| l.envelope().unwrap().event_id).collect()
    }

    async fn stream_len(&mut self, q: u16) -> u64 {
        redis::cmd("XLEN").arg(self.keys.shard(q).stream()).query_async(&mut self.conn).await.unwrap()
    }

    /// The event ids in queue `q`'s stream, oldest first.
    async fn stream_events(&mut self, q: u16) -> Vec<String> {
        let entries: Vec<StreamEntry> = redis::cmd("XRANGE")
            .arg(self.keys.shard(q).stream())
            .arg("-")
            .arg("+")
            .query_async(&mut self.conn)
            .await
            .unwrap();
        entries
            .iter()
            .map(|(_, fields)| {
                let env = fields.iter().find(|(k, _)| k == "env").map(|(_, v)| v).expect("env field");
                Envelope::decode(env).unwrap().event_id
            })
            .collect()
    }

    async fn audit(
        &mut self,
        bot: &str,
        event: &str,
        skill: &str,
        access: SkillAccess,
        outcome: Outcome,
        reason: &str,
    ) {
        let e = Entry {
            ts_ms: botq_core::now_ms(),
            event_id: event.into(),
            bot: bot.into(),
            skill: skill.into(),
            access,
            outcome,
            reason: reason.into(),
            attempt: 1,
            ..Entry::sample()
        };
        audit::append(&mut self.conn, &self.keys.audit(), 1000, &e).await.unwrap();
    }
}

fn replica(name: &str, role: Role, version: &str, git_sha: &str) -> Replica {
    let mut r = Replica::new(name.to_owned(), role, "box-1".to_owned(), botq_core::now_ms());
    r.version = version.to_owned();
    r.git_sha = git_sha.to_owned();
    r
}

// ---------------------------------------------------------------------------
// The console and a hand-driven browser

#[derive(Clone, Copy, Default)]
struct Opts {
    token: bool,
    read_only: bool,
    show_text: bool,
}

/// A running console and the one session a test drives it with.
struct Web {
    base: String,
    http: reqwest::Client,
    /// The session cookie (`name=value`), once the console set one.
    cookie: Option<String>,
    /// Stops the console when the last browser of it is dropped.
    _stop: Arc<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Debug)]
struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The body as text: tags dropped, entities decoded, whitespace collapsed.
    fn text(&self) -> String {
        text_of(&self.body)
    }

    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        attr_after(&self.body, r#"name="csrf" value=""#).unwrap_or_else(|| panic!("no csrf field in {}", self.body))
    }

    /// The hidden fields of the POST form whose action is `action`.
    fn form(&self, action: &str) -> Vec<(String, String)> {
        let tag = format!(r#"action="{action}""#);
        let start = self
            .body
            .match_indices("<form ")
            .map(|(at, _)| at)
            .find(|&at| self.body[at..].split_once('>').is_some_and(|(open, _)| open.contains(&tag)))
            .unwrap_or_else(|| panic!("no form for {action} in {}", self.body));
        let form = &self.body[start..];
        let form = &form[..form.find("</form>").unwrap()];
        form.split("<input ")
            .skip(1)
            .filter(|i| i.starts_with(r#"type="hidden""#))
            .map(|i| (attr_after(i, r#"name=""#).unwrap(), attr_after(i, r#"value=""#).unwrap_or_default()))
            .collect()
    }

    /// The cells of the table row that contains `needle`, as text.
    fn row(&self, needle: &str) -> Vec<String> {
        let at = self.body.find(needle).unwrap_or_else(|| panic!("{needle} not on the page"));
        let start = self.body[..at].rfind("<tr").expect("inside a row");
        let row = &self.body[start..];
        let row = &row[..row.find("</tr>").unwrap()];
        row.split("<td").skip(1).map(|c| text_of(&format!("<td{}", &c[..c.find("</td>").unwrap_or(c.len())]))).collect()
    }

    /// Status and security headers every answer carries.
    fn assert_secure(&self, what: &str) {
        let csp = self.header("content-security-policy");
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{what}: CSP {csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{what}: CSP {csp}");
        assert_eq!(self.header("x-frame-options"), "DENY", "{what}");
        assert_eq!(self.header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(self.header("cache-control"), "no-store", "{what}");
        let referrer = self.header("referrer-policy");
        assert!(["no-referrer", "same-origin"].contains(&referrer), "{what}: no referrer to other sites: {referrer}");
    }
}

fn attr_after(s: &str, prefix: &str) -> Option<String> {
    let at = s.find(prefix)? + prefix.len();
    let end = s[at..].find('"')?;
    Some(unescape(&s[at..at + end]))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'").replace("&amp;", "&")
}

fn text_of(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `name=value` of the session cookie a `set-cookie` sets, and its attributes.
fn session_cookie(headers: &HeaderMap) -> Option<(String, String)> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("botq_console="))
        .map(|v| {
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            (pair.trim().to_owned(), attrs.to_owned())
        })
}

impl Web {
    async fn start(store: &Store, opts: Opts) -> Self {
        let settings = Config::load_queue_settings(store.path()).unwrap();
        let console = Arc::new(Console {
            redis: connect_lazy(&settings.redis_target(), Duration::from_secs(1)).unwrap(),
            keys: settings.keys(),
            settings,
            config_path: store.path().to_path_buf(),
            read_only: opts.read_only,
            show_text: opts.show_text,
            access: Access::new(opts.token.then_some(TOKEN)),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(web::serve(listener, console, async move {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        Self { base, http, cookie: None, _stop: Arc::new(stop) }
    }

    /// Another browser on the same console, with no session yet.
    fn another_browser(&self) -> Self {
        Self { base: self.base.clone(), http: self.http.clone(), cookie: None, _stop: self._stop.clone() }
    }

    /// Sends `req` with the session cookie; keeps a cookie the answer sets
    /// (a cleared one, too).
    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = match &self.cookie {
            Some(c) => req.header(header::COOKIE, c),
            None => req,
        };
        let resp = req.send().await.expect("the console answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        if let Some((pair, _)) = session_cookie(&headers) {
            self.cookie = Some(pair);
        }
        let body = resp.text().await.unwrap();
        assert_ne!(status, 500, "never a 500: {body}");
        Page { status, headers, body }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    /// POSTs the hidden fields of `page`'s form for `action`, plus `extra`:
    /// what a browser sends on a click.
    async fn submit(&mut self, page: &Page, action: &str, extra: &[(&str, &str)]) -> Page {
        let fields = page.form(action);
        let mut form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        form.extend_from_slice(extra);
        self.post(action, &form).await
    }

    /// Opens a page to get a session; returns its CSRF token.
    async fn session(&mut self) -> String {
        let p = self.get("/dead-letters").await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(self.cookie.is_some(), "the first page starts a session");
        p.csrf()
    }
}

fn letter_ref(d: &DeadLetter) -> String {
    format!("{}/{}", d.shard, d.id)
}

// ---------------------------------------------------------------------------
// 1. Every page, with its data

#[tokio::test]
async fn every_page_shows_its_data_behind_the_security_headers() {
    let mut s = Store::start().await;
    let dead = s.kill("qq-main", "chat-1", "ev-dead", "/ping please", "chat does not exist").await;
    for ev in ["ev-wait-1", "ev-wait-2"] {
        assert!(s.enq.push(envelope("qq-main", "chat-2", ev, "/ping")).await);
    }
    // The audit log, oldest first: two attempts of the dead event, then others.
    s.audit("qq-main", "ev-dead", "agent", SkillAccess::Write, Outcome::Retry, "upstream_timeout").await;
    s.audit("qq-main", "ev-dead", "agent", SkillAccess::Write, Outcome::Failed, "upstream_500").await;
    s.audit("bot-b", "ev-other", "search", SkillAccess::Read, Outcome::Ok, "cache_miss").await;
    s.audit("qq-main", "ev-later", "lookup", SkillAccess::Read, Outcome::Failed, "lookup_broke").await;
    // The fleet: a live ingest, the live worker that gave up, an ingest that left.
    let ingest = replica("ingest-a-1", Role::Ingest, "9.9.8-console", "beefcafe99");
    let mut worker = replica(WORKER, Role::Worker, "9.9.9-console", "c0ffee1234");
    worker.image_digest = Some("sha256:0123456789abcdef0123456789abcdef".into());
    worker.lanes = vec!["default".into()];
    let left = replica("ingest-b-1", Role::Ingest, "9.9.7-console", "0ldc0de77");
    for r in [&ingest, &worker, &left] {
        fleet::beat(&mut s.conn, &s.keys, r).await.unwrap();
    }
    let left = Replica { stopped_at_ms: Some(botq_core::now_ms()), ..left };
    fleet::leave(&mut s.conn, &s.keys, &left).await.unwrap();
    // A chat over its fair share, three events waiting in its own backlog.
    let bot = BotId::parse("qq-main").unwrap();
    let home = s.keys.chat_home(&bot, "chat-noisy");
    let _: () = redis::cmd("ZADD")
        .arg(home.backlogged())
        .arg(botq_core::now_ms())
        .arg(botq_core::keys::backlog_member(&bot, "chat-noisy"))
        .query_async(&mut s.conn)
        .await
        .unwrap();
    for ev in ["ev-b1", "ev-b2", "ev-b3"] {
        let _: () = redis::cmd("RPUSH")
            .arg(home.backlog(&bot, "chat-noisy"))
            .arg(envelope("qq-main", "chat-noisy", ev, "spam").encode())
            .query_async(&mut s.conn)
            .await
            .unwrap();
    }
    // A history step: three fast acks, one reply in 700 ms.
    let c = Counters::default();
    for _ in 0..3 {
        c.ingested();
        c.acked(Duration::from_millis(3));
    }
    c.replied(Duration::from_millis(700));
    history::flush(&mut s.conn, &s.keys, &c, botq_core::now_ms(), HOUR).await.unwrap();

    let mut w = Web::start(&s, Opts::default()).await;
    let detail = format!("/dead-letters/{}", letter_ref(&dead));
    for path in ["/", "/fleet", "/dead-letters", detail.as_str(), "/audit", "/chats", "/config"] {
        let p = w.get(path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        p.assert_secure(path);
        assert!(p.header("content-type").starts_with("text/html"), "{path}");
        assert!(!p.body.contains(QQ_SECRET), "{path} shows the bot's secret");
    }

    let overview = w.get("/").await;
    let row = overview.row("botq:{q0}:stream");
    // Lane, queue, stream, depth, lag, pending, delayed, backlogged chats, dead letters, consumers.
    assert_eq!(row[0], "default");
    assert_eq!((row[3].as_str(), row[7].as_str(), row[8].as_str()), ("2", "1", "1"), "{row:?}");
    let t = overview.text();
    assert!(t.contains("1 ingest · 1 worker"), "{t}");
    assert!(t.contains("Dead letters 1"), "{t}");
    assert!(t.contains("100.00 % of 3 acks within 100 ms"), "the history's acks: {t}");
    assert!(t.contains("p95 ≤ 1 s over 1 replies"), "the history's replies: {t}");

    let fleet_page = w.get("/fleet").await;
    let t = fleet_page.text();
    assert!(t.contains("2 alive of 3 seen"), "{t}");
    let row = fleet_page.row(r#"id="replica-worker-a-1""#);
    assert_eq!(&row[..3], ["alive", WORKER, "worker"], "{row:?}");
    assert_eq!(&row[4..7], ["9.9.9-console", "c0ffee1234", "sha256:0123456789ab…"], "{row:?}");
    assert_eq!(row[10], "default", "{row:?}");
    let row = fleet_page.row(r#"id="replica-ingest-a-1""#);
    assert_eq!((row[0].as_str(), row[4].as_str(), row[5].as_str()), ("alive", "9.9.8-console", "beefcafe99"));
    let row = fleet_page.row(r#"id="replica-ingest-b-1""#);
    assert_eq!((row[0].as_str(), row[4].as_str(), row[5].as_str()), ("stopped", "9.9.7-console", "0ldc0de77"));
    assert!(row[8].contains("stopped"), "{row:?}");

    let list = w.get("/dead-letters").await;
    assert!(list.text().contains("1 dead letter"), "{}", list.text());
    let row = list.row(&format!(r#"href="{detail}""#));
    // (checkbox), letter, died, reason, attempts, bot, lane / queue, event, chat.
    assert_eq!(row[1], letter_ref(&dead));
    assert_eq!(&row[3..], ["chat does not exist", "2", "qq-main", "default / 0", "ev-dead", "chat-1"], "{row:?}");

    let page = w.get(&detail).await;
    let t = page.text();
    assert!(t.contains("Why it died chat does not exist"), "{t}");
    assert!(t.contains("Failed attempts 2"), "{t}");
    assert!(t.contains(&format!("Gave up {WORKER}")), "{t}");
    assert!(!t.contains("no longer in the fleet record"), "{t}");
    let row = page.row(r#"id="replica-worker-a-1""#);
    assert_eq!((row[0].as_str(), row[4].as_str()), ("alive", "9.9.9-console"), "the replica that gave up: {row:?}");
    let row = page.row("upstream_timeout");
    assert_eq!(&row[1..5], ["1", "agent", "retry", "upstream_timeout"], "{row:?}");
    assert_eq!(&page.row("upstream_500")[3..5], ["failed", "upstream_500"]);
    assert!(!t.contains("cache_miss") && !t.contains("lookup_broke"), "only this event's attempts: {t}");
    assert!(t.contains(r#""event_id": "ev-dead""#), "the envelope: {t}");

    let order = |p: &Page, reasons: &[&str]| {
        let t = p.text();
        let at: Vec<Option<usize>> = reasons.iter().map(|r| t.find(r)).collect();
        assert!(at.iter().all(Option::is_some), "{reasons:?} in {t}");
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{reasons:?} in this order: {t}");
    };
    let all = ["lookup_broke", "cache_miss", "upstream_500", "upstream_timeout"];
    order(&w.get("/audit").await, &all);
    for (query, shown) in [
        ("outcome=failed", &["lookup_broke", "upstream_500"][..]),
        ("access=write", &["upstream_500", "upstream_timeout"]),
        ("bot=bot-b", &["cache_miss"]),
        ("bot=qq-main&access=read", &["lookup_broke"]),
    ] {
        let p = w.get(&format!("/audit?{query}")).await;
        assert_eq!(p.status, 200, "{query}");
        order(&p, shown);
        for hidden in all.iter().filter(|r| !shown.contains(r)) {
            assert!(!p.text().contains(hidden), "{query} leaves out {hidden}: {}", p.text());
        }
    }
    let none = w.get("/audit?outcome=denied").await;
    assert!(none.text().contains("No audit entries match"), "{}", none.text());

    let chats = w.get("/chats").await;
    let row = chats.row("chat-noisy");
    assert_eq!(&row[..4], ["qq-main", "chat-noisy", "default / 0", "3"], "{row:?}");
    assert!(chats.text().contains("No skill is cooling down"));

    let config = w.get("/config").await;
    let t = config.text();
    assert!(t.contains("valid 1 bots"), "{t}");
    assert!(t.contains(r#"secret = "***""#), "the literal secret as ***: {t}");
    assert!(t.contains(r#"id = "qq-main""#), "{t}");
    assert!(!config.body.contains(QQ_SECRET), "never the secret");
    assert!(!t.contains(":***@"), "a password-less URL has nothing to hide: {t}");
}

// ---------------------------------------------------------------------------
// 2, 3. Replay and purge, each after its confirmation

#[tokio::test]
async fn replaying_one_letter_asks_first_then_puts_the_event_back_in_its_queue() {
    let mut s = Store::start().await;
    let dead = s.kill("qq-main", "chat-1", "ev-replay", "/ping", "handler timed out").await;
    let other = s.kill("qq-main", "chat-1", "ev-stays", "/ping", "<script>alert(1)</script> timed out").await;
    assert_eq!(s.stream_len(dead.shard).await, 0);
    let mut w = Web::start(&s, Opts::default()).await;
    let list = w.get("/dead-letters").await;
    assert!(!list.body.contains("<script>alert"), "what a letter says is escaped");
    assert!(list.body.contains("&lt;script&gt;alert(1)&lt;/script&gt; timed out"));
    let csrf = list.csrf();
    let id = letter_ref(&dead);

    let ask = w.post("/dead-letters/replay", &[("csrf", &csrf), ("scope", "ids"), ("id", &id)]).await;
    assert_eq!(ask.status, 200, "{}", ask.body);
    ask.assert_secure("confirmation");
    let t = ask.text();
    assert!(t.contains("Replay 1 dead letter?"), "{t}");
    assert!(t.contains("ev-replay") && !t.contains("ev-stays"), "{t}");
    let form = ask.form("/dead-letters/replay");
    assert!(form.contains(&("confirm".into(), "1".into())), "{form:?}");
    assert!(form.contains(&("id".into(), id.clone())), "{form:?}");
    assert_eq!(s.dead_events().await, ["ev-replay", "ev-stays"], "asking changes nothing");
    assert_eq!(s.stream_len(dead.shard).await, 0);

    let done = w.submit(&ask, "/dead-letters/replay", &[]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let t = done.text();
    assert!(t.contains("Replayed 1 dead letter (0 already gone)"), "{t}");
    assert_eq!(s.dead_events().await, ["ev-stays"], "only the confirmed letter left the DLQ");
    assert_eq!(s.stream_events(dead.shard).await, ["ev-replay"], "the event is back in its queue");
    assert_eq!(s.letters().await[0].id, other.id);
    let row = done.row(&id);
    assert_eq!(row[1], "ev-replay");
    assert!(row[2].contains('-'), "the new stream id: {row:?}");

    let again = w.get(&format!("/dead-letters/{id}")).await;
    assert_eq!(again.status, 404, "the letter's page is gone with it");
}

#[tokio::test]
async fn purging_by_filter_counts_what_matches_and_deletes_only_that() {
    let mut s = Store::start().await;
    s.kill("bot-a", "chat-1", "ev-a1", "/ping", "permanent: no").await;
    s.kill("bot-b", "chat-1", "ev-b1", "/ping", "permanent: no").await;
    s.kill("bot-a", "chat-2", "ev-a2", "/ping", "permanent: no").await;
    let mut w = Web::start(&s, Opts::default()).await;

    let list = w.get("/dead-letters?bot=bot-a").await;
    let t = list.text();
    assert!(t.contains("2 dead letters match"), "{t}");
    assert!(t.contains("Purge the 2 matching…"), "{t}");
    assert!(t.contains("ev-a1") && t.contains("ev-a2") && !t.contains("ev-b1"), "{t}");
    let by_filter = list.form("/dead-letters/replay");
    assert!(by_filter.contains(&("bot".into(), "bot-a".into())), "the filter rides along: {by_filter:?}");

    // The "Purge all matching" button: the filter form, sent to the purge action.
    let form: Vec<(&str, &str)> = by_filter.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let ask = w.post("/dead-letters/purge", &form).await;
    assert_eq!(ask.status, 200, "{}", ask.body);
    let t = ask.text();
    assert!(t.contains("Purge 2 dead letters?") && t.contains("cannot be undone"), "{t}");
    assert!(t.contains("ev-a1") && t.contains("ev-a2") && !t.contains("ev-b1"), "{t}");
    assert!(ask.form("/dead-letters/purge").contains(&("confirm".into(), "2".into())));
    assert_eq!(s.letters().await.len(), 3, "asking changes nothing");

    // A letter of bot A that dies after the confirmation is not swept along.
    s.kill("bot-a", "chat-3", "ev-a3", "/ping", "permanent: no").await;
    let done = w.submit(&ask, "/dead-letters/purge", &[]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.text().contains("Purged 2 dead letters."), "{}", done.text());
    assert_eq!(s.dead_events().await, ["ev-b1", "ev-a3"], "B's letter and the late one remain");
}

// ---------------------------------------------------------------------------
// 4, 5. CSRF, origin, session; a confirmation that went stale

#[tokio::test]
async fn a_post_without_its_sessions_csrf_token_or_from_another_site_changes_nothing() {
    let mut s = Store::start().await;
    let dead = s.kill("qq-main", "chat-1", "ev-csrf", "/ping", "permanent: no").await;
    let id = letter_ref(&dead);
    let mut w = Web::start(&s, Opts::default()).await;
    let csrf = w.session().await;
    let form = |csrf: Option<&str>| {
        let mut f =
            vec![("scope".to_owned(), "ids".to_owned()), ("confirm".into(), "1".into()), ("id".into(), id.clone())];
        if let Some(c) = csrf {
            f.push(("csrf".into(), c.to_owned()));
        }
        f
    };
    let url = format!("{}/dead-letters/purge", w.base);

    let p = w.send(w.http.post(&url).form(&form(None))).await;
    assert_eq!(p.status, 403, "no csrf field: {}", p.body);
    assert!(p.text().contains("CSRF token is missing or wrong"), "{}", p.text());
    p.assert_secure("403");

    let wrong = "0".repeat(64);
    let p = w.send(w.http.post(&url).form(&form(Some(&wrong)))).await;
    assert_eq!(p.status, 403, "a wrong token: {}", p.body);
    let p = w.send(w.http.post(&url).form(&form(Some("not-hex")))).await;
    assert_eq!(p.status, 403, "a malformed token");

    // Another session's token does not do either.
    let mut other = w.another_browser();
    let theirs = other.session().await;
    assert_ne!(theirs, csrf);
    let p = w.send(w.http.post(&url).form(&form(Some(&theirs)))).await;
    assert_eq!(p.status, 403, "another session's token");

    let p = w.send(w.http.post(&url).header(header::ORIGIN, "http://evil.example").form(&form(Some(&csrf)))).await;
    assert_eq!(p.status, 403, "a cross-origin POST: {}", p.body);
    assert!(p.text().contains("another site"), "{}", p.text());
    let p = w.send(w.http.post(&url).header("sec-fetch-site", "cross-site").form(&form(Some(&csrf)))).await;
    assert_eq!(p.status, 403, "cross-site by Sec-Fetch-Site");

    let p = w.http.post(&url).form(&form(Some(&csrf))).send().await.unwrap();
    assert_eq!(p.status().as_u16(), 403, "no session cookie");
    assert!(p.text().await.unwrap().contains("no session"));

    assert_eq!(s.dead_events().await, ["ev-csrf"], "nothing was purged");

    // The same POST with its own token, from its own origin, is taken.
    let origin = w.base.clone();
    let p = w.send(w.http.post(&url).header(header::ORIGIN, origin).form(&form(Some(&csrf)))).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.text().contains("Purged 1 dead letter."));
    assert!(s.letters().await.is_empty());
}

#[tokio::test]
async fn a_confirmation_whose_letter_went_meanwhile_is_refused_whole() {
    let mut s = Store::start().await;
    let gone = s.kill("qq-main", "chat-1", "ev-gone", "/ping", "permanent: no").await;
    let kept = s.kill("qq-main", "chat-2", "ev-kept", "/ping", "permanent: no").await;
    let mut w = Web::start(&s, Opts::default()).await;
    let csrf = w.session().await;
    let (g, k) = (letter_ref(&gone), letter_ref(&kept));
    let ask = w.post("/dead-letters/replay", &[("csrf", &csrf), ("scope", "ids"), ("id", &g), ("id", &k)]).await;
    assert!(ask.text().contains("Replay 2 dead letters?"), "{}", ask.text());

    // Someone else (another operator, `botqctl dlq purge`) purges one of them.
    let n = queue::purge(&mut s.conn, &s.keys.shard(gone.shard), std::slice::from_ref(&gone.id)).await.unwrap();
    assert_eq!(n, 1);

    let done = w.submit(&ask, "/dead-letters/replay", &[]).await;
    assert_eq!(done.status, 409, "{}", done.body);
    let t = done.text();
    assert!(t.contains(&g) && t.contains("nothing was changed"), "{t}");
    assert_eq!(s.dead_events().await, ["ev-kept"], "the other letter was not replayed");
    assert_eq!(s.stream_len(kept.shard).await, 0, "nothing went back into the queue");

    let purge = w
        .post("/dead-letters/purge", &[("csrf", &csrf), ("scope", "ids"), ("confirm", "2"), ("id", &g), ("id", &k)])
        .await;
    assert_eq!(purge.status, 409, "a purge too: {}", purge.body);
    assert_eq!(s.dead_events().await, ["ev-kept"], "the other letter was not purged");
}

// ---------------------------------------------------------------------------
// 6. Bad input

#[tokio::test]
async fn bad_input_is_a_400_that_names_the_field_and_an_unknown_page_a_404() {
    let mut s = Store::start().await;
    let dead = s.kill("qq-main", "chat-1", "ev-bad", "/ping", "permanent: no").await;
    let mut w = Web::start(&s, Opts::default()).await;
    let csrf = w.session().await;
    for (path, field) in [
        ("/dead-letters?page=0", "page: "),
        ("/dead-letters?page=abc", "page: "),
        ("/dead-letters?within=soon", "within: "),
        ("/dead-letters?older=-1h", "older: "),
        ("/dead-letters?lane=nope", "lane: "),
        ("/dead-letters?lane=a%20b", "lane: "),
        ("/dead-letters?queue=99", "queue: "),
        ("/dead-letters?queue=x", "queue: "),
        ("/dead-letters?bot=a*b", "bot: "),
        ("/dead-letters/99/1-0", "queue: "),
        ("/dead-letters/0/abc", "id: "),
        ("/dead-letters/0/99999999999999999999-0", "id: "),
        ("/audit?outcome=zzz", "outcome: "),
        ("/audit?access=admin", "access: "),
        ("/audit?before=x", "before: "),
        ("/audit?before=1-99999999999999999999", "before: "),
        ("/?span=7h", "span: "),
    ] {
        let p = w.get(path).await;
        assert_eq!(p.status, 400, "{path}: {}", p.body);
        p.assert_secure(path);
        assert!(p.text().contains(field), "{path} names {field}: {}", p.text());
    }
    let id = letter_ref(&dead);
    for (form, field) in [
        (vec![("scope", "ids"), ("confirm", "2"), ("id", id.as_str())], "confirm: "),
        (vec![("scope", "ids"), ("confirm", "one"), ("id", id.as_str())], "confirm: "),
        (vec![("scope", "filter"), ("confirm", "1"), ("bot", "qq-main")], "confirm: "),
        (vec![("id", id.as_str())], "scope: "),
        (vec![("scope", "everything")], "scope: "),
        (vec![("scope", "ids")], "select at least one"),
        (vec![("scope", "ids"), ("confirm", "0")], "id: "),
        (vec![("scope", "ids"), ("id", "1-0")], "id: "),
        (vec![("scope", "ids"), ("id", "nope")], "id: "),
        (vec![("scope", "ids"), ("id", "99999/1-0")], "id: "),
        (vec![("scope", "ids"), ("id", "0/99999999999999999999-0")], "id: "),
        (vec![("scope", "filter"), ("within", "soon")], "within: "),
    ] {
        for action in ["/dead-letters/replay", "/dead-letters/purge"] {
            let mut f = form.clone();
            f.push(("csrf", &csrf));
            let p = w.post(action, &f).await;
            assert_eq!(p.status, 400, "{action} {form:?}: {}", p.body);
            assert!(p.text().contains(field), "{action} {form:?} names {field}: {}", p.text());
        }
    }
    assert_eq!(s.dead_events().await, ["ev-bad"], "no bad form changed anything");

    // A page past the last (a bookmark after a purge) shows the last one.
    let last = w.get("/dead-letters?page=9").await;
    assert_eq!(last.status, 200);
    assert!(last.text().contains("1 dead letter"), "{}", last.text());

    for path in ["/nope", "/dead-letters/0/1-0", "/assets/nope.css"] {
        let p = w.get(path).await;
        assert_eq!(p.status, 404, "{path}: {}", p.body);
        p.assert_secure(path);
    }
    let css = w.get("/assets/console.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
}

// ---------------------------------------------------------------------------
// 7, 8. Token mode; loopback mode's Host check

#[tokio::test]
async fn token_mode_signs_in_with_the_token_and_out_for_good() {
    let s = Store::start().await;
    let mut w = Web::start(&s, Opts { token: true, ..Opts::default() }).await;

    let p = w.get("/").await;
    assert_eq!(p.status, 303);
    assert_eq!(p.header("location"), "/login?next=%2F");
    assert!(w.cookie.is_none(), "no session before signing in");
    let p = w.get("/dead-letters?bot=qq-main").await;
    assert_eq!(p.header("location"), "/login?next=%2Fdead-letters%3Fbot%3Dqq-main");
    let p = w.post("/dead-letters/purge", &[("scope", "filter")]).await;
    assert_eq!(p.status, 401, "an action without a session");

    let login = w.get("/login?next=%2F").await;
    assert_eq!(login.status, 200);
    login.assert_secure("/login");
    assert!(login.body.contains(r#"type="password" name="token""#));
    assert_eq!(login.form("/login"), [("next".to_owned(), "/".to_owned())]);

    let wrong = w.post("/login", &[("token", "not-the-token-at-all"), ("next", "/")]).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text().contains("That is not the token."), "{}", wrong.text());
    assert!(!wrong.body.contains(TOKEN), "the real token never reaches a page");
    assert!(session_cookie(&wrong.headers).is_none() && w.cookie.is_none());
    let near = w.post("/login", &[("token", &TOKEN[..TOKEN.len() - 1]), ("next", "/")]).await;
    assert_eq!(near.status, 401, "the token is checked whole");

    // A login sends the browser only within the console: not to another
    // site, nor to one a browser reaches by dropping a tab or newline.
    for next in
        ["https://evil.example/", "//evil.example/", "/\\evil.example/", "/\t/evil.example/", "/\n/evil.example/"]
    {
        let ok = w.post("/login", &[("token", TOKEN), ("next", next)]).await;
        assert_eq!((ok.status, ok.header("location")), (303, "/"), "next = {next:?}");
    }
    let ok = w.post("/login", &[("token", TOKEN), ("next", "/")]).await;
    assert_eq!((ok.status, ok.header("location")), (303, "/"));
    let (pair, attrs) = session_cookie(&ok.headers).expect("a session cookie");
    assert!(pair.len() > "botq_console=".len() + 32, "{pair}");
    assert!(attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict") && attrs.contains("Path=/"), "{attrs}");
    assert!(!attrs.contains(TOKEN) && !pair.contains(TOKEN));
    let session = w.cookie.clone().unwrap();

    let home = w.get("/").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.text().contains("Sign out") && home.text().contains("Overview"));
    assert!(!home.body.contains(TOKEN));

    let out = w.submit(&home, "/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), "/login");
    let (cleared, attrs) = session_cookie(&out.headers).expect("the cookie is cleared");
    assert_eq!(cleared, "botq_console=");
    assert!(attrs.contains("Max-Age=0"), "{attrs}");

    // The old session is over, even for a browser that kept its cookie.
    w.cookie = Some(session);
    let p = w.get("/").await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.header("location"), "/login?next=%2F");
    let p = w.post("/dead-letters/purge", &[("csrf", &home.csrf()), ("scope", "filter")]).await;
    assert_eq!(p.status, 401);
}

#[tokio::test]
async fn loopback_mode_answers_only_to_a_loopback_host() {
    let mut s = Store::start().await;
    s.kill("qq-main", "chat-1", "ev-host", "/ping", "permanent: no").await;
    let mut w = Web::start(&s, Opts::default()).await;
    let url = format!("{}/", w.base);
    for host in ["evil.example:9092", "evil.example", "localhost.evil.example", "10.0.0.1:9092"] {
        let p = w.send(w.http.get(&url).header(header::HOST, host)).await;
        assert_eq!(p.status, 421, "Host {host}: {}", p.body);
        p.assert_secure("421");
        assert!(p.text().contains("answers only to localhost"), "{}", p.text());
        assert!(session_cookie(&p.headers).is_none(), "no session for {host}");
    }
    let csrf = w.session().await;
    let p = w
        .send(
            w.http
                .post(format!("{}/dead-letters/purge", w.base))
                .header(header::HOST, "evil.example:9092")
                .form(&[("csrf", csrf.as_str()), ("scope", "filter")]),
        )
        .await;
    assert_eq!(p.status, 421, "a POST too");
    assert_eq!(s.dead_events().await, ["ev-host"]);
    for host in ["localhost:9092", "127.0.0.1", "[::1]:9092"] {
        let p = w.send(w.http.get(&url).header(header::HOST, host)).await;
        assert_eq!(p.status, 200, "Host {host}: {}", p.body);
    }
    let login = w.get("/login").await;
    assert_eq!((login.status, login.header("location")), (303, "/"), "nothing to sign in to");
}

// ---------------------------------------------------------------------------
// 9, 10. Read-only; message text

#[tokio::test]
async fn a_read_only_console_offers_no_action_and_refuses_one() {
    let mut s = Store::start().await;
    let dead = s.kill("qq-main", "chat-1", "ev-ro", "/ping", "permanent: no").await;
    let mut w = Web::start(&s, Opts { read_only: true, ..Opts::default() }).await;
    let list = w.get("/dead-letters").await;
    assert_eq!(list.status, 200);
    let t = list.text();
    assert!(t.contains("read-only") && t.contains("ev-ro"), "{t}");
    assert!(!t.contains("Replay") && !t.contains("Purge"), "no action buttons: {t}");
    assert!(!list.body.contains(r#"type="checkbox""#), "nothing to select");
    let page = w.get(&format!("/dead-letters/{}", letter_ref(&dead))).await;
    assert!(!page.text().contains("Replay") && !page.text().contains("Purge"), "{}", page.text());

    let csrf = list.csrf();
    let id = letter_ref(&dead);
    for action in ["/dead-letters/replay", "/dead-letters/purge"] {
        let ask = w.post(action, &[("csrf", &csrf), ("scope", "ids"), ("id", &id)]).await;
        assert_eq!(ask.status, 403, "{action}: {}", ask.body);
        assert!(ask.text().contains("read-only"), "{}", ask.text());
        let done = w.post(action, &[("csrf", &csrf), ("scope", "ids"), ("confirm", "1"), ("id", &id)]).await;
        assert_eq!(done.status, 403, "{action}");
    }
    assert_eq!(s.dead_events().await, ["ev-ro"], "the letter is still there");
    assert_eq!(s.stream_len(dead.shard).await, 0);
}

#[tokio::test]
async fn message_text_shows_only_when_the_console_was_started_to_show_it() {
    let mut s = Store::start().await;
    let dead = s.kill("qq-main", "chat-1", "ev-text", "my card number is 4111 1111", "permanent: no").await;
    let e = Entry {
        event_id: "ev-text".into(),
        text: Some("typed by user 9f3e".into()),
        answer: Some("answered 7c1d".into()),
        ..Entry::sample()
    };
    audit::append(&mut s.conn, &s.keys.audit(), 1000, &e).await.unwrap();
    let path = format!("/dead-letters/{}", letter_ref(&dead));
    let mut hidden = Web::start(&s, Opts::default()).await;
    let mut shown = Web::start(&s, Opts { show_text: true, ..Opts::default() }).await;

    for p in [hidden.get(&path).await, hidden.get("/audit").await, hidden.get("/dead-letters").await] {
        assert_eq!(p.status, 200);
        let t = p.text();
        assert!(!t.contains("4111") && !t.contains("9f3e") && !t.contains("7c1d"), "text hidden: {t}");
    }
    let page = hidden.get(&path).await;
    assert!(page.text().contains("hidden: start the console with --show-text"), "{}", page.text());
    assert!(page.text().contains(r#""event_id": "ev-text""#), "the rest of the envelope is there");

    let page = shown.get(&path).await;
    let t = page.text();
    assert!(t.contains(r#""text": "my card number is 4111 1111""#), "{t}");
    assert!(t.contains("typed by user 9f3e"), "the attempt's text: {t}");
    let audit_page = shown.get("/audit").await;
    assert!(audit_page.text().contains("typed by user 9f3e") && audit_page.text().contains("answered 7c1d"));
}
