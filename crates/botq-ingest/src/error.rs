//! The one error type at the HTTP edge, with a stable `{ "code", "detail" }` body.
//!
//! Codes are API: platforms and operators match on them. Details are generic
//! on purpose; nothing here echoes input, secrets or which check almost passed.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use botq_core::platform::Reject;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiError {
    /// No bot with that id (404).
    UnknownBot,
    /// Body over the configured limit (413).
    PayloadTooLarge,
    /// The platform adapter refused the request (400/401/403).
    Rejected(Reject),
    /// Redis is unreachable or over its backlog: retry later (503 + Retry-After).
    Unavailable { retry_after_secs: u32 },
}

impl ApiError {
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::UnknownBot => "unknown_bot",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Rejected(r) => r.code(),
            Self::Unavailable { .. } => "unavailable",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::UnknownBot => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Rejected(r) => StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST),
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn detail(self) -> String {
        match self {
            Self::UnknownBot => "no bot is configured at this path".to_owned(),
            Self::PayloadTooLarge => "the request body is larger than allowed".to_owned(),
            Self::Rejected(r) => r.to_string(),
            Self::Unavailable { .. } => "the event could not be stored; retry later".to_owned(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code(), "detail": self.detail() });
        let mut resp = (self.status(), axum::Json(body)).into_response();
        if let Self::Unavailable { retry_after_secs } = self {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        resp
    }
}
