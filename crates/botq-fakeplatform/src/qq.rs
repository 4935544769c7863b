//! The QQ Official Bot reply API: `POST /app/getAppAccessToken` and the four
//! message endpoints, with QQ's tokens, idempotency, windows and error shapes.
//!
//! Answers follow the QQ bot docs ("接口调用与鉴权", "发送消息", error
//! codes) and the shapes botgo decodes:
//! - token: `{"access_token","expires_in":"<secs as a string>"}`; bad
//!   credentials answer **HTTP 200** with `{"code":100016,"message":"invalid
//!   appid or secret"}` (a body that is not JSON with string `appId` and
//!   `clientSecret` gets `100007 appid invalid`, as the real endpoint does for a
//!   wrong Content-Type). Clients must check `code`, as botgo does.
//! - messages need `Authorization: QQBot <token>`; a missing, unknown or
//!   expired token is HTTP 401 `{"code":11244,"message":"token not exist or expire"}`.
//! - errors carry `{"code","message","err_code","trace_id"}` like botgo's `errBody`.
//! - group and C2C chats take an image as an upload first (`ledger/media.rs`):
//!   `POST …/files` answers a `file_info`, and a `msg_type` 7 body carries it
//!   as `media`;
//! - group and C2C bodies need `msg_type` (and `content` for type 0); guild
//!   bodies (`/channels`, `/dms`) are the older shape with `content` and no
//!   `msg_type`. Every body needs `msg_id` (passive replies only: proactive
//!   push was discontinued on 2025-04-21), else 400 `40034100`. Other
//!   unreadable bodies get 400 with the fake's own code `11255`.
//!
//! The rules themselves live in `ledger/qq.rs` ([`QqLedger`](crate::ledger::QqLedger)); this file is HTTP.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use botq_core::envelope::Platform;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ledger::QqRefusal;
use crate::ledger::media;

use crate::faults::{self, Fault};
use crate::records::{Delivery, Endpoint};
use crate::refusal::{Refusal, Seen, random_hex, random_token};
use crate::state::FakeState;
use crate::tokens::QQ_RENEW_WITHIN_MS;

pub const TOKEN_NOT_EXIST: i64 = 11244;
pub const INVALID_APPID_OR_SECRET: i64 = 100_016;
pub const APPID_INVALID: i64 = 100_007;
pub const DUPLICATE_MSG_SEQ: i64 = 40_054_005;
pub const PASSIVE_REPLY_LIMIT: i64 = 40_034_128;
pub const PROACTIVE_UNAVAILABLE: i64 = 40_034_100;
pub const MSG_LIMIT_EXCEED: i64 = 22009;
pub const CHANNEL_RATE_LIMIT: i64 = 20028;
/// The fake's code for a body it cannot read (the platform's own is unconfirmed).
pub const INVALID_REQUEST: i64 = 11255;
/// The fake's code for an upload whose URL it cannot fetch (likewise).
pub const MEDIA_FETCH_FAILED: i64 = 11256;

pub(crate) fn token_routes() -> Router<Arc<FakeState>> {
    Router::new().route("/app/getAppAccessToken", post(token))
}

pub(crate) fn message_routes() -> Router<Arc<FakeState>> {
    Router::new()
        .route("/v2/groups/{group_openid}/messages", post(group))
        .route("/v2/users/{openid}/messages", post(c2c))
        .route("/channels/{channel_id}/messages", post(channel))
        .route("/dms/{guild_id}/messages", post(dm))
        .route("/v2/groups/{group_openid}/files", post(group_files))
        .route("/v2/users/{openid}/files", post(c2c_files))
        .route("/interactions/{interaction_id}", axum::routing::put(interaction))
}

/// The QQ bot whose token authorises a request at `now_ms`.
fn bot_of(state: &FakeState, headers: &HeaderMap, now_ms: i64) -> Option<usize> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("QQBot "))
        .and_then(|token| state.book().tokens.bot_of(token.trim(), now_ms))
        .filter(|&b| state.bots[b].platform() == Platform::Qq)
}

fn unauthorised() -> Refusal {
    Refusal::new(StatusCode::UNAUTHORIZED, TOKEN_NOT_EXIST, "token not exist or expire")
}

async fn group_files(State(s): State<Arc<FakeState>>, Path(id): Path<String>, h: HeaderMap, b: Bytes) -> Response {
    upload(&s, Endpoint::QqGroup, &id, &h, &b)
}
async fn c2c_files(State(s): State<Arc<FakeState>>, Path(id): Path<String>, h: HeaderMap, b: Bytes) -> Response {
    upload(&s, Endpoint::QqC2c, &id, &h, &b)
}

/// `POST …/files` `{"file_type":1..=4,"url","srv_send_msg"}` →
/// `{"file_uuid","file_info","ttl"}`. The fake fetches nothing: a URL on a
/// host under `.invalid` (reserved never to resolve) is the one it cannot
/// fetch. `srv_send_msg: true` would send at once, a proactive message,
/// which the platform no longer offers.
fn upload(state: &FakeState, endpoint: Endpoint, target: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let Some(bot) = bot_of(state, headers, state.now_ms()) else { return render(&unauthorised()) };
    let bad = |why: &str| Refusal::new(StatusCode::BAD_REQUEST, INVALID_REQUEST, format!("invalid request: {why}"));
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return render(&bad("body is not JSON")) };
    if !v.get("file_type").and_then(Value::as_i64).is_some_and(|t| (1..=3).contains(&t)) {
        return render(&bad("file_type must be 1 (image), 2 (video) or 3 (voice)"));
    }
    if v.get("srv_send_msg").and_then(Value::as_bool).unwrap_or(false) {
        return render(&Refusal::new(
            StatusCode::BAD_REQUEST,
            PROACTIVE_UNAVAILABLE,
            "proactive messages are not available: srv_send_msg must be false",
        ));
    }
    let Some(url) = v.get("url").and_then(Value::as_str) else { return render(&bad("url is required")) };
    let Ok(parsed) = axum::http::Uri::try_from(url) else { return render(&bad("url is not a URL")) };
    if !matches!(parsed.scheme_str(), Some("http" | "https")) {
        return render(&bad("url must be http or https"));
    }
    if parsed.host().is_none_or(|h| h.ends_with(".invalid")) {
        return render(&Refusal::new(StatusCode::BAD_REQUEST, MEDIA_FETCH_FAILED, "rich media download failed"));
    }
    let file_info = random_token(48);
    state.book().qq.media.upload(&file_info, bot, endpoint, target, url);
    Json(json!({ "file_uuid": random_hex(16), "file_info": file_info, "ttl": media::TTL_SECS })).into_response()
}

/// `PUT /interactions/{id}` `{"code": 0..=5}`: the answer to a button press,
/// recorded per bot; success is an empty body.
async fn interaction(State(s): State<Arc<FakeState>>, Path(id): Path<String>, h: HeaderMap, b: Bytes) -> Response {
    let Some(bot) = bot_of(&s, &h, s.now_ms()) else { return render(&unauthorised()) };
    let code = serde_json::from_slice::<Value>(&b).ok().and_then(|v| v.get("code").and_then(Value::as_i64));
    let Some(code) = code.filter(|c| (0..=5).contains(c)) else {
        return render(&Refusal::new(StatusCode::BAD_REQUEST, INVALID_REQUEST, "invalid request: code must be 0 to 5"));
    };
    let bot_id = s.bots[bot].id.clone();
    s.book().records.interactions.push((bot_id, id, code));
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    app_id: String,
    client_secret: String,
}

async fn token(State(state): State<Arc<FakeState>>, body: Bytes) -> Response {
    let now = state.now_ms();
    let request: Option<TokenRequest> = serde_json::from_slice(&body).ok();
    let bot = request
        .as_ref()
        .and_then(|r| state.bots.iter().position(|b| b.accepts(Platform::Qq, &r.app_id, &r.client_secret)));
    let app = match &request {
        Some(r) if state.bots.iter().any(|b| b.platform() == Platform::Qq && b.app_id() == Some(&r.app_id)) => {
            r.app_id.as_str()
        }
        _ => "unknown",
    };
    let mut book = state.book();
    book.records.token_requested(Platform::Qq, app, bot.is_some());
    let Some(bot) = bot else {
        let refusal = if request.is_some() {
            Refusal::new(StatusCode::OK, INVALID_APPID_OR_SECRET, "invalid appid or secret")
        } else {
            Refusal::new(StatusCode::OK, APPID_INVALID, "appid invalid")
        };
        Seen::new(Platform::Qq, now).record(&mut book, &refusal);
        return Json(json!({ "code": refusal.code, "message": refusal.message })).into_response();
    };
    let ttl_ms = i64::try_from(state.opts.token_ttl.as_millis()).unwrap_or(i64::MAX);
    let grant = book.tokens.grant(bot, now, ttl_ms, QQ_RENEW_WITHIN_MS, || random_token(40));
    drop(book);
    tracing::debug!(bot = %state.bots[bot].id, expires_in_secs = grant.expires_in_secs, "qq token granted");
    Json(json!({ "access_token": grant.token, "expires_in": grant.expires_in_secs.to_string() })).into_response()
}

async fn group(State(s): State<Arc<FakeState>>, Path(id): Path<String>, h: HeaderMap, b: Bytes) -> Response {
    send(&s, Endpoint::QqGroup, &id, &h, &b).await
}
async fn c2c(State(s): State<Arc<FakeState>>, Path(id): Path<String>, h: HeaderMap, b: Bytes) -> Response {
    send(&s, Endpoint::QqC2c, &id, &h, &b).await
}
async fn channel(State(s): State<Arc<FakeState>>, Path(id): Path<String>, h: HeaderMap, b: Bytes) -> Response {
    send(&s, Endpoint::QqChannel, &id, &h, &b).await
}
async fn dm(State(s): State<Arc<FakeState>>, Path(id): Path<String>, h: HeaderMap, b: Bytes) -> Response {
    send(&s, Endpoint::QqDm, &id, &h, &b).await
}

/// The parts of a message body the fake checks.
struct Message {
    shown: crate::shown::Shown,
    msg_id: String,
    /// Group and C2C default it to 1; the guild APIs have no `msg_seq`.
    msg_seq: Option<u64>,
    /// A `msg_type` 7 body's `media.file_info` (group and C2C).
    media: Option<String>,
}

/// Group and C2C bodies (`/v2/…`) need `msg_type` (and `content` for text);
/// guild bodies (`/channels`, `/dms`) are the older shape: `content` or a rich
/// field (`embed`, `ark`, `image`, `markdown`), no `msg_type` required.
fn parse_message(endpoint: Endpoint, body: &[u8]) -> Result<Message, Refusal> {
    let bad = |why: &str| Refusal::new(StatusCode::BAD_REQUEST, INVALID_REQUEST, format!("invalid request: {why}"));
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("body is not JSON"))?;
    let content = v.get("content").and_then(Value::as_str).unwrap_or_default();
    let guild = matches!(endpoint, Endpoint::QqChannel | Endpoint::QqDm);
    let mut media = None;
    if guild {
        let rich = ["embed", "ark", "image", "markdown"].iter().any(|k| v.get(k).is_some_and(|x| !x.is_null()));
        if content.trim().is_empty() && !rich {
            return Err(bad("content or a rich message field is required"));
        }
    } else {
        let msg_type = v.get("msg_type").and_then(Value::as_i64).ok_or_else(|| bad("msg_type must be an integer"))?;
        if msg_type == 0 && content.trim().is_empty() {
            return Err(bad("content is required for msg_type 0"));
        }
        if msg_type == 7 {
            let info = v.pointer("/media/file_info").and_then(Value::as_str).filter(|f| !f.is_empty());
            media = Some(info.ok_or_else(|| bad("media.file_info is required for msg_type 7"))?.to_owned());
        }
    }
    // An answerable event (a button, the bot added) is replied to by event_id.
    let msg_id = match v.get("msg_id").or_else(|| v.get("event_id")) {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        _ => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                PROACTIVE_UNAVAILABLE,
                "proactive messages are not available: msg_id is required",
            ));
        }
    };
    let msg_seq = match v.get("msg_seq") {
        None | Some(Value::Null) => (!guild).then_some(1),
        Some(seq) => Some(seq.as_u64().ok_or_else(|| bad("msg_seq must be a non-negative integer"))?),
    };
    let mut shown = crate::shown::qq(content, endpoint == Endpoint::QqChannel);
    shown.quote = v.pointer("/message_reference/message_id").and_then(Value::as_str).map(str::to_owned);
    shown.images.extend(v.get("image").and_then(Value::as_str).map(str::to_owned));
    Ok(Message { shown, msg_id, msg_seq, media })
}

async fn send(state: &FakeState, endpoint: Endpoint, target: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let mut seen = Seen::message(endpoint, target, state.now_ms());
    let Some(bot) = bot_of(state, headers, seen.at_ms) else { return refuse(state, &seen, unauthorised()) };
    seen.bot = Some(state.bots[bot].id.clone());
    if let Some(fault) = faults::before_message(state, Platform::Qq).await {
        return refuse(state, &seen, fault_refusal(fault, endpoint));
    }
    seen.at_ms = state.now_ms();
    let mut message = match parse_message(endpoint, body) {
        Ok(m) => m,
        Err(r) => return refuse(state, &seen, r),
    };
    if let Some(info) = &message.media {
        let url = state.book().qq.media.url(info, bot, endpoint, target).map(str::to_owned);
        let Some(url) = url else {
            let why = "invalid request: media.file_info was not uploaded for this chat by this bot";
            return refuse(state, &seen, Refusal::new(StatusCode::BAD_REQUEST, INVALID_REQUEST, why));
        };
        message.shown.images.push(url);
    }
    seen.key = message.msg_seq.map(|seq| format!("{}:{seq}", message.msg_id));
    let now = seen.at_ms;
    let mut book = state.book();
    if let Err(why) = book.qq.admit(bot, endpoint, target, &message.msg_id, message.msg_seq, now) {
        let refusal = match why {
            QqRefusal::Duplicate => {
                book.records.stats.deduplicated += 1;
                Refusal::new(StatusCode::BAD_REQUEST, DUPLICATE_MSG_SEQ, "消息被去重，请检查请求msgseq")
            }
            QqRefusal::TooManyReplies => {
                Refusal::new(StatusCode::BAD_REQUEST, PASSIVE_REPLY_LIMIT, "被动回复次数超限 (reply count exceeded)")
            }
            QqRefusal::WindowPassed => {
                Refusal::new(StatusCode::BAD_REQUEST, PASSIVE_REPLY_LIMIT, "被动回复时间超限 (reply window passed)")
            }
            QqRefusal::ChatRate { .. } => {
                book.records.stats.throttled += 1;
                Refusal::new(StatusCode::TOO_MANY_REQUESTS, MSG_LIMIT_EXCEED, "msg limit exceed")
            }
            QqRefusal::ChannelRate { .. } => {
                book.records.stats.throttled += 1;
                Refusal::new(StatusCode::TOO_MANY_REQUESTS, CHANNEL_RATE_LIMIT, "ChannelHitWriteRateLimit")
            }
        };
        seen.record(&mut book, &refusal);
        return render(&refusal);
    }
    let id = format!("ROBOT1.0_{}", random_token(32));
    let delivery = Delivery {
        platform: Platform::Qq,
        bot: state.bots[bot].id.clone(),
        endpoint,
        target: target.to_owned(),
        text: message.shown.text,
        mentions: message.shown.mentions,
        quote: message.shown.quote,
        images: message.shown.images,
        reply_to: Some(message.msg_id),
        idempotency_key: seen.key.clone(),
        received_at_ms: now,
        message_id: id.clone(),
    };
    state.record_delivery(&mut book, delivery);
    drop(book);
    tracing::debug!(bot = seen.bot.as_deref().unwrap_or("-"), endpoint = endpoint.as_str(), "qq message delivered");
    // Group and C2C answers carry the index quotes of the message name
    // (the docs' "发送群聊消息" response); guild quotes name the id.
    let mut answer = json!({ "id": id, "timestamp": now / 1000 });
    if matches!(endpoint, Endpoint::QqGroup | Endpoint::QqC2c) {
        answer["ext_info"] = json!({ "ref_idx": format!("REFIDX_{}==", random_token(24)) });
    }
    Json(answer).into_response()
}

/// An injected fault in QQ's shape: 429 carries 22009 (20028 on a channel).
fn fault_refusal(fault: Fault, endpoint: Endpoint) -> Refusal {
    match fault {
        Fault::Error { status, code } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            Refusal::new(status, code.unwrap_or(i64::from(status.as_u16())), format!("injected fault: {status}"))
        }
        Fault::Throttle { reset_secs, code } => {
            let default = if endpoint == Endpoint::QqChannel { CHANNEL_RATE_LIMIT } else { MSG_LIMIT_EXCEED };
            Refusal::new(StatusCode::TOO_MANY_REQUESTS, code.unwrap_or(default), "injected fault: msg limit exceed")
                .retry_after(reset_secs)
        }
    }
}

fn refuse(state: &FakeState, seen: &Seen, refusal: Refusal) -> Response {
    seen.record_now(state, &refusal);
    render(&refusal)
}

fn render(r: &Refusal) -> Response {
    let body = json!({ "code": r.code, "message": r.message, "err_code": r.code, "trace_id": random_hex(32) });
    let mut response = (r.status, Json(body)).into_response();
    if let Some(secs) = r.retry_after_secs
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}
