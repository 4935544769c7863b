//! `POST /_fake/agent`: a stand-in upstream agent speaking botq's skill
//! contract v1 (docs/SKILLS.md), so the quick start shows a message going
//! through an `http` skill without any real agent behind it.
//!
//! It answers `{"replies": ["(fake agent) you said: <args>"]}`. A message
//! containing `slow` is answered after 4 s (long enough for the example
//! config's "working on it" acknowledgement), one containing `fail` gets a
//! 503, so the breaker and the degraded answer can be tried by hand.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::state::FakeState;

pub(crate) fn routes() -> Router<Arc<FakeState>> {
    Router::new().route("/_fake/agent", post(answer))
}

async fn answer(Json(request): Json<Value>) -> Response {
    if request["schema"] != "botq.skill.request/v1" {
        return (StatusCode::BAD_REQUEST, "expected schema botq.skill.request/v1").into_response();
    }
    let args = request["args"].as_str().unwrap_or_default().to_owned();
    if args.contains("fail") {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if args.contains("slow") {
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    Json(json!({ "replies": [format!("(fake agent) you said: {args}")] })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_the_v1_contract_and_refuses_anything_else() {
        let ok = answer(Json(json!({"schema": "botq.skill.request/v1", "args": "hi"}))).await;
        assert_eq!(ok.status(), StatusCode::OK);
        let body = axum::body::to_bytes(ok.into_body(), 1024).await.unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["replies"][0], "(fake agent) you said: hi");
        let bad = answer(Json(json!({"args": "hi"}))).await;
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        let down = answer(Json(json!({"schema": "botq.skill.request/v1", "args": "please fail"}))).await;
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
