//! Who may look at the console and who may act through it.
//!
//! The console can replay and purge dead letters, so it is guarded like an
//! admin page:
//!
//! - **Loopback without a token.** With no token configured the console
//!   listens only on a loopback address, and answers only requests whose
//!   `Host` is a loopback name or address: a web page elsewhere cannot use
//!   DNS rebinding to reach it through the operator's browser.
//! - **Anything else with a token** (`--token-file` or `BOTQ_CONSOLE_TOKEN`,
//!   at least 16 characters). `/login` compares the SHA-256 of what was typed
//!   with the token's in constant time and starts a session: a random id in
//!   an `HttpOnly`, `SameSite=Strict` cookie, valid for 12 hours. Sessions
//!   live in Redis, so every console replica knows them and signing out ends
//!   the session on all of them. The key is an HMAC of the id under a key
//!   derived from the console token: Redis never holds an id a browser
//!   could present, and a new token (or a console with another token on
//!   the same Redis) knows none of the old sessions. Every sign-in takes a
//!   try from a budget per minute shared by all clients and replicas, before
//!   the token is checked: past it no token is checked, not even the right
//!   one, until the minute is over (signed-in sessions go on). A wrong token
//!   is answered after half a second.
//! - **Every POST carries a CSRF token**: the HMAC-SHA256 of the session id,
//!   checked here before any handler runs, so no action can skip it. With a
//!   token the HMAC key is derived from it (every replica computes the same
//!   CSRF token, and a new console token voids the old ones); without one
//!   it is made at start. A cross-origin POST (by `Origin` or
//!   `Sec-Fetch-Site`) is refused outright. `--read-only` refuses every
//!   action but signing out.
//! - **Headers**: a strict Content-Security-Policy (scripts and styles from
//!   the console itself only, no inline script), no framing, no referrer to
//!   other sites, no caching of pages.
//!
//! The token never reaches a page, a log line or an error.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use botq_core::keys::Keys;
use botq_core::redis_conn::Redis;
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use maud::html;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::WebError;
use super::{BODY_LIMIT, Shared, WebArgs, layout};

/// The session cookie.
pub const COOKIE: &str = "botq_console";
/// The form field every POST carries.
pub const CSRF_FIELD: &str = "csrf";
/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;
/// How long a signed-in session lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed sign-ins allowed per minute, all clients and replicas together.
const MAX_FAILURES_PER_MINUTE: u32 = 10;
/// The window those are counted in.
const FAILURE_WINDOW_MS: u64 = 60_000;
/// How long a failed login waits before it is answered.
const FAILURE_DELAY: Duration = Duration::from_millis(500);

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Why the console cannot start. Never carries the token.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "{listen} is not a loopback address: the console can replay and purge, so off loopback it needs a token \
         (--token-file PATH or BOTQ_CONSOLE_TOKEN)"
    )]
    TokenRequired { listen: SocketAddr },
    #[error("cannot read the token file {path}: {source}")]
    TokenFile { path: PathBuf, source: std::io::Error },
    #[error("the console token must be at least {MIN_TOKEN_LEN} characters (it has {len})")]
    TokenTooShort { len: usize },
    #[error("cannot listen on {listen}: {source}")]
    Bind { listen: SocketAddr, source: std::io::Error },
}

/// The console's access policy and where its signed-in sessions live.
pub struct Access {
    /// SHA-256 of the token; `None`: loopback only, no sign-in.
    token: Option<[u8; 32]>,
    csrf_key: [u8; 32],
    /// Names a session's Redis key (token mode; derived from the token).
    session_key: [u8; 32],
    /// Signed-in sessions (token mode only).
    sessions: Sessions,
}

/// The Redis that keeps the signed-in sessions: the console's own.
#[derive(Clone)]
pub struct Sessions {
    pub redis: Redis,
    pub keys: Keys,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access").field("token", &self.token.map(|_| "***")).finish_non_exhaustive()
    }
}

/// What a page needs to know about the request's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The CSRF token for this session's forms.
    pub csrf: String,
    /// Signed in with a token (the page offers "sign out").
    pub signed_in: bool,
}

impl Access {
    /// The policy for `args`: the token from `--token-file` or `token_env`
    /// (the value of `BOTQ_CONSOLE_TOKEN`), and a refusal to listen off
    /// loopback without one; signed-in sessions kept in `sessions`.
    ///
    /// # Errors
    /// See [`StartError`].
    pub fn from_args(args: &WebArgs, token_env: Option<String>, sessions: Sessions) -> Result<Self, StartError> {
        let token = match (&args.token_file, token_env) {
            (Some(path), _) => Some(
                std::fs::read_to_string(path)
                    .map_err(|source| StartError::TokenFile { path: path.clone(), source })?
                    .trim()
                    .to_owned(),
            ),
            (None, Some(t)) if !t.trim().is_empty() => Some(t.trim().to_owned()),
            (None, _) => None,
        };
        if let Some(t) = &token
            && t.chars().count() < MIN_TOKEN_LEN
        {
            return Err(StartError::TokenTooShort { len: t.chars().count() });
        }
        if token.is_none() && !args.listen.ip().is_loopback() {
            return Err(StartError::TokenRequired { listen: args.listen });
        }
        Ok(Self::new(token.as_deref(), sessions))
    }

    /// A policy with `token` (or none: loopback only).
    #[must_use]
    pub fn new(token: Option<&str>, sessions: Sessions) -> Self {
        let token: Option<[u8; 32]> = token.map(|t| Sha256::digest(t.as_bytes()).into());
        // Keys every replica with the token derives alike; none without one.
        let derive = |label: &[u8]| -> [u8; 32] {
            match &token {
                Some(t) => hmac(t, label),
                None => rand::random(),
            }
        };
        Self {
            csrf_key: derive(b"botq console csrf key"),
            session_key: derive(b"botq console session key"),
            token,
            sessions,
        }
    }

    /// Whether signing in is required.
    #[must_use]
    pub fn needs_token(&self) -> bool {
        self.token.is_some()
    }

    /// The CSRF token of session `sid`.
    #[must_use]
    pub fn csrf_for(&self, sid: &str) -> String {
        hex::encode(self.mac(sid).finalize().into_bytes())
    }

    /// The Redis key of session `sid`.
    fn session_redis_key(&self, sid: &str) -> String {
        self.sessions.keys.console_session(&hex::encode(hmac(&self.session_key, sid.as_bytes())))
    }

    fn mac(&self, sid: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.csrf_key).expect("HMAC takes any key length");
        mac.update(sid.as_bytes());
        mac
    }

    fn csrf_ok(&self, sid: &str, token: &str) -> bool {
        hex::decode(token).is_ok_and(|t| self.mac(sid).verify_slice(&t).is_ok())
    }

    fn token_ok(&self, typed: &str) -> bool {
        let typed: [u8; 32] = Sha256::digest(typed.trim().as_bytes()).into();
        self.token.is_some_and(|t| bool::from(t.ct_eq(&typed)))
    }

    /// Whether `sid` names a live signed-in session (token mode), or is a
    /// well-formed anonymous one (loopback mode).
    async fn session_ok(&self, sid: &str) -> Result<bool, WebError> {
        let well_formed = sid.len() == 64 && sid.bytes().all(|b| b.is_ascii_hexdigit());
        if self.token.is_none() || !well_formed {
            return Ok(well_formed);
        }
        let key = self.session_redis_key(sid);
        Ok(redis::cmd("EXISTS").arg(key).query_async(&mut self.sessions.redis.clone()).await?)
    }

    /// A new session id; in token mode, signed in until [`SESSION_TTL`].
    async fn start_session(&self) -> Result<String, WebError> {
        let sid = hex::encode(rand::random::<[u8; 32]>());
        if self.token.is_some() {
            let ttl_ms = u64::try_from(SESSION_TTL.as_millis()).unwrap_or(u64::MAX);
            let key = self.session_redis_key(&sid);
            let () = redis::cmd("SET")
                .arg(key)
                .arg(1)
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut self.sessions.redis.clone())
                .await?;
        }
        Ok(sid)
    }

    async fn end_session(&self, sid: &str) -> Result<(), WebError> {
        if self.token.is_some() {
            let () = redis::cmd("DEL")
                .arg(self.session_redis_key(sid))
                .query_async(&mut self.sessions.redis.clone())
                .await?;
        }
        Ok(())
    }

    /// Takes a try from the minute's sign-in budget, before the token is
    /// checked (so parallel guesses cannot all pass a check made earlier);
    /// `false` once it is spent. The first try of a window starts it.
    async fn take_sign_in_try(&self) -> Result<bool, WebError> {
        let key = self.sessions.keys.console_login_failures();
        let (tries,): (u32,) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&key)
            .arg(0)
            .arg("NX")
            .arg("PX")
            .arg(FAILURE_WINDOW_MS)
            .ignore()
            .incr(&key, 1)
            .query_async(&mut self.sessions.redis.clone())
            .await?;
        Ok(tries <= MAX_FAILURES_PER_MINUTE)
    }

    /// Gives back the try of a sign-in that succeeded: the budget counts failures.
    async fn give_back_try(&self) -> Result<(), WebError> {
        let key = self.sessions.keys.console_login_failures();
        let () = redis::cmd("DECR").arg(key).query_async(&mut self.sessions.redis.clone()).await?;
        Ok(())
    }
}

fn session_cookie(sid: &str) -> HeaderValue {
    let c = Cookie::build((COOKIE, sid.to_owned()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(cookie::time::Duration::seconds(i64::try_from(SESSION_TTL.as_secs()).unwrap_or(i64::MAX)))
        .build();
    HeaderValue::from_str(&c.to_string()).expect("hex session ids make a valid header")
}

fn cleared_cookie() -> HeaderValue {
    let c = Cookie::build((COOKIE, ""))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(cookie::time::Duration::ZERO);
    HeaderValue::from_str(&c.build().to_string()).expect("a valid header")
}

/// HMAC-SHA256 of `message` under `key`.
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The session id the request's cookie carries, if any.
fn cookie_sid(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_owned())
}

/// Whether the `Host` header names this machine's loopback interface.
#[must_use]
pub fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let name = match host.rsplit_once(':') {
        // `[::1]:9092`, `127.0.0.1:9092`, `localhost:9092`; not the `::` inside a bare IPv6.
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A browser's POST from another site: by `Origin` when sent, else by `Sec-Fetch-Site`.
fn cross_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let same = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host);
        return !same;
    }
    headers.get("sec-fetch-site").and_then(|s| s.to_str().ok()).is_some_and(|s| s != "same-origin" && s != "none")
}

/// The guard in front of every route (see the module doc).
pub async fn guard(State(c): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/assets/") {
        return next.run(req).await;
    }
    let access = &c.access;
    if !access.needs_token() && !host_is_loopback(req.headers()) {
        return WebError::NotLoopback.into_response();
    }
    let post = req.method() == Method::POST;
    if post && cross_origin(req.headers()) {
        return WebError::Forbidden("a request from another site is refused".into()).into_response();
    }
    let sid = match cookie_sid(req.headers()) {
        Some(sid) => match access.session_ok(&sid).await {
            Ok(true) => Some(sid),
            Ok(false) => None,
            // Not signed in (yet): no Redis detail for this visitor.
            Err(e) => return e.hidden().into_response(),
        },
        None => None,
    };
    let login = path == "/login";
    let (sid, new) = match sid {
        Some(sid) => (sid, false),
        None if access.needs_token() => {
            if login {
                return next.run(req).await;
            }
            if post {
                return WebError::Unauthorized.into_response();
            }
            let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let to = format!("/login?next={}", percent(target));
            return Redirect::to(&to).into_response();
        }
        None if post => return WebError::Forbidden("no session: load the page again and retry".into()).into_response(),
        None => match access.start_session().await {
            Ok(sid) => (sid, true),
            Err(e) => return e.hidden().into_response(),
        },
    };
    let mut req = req;
    if post && !login {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
            return WebError::BadRequest("the form is too large".into()).into_response();
        };
        let csrf = url::form_urlencoded::parse(&bytes).find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.into_owned());
        if !csrf.is_some_and(|t| access.csrf_ok(&sid, &t)) {
            return WebError::Forbidden("the form's CSRF token is missing or wrong: load the page again".into())
                .into_response();
        }
        if c.read_only && path != "/logout" {
            return WebError::Forbidden("the console runs read-only (--read-only): nothing can be changed".into())
                .into_response();
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    req.extensions_mut().insert(Session { csrf: access.csrf_for(&sid), signed_in: access.needs_token() });
    let mut resp = next.run(req).await;
    if new {
        resp.headers_mut().append(header::SET_COOKIE, session_cookie(&sid));
    }
    resp
}

fn percent(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The one place a login may send the browser next: a path of this console.
/// No control characters: a browser drops tabs and newlines from a URL, so
/// `/<TAB>/evil.example` would become `//evil.example`, another site (and a
/// newline cannot go into a `Location` header at all).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.contains(char::is_control) => {
            n
        }
        _ => "/",
    }
}

/// Adds the security headers to every response.
pub async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: under `no-referrer` Chromium sends
    // `Origin: null` with the console's own form POSTs, which the
    // cross-origin check must refuse. Other sites still get no referrer.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

#[derive(Debug, serde::Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// `GET /login`: the sign-in form (loopback mode: nothing to sign in to).
pub async fn login_page(
    State(c): State<Shared>,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> Response {
    if !c.access.needs_token() {
        return Redirect::to("/").into_response();
    }
    login_form(&c, safe_next(q.next.as_deref()), None).into_response()
}

fn login_form(c: &Shared, next: &str, problem: Option<&str>) -> maud::Markup {
    let body = html! {
        section.login {
            h1 { "Sign in" }
            p.muted { "This console needs the token it was started with (" code { "--token-file" } " or "
                code { "BOTQ_CONSOLE_TOKEN" } ")." }
            @if let Some(p) = problem { p.problem role="alert" { (p) } }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
                button.primary type="submit" { "Sign in" }
            }
        }
    };
    layout::bare(c, "Sign in", &body)
}

#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
    next: Option<String>,
}

/// `POST /login`: checks the token, starts a session.
pub async fn login(State(c): State<Shared>, axum::Form(f): axum::Form<LoginForm>) -> Response {
    if !c.access.needs_token() {
        return Redirect::to("/").into_response();
    }
    let next = safe_next(f.next.as_deref()).to_owned();
    // The budget comes first: past it even the right token is not checked,
    // so guessing gains nothing from it.
    match c.access.take_sign_in_try().await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(
                "console sign-in closed for the rest of the minute: {MAX_FAILURES_PER_MINUTE} failed tries; \
                 signed-in sessions go on"
            );
            return WebError::TooManyAttempts.into_response();
        }
        Err(e) => return e.hidden().into_response(),
    }
    if c.access.token_ok(&f.token) {
        let sid = match c.access.start_session().await {
            Ok(sid) => sid,
            Err(e) => return e.hidden().into_response(),
        };
        if let Err(e) = c.access.give_back_try().await {
            return e.hidden().into_response();
        }
        let mut resp = Redirect::to(&next).into_response();
        resp.headers_mut().append(header::SET_COOKIE, session_cookie(&sid));
        return resp;
    }
    tokio::time::sleep(FAILURE_DELAY).await;
    (StatusCode::UNAUTHORIZED, login_form(&c, &next, Some("That is not the token."))).into_response()
}

/// `POST /logout`: ends the session.
pub async fn logout(State(c): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(sid) = cookie_sid(&headers)
        && let Err(e) = c.access.end_session(&sid).await
    {
        // Still signed in elsewhere: say so rather than pretend.
        return e.into_response();
    }
    let mut resp = Redirect::to(if c.access.needs_token() { "/login" } else { "/" }).into_response();
    resp.headers_mut().append(header::SET_COOKIE, cleared_cookie());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn only_loopback_hosts_count_as_loopback() {
        for ok in ["localhost", "localhost:9092", "127.0.0.1:9092", "127.1.2.3", "[::1]:9092", "[::1]", "LOCALHOST"] {
            assert!(host_is_loopback(&headers(&[("host", ok)])), "{ok}");
        }
        for bad in ["evil.example", "evil.example:9092", "10.0.0.1:9092", "localhost.evil.example", "[::2]:1"] {
            assert!(!host_is_loopback(&headers(&[("host", bad)])), "{bad}");
        }
        assert!(!host_is_loopback(&HeaderMap::new()), "no Host, no trust");
    }

    #[test]
    fn a_post_from_another_origin_is_cross_origin() {
        let h = |o: &str| headers(&[("host", "127.0.0.1:9092"), ("origin", o)]);
        assert!(!cross_origin(&h("http://127.0.0.1:9092")));
        assert!(cross_origin(&h("http://evil.example")));
        assert!(cross_origin(&h("null")));
        assert!(cross_origin(&headers(&[("host", "x"), ("sec-fetch-site", "cross-site")])));
        assert!(!cross_origin(&headers(&[("host", "x"), ("sec-fetch-site", "same-origin")])));
        assert!(!cross_origin(&headers(&[("host", "x")])), "curl sends neither; the CSRF token still guards it");
    }

    /// Sessions in a Redis nothing here reaches (the connection is lazy;
    /// making it needs a runtime).
    fn nowhere() -> Sessions {
        let target = botq_core::redis_conn::Target { url: "redis://127.0.0.1:1".into(), cluster: false };
        let redis = botq_core::redis_conn::connect_lazy(&target, Duration::from_millis(200)).unwrap();
        Sessions { redis, keys: Keys::new("botq", 1) }
    }

    #[tokio::test]
    async fn csrf_tokens_are_bound_to_their_session_and_the_key_to_the_console_token() {
        let a = Access::new(None, nowhere());
        let t = a.csrf_for("s1");
        assert!(a.csrf_ok("s1", &t));
        assert!(!a.csrf_ok("s2", &t));
        assert!(!a.csrf_ok("s1", "zz"));
        assert!(!Access::new(None, nowhere()).csrf_ok("s1", &t), "loopback: another process, another key");
        let token = "correct horse battery staple";
        let t = Access::new(Some(token), nowhere()).csrf_for("s1");
        assert!(Access::new(Some(token), nowhere()).csrf_ok("s1", &t), "every replica with the token agrees");
        assert!(!Access::new(Some("another token, long enough"), nowhere()).csrf_ok("s1", &t), "a new token voids it");
    }

    #[tokio::test]
    async fn the_token_is_checked_whole() {
        let a = Access::new(Some("correct horse battery staple"), nowhere());
        assert!(a.token_ok("correct horse battery staple"));
        assert!(!a.token_ok("correct horse battery stapl"));
        assert!(!a.token_ok(""));
    }

    /// Signed in on one replica is signed in on all; signed out on one, on none.
    #[tokio::test]
    async fn sessions_live_in_redis_shared_by_every_replica() {
        let server = botq_testkit::redis::RedisServer::start();
        let target = botq_core::redis_conn::Target { url: server.url().into(), cluster: false };
        let redis = botq_core::redis_conn::connect_lazy(&target, Duration::from_secs(2)).unwrap();
        let store = Sessions { redis, keys: Keys::new("botq", 1) };
        let token = "correct horse battery staple";
        let (a, b) = (Access::new(Some(token), store.clone()), Access::new(Some(token), store.clone()));
        let sid = a.start_session().await.unwrap();
        assert!(b.session_ok(&sid).await.unwrap());
        let rotated = Access::new(Some("a new token after a leak"), store.clone());
        assert!(!rotated.session_ok(&sid).await.unwrap(), "a console with another token knows none of them");
        assert!(!b.session_ok(&hex::encode([0u8; 32])).await.unwrap(), "a made-up session id is not signed in");
        assert!(!b.session_ok("not-hex").await.unwrap());
        let keys: Vec<String> = redis::cmd("KEYS").arg("botq:console:session:*").query(&mut server.conn()).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(!keys[0].contains(&sid), "Redis keeps the id's digest, not the id");
        let ttl: i64 = redis::cmd("PTTL").arg(&keys[0]).query(&mut server.conn()).unwrap();
        assert!(ttl > 11 * 3_600_000, "for the session's 12 hours: {ttl}");
        b.end_session(&sid).await.unwrap();
        assert!(!a.session_ok(&sid).await.unwrap());
    }

    /// Each try is taken before the token is checked: a hundred guesses at
    /// once get ten checks between them, not a hundred.
    #[tokio::test]
    async fn parallel_sign_ins_share_ten_tries_a_minute() {
        let server = botq_testkit::redis::RedisServer::start();
        let target = botq_core::redis_conn::Target { url: server.url().into(), cluster: false };
        let redis = botq_core::redis_conn::connect_lazy(&target, Duration::from_secs(2)).unwrap();
        let console = |prefix: &str| {
            Access::new(
                Some("correct horse battery staple"),
                Sessions { redis: redis.clone(), keys: Keys::new(prefix, 1) },
            )
        };
        let access = console("botq");
        let tries = futures_util::future::join_all((0..100).map(|_| access.take_sign_in_try())).await;
        let allowed = tries.into_iter().filter(|t| *t.as_ref().unwrap()).count();
        assert_eq!(allowed, usize::try_from(MAX_FAILURES_PER_MINUTE).unwrap());

        let other = console("other");
        for _ in 0..MAX_FAILURES_PER_MINUTE {
            assert!(other.take_sign_in_try().await.unwrap());
        }
        other.give_back_try().await.unwrap();
        assert!(other.take_sign_in_try().await.unwrap(), "a sign-in that succeeded gave its try back");
        assert!(!other.take_sign_in_try().await.unwrap());
    }

    #[tokio::test]
    async fn off_loopback_the_console_needs_a_long_enough_token() {
        let args = |listen: &str| WebArgs {
            listen: listen.parse().unwrap(),
            token_file: None,
            read_only: false,
            show_text: false,
        };
        assert!(matches!(
            Access::from_args(&args("0.0.0.0:9092"), None, nowhere()),
            Err(StartError::TokenRequired { .. })
        ));
        assert!(matches!(
            Access::from_args(&args("0.0.0.0:9092"), Some("short".into()), nowhere()),
            Err(StartError::TokenTooShort { len: 5 })
        ));
        assert!(
            Access::from_args(&args("0.0.0.0:9092"), Some("a-token-of-enough-length".into()), nowhere())
                .unwrap()
                .needs_token()
        );
        assert!(!Access::from_args(&args("127.0.0.1:9092"), None, nowhere()).unwrap().needs_token());
        let e = Access::from_args(&args("0.0.0.0:1"), Some("s3cr3t".into()), nowhere()).unwrap_err().to_string();
        assert!(!e.contains("s3cr3t"), "{e}");
    }

    #[test]
    fn a_login_only_sends_the_browser_within_the_console() {
        assert_eq!(safe_next(Some("/dead-letters?bot=a")), "/dead-letters?bot=a");
        for bad in
            [Some("https://evil.example/"), Some("//evil.example"), Some("/\\evil"), Some("/\t/evil.example"), None]
        {
            assert_eq!(safe_next(bad), "/");
        }
    }
}
