//! Signing in and out: the token form, the sign-in budget in front of the
//! token check, and where a sign-in may send the browser next.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::super::error::WebError;
use super::super::{Shared, layout};
use super::store::{self, MAX_TRIES_PER_MINUTE};
use super::{cleared_cookie, cookie_sid, session_cookie};

/// How long a failed sign-in waits before it is answered.
const FAILURE_DELAY: Duration = Duration::from_millis(500);

/// Where the guard sends a visitor without a session: the form, then back to `target`.
pub(super) fn redirect_to_login(target: &str) -> Response {
    let next: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
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
    match store::take_try(&c.redis, &c.keys).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(
                "console sign-in closed for the rest of the minute: {MAX_TRIES_PER_MINUTE} failed tries; \
                 signed-in sessions go on"
            );
            return WebError::TooManyAttempts.into_response();
        }
        Err(e) => return e.hidden().into_response(),
    }
    if c.access.token_ok(&f.token) {
        let sid = match c.access.start_session(&c).await {
            Ok(sid) => sid,
            Err(e) => return e.hidden().into_response(),
        };
        if let Err(e) = store::give_back_try(&c.redis, &c.keys).await {
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
        && let Err(e) = c.access.end_session(&c, &sid).await
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
