//! Every response carries `X-Request-Id`: botq's UUIDv7 for the delivery,
//! the same id that the event carries through the queue and every log line.

use axum::extract::{FromRequestParts, Request};
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use botq_core::ids::RequestId;

pub const HEADER: &str = "x-request-id";

/// Middleware: mint the request id, expose it to handlers, stamp the response.
pub async fn stamp(mut req: Request, next: Next) -> Response {
    let id = RequestId::new();
    req.extensions_mut().insert(id);
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        resp.headers_mut().insert(HEADER, v);
    }
    resp
}

/// Extractor for the id minted by [`stamp`].
pub struct RequestIdExt(pub RequestId);

impl<S: Send + Sync> FromRequestParts<S> for RequestIdExt {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Always present behind `stamp`; a fresh id keeps a misrouted request traceable anyway.
        Ok(Self(parts.extensions.get::<RequestId>().copied().unwrap_or_default()))
    }
}
