//! What a page answers when it cannot show what was asked: a status code and
//! a short page that says why, never a panic, a stack trace or a secret.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::layout;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A filter, id or page number that does not parse; nothing was done.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// What was confirmed changed meanwhile; nothing was done.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("sign in first")]
    Unauthorized,
    #[error("too many failed sign-ins; wait a minute")]
    TooManyAttempts,
    /// Loopback mode and a `Host` that is not loopback (DNS rebinding).
    #[error("this console answers only to localhost, 127.0.0.1 or [::1]")]
    NotLoopback,
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis failed for a visitor who has not signed in: no detail for them.
    #[error("the console cannot reach its Redis right now; try again shortly")]
    Unavailable,
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            Self::NotLoopback => StatusCode::MISDIRECTED_REQUEST,
            Self::Redis(_) | Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The same failure, told to someone not signed in: a Redis error is
    /// logged here and shown without its detail.
    #[must_use]
    pub fn hidden(self) -> Self {
        match self {
            Self::Redis(e) => {
                tracing::warn!(error.kind = ?e.kind(), "console: Redis call failed before sign-in");
                Self::Unavailable
            }
            other => other,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Redis(e) = &self {
            tracing::warn!(error.kind = ?e.kind(), "console: Redis call failed");
        }
        let title = status.canonical_reason().unwrap_or("Error");
        let body = html! {
            section.error-page {
                h1 { (status.as_u16()) " " (title) }
                p.problem role="alert" { (self.to_string()) }
                p { a href="/" { "Back to the overview" } }
            }
        };
        (status, layout::standalone(title, &body)).into_response()
    }
}

/// Any path the console does not serve.
pub async fn not_found() -> WebError {
    WebError::NotFound("no such page".into())
}
