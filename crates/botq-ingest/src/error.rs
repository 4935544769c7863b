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
    /// No such route: only `POST /webhooks/{bot_id}` is served (404).
    NotFound,
    /// A route of this listener with another method than POST (405).
    MethodNotAllowed,
    /// Body over the configured limit (413).
    PayloadTooLarge,
    /// The body broke off or was not valid HTTP framing (400).
    MalformedBody,
    /// The body did not arrive within the body timeout (408).
    BodyTimeout,
    /// This client was refused too often; retry later (429 + Retry-After).
    TooManyRejections { retry_after_secs: u32 },
    /// The platform adapter refused the request (400/401/403).
    Rejected(Reject),
    /// Redis is unreachable or over its backlog: retry later (503 + Retry-After).
    Unavailable { retry_after_secs: u32 },
}

impl ApiError {
    /// The 429 for a client whose refusal budget comes back after `wait`
    /// (`Retry-After` rounded up to whole seconds).
    #[must_use]
    pub fn too_many_rejections(wait: std::time::Duration) -> Self {
        Self::TooManyRejections {
            retry_after_secs: u32::try_from(wait.as_secs().saturating_add(1)).unwrap_or(u32::MAX),
        }
    }

    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::UnknownBot => "unknown_bot",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::MalformedBody => "malformed_body",
            Self::BodyTimeout => "body_timeout",
            Self::TooManyRejections { .. } => "too_many_rejections",
            Self::Rejected(r) => r.code(),
            Self::Unavailable { .. } => "unavailable",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::UnknownBot | Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MalformedBody => StatusCode::BAD_REQUEST,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyRejections { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Rejected(r) => StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST),
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn detail(self) -> String {
        match self {
            Self::UnknownBot => "no bot is configured at this path".to_owned(),
            Self::NotFound => "webhooks are posted to /webhooks/{bot_id}".to_owned(),
            Self::MethodNotAllowed => "webhooks are delivered with POST".to_owned(),
            Self::PayloadTooLarge => "the request body is larger than allowed".to_owned(),
            Self::MalformedBody => "the request body could not be read".to_owned(),
            Self::BodyTimeout => "the request body did not arrive in time".to_owned(),
            Self::TooManyRejections { .. } => "too many refused requests from this address; retry later".to_owned(),
            Self::Rejected(r) => r.to_string(),
            Self::Unavailable { .. } => "the event could not be stored; retry later".to_owned(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code(), "detail": self.detail() });
        let mut resp = (self.status(), axum::Json(body)).into_response();
        if let Self::Unavailable { retry_after_secs } | Self::TooManyRejections { retry_after_secs } = self {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if self == Self::MethodNotAllowed {
            resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        resp
    }
}
