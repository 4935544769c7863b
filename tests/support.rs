//! Shared helpers of the end-to-end tests (see `ingest_*.rs`).

use botq_testkit::sign::Webhook;

/// Posts a webhook and returns status, headers and body text.
///
/// # Panics
/// On a transport error: the services run on loopback and must answer.
pub async fn post(client: &reqwest::Client, url: &str, hook: &Webhook) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = client.post(url).body(hook.body.clone());
    for (k, v) in &hook.headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.expect("ingest answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.expect("body"))
}
