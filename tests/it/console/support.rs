//! The test kit of the console tests: a Redis filled through botq's own
//! functions ([`Store`]) and a console driven by hand as a browser would
//! ([`Web`], [`Page`]).

pub(crate) use std::path::Path;
pub(crate) use std::sync::Arc;
pub(crate) use std::time::Duration;

pub(crate) use botq_core::audit::{self, Access as SkillAccess, Entry, Outcome};
pub(crate) use botq_core::config::Config;
pub(crate) use botq_core::envelope::Envelope;
pub(crate) use botq_core::fleet::{self, Replica, Role};
pub(crate) use botq_core::history::{self, Counters};
pub(crate) use botq_core::ids::BotId;
pub(crate) use botq_core::keys::Keys;
pub(crate) use botq_core::queue::{self, Claim, ClaimRequest, DeadLetter, Held, Settlement, Verdict};
pub(crate) use botq_core::redis_conn::{Redis, connect_lazy};
pub(crate) use botq_ctl::web::{self, Access, Console};
pub(crate) use botq_testkit::events::{Enqueuer, envelope};
pub(crate) use botq_testkit::fixtures::{QQ_MAIN_BOT, QQ_SECRET};
pub(crate) use botq_testkit::process::write_config;
pub(crate) use botq_testkit::redis::RedisServer;
pub(crate) use reqwest::header::{self, HeaderMap};

pub(crate) const TOKEN: &str = "a-long-enough-console-token";
/// The worker replica that gives up on every dead letter here.
pub(crate) const WORKER: &str = "worker-a-1";
pub(crate) const LEASE: Duration = Duration::from_secs(30);
pub(crate) const HOUR: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------
// Redis with botq's data in it

/// A stream entry as XRANGE answers: its id and its fields.
pub(crate) type StreamEntry = (String, Vec<(String, Vec<u8>)>);

/// A Redis, the config file naming it, and botq's writers.
pub(crate) struct Store {
    pub(crate) _redis: RedisServer,
    pub(crate) config: Box<dyn AsRef<Path> + Send + Sync>,
    pub(crate) conn: Redis,
    pub(crate) keys: Keys,
    pub(crate) enq: Enqueuer,
}

impl Store {
    pub(crate) async fn start() -> Self {
        Self::start_with("").await
    }

    /// A store whose config starts with `top` (top-level settings such as `queues = 4`).
    pub(crate) async fn start_with(top: &str) -> Self {
        let redis = RedisServer::start();
        let config = write_config(&format!("redis_url = \"{}\"\n{top}\n{QQ_MAIN_BOT}", redis.url()));
        let settings = Config::load_queue_settings(&config).expect("queue settings");
        let keys = settings.keys();
        let mut conn = connect_lazy(&settings.redis_target(), Duration::from_secs(1)).expect("redis url");
        for q in 0..keys.queue_count() {
            queue::ensure_group(&mut conn, &keys.queue(q)).await.unwrap();
        }
        let enq = Enqueuer::new(&redis.url(), &settings.key_prefix, settings.queues).await;
        Self { _redis: redis, config: Box::new(config), conn, keys, enq }
    }

    pub(crate) fn path(&self) -> &Path {
        (*self.config).as_ref()
    }

    /// Enqueues an event and lets [`WORKER`] read, claim and give up on it,
    /// as the worker's settle batch does.
    pub(crate) async fn kill(&mut self, bot: &str, chat: &str, event: &str, text: &str, reason: &str) -> DeadLetter {
        let q = self.keys.home_queue(&BotId::parse(bot).unwrap(), chat);
        let k = self.keys.queue(q);
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
        let held = Held { id: &d.id, token: &req.token, claim_key: &req.claim_key, chat_lock: &req.chat_lock };
        let s = Settlement::new(&k, &held, None, &d.raw, &verdict);
        queue::finish(&mut self.conn, &k, WORKER, &[s]).await.unwrap();
        let letter = self.letters().await.into_iter().find(|l| l.src == d.id).expect("the dead letter");
        assert_eq!(letter.by, WORKER);
        letter
    }

    /// Writes `n` dead letters of `bot` straight into queue `q`'s DLQ with
    /// the fields `finish.lua` writes, died at `failed_at_ms` (their ids
    /// carry that time too, as when Redis stored them then), in one
    /// pipeline: a full DLQ in a second. Returns their ids, oldest first.
    pub(crate) async fn bury(&mut self, q: u16, bot: &str, n: usize, reason: &str, failed_at_ms: i64) -> Vec<String> {
        let k = self.keys.queue(q);
        let mut pipe = redis::pipe();
        for i in 0..n {
            let env = envelope(bot, &format!("chat-{i}"), &format!("ev-{q}-{i}"), "/ping").encode();
            pipe.cmd("XADD")
                .arg(k.dlq())
                .arg(format!("{failed_at_ms}-*"))
                .arg("env")
                .arg(env)
                .arg("reason")
                .arg(reason)
                .arg("att")
                .arg(1)
                .arg("failed_at")
                .arg(failed_at_ms)
                .arg("src")
                .arg(format!("{i}-0"))
                .arg("by")
                .arg(WORKER);
        }
        pipe.query_async(&mut self.conn).await.unwrap()
    }

    /// Every dead letter, oldest first.
    pub(crate) async fn letters(&mut self) -> Vec<DeadLetter> {
        let mut all = Vec::new();
        for q in 0..self.keys.queue_count() {
            all.extend(queue::dead_letters(&mut self.conn, q, &self.keys.queue(q), None, 1000).await.unwrap());
        }
        all
    }

    /// The event ids of the dead letters, oldest first.
    pub(crate) async fn dead_events(&mut self) -> Vec<String> {
        self.letters().await.iter().map(|l| l.envelope().unwrap().event_id).collect()
    }

    pub(crate) async fn stream_len(&mut self, q: u16) -> u64 {
        redis::cmd("XLEN").arg(self.keys.queue(q).stream()).query_async(&mut self.conn).await.unwrap()
    }

    /// The event ids in queue `q`'s stream, oldest first.
    pub(crate) async fn stream_events(&mut self, q: u16) -> Vec<String> {
        let entries: Vec<StreamEntry> = redis::cmd("XRANGE")
            .arg(self.keys.queue(q).stream())
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

    pub(crate) async fn audit(
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

pub(crate) fn replica(name: &str, role: Role, version: &str, git_sha: &str) -> Replica {
    let mut r = Replica::new(name.to_owned(), role, "box-1".to_owned(), botq_core::now_ms());
    r.version = version.to_owned();
    r.git_sha = git_sha.to_owned();
    r
}

// ---------------------------------------------------------------------------
// The console and a hand-driven browser

#[derive(Clone, Copy, Default)]
pub(crate) struct Opts {
    pub(crate) token: bool,
    pub(crate) read_only: bool,
    pub(crate) show_text: bool,
}

/// A running console and the one session a test drives it with.
pub(crate) struct Web {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    /// The session cookie (`name=value`), once the console set one.
    pub(crate) cookie: Option<String>,
    /// Stops the console when the last browser of it is dropped.
    pub(crate) _stop: Arc<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The body as text: tags dropped, entities decoded, whitespace collapsed.
    pub(crate) fn text(&self) -> String {
        text_of(&self.body)
    }

    /// The CSRF token of the page's forms.
    pub(crate) fn csrf(&self) -> String {
        attr_after(&self.body, r#"name="csrf" value=""#).unwrap_or_else(|| panic!("no csrf field in {}", self.body))
    }

    /// The hidden fields of the POST form whose action is `action`.
    pub(crate) fn form(&self, action: &str) -> Vec<(String, String)> {
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
    pub(crate) fn row(&self, needle: &str) -> Vec<String> {
        let at = self.body.find(needle).unwrap_or_else(|| panic!("{needle} not on the page"));
        let start = self.body[..at].rfind("<tr").expect("inside a row");
        let row = &self.body[start..];
        let row = &row[..row.find("</tr>").unwrap()];
        row.split("<td").skip(1).map(|c| text_of(&format!("<td{}", &c[..c.find("</td>").unwrap_or(c.len())]))).collect()
    }

    /// Status and security headers every answer carries.
    pub(crate) fn assert_secure(&self, what: &str) {
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

pub(crate) fn attr_after(s: &str, prefix: &str) -> Option<String> {
    let at = s.find(prefix)? + prefix.len();
    let end = s[at..].find('"')?;
    Some(unescape(&s[at..at + end]))
}

pub(crate) fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'").replace("&amp;", "&")
}

pub(crate) fn text_of(html: &str) -> String {
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
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<(String, String)> {
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
    pub(crate) async fn start(store: &Store, opts: Opts) -> Self {
        Self::serve(store.path(), opts).await
    }

    /// A console on the Redis (server or cluster) the config file at
    /// `config` names.
    pub(crate) async fn serve(config: &Path, opts: Opts) -> Self {
        let settings = Config::load_queue_settings(config).unwrap();
        let redis = connect_lazy(&settings.redis_target(), Duration::from_secs(1)).unwrap();
        let console = Arc::new(Console {
            redis,
            keys: settings.keys(),
            settings,
            config_path: config.to_path_buf(),
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
    pub(crate) fn another_browser(&self) -> Self {
        Self { base: self.base.clone(), http: self.http.clone(), cookie: None, _stop: self._stop.clone() }
    }

    /// Sends `req` with the session cookie; keeps a cookie the answer sets
    /// (a cleared one, too).
    pub(crate) async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
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

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    /// POSTs the hidden fields of `page`'s form for `action`, plus `extra`:
    /// what a browser sends on a click.
    pub(crate) async fn submit(&mut self, page: &Page, action: &str, extra: &[(&str, &str)]) -> Page {
        let fields = page.form(action);
        let mut form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        form.extend_from_slice(extra);
        self.post(action, &form).await
    }

    /// Opens a page to get a session; returns its CSRF token.
    pub(crate) async fn session(&mut self) -> String {
        let p = self.get("/dead-letters").await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(self.cookie.is_some(), "the first page starts a session");
        p.csrf()
    }
}

pub(crate) fn letter_ref(d: &DeadLetter) -> String {
    format!("{}/{}", d.queue, d.id)
}
