//! `POST /_fake/agent`: a stand-in upstream agent speaking botq's skill
//! contract v1 (docs/SKILLS.md), so the quick start shows a message going
//! through an `http` skill without any real agent behind it.
//!
//! It answers `{"replies": ["(fake agent) you said: <args>"]}`. A message
//! containing `slow` is answered after 4 s (long enough for the example
//! config's "working on it" acknowledgement), one containing `fail` gets a
//! 503, so the breaker and the degraded answer can be tried by hand. One
//! containing `reject` is refused with a 422 the first time its event asks
//! (by the skill call's `Idempotency-Key`) and answered after: botq treats a
//! 4xx as permanent and dead-letters the event at once, and a replay from the
//! console (`botqctl web`) or `botqctl dlq replay` then gets its answer, as
//! after an agent's bug was fixed.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::state::FakeState;

pub(crate) fn routes() -> Router<Arc<FakeState>> {
    Router::new().route("/_fake/agent", post(answer))
}

async fn answer(State(state): State<Arc<FakeState>>, headers: HeaderMap, Json(request): Json<Value>) -> Response {
    if request["schema"] != "botq.skill.request/v1" {
        return (StatusCode::BAD_REQUEST, "expected schema botq.skill.request/v1").into_response();
    }
    let args = request["args"].as_str().unwrap_or_default().to_owned();
    if args.contains("reject") {
        let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        if state.book().agent_refused.insert(key) {
            return (StatusCode::UNPROCESSABLE_ENTITY, "the fake agent refuses this once").into_response();
        }
    }
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

    fn state() -> Arc<FakeState> {
        Arc::new(FakeState::new(Vec::new(), crate::Options::default()))
    }

    fn key(k: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("idempotency-key", k.parse().unwrap());
        h
    }

    #[tokio::test]
    async fn answers_the_v1_contract_and_refuses_anything_else() {
        let s = state();
        let ok =
            answer(State(s.clone()), key("a"), Json(json!({"schema": "botq.skill.request/v1", "args": "hi"}))).await;
        assert_eq!(ok.status(), StatusCode::OK);
        let body = axum::body::to_bytes(ok.into_body(), 1024).await.unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["replies"][0], "(fake agent) you said: hi");
        let bad = answer(State(s.clone()), key("a"), Json(json!({"args": "hi"}))).await;
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        let v1 = json!({"schema": "botq.skill.request/v1", "args": "please fail"});
        let down = answer(State(s), key("a"), Json(v1)).await;
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn reject_is_refused_once_per_event_then_answered() {
        let s = state();
        let ask = |k: &str| {
            let (s, k) = (s.clone(), key(k));
            async move {
                answer(State(s), k, Json(json!({"schema": "botq.skill.request/v1", "args": "reject me"})))
                    .await
                    .status()
            }
        };
        assert_eq!(ask("event-1").await, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(ask("event-1").await, StatusCode::OK, "the replay is answered");
        assert_eq!(ask("event-2").await, StatusCode::UNPROCESSABLE_ENTITY, "another event is refused once too");
    }
}
