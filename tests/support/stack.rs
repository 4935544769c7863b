//! The stack the end-to-end modules send webhooks into and read replies
//! out of (`messages_e2e`, `replies_e2e`, `skills_e2e`, `corpus_e2e`,
//! `fleet_history`): a real `redis-server`, botq-fakeplatform on a loopback
//! port, ingest in-process, an HTTP client, and on request the upstream
//! skill server of `botq_testkit::upstream` and a worker.
//!
//! Why one: each of those modules started the same things in the same
//! order and kept its own copy of `worker()`, `send()` and `replies()`, so
//! a fix to how a test waits for replies had to be made four times. What a
//! module has of its own stays in the module: its config text (the closure
//! given to [`StackBuilder::start`]), its webhooks, and helpers over the
//! stack in a wrapper that derefs to [`Stack`] (as `skills_e2e` does).
//!
//! What every stack has: ingest's rate limits off
//! ([`NO_INGEST_RATE_LIMIT`], appended to the module's config, so the
//! module writes no `[ingest.rate_limit]` of its own). These tests count
//! replies; a webhook held back by a limit would be a reply missing for a
//! reason none of them is about.

use std::sync::Arc;
use std::time::Duration;

use botq_core::config::Config;
use botq_fakeplatform::{Delivery, Options};
use botq_testkit::fixtures::NO_INGEST_RATE_LIMIT;
use botq_testkit::ingest::IngestHandle;
use botq_testkit::redis::RedisServer;
use botq_testkit::sign::Webhook;
use botq_testkit::upstream::Upstream;
use botq_testkit::worker::{WorkerHandle, config};
use botq_worker::BotHandler;

use crate::{Fake, post};

/// How long [`Stack::replies`] and [`Stack::deliveries`] wait for what is due.
const DUE_WITHIN: Duration = Duration::from_secs(15);

/// Redis, botq-fakeplatform, ingest and an HTTP client, running until
/// dropped; with [`StackBuilder::upstream`] an upstream skill server, with
/// [`StackBuilder::with_worker`] a worker of its own.
///
/// The stack owns everything it started. Fields drop in order: the worker,
/// ingest, the upstream, the fake, Redis last, so nothing outlives what it
/// talks to. A worker from [`Stack::worker`] is the caller's to shut down.
pub struct Stack {
    worker: Option<WorkerHandle>,
    pub ingest: IngestHandle,
    pub http: reqwest::Client,
    upstream: Option<Upstream>,
    /// The fake platform; its records (deliveries, tokens, scripts) by deref.
    pub fake: Fake,
    /// The config both services run with: the module's text with the stack's own lines.
    pub cfg: Config,
    pub redis: RedisServer,
    quiet: Duration,
}

/// What a stack is to start beside Redis, the fake and ingest.
#[must_use]
pub struct StackBuilder {
    options: Options,
    upstream: Option<String>,
    worker: bool,
    quiet: Duration,
}

/// Where the stack's own servers listen, for the module's config text to
/// point its bots and skills at.
pub struct Addrs {
    /// botq-fakeplatform's port: the bots' `api_base`.
    pub fake_port: u16,
    upstream_url: Option<String>,
}

impl Addrs {
    /// The upstream skill server's URL: a skill's `url`.
    ///
    /// # Panics
    /// When the stack has no upstream ([`StackBuilder::upstream`] was not called).
    #[must_use]
    pub fn upstream_url(&self) -> &str {
        self.upstream_url.as_deref().expect("a stack with an upstream: Stack::builder().upstream(..)")
    }
}

impl StackBuilder {
    /// The fake platform's options (faults, token lifetime…); the default otherwise.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Starts `botq_testkit::upstream` first, answering with `prefix`
    /// before the arguments ([`Stack::upstream`], [`Addrs::upstream_url`]).
    pub fn upstream(mut self, prefix: &str) -> Self {
        self.upstream = Some(prefix.to_owned());
        self
    }

    /// Starts a worker with the bot handler once ingest is up, owned by
    /// the stack and shut down by [`Stack::stop`].
    pub fn with_worker(mut self) -> Self {
        self.worker = true;
        self
    }

    /// How long [`Stack::replies`] watches for replies beyond those it waited for (300 ms unless set).
    pub fn quiet(mut self, quiet: Duration) -> Self {
        self.quiet = quiet;
        self
    }

    /// Starts the upstream (if asked), Redis, the fake, ingest and the
    /// worker (if asked), in that order, with the config `toml` writes for
    /// where they listen.
    ///
    /// # Panics
    /// When the config is invalid or a service cannot start.
    pub async fn start(self, toml: impl FnOnce(&Addrs) -> String) -> Stack {
        let upstream = match &self.upstream {
            Some(prefix) => Some(Upstream::start(prefix).await),
            None => None,
        };
        let redis = RedisServer::start();
        let upstream_url = upstream.as_ref().map(Upstream::url);
        let (cfg, fake) = Fake::start(self.options, |fake_port| {
            let text = toml(&Addrs { fake_port, upstream_url });
            config(&format!("{text}{NO_INGEST_RATE_LIMIT}"), &redis.url())
        })
        .await;
        let ingest = IngestHandle::start(&cfg).await;
        let mut stack =
            Stack { worker: None, ingest, http: reqwest::Client::new(), upstream, fake, cfg, redis, quiet: self.quiet };
        if self.worker {
            stack.worker = Some(stack.worker().await);
        }
        stack
    }
}

impl Stack {
    /// A stack of Redis, the fake with default options, and ingest; see [`StackBuilder`] for more.
    pub fn builder() -> StackBuilder {
        StackBuilder { options: Options::default(), upstream: None, worker: false, quiet: Duration::from_millis(300) }
    }

    /// The upstream skill server.
    ///
    /// # Panics
    /// When the stack has none ([`StackBuilder::upstream`] was not called).
    #[must_use]
    pub fn upstream(&self) -> &Upstream {
        self.upstream.as_ref().expect("a stack with an upstream: Stack::builder().upstream(..)")
    }

    /// Starts another worker with the bot handler on the stack's config; the caller shuts it down.
    ///
    /// # Panics
    /// When the bot handler does not take the config.
    pub async fn worker(&self) -> WorkerHandle {
        let handler = BotHandler::new(&self.cfg.app()).expect("the bot handler takes the stack's config");
        WorkerHandle::start(&self.cfg, Arc::new(handler)).await
    }

    /// Posts `hook` to `bot`'s webhook; returns the status.
    pub async fn send(&self, bot: &str, hook: &Webhook) -> u16 {
        self.post(bot, hook).await.0
    }

    /// Posts `hook` to `bot`'s webhook; returns status, headers and body text.
    pub async fn post(&self, bot: &str, hook: &Webhook) -> (u16, reqwest::header::HeaderMap, String) {
        post(&self.http, &self.ingest.webhook_url(bot), hook).await
    }

    /// Waits for `n` deliveries in all, then checks that no more arrive
    /// for a moment ([`StackBuilder::quiet`]).
    ///
    /// # Panics
    /// When fewer arrive within 15 s, or more arrive after.
    pub async fn replies(&self, n: u64) -> Vec<Delivery> {
        let got = self.fake.wait_for_deliveries(n, DUE_WITHIN).await;
        let got = got.unwrap_or_else(|| panic!("{n} replies expected; got {:?}", self.fake.deliveries()));
        tokio::time::sleep(self.quiet).await;
        assert_eq!(self.fake.deliveries().len(), got.len(), "no extra replies: {:?}", self.fake.deliveries());
        got
    }

    /// The deliveries once there are `n`, or what came within 15 s: the caller checks the count.
    pub async fn deliveries(&self, n: u64) -> Vec<Delivery> {
        self.fake.wait_for_deliveries(n, DUE_WITHIN).await.unwrap_or_else(|| self.fake.deliveries())
    }

    /// Shuts the stack's own worker down ([`StackBuilder::with_worker`]) and drops the rest.
    ///
    /// # Panics
    /// When the worker does not stop cleanly.
    pub async fn stop(mut self) {
        if let Some(w) = self.worker.take() {
            w.shutdown().await.expect("the worker stops cleanly");
        }
    }
}
