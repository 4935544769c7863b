//! `botq-bench send`: one signed webhook, and a plain answer about what happened.
//!
//! This is the README's first "is it working?" command, so its output is for
//! a newcomer: what was sent, ingest's status, `X-Request-Id` (the id every
//! log line of the event carries) and body, and for a refusal the usual cause
//! in one sentence. It exits non-zero unless ingest answered 2xx, so scripts
//! and smoke tests can use it too.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::header::{HeaderName, HeaderValue};

use crate::cli::SendArgs;
use crate::hooks::{Hooks, Message};

/// Runs `send`.
///
/// # Errors
/// Bad config, unknown bot, bad URL, or ingest unreachable.
pub async fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let cfg = crate::load_config(&args.target.config)?;
    let bot = crate::find_bot(&cfg, &args.target.bot)?;
    let url = crate::webhook_url(&args.target.url, bot.id.as_str())?;
    let hooks = Hooks::from_bot(bot);
    let chat = args.chat.unwrap_or_else(|| hooks.chat_id(0));
    let sender = args.sender.unwrap_or_else(|| hooks.sender_id(0));
    let msg = Message {
        event: crate::event_base(),
        chat: &chat,
        sender: &sender,
        text: &args.text,
        unix_secs: crate::unix_secs(),
    };
    let hook = hooks.build(&msg)?;

    println!("POST {url}");
    println!(
        "  as {} bot {:?}: group {chat}, sender {sender}, text {:?}",
        hooks.platform().as_str(),
        bot.id.as_str(),
        args.text
    );
    let client = crate::client(Duration::from_secs(10))?;
    let mut req = client.post(url.clone()).body(hook.body);
    for (k, v) in &hook.headers {
        req = req.header(HeaderName::from_bytes(k.as_bytes())?, HeaderValue::from_str(v)?);
    }
    let started = Instant::now();
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => bail!("cannot connect to {url}: is botq-ingest running and listening there?"),
        Err(e) if e.is_timeout() => bail!("{url} did not answer within 10 s"),
        Err(e) => return Err(e).context(format!("sending to {url}")),
    };
    let status = resp.status();
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (request_id, retry_after) = (header("x-request-id"), header("retry-after"));
    let body = resp.text().await.context("reading ingest's answer")?;
    let answer = Answer {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or(""),
        elapsed: started.elapsed(),
        request_id: request_id.as_deref(),
        retry_after: retry_after.as_deref(),
        body: &body,
        bot: bot.id.as_str(),
    };
    print!("{}", answer.describe());
    Ok(if status.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Ingest's answer, as `send` shows it.
#[derive(Debug)]
pub struct Answer<'a> {
    pub status: u16,
    pub reason: &'a str,
    pub elapsed: Duration,
    pub request_id: Option<&'a str>,
    pub retry_after: Option<&'a str>,
    pub body: &'a str,
    pub bot: &'a str,
}

impl Answer<'_> {
    /// The lines printed after the request line.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut out =
            format!("HTTP {} {} in {:.1} ms\n", self.status, self.reason, self.elapsed.as_secs_f64() * 1000.0);
        out += &format!("X-Request-Id: {}\n", self.request_id.unwrap_or("(none: is this botq-ingest?)"));
        out += &format!("{}\n\n", if self.body.is_empty() { "(empty body)" } else { self.body });
        out += &self.verdict();
        out.push('\n');
        out
    }

    fn verdict(&self) -> String {
        let code = serde_json::from_str::<serde_json::Value>(self.body)
            .ok()
            .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
            .unwrap_or_default();
        match self.status {
            200..=299 => {
                let follow = self
                    .request_id
                    .map(|id| format!(" Follow it in the logs with request_id={id}."))
                    .unwrap_or_default();
                format!("Accepted: ingest verified the signature and stored the event.{follow}")
            }
            401 if code == "stale_timestamp" => {
                "Refused: the signed timestamp is outside the bot's timestamp_window_secs; check this machine's clock."
                    .into()
            }
            401 => "Refused: the signature did not verify. The bench and ingest must read the same config \
                    and the same secrets (check the environment variables the config names)."
                .into(),
            403 => "Refused: the request names another app, account or verification token than ingest expects \
                    (app_id / verification_token differ from the config ingest runs with)."
                .into(),
            404 => format!("Refused: ingest has no bot {:?}. Is it running with this same config?", self.bot),
            413 => "Refused: the body is larger than ingest.body_limit_bytes.".into(),
            400 => "Refused: ingest could not take the event (the code above says why: malformed_payload, invalid_id, ...).".into(),
            503 => format!(
                "Not stored: ingest could not reach Redis or its backlog is full (retry after {} s). Is redis-server running?",
                self.retry_after.unwrap_or("?")
            ),
            _ => "Unexpected answer: ingest did not accept the event.".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &'static str) -> Answer<'static> {
        Answer {
            status,
            reason: "",
            elapsed: Duration::from_micros(2345),
            request_id: Some("0193-abcd"),
            retry_after: Some("5"),
            body,
            bot: "qq-main",
        }
    }

    #[test]
    fn an_accepted_webhook_shows_status_request_id_body_and_how_to_follow_it() {
        let out = answer(200, r#"{"op":12,"d":0}"#).describe();
        assert!(out.starts_with("HTTP 200  in 2.3 ms\nX-Request-Id: 0193-abcd\n{\"op\":12,\"d\":0}\n"), "{out}");
        assert!(out.contains("Accepted") && out.contains("request_id=0193-abcd"), "{out}");
    }

    #[test]
    fn an_empty_onebot_ack_is_named_rather_than_blank() {
        assert!(answer(204, "").describe().contains("(empty body)"));
    }

    #[test]
    fn refusals_name_their_usual_cause() {
        assert!(answer(401, r#"{"code":"invalid_signature"}"#).describe().contains("same secrets"));
        assert!(answer(401, r#"{"code":"stale_timestamp"}"#).describe().contains("clock"));
        assert!(answer(404, "").describe().contains(r#"no bot "qq-main""#));
        assert!(answer(503, "").describe().contains("retry after 5 s"));
    }
}
