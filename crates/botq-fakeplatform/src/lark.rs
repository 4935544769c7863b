//! The Lark / Feishu reply API: `tenant_access_token/internal`, send
//! (`POST /open-apis/im/v1/messages`) and reply
//! (`POST /open-apis/im/v1/messages/{message_id}/reply`), with Lark's tokens,
//! `uuid` idempotency, per-chat rate limit and error shapes.
//!
//! Answers follow Lark's open platform docs (server API error codes, "获取
//! tenant_access_token", "发送消息", "回复消息") and the shapes oapi-sdk-go
//! decodes:
//! - token: `{"code":0,"msg":"ok","tenant_access_token":"t-…","expire":<secs>}`;
//!   bad credentials answer **HTTP 200** `{"code":10014,"msg":"app secret
//!   invalid"}`, a body without string `app_id`/`app_secret` `{"code":10003,"msg":"invalid param"}`.
//! - messages need `Authorization: Bearer <tenant token>`: missing is HTTP 400
//!   `99991661`, unknown or expired HTTP 400 `99991663 Invalid access token`.
//! - a bad query or body is HTTP 400 `99992402 field validation failed`
//!   (`uuid` longer than 50 characters included); content that is not a JSON
//!   string holding an object (with a string `text` for `msg_type` text) is
//!   HTTP 400 `230001 invalid message content`.
//! - over 5 per second to one chat: HTTP 429 `99991400` with
//!   `x-ogw-ratelimit-limit` and `x-ogw-ratelimit-reset` (whole seconds, ≥ 1).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use botq_core::envelope::Platform;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ledger::Sent;

use crate::faults::{self, Fault};
use crate::limits::Throttle;
use crate::records::{Delivery, Endpoint};
use crate::refusal::{Refusal, Seen, random_hex};
use crate::state::FakeState;
use crate::tokens::LARK_RENEW_WITHIN_MS;

pub const APP_SECRET_INVALID: i64 = 10014;
pub const INVALID_PARAM: i64 = 10003;
pub const MISSING_ACCESS_TOKEN: i64 = 99_991_661;
pub const INVALID_ACCESS_TOKEN: i64 = 99_991_663;
pub const FIELD_VALIDATION_FAILED: i64 = 99_992_402;
pub const INVALID_MESSAGE_CONTENT: i64 = 230_001;
pub const FREQUENCY_LIMIT: i64 = 99_991_400;
/// Longest `uuid` accepted (the commonly cited limit; unconfirmed officially).
pub const UUID_MAX_LEN: usize = 50;
const RECEIVE_ID_TYPES: [&str; 5] = ["open_id", "user_id", "union_id", "email", "chat_id"];

pub(crate) fn token_routes() -> Router<Arc<FakeState>> {
    Router::new().route("/open-apis/auth/v3/tenant_access_token/internal", post(token))
}

pub(crate) fn message_routes() -> Router<Arc<FakeState>> {
    Router::new()
        .route("/open-apis/im/v1/messages", post(send))
        .route("/open-apis/im/v1/messages/{message_id}/reply", post(reply))
}

#[derive(Deserialize)]
struct TokenRequest {
    app_id: String,
    app_secret: String,
}

async fn token(State(state): State<Arc<FakeState>>, body: Bytes) -> Response {
    let now = state.now_ms();
    let request: Option<TokenRequest> = serde_json::from_slice(&body).ok();
    let bot = request
        .as_ref()
        .and_then(|r| state.bots.iter().position(|b| b.accepts(Platform::Lark, &r.app_id, &r.app_secret)));
    let app = match &request {
        Some(r) if state.bots.iter().any(|b| b.platform() == Platform::Lark && b.app_id() == Some(&r.app_id)) => {
            r.app_id.as_str()
        }
        _ => "unknown",
    };
    let mut book = state.book();
    book.records.token_requested(Platform::Lark, app, bot.is_some());
    let Some(bot) = bot else {
        let refusal = if request.is_some() {
            Refusal::new(StatusCode::OK, APP_SECRET_INVALID, "app secret invalid")
        } else {
            Refusal::new(StatusCode::OK, INVALID_PARAM, "invalid param")
        };
        Seen::new(Platform::Lark, now).record(&mut book, &refusal);
        return Json(json!({ "code": refusal.code, "msg": refusal.message })).into_response();
    };
    let ttl_ms = i64::try_from(state.opts.token_ttl.as_millis()).unwrap_or(i64::MAX);
    let grant = book.tokens.grant(bot, now, ttl_ms, LARK_RENEW_WITHIN_MS, || format!("t-{}", random_hex(40)));
    drop(book);
    tracing::debug!(bot = %state.bots[bot].id, expires_in_secs = grant.expires_in_secs, "lark token granted");
    Json(json!({ "code": 0, "msg": "ok", "tenant_access_token": grant.token, "expire": grant.expires_in_secs }))
        .into_response()
}

#[derive(Deserialize)]
struct SendQuery {
    receive_id_type: Option<String>,
}

async fn send(State(s): State<Arc<FakeState>>, Query(q): Query<SendQuery>, h: HeaderMap, b: Bytes) -> Response {
    let to = Target::Send { receive_id_type: q.receive_id_type };
    handle(&s, to, &h, &b).await
}

async fn reply(State(s): State<Arc<FakeState>>, Path(message_id): Path<String>, h: HeaderMap, b: Bytes) -> Response {
    handle(&s, Target::Reply { message_id }, &h, &b).await
}

enum Target {
    Send { receive_id_type: Option<String> },
    Reply { message_id: String },
}

/// A checked message body.
struct Message {
    target: String,
    /// The chat in the response (`receive_id` for chat ids, the registered chat for replies).
    chat_id: String,
    msg_type: String,
    content: String,
    shown: crate::shown::Shown,
    uuid: Option<String>,
}

fn parse(to: &Target, body: &[u8], chat_of: impl Fn(&str) -> Option<String>) -> Result<Message, Refusal> {
    let invalid = |why: &str| {
        Refusal::new(StatusCode::BAD_REQUEST, FIELD_VALIDATION_FAILED, format!("field validation failed: {why}"))
    };
    let v: Value = serde_json::from_slice(body).map_err(|_| invalid("body is not JSON"))?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let (target, chat_id) = match to {
        Target::Send { receive_id_type } => {
            let kind = receive_id_type
                .as_deref()
                .filter(|t| RECEIVE_ID_TYPES.contains(t))
                .ok_or_else(|| invalid("receive_id_type"))?;
            let id = field("receive_id").ok_or_else(|| invalid("receive_id"))?;
            // Only a chat id names the chat; a user's p2p chat id is unknown to the fake.
            (id.to_owned(), if kind == "chat_id" { id.to_owned() } else { String::new() })
        }
        Target::Reply { message_id } => (message_id.clone(), chat_of(message_id).unwrap_or_default()),
    };
    let msg_type = field("msg_type").ok_or_else(|| invalid("msg_type"))?;
    let content = field("content").ok_or_else(|| invalid("content"))?;
    let uuid = match v.get("uuid") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) if u.chars().count() <= UUID_MAX_LEN => Some(u.clone()).filter(|u| !u.is_empty()),
        Some(_) => return Err(invalid("uuid must be a string of at most 50 characters")),
    };
    let bad_content = || Refusal::new(StatusCode::BAD_REQUEST, INVALID_MESSAGE_CONTENT, "invalid message content");
    let parsed: Value = serde_json::from_str(content).map_err(|_| bad_content())?;
    if !parsed.is_object() {
        return Err(bad_content());
    }
    if msg_type == "text" && !parsed.get("text").is_some_and(Value::is_string) {
        return Err(bad_content());
    }
    if msg_type == "post" && !post_has_elements(&parsed) {
        return Err(bad_content());
    }
    let shown = crate::shown::lark(msg_type, &parsed);
    Ok(Message { target, chat_id, msg_type: msg_type.to_owned(), content: content.to_owned(), shown, uuid })
}

/// A post needs a language with a `content` holding at least one element.
fn post_has_elements(post: &Value) -> bool {
    let body = post.get("content").or_else(|| post.as_object().and_then(|o| o.values().find_map(|l| l.get("content"))));
    body.and_then(Value::as_array).is_some_and(|ps| ps.iter().any(|p| p.as_array().is_some_and(|p| !p.is_empty())))
}

async fn handle(state: &FakeState, to: Target, headers: &HeaderMap, body: &[u8]) -> Response {
    let endpoint = match to {
        Target::Send { .. } => Endpoint::LarkSend,
        Target::Reply { .. } => Endpoint::LarkReply,
    };
    let target_hint = match &to {
        Target::Send { .. } => String::new(),
        Target::Reply { message_id } => message_id.clone(),
    };
    let mut seen = Seen::message(endpoint, &target_hint, state.now_ms());
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(bearer) = bearer else {
        let r = Refusal::new(StatusCode::BAD_REQUEST, MISSING_ACCESS_TOKEN, "Missing access token for authorization");
        return refuse(state, &seen, r);
    };
    let bot =
        state.book().tokens.bot_of(bearer.trim(), seen.at_ms).filter(|&b| state.bots[b].platform() == Platform::Lark);
    let Some(bot) = bot else {
        return refuse(
            state,
            &seen,
            Refusal::new(StatusCode::BAD_REQUEST, INVALID_ACCESS_TOKEN, "Invalid access token"),
        );
    };
    seen.bot = Some(state.bots[bot].id.clone());
    if let Some(fault) = faults::before_message(state, Platform::Lark).await {
        return refuse(state, &seen, fault_refusal(fault));
    }
    seen.at_ms = state.now_ms();
    let now = seen.at_ms;
    let mut book = state.book();
    let message = match parse(&to, body, |id| book.lark.chat_of(id).map(str::to_owned)) {
        Ok(m) => m,
        Err(r) => {
            seen.record(&mut book, &r);
            return render(&r);
        }
    };
    seen.target = Some(message.target.clone());
    seen.key.clone_from(&message.uuid);
    let reply_to = matches!(to, Target::Reply { .. }).then(|| message.target.clone());
    if let Some(uuid) = &message.uuid
        && let Some(first) = book.lark.prior(bot, uuid, now)
    {
        book.records.stats.deduplicated += 1;
        drop(book);
        tracing::debug!(
            bot = seen.bot.as_deref().unwrap_or("-"),
            "lark uuid replayed; answered with the first message"
        );
        return success(&first, &message, reply_to.as_deref(), &state.bots[bot]);
    }
    let rate_key = if message.chat_id.is_empty() { message.target.clone() } else { message.chat_id.clone() };
    if let Throttle::Limited { reset_at_ms } = book.lark.acquire(&rate_key, now) {
        book.records.stats.throttled += 1;
        let reset_secs = u64::try_from((reset_at_ms - now + 999) / 1000).unwrap_or(1).max(1);
        let r = Refusal::new(StatusCode::TOO_MANY_REQUESTS, FREQUENCY_LIMIT, "request trigger frequency limit")
            .retry_after(Some(reset_secs));
        seen.record(&mut book, &r);
        return render_limited(&r, book.lark.chat_qps());
    }
    let sent = Sent { message_id: format!("om_{}", random_hex(32)), chat_id: message.chat_id.clone(), at_ms: now };
    if let Some(uuid) = &message.uuid {
        book.lark.remember(bot, uuid, sent.clone());
    }
    let delivery = Delivery {
        platform: Platform::Lark,
        bot: state.bots[bot].id.clone(),
        endpoint,
        target: message.target.clone(),
        text: message.shown.text.clone(),
        mentions: message.shown.mentions.clone(),
        quote: None,
        images: message.shown.images.clone(),
        reply_to: reply_to.clone(),
        idempotency_key: message.uuid.clone(),
        received_at_ms: now,
        message_id: sent.message_id.clone(),
    };
    state.record_delivery(&mut book, delivery);
    drop(book);
    tracing::debug!(bot = seen.bot.as_deref().unwrap_or("-"), endpoint = endpoint.as_str(), "lark message delivered");
    success(&sent, &message, reply_to.as_deref(), &state.bots[bot])
}

fn success(sent: &Sent, message: &Message, reply_to: Option<&str>, bot: &crate::state::FakeBot) -> Response {
    let mut data = json!({
        "message_id": sent.message_id,
        "chat_id": sent.chat_id,
        "msg_type": message.msg_type,
        "create_time": sent.at_ms.to_string(),
        "update_time": sent.at_ms.to_string(),
        "deleted": false,
        "updated": false,
        "sender": { "id": bot.app_id().unwrap_or_default(), "id_type": "app_id", "sender_type": "app" },
        "body": { "content": message.content },
    });
    if let Some(parent) = reply_to {
        data["parent_id"] = json!(parent);
        data["root_id"] = json!(parent);
    }
    Json(json!({ "code": 0, "msg": "success", "data": data })).into_response()
}

/// An injected fault in Lark's shape: 429 is `99991400` with the `x-ogw-*` headers.
fn fault_refusal(fault: Fault) -> Refusal {
    match fault {
        Fault::Error { status, code } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            Refusal::new(status, code.unwrap_or(i64::from(status.as_u16())), format!("injected fault: {status}"))
        }
        Fault::Throttle { reset_secs, code } => Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            code.unwrap_or(FREQUENCY_LIMIT),
            "request trigger frequency limit",
        )
        .retry_after(Some(reset_secs.unwrap_or(1))),
    }
}

fn refuse(state: &FakeState, seen: &Seen, refusal: Refusal) -> Response {
    seen.record_now(state, &refusal);
    if refusal.status == StatusCode::TOO_MANY_REQUESTS {
        render_limited(&refusal, state.opts.lark_chat_qps)
    } else {
        render(&refusal)
    }
}

fn render(r: &Refusal) -> Response {
    (r.status, Json(json!({ "code": r.code, "msg": r.message }))).into_response()
}

fn render_limited(r: &Refusal, limit: u32) -> Response {
    let mut response = render(r);
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&limit.to_string()) {
        headers.insert("x-ogw-ratelimit-limit", v);
    }
    if let Ok(v) = HeaderValue::from_str(&r.retry_after_secs.unwrap_or(1).to_string()) {
        headers.insert("x-ogw-ratelimit-reset", v);
    }
    response
}
