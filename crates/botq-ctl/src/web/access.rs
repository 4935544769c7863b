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

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

mod login;
mod store;

pub use self::login::{login, login_page, logout};
use self::store::{SESSION_TTL, Store};
use super::error::WebError;
use super::{BODY_LIMIT, Console, Shared, WebArgs};

/// The session cookie.
pub const COOKIE: &str = "botq_console";
/// The form field every POST carries.
pub const CSRF_FIELD: &str = "csrf";
/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

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

/// The console's access policy.
pub struct Access {
    /// SHA-256 of the token; `None`: loopback only, no sign-in.
    token: Option<[u8; 32]>,
    csrf_key: [u8; 32],
    /// Signed-in sessions and the sign-in budget (token mode only).
    store: Store,
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
    /// loopback without one.
    ///
    /// # Errors
    /// See [`StartError`].
    pub fn from_args(args: &WebArgs, token_env: Option<String>) -> Result<Self, StartError> {
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
        Ok(Self::new(token.as_deref()))
    }

    /// A policy with `token` (or none: loopback only).
    #[must_use]
    pub fn new(token: Option<&str>) -> Self {
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
            store: Store::new(derive(b"botq console session key")),
            token,
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
        hex::encode(hmac(&self.csrf_key, sid.as_bytes()))
    }

    /// Compared in constant time.
    fn csrf_ok(&self, sid: &str, token: &str) -> bool {
        hex::decode(token).is_ok_and(|t| bool::from(hmac(&self.csrf_key, sid.as_bytes()).ct_eq(t.as_slice())))
    }

    fn token_ok(&self, typed: &str) -> bool {
        let typed: [u8; 32] = Sha256::digest(typed.trim().as_bytes()).into();
        self.token.is_some_and(|t| bool::from(t.ct_eq(&typed)))
    }

    /// Whether `sid` names a live signed-in session (token mode), or is a
    /// well-formed anonymous one (loopback mode).
    async fn session_ok(&self, c: &Console, sid: &str) -> Result<bool, WebError> {
        if self.token.is_none() || !well_formed(sid) {
            return Ok(well_formed(sid));
        }
        self.store.exists(&c.redis, &c.keys, sid).await
    }

    /// A new session id; in token mode, signed in.
    async fn start_session(&self, c: &Console) -> Result<String, WebError> {
        let sid = hex::encode(rand::random::<[u8; 32]>());
        if self.token.is_some() {
            self.store.insert(&c.redis, &c.keys, &sid).await?;
        }
        Ok(sid)
    }

    async fn end_session(&self, c: &Console, sid: &str) -> Result<(), WebError> {
        if self.token.is_some() {
            self.store.remove(&c.redis, &c.keys, sid).await?;
        }
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

/// Whether `sid` looks like an id [`Access`] makes (64 hex digits): anything
/// else is refused without a Redis lookup.
fn well_formed(sid: &str) -> bool {
    sid.len() == 64 && sid.bytes().all(|b| b.is_ascii_hexdigit())
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

/// The guard in front of every route (see the module doc; signing in and
/// out is `login`, the Redis side `store`).
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
        Some(sid) => match access.session_ok(&c, &sid).await {
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
            return login::redirect_to_login(req.uri().path_and_query().map_or("/", |p| p.as_str()));
        }
        None if post => return WebError::Forbidden("no session: load the page again and retry".into()).into_response(),
        None => match access.start_session(&c).await {
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

    #[test]
    fn csrf_tokens_are_bound_to_their_session_and_the_key_to_the_console_token() {
        let a = Access::new(None);
        let t = a.csrf_for("s1");
        assert!(a.csrf_ok("s1", &t));
        assert!(!a.csrf_ok("s2", &t));
        assert!(!a.csrf_ok("s1", "zz"));
        assert!(!Access::new(None).csrf_ok("s1", &t), "loopback: another process, another key");
        let token = "correct horse battery staple";
        let t = Access::new(Some(token)).csrf_for("s1");
        assert!(Access::new(Some(token)).csrf_ok("s1", &t), "every replica with the token agrees");
        assert!(!Access::new(Some("another token, long enough")).csrf_ok("s1", &t), "a new token voids it");
    }

    #[test]
    fn the_token_is_checked_whole() {
        let a = Access::new(Some("correct horse battery staple"));
        assert!(a.token_ok("correct horse battery staple"));
        assert!(!a.token_ok("correct horse battery stapl"));
        assert!(!a.token_ok(""));
        assert!(well_formed(&hex::encode([9u8; 32])));
        assert!(!well_formed("not-hex") && !well_formed(&"z".repeat(64)), "refused without asking Redis");
    }

    #[test]
    fn off_loopback_the_console_needs_a_long_enough_token() {
        let args = |listen: &str| WebArgs {
            listen: listen.parse().unwrap(),
            token_file: None,
            read_only: false,
            show_text: false,
        };
        assert!(matches!(Access::from_args(&args("0.0.0.0:9092"), None), Err(StartError::TokenRequired { .. })));
        assert!(matches!(
            Access::from_args(&args("0.0.0.0:9092"), Some("short".into())),
            Err(StartError::TokenTooShort { len: 5 })
        ));
        assert!(
            Access::from_args(&args("0.0.0.0:9092"), Some("a-token-of-enough-length".into())).unwrap().needs_token()
        );
        assert!(!Access::from_args(&args("127.0.0.1:9092"), None).unwrap().needs_token());
        let e = Access::from_args(&args("0.0.0.0:1"), Some("s3cr3t".into())).unwrap_err().to_string();
        assert!(!e.contains("s3cr3t"), "{e}");
    }
}
