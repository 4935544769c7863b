//! The control and inspection API under `/_fake/`, on the same listener as the
//! platform APIs, so a test or a benchmark needs one address only.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /_fake/deliveries` | | `[Delivery]`, oldest first |
//! | `GET /_fake/rejections` | | `[Rejection]`, oldest first |
//! | `GET /_fake/stats` | | `Stats` |
//! | `POST /_fake/reset` | | 204; records, ledgers, windows, script cleared; tokens kept |
//! | `POST /_fake/script` | `[ScriptStep]` | `{"queued": n}` (appended) |
//! | `POST /_fake/qq/inbound` | `{"msg_id","chat_kind":"group\|c2c\|guild","at_ms"?}` | 204 |
//! | `POST /_fake/lark/inbound` | `{"message_id","chat_id"}` | 204 |
//! | `POST /_fake/tokens/revoke` | | 204; every issued token becomes unknown |
//!
//! A body the fake cannot read is HTTP 400 `{"code":"bad_request","detail":…}`.
//! The same operations exist in-process on [`FakeState`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::ledger::QqChatKind;
use crate::script::ScriptStep;
use crate::state::FakeState;

pub(crate) fn routes() -> Router<Arc<FakeState>> {
    Router::new()
        .route("/_fake/deliveries", get(|State(s): State<Arc<FakeState>>| async move { Json(s.deliveries()) }))
        .route("/_fake/rejections", get(|State(s): State<Arc<FakeState>>| async move { Json(s.rejections()) }))
        .route("/_fake/stats", get(|State(s): State<Arc<FakeState>>| async move { Json(s.stats()) }))
        .route("/_fake/reset", post(reset))
        .route("/_fake/script", post(script))
        .route("/_fake/qq/inbound", post(qq_inbound))
        .route("/_fake/lark/inbound", post(lark_inbound))
        .route("/_fake/tokens/revoke", post(revoke))
}

/// A control request the fake cannot read.
struct BadRequest(String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(json!({ "code": "bad_request", "detail": self.0 }))).into_response()
    }
}

fn read<T: DeserializeOwned>(body: &[u8]) -> Result<T, BadRequest> {
    serde_json::from_slice(body).map_err(|e| BadRequest(e.to_string()))
}

async fn reset(State(state): State<Arc<FakeState>>) -> StatusCode {
    state.reset();
    tracing::info!("fake platform reset");
    StatusCode::NO_CONTENT
}

async fn revoke(State(state): State<Arc<FakeState>>) -> StatusCode {
    state.revoke_tokens();
    tracing::info!("every token revoked");
    StatusCode::NO_CONTENT
}

async fn script(State(state): State<Arc<FakeState>>, body: Bytes) -> Result<Response, BadRequest> {
    let steps: Vec<ScriptStep> = read(&body)?;
    Ok(Json(json!({ "queued": state.push_script(steps) })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QqInbound {
    msg_id: String,
    chat_kind: QqChatKind,
    /// When the message arrived (Unix ms); default now.
    at_ms: Option<i64>,
}

async fn qq_inbound(State(state): State<Arc<FakeState>>, body: Bytes) -> Result<StatusCode, BadRequest> {
    let m: QqInbound = read(&body)?;
    state.register_qq_inbound(&m.msg_id, m.chat_kind, m.at_ms.unwrap_or_else(|| state.now_ms()));
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LarkInbound {
    message_id: String,
    chat_id: String,
}

async fn lark_inbound(State(state): State<Arc<FakeState>>, body: Bytes) -> Result<StatusCode, BadRequest> {
    let m: LarkInbound = read(&body)?;
    state.register_lark_inbound(&m.message_id, &m.chat_id);
    Ok(StatusCode::NO_CONTENT)
}
