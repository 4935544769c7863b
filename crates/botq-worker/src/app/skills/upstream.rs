//! Calling an `http` skill: build the v1 request, sign it, POST it within the
//! skill's timeout, and turn the answer into replies or a failure class.
//!
//! | upstream answer | result | breaker |
//! |---|---|---|
//! | 200 `{"replies": […]}` | the replies | healthy |
//! | 204 | no reply | healthy |
//! | 429 or 503 with `Retry-After` | retry no earlier than that | failure |
//! | other 5xx, timeout, connection refused | retry with backoff | failure |
//! | other 4xx, or a 200 that is not the contract | dead letter (permanent) | healthy |
//!
//! A 4xx or a malformed answer is about this request, not the upstream's
//! health, so it does not open the breaker; retrying it would only repeat it.
//! Every request carries `Idempotency-Key` (the same for every attempt at one
//! event), so an upstream that creates things can drop a repeated attempt.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use botq_core::skill::HttpSkill;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::contract::{ReplyItem, SkillRequest, SkillResponse};
use crate::handler::HandleError;

/// The largest answer botq reads from an upstream.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// The result of one call, with what the audit log and the breaker need.
#[derive(Debug)]
pub struct Call {
    /// The replies as the upstream wrote them (`ReplyItem::resolve` makes them sendable).
    pub result: Result<Vec<ReplyItem>, HandleError>,
    /// Whether the upstream looked healthy (for the breaker).
    pub healthy: bool,
    /// A short failure class for the audit log (`""` on success).
    pub reason: &'static str,
    pub request_bytes: u64,
    pub response_bytes: u64,
}

/// One `http` skill's client.
#[derive(Debug)]
pub struct Upstream {
    http: reqwest::Client,
    cfg: HttpSkill,
    timeout: Duration,
}

impl Upstream {
    #[must_use]
    pub fn new(http: reqwest::Client, cfg: HttpSkill, timeout: Duration) -> Self {
        Self { http, cfg, timeout }
    }

    /// The request schema this upstream speaks.
    #[must_use]
    pub fn contract(&self) -> botq_core::skill::Contract {
        self.cfg.contract
    }

    /// POSTs `request`; `idempotency_key` is stable across attempts at one event.
    pub async fn call(&self, request: &SkillRequest<'_>, idempotency_key: &str) -> Call {
        let body = match serde_json::to_vec(request) {
            Ok(b) => b,
            Err(e) => {
                return failed(HandleError::Permanent(format!("cannot encode the request: {e}")), true, "encode", 0);
            }
        };
        let request_bytes = body.len() as u64;
        let mut req = self
            .http
            .post(&self.cfg.url)
            .timeout(self.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", idempotency_key)
            .header("X-Request-Id", &request.request_id)
            .header("X-Botq-Attempt", request.attempt.to_string());
        for (name, value) in &self.cfg.headers {
            req = req.header(name.as_str(), value.expose_secret());
        }
        if let Some(secret) = &self.cfg.signing_secret {
            let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs().to_string();
            req = req
                .header("X-Botq-Timestamp", &ts)
                .header("X-Botq-Signature", sign(secret.expose_secret(), &ts, &body));
        }
        let resp = match req.body(body).send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                let why = format!("upstream timed out after {} ms", self.timeout.as_millis());
                return failed(HandleError::Transient(why), false, "timeout", request_bytes);
            }
            Err(_) => {
                return failed(HandleError::Transient("upstream unreachable".into()), false, "connect", request_bytes);
            }
        };
        let status = resp.status().as_u16();
        let retry_after = botq_core::reply::retry_after_secs(
            resp.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()),
        );
        let answer = match read_limited(resp, self.timeout).await {
            Ok(b) => b,
            Err(reason) => {
                let e = HandleError::Transient(format!("upstream answer unreadable: {reason}"));
                return failed(e, false, reason, request_bytes);
            }
        };
        let mut call = classify(status, retry_after, &answer);
        call.request_bytes = request_bytes;
        call
    }
}

/// `v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>`.
#[must_use]
pub fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Reads at most [`MAX_ANSWER_BYTES`] of the body.
async fn read_limited(mut resp: reqwest::Response, timeout: Duration) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    let read = async {
        while let Some(chunk) = resp.chunk().await.map_err(|_| "body_read")? {
            if out.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err("too_large");
            }
            out.extend_from_slice(&chunk);
        }
        Ok(())
    };
    tokio::time::timeout(timeout, read).await.map_err(|_| "timeout")??;
    Ok(out)
}

/// Turns status and body into a [`Call`] (request bytes filled in by the caller).
#[must_use]
pub fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Call {
    let response_bytes = body.len() as u64;
    let done = |result, healthy, reason| Call { result, healthy, reason, request_bytes: 0, response_bytes };
    match status {
        204 => done(Ok(Vec::new()), true, ""),
        200 => match serde_json::from_slice::<SkillResponse>(body) {
            Ok(r) => done(Ok(r.replies), true, ""),
            Err(e) => done(
                Err(HandleError::Permanent(format!("upstream answer is not the skill contract: {e}"))),
                true,
                "bad_answer",
            ),
        },
        429 | 503 if retry_after.is_some() => done(
            Err(HandleError::RetryAfter(retry_after.unwrap_or_default(), format!("upstream answered {status}"))),
            false,
            if status == 429 { "upstream_429" } else { "upstream_5xx" },
        ),
        429 => done(Err(HandleError::Transient("upstream answered 429".into())), false, "upstream_429"),
        500..=599 => done(Err(HandleError::Transient(format!("upstream answered {status}"))), false, "upstream_5xx"),
        _ => done(Err(HandleError::Permanent(format!("upstream answered {status}"))), true, "upstream_4xx"),
    }
}

fn failed(e: HandleError, healthy: bool, reason: &'static str, request_bytes: u64) -> Call {
    Call { result: Err(e), healthy, reason, request_bytes, response_bytes: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_by_status_and_contract() {
        let ok = classify(200, None, br#"{"replies":["hi"]}"#);
        assert!(matches!(ok.result.unwrap().as_slice(), [ReplyItem::Text(t)] if t == "hi"));
        assert!(classify(204, None, b"").result.unwrap().is_empty());
        let slow = classify(503, Some(Duration::from_secs(7)), b"");
        assert!(matches!(slow.result, Err(HandleError::RetryAfter(d, _)) if d == Duration::from_secs(7)));
        assert!(!slow.healthy);
        let down = classify(502, None, b"");
        assert!(matches!(down.result, Err(HandleError::Transient(_))) && !down.healthy);
        let bad = classify(400, None, b"");
        assert!(matches!(bad.result, Err(HandleError::Permanent(_))) && bad.healthy);
        let garbage = classify(200, None, b"<html>");
        assert_eq!(garbage.reason, "bad_answer");
        assert!(matches!(garbage.result, Err(HandleError::Permanent(_))));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac s3cret
        assert_eq!(
            sign("s3cret", "1700000000", b"{}"),
            "v1=97926816e98fbb41ccb1673225ff29a2f35369099990e1b1561651e7bd097ebf"
        );
    }
}
