//! The two reads the bench makes of botq-fakeplatform's control API: the
//! delivery log (`GET /_fake/deliveries`, which replies arrived and when) and
//! the exact delivery counter (`GET /_fake/stats`).
//!
//! The log is capped by the fake's `--max-records` (oldest dropped), the
//! counter is not. So the bench never resets the fake (its ledgers and
//! scripts may be part of the scenario); it notes the counter before a step
//! and, when it reads the log, compares: a step whose deliveries outnumber
//! the log lost some of them off the front ([`Fake::deliveries`] says how
//! many), and the report tells the user to start the fake with a larger
//! `--max-records`. While waiting for a step's replies the bench polls the
//! cheap counter and reads the (possibly large) log only when the counter
//! says enough has arrived; `fairness`, whose log is small and holds the
//! noisy group's replies too, reads the log alone ([`Fake::log`]).

use std::time::Duration;

use anyhow::{Context, bail};
use botq_fakeplatform::Stats;
use reqwest::Url;

use crate::replies::{self, Delivery};

/// botq-fakeplatform at one base URL.
#[derive(Debug, Clone)]
pub struct Fake {
    client: reqwest::Client,
    deliveries: Url,
    stats: Url,
}

/// The delivery log as read, with what the counter says it should hold.
#[derive(Debug, Clone)]
pub struct Log {
    pub deliveries: Vec<Delivery>,
    /// Deliveries since the counter reading the caller gave that the log no
    /// longer holds (its cap dropped them).
    pub dropped: u64,
}

impl Fake {
    /// The fake at `base`, e.g. `http://127.0.0.1:8090`.
    ///
    /// # Errors
    /// A base that is not a plain `http://` URL with a host.
    pub fn new(base: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: crate::client(Duration::from_secs(60))?,
            deliveries: control_url(base, "deliveries")?,
            stats: control_url(base, "stats")?,
        })
    }

    /// Deliveries the fake accepted since it started (or was last reset).
    ///
    /// # Errors
    /// The fake not answering, or answering something else than its stats.
    pub async fn delivered(&self) -> anyhow::Result<u64> {
        let body = self.get(&self.stats).await?;
        let stats: Stats = serde_json::from_str(&body)
            .with_context(|| format!("GET {} is not botq-fakeplatform's stats", self.stats))?;
        Ok(stats.deliveries)
    }

    /// The delivery log, oldest first, and how much of what was delivered
    /// since the counter read `before` it no longer holds.
    ///
    /// # Errors
    /// The fake not answering, or answering something else than deliveries.
    pub async fn deliveries(&self, before: u64) -> anyhow::Result<Log> {
        // The counter read on both sides of the log: only when it did not move
        // is the difference exact. A delivery in between would otherwise count
        // as dropped (overstating, never hiding, a loss) and end a read-back
        // that was one reply short of complete; so read again, a few times,
        // and after that accept the overstated figure.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let first = self.delivered().await?;
            let deliveries = self.log().await?;
            let last = self.delivered().await?;
            if first == last || attempts == 5 {
                let dropped = last.saturating_sub(before).saturating_sub(deliveries.len() as u64);
                return Ok(Log { deliveries, dropped });
            }
        }
    }

    /// The delivery log, oldest first, as far as the fake still holds it.
    ///
    /// # Errors
    /// The fake not answering, or answering something else than deliveries.
    pub async fn log(&self) -> anyhow::Result<Vec<Delivery>> {
        let body = self.get(&self.deliveries).await?;
        replies::parse_deliveries(&body).map_err(|e| anyhow::anyhow!("GET {}: {e}", self.deliveries))
    }

    async fn get(&self, url: &Url) -> anyhow::Result<String> {
        let resp = self.client.get(url.clone()).send().await.with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let body = resp.text().await.with_context(|| format!("reading GET {url}"))?;
        if !status.is_success() {
            bail!("GET {url} answered {status}: {body}");
        }
        Ok(body)
    }
}

/// `{base}/_fake/{what}` for an `http://` base URL.
fn control_url(base: &str, what: &str) -> anyhow::Result<Url> {
    crate::http_url("--fake-url", "botq-fakeplatform", "http://127.0.0.1:8090", base, &format!("_fake/{what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_fake_urls_are_accepted() {
        assert_eq!(
            control_url("http://127.0.0.1:8090/", "deliveries").unwrap().as_str(),
            "http://127.0.0.1:8090/_fake/deliveries"
        );
        assert!(Fake::new("https://x").is_err() && Fake::new("127.0.0.1:8090").is_err());
    }
}
