//! The console's stylesheet, script and icon, embedded in the binary so the
//! console needs nothing from the internet (and the CSP can say `'self'`).

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::WebError;

const ASSETS: [(&str, &str, &str); 3] = [
    ("console.css", "text/css; charset=utf-8", include_str!("assets/console.css")),
    ("console.js", "text/javascript; charset=utf-8", include_str!("assets/console.js")),
    ("favicon.svg", "image/svg+xml", include_str!("assets/favicon.svg")),
];

/// `GET /assets/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, body)) => {
            ([(header::CONTENT_TYPE, *mime), (header::CACHE_CONTROL, "public, max-age=300")], *body).into_response()
        }
        None => WebError::NotFound(format!("no asset {name:?}")).into_response(),
    }
}
