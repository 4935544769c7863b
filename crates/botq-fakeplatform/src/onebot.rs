//! The OneBot v11 HTTP API's send actions (`send_group_msg`,
//! `send_private_msg`, `send_msg`), served under each OneBot bot's `api_base`
//! path, as NapCat / Lagrange / go-cqhttp serve them.
//!
//! Answers follow the v11 spec (`api/public.md`, `communication/http.md`)
//! and what go-cqhttp and NapCat answer:
//! - `Authorization: Bearer <access_token>` (or `Token <…>`, or
//!   `?access_token=`, unencoded) when the bot has a token: none presented is
//!   HTTP 401, a wrong one HTTP 403, both with an empty body.
//! - a body that is not JSON is HTTP 400, a non-JSON `Content-Type` 406; a
//!   missing or invalid parameter is HTTP 200 `{"status":"failed","retcode":100}`
//!   (go-cqhttp's convention).
//! - success is `{"status":"ok","retcode":0,"data":{"message_id":<int32>}}`;
//!   ids count up from 1.
//! - OneBot has no idempotency key: every accepted request is delivered.
//! - an injected throttle is HTTP 429 with `Retry-After` and body
//!   `{"status":"failed","retcode":1400}`. The spec has no throttling answer at
//!   all; 429 is what a rate-limiting proxy in front of an implementation would
//!   say, and it is the answer a client classifies as "retry later" without
//!   OneBot-specific knowledge.
//!
//! Several OneBot bots may share one path: the presented token decides which
//! bot is calling, and a bot without a token takes requests that match no token.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use botq_core::envelope::Platform;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::faults::{self, Fault};
use crate::records::{Delivery, Endpoint};
use crate::refusal::{Refusal, Seen};
use crate::shown::Shown;
use crate::state::{Credentials, FakeBot, FakeState};

pub const INVALID_PARAMS: i64 = 100;
pub const RATE_LIMITED: i64 = 1400;
const ACTIONS: [&str; 3] = ["send_group_msg", "send_private_msg", "send_msg"];

/// Routes every send action under every OneBot bot's path.
pub(crate) fn routes(bots: &[FakeBot]) -> Router<Arc<FakeState>> {
    let prefixes: BTreeSet<&str> = bots
        .iter()
        .filter_map(|b| match &b.credentials {
            Credentials::Onebot { prefix, .. } => Some(prefix.as_str()),
            _ => None,
        })
        .collect();
    prefixes.into_iter().fold(Router::new(), |router, prefix| {
        ACTIONS.iter().fold(router, |router, action| router.route(&format!("{prefix}/{action}"), post(action_handler)))
    })
}

/// Which bot is calling, by the token it presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    Bot(usize),
    /// The bot(s) here need a token and none was presented (401).
    Missing,
    /// A token was presented and matches none (403).
    Wrong,
}

pub(crate) fn identify(bots: &[FakeBot], prefix: &str, presented: Option<&str>) -> Caller {
    let here = bots.iter().enumerate().filter_map(|(i, b)| match &b.credentials {
        Credentials::Onebot { prefix: p, access_token } if p == prefix => Some((i, access_token)),
        _ => None,
    });
    let mut open = None;
    for (i, token) in here {
        match (token, presented) {
            (Some(t), Some(p)) if t.expose_secret() == p => return Caller::Bot(i),
            (None, _) => open = open.or(Some(i)),
            _ => {}
        }
    }
    match (open, presented) {
        (Some(i), _) => Caller::Bot(i),
        (None, Some(_)) => Caller::Wrong,
        (None, None) => Caller::Missing,
    }
}

fn presented_token<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let auth = auth.to_str().unwrap_or("");
        return Some(auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("Token ")).unwrap_or(auth).trim());
    }
    query?.split('&').find_map(|kv| kv.strip_prefix("access_token="))
}

async fn action_handler(
    State(state): State<Arc<FakeState>>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (prefix, action) = uri.path().rsplit_once('/').unwrap_or(("", ""));
    let now = state.now_ms();
    let mut seen = Seen::new(Platform::Onebot, now);
    let bot = match identify(&state.bots, prefix, presented_token(&headers, query.as_deref())) {
        Caller::Bot(i) => i,
        Caller::Missing => {
            return refuse(&state, &seen, Refusal::new(StatusCode::UNAUTHORIZED, 0, "access token missing"));
        }
        Caller::Wrong => return refuse(&state, &seen, Refusal::new(StatusCode::FORBIDDEN, 0, "access token wrong")),
    };
    seen.bot = Some(state.bots[bot].id.clone());
    if let Some(fault) = faults::before_message(&state, Platform::Onebot).await {
        return refuse(&state, &seen, fault_refusal(fault));
    }
    seen.at_ms = state.now_ms();
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if !json_body {
        return refuse(&state, &seen, Refusal::new(StatusCode::NOT_ACCEPTABLE, 0, "unsupported Content-Type"));
    }
    let Ok(params) = serde_json::from_slice::<Value>(&body) else {
        return refuse(&state, &seen, Refusal::new(StatusCode::BAD_REQUEST, 0, "body is not JSON"));
    };
    let (endpoint, target, shown) = match read_send(action, &params) {
        Ok(parts) => parts,
        Err(why) => return refuse(&state, &seen, Refusal::new(StatusCode::OK, INVALID_PARAMS, why)),
    };
    seen.endpoint = Some(endpoint);
    seen.target = Some(target.clone());
    let mut book = state.book();
    let id = book.onebot_next_id;
    book.onebot_next_id = id.checked_add(1).unwrap_or(1);
    let delivery = Delivery {
        platform: Platform::Onebot,
        bot: state.bots[bot].id.clone(),
        endpoint,
        target,
        text: shown.text,
        mentions: shown.mentions,
        quote: shown.quote,
        images: shown.images,
        reply_to: None,
        idempotency_key: None,
        received_at_ms: seen.at_ms,
        message_id: id.to_string(),
    };
    state.record_delivery(&mut book, delivery);
    drop(book);
    tracing::debug!(bot = seen.bot.as_deref().unwrap_or("-"), endpoint = endpoint.as_str(), "onebot message delivered");
    Json(json!({ "status": "ok", "retcode": 0, "data": { "message_id": id } })).into_response()
}

/// Endpoint, target id and what users see of a send action's parameters.
pub(crate) fn read_send(action: &str, params: &Value) -> Result<(Endpoint, String, Shown), String> {
    let id = |key: &str| match params.get(key) {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n > 0) => Some(n.to_string()),
        Some(Value::String(s)) if s.parse::<i64>().is_ok_and(|n| n > 0) => Some(s.clone()),
        _ => None,
    };
    let endpoint = match action {
        "send_group_msg" => Endpoint::OnebotGroup,
        "send_private_msg" => Endpoint::OnebotPrivate,
        _ => match params.get("message_type").and_then(Value::as_str) {
            Some("group") => Endpoint::OnebotGroup,
            Some("private") => Endpoint::OnebotPrivate,
            Some(other) => return Err(format!("unknown message_type {other:?}")),
            None if params.get("group_id").is_some() => Endpoint::OnebotGroup,
            None => Endpoint::OnebotPrivate,
        },
    };
    let key = if endpoint == Endpoint::OnebotGroup { "group_id" } else { "user_id" };
    let target = id(key).ok_or_else(|| format!("{key} must be a positive integer"))?;
    let message = params.get("message").filter(|m| match m {
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    });
    let message = message.ok_or("message is missing or empty")?;
    let auto_escape = params.get("auto_escape").and_then(Value::as_bool).unwrap_or(false);
    Ok((endpoint, target, crate::shown::onebot(message, auto_escape)))
}

fn fault_refusal(fault: Fault) -> Refusal {
    match fault {
        Fault::Error { status, code } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            Refusal::new(status, code.unwrap_or(i64::from(status.as_u16())), format!("injected fault: {status}"))
        }
        Fault::Throttle { reset_secs, code } => {
            Refusal::new(StatusCode::TOO_MANY_REQUESTS, code.unwrap_or(RATE_LIMITED), "injected fault: rate limited")
                .retry_after(Some(reset_secs.unwrap_or(1)))
        }
    }
}

fn refuse(state: &FakeState, seen: &Seen, r: Refusal) -> Response {
    seen.record_now(state, &r);
    if matches!(
        r.status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST | StatusCode::NOT_ACCEPTABLE
    ) {
        return r.status.into_response();
    }
    let body = json!({ "status": "failed", "retcode": r.code, "data": null, "msg": r.message, "wording": r.message });
    let mut response = (r.status, Json(body)).into_response();
    if let Some(secs) = r.retry_after_secs
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn bot(id: &str, prefix: &str, token: Option<&str>) -> FakeBot {
        FakeBot {
            id: id.into(),
            credentials: Credentials::Onebot { prefix: prefix.into(), access_token: token.map(SecretString::from) },
        }
    }

    #[test]
    fn a_bot_with_a_token_answers_missing_and_wrong_tokens_differently() {
        let bots = [bot("a", "/onebot", Some("tok"))];
        assert_eq!(identify(&bots, "/onebot", Some("tok")), Caller::Bot(0));
        assert_eq!(identify(&bots, "/onebot", None), Caller::Missing);
        assert_eq!(identify(&bots, "/onebot", Some("nope")), Caller::Wrong);
    }

    #[test]
    fn bots_sharing_a_path_are_told_apart_by_token_and_a_tokenless_bot_takes_the_rest() {
        let bots =
            [bot("a", "/ob", Some("ta")), bot("b", "/ob", Some("tb")), bot("c", "/ob", None), bot("d", "/x", None)];
        assert_eq!(identify(&bots, "/ob", Some("tb")), Caller::Bot(1));
        assert_eq!(identify(&bots, "/ob", Some("ta")), Caller::Bot(0));
        assert_eq!(identify(&bots, "/ob", None), Caller::Bot(2));
        assert_eq!(identify(&bots, "/ob", Some("other")), Caller::Bot(2));
        assert_eq!(identify(&bots[..2], "/ob", Some("other")), Caller::Wrong);
    }

    #[test]
    fn send_msg_infers_the_chat_from_message_type_or_the_ids() {
        let group = json!({"group_id": 123, "message": "hi"});
        let shown = |t: &str| Shown { text: t.into(), ..Shown::default() };
        assert_eq!(read_send("send_msg", &group), Ok((Endpoint::OnebotGroup, "123".into(), shown("hi"))));
        let private = json!({"message_type": "private", "user_id": "456", "message": "yo"});
        assert_eq!(read_send("send_msg", &private), Ok((Endpoint::OnebotPrivate, "456".into(), shown("yo"))));
        assert!(read_send("send_group_msg", &json!({"message": "x"})).is_err());
        assert!(read_send("send_private_msg", &json!({"user_id": 1, "message": ""})).is_err());
    }

    #[test]
    fn segment_messages_show_their_mentions() {
        let params = json!({"group_id": 1, "message": [
            {"type": "at", "data": {"qq": "10"}},
            {"type": "text", "data": {"text": " pong"}}
        ]});
        let shown = read_send("send_group_msg", &params).unwrap().2;
        assert_eq!((shown.text.as_str(), shown.mentions.as_slice()), ("@10 pong", &["10".to_owned()][..]));
    }
}
