//! Events for worker tests, enqueued through the same script ingest uses.

use std::time::Duration;

use botq_core::config::RateLimit;
use botq_core::envelope::{ChatKind, ENVELOPE_VERSION, Envelope, Platform};
use botq_core::ids::{BotId, RequestId};
use botq_core::keys::Keys;
use botq_core::platform::Event;
use botq_core::queue::{EnqueueOutcome, EnqueueParams, enqueue};

/// A group message of `bot` in `chat` whose event id is `event_id`.
///
/// # Panics
/// When `bot` is not a valid bot id.
#[must_use]
pub fn envelope(bot: &str, chat: &str, event_id: &str, text: &str) -> Envelope {
    Envelope {
        version: ENVELOPE_VERSION,
        platform: Platform::Qq,
        bot: BotId::parse(bot).expect("valid bot id"),
        request_id: RequestId::new(),
        event_id: event_id.to_owned(),
        event_type: "GROUP_AT_MESSAGE_CREATE".to_owned(),
        message_id: format!("msg-{event_id}"),
        chat_kind: ChatKind::Group,
        chat_id: chat.to_owned(),
        guild_id: None,
        temp_group: None,
        notice: false,
        sender_id: "user-1".to_owned(),
        sender_is_bot: false,
        text: text.to_owned(),
        segments: vec![botq_core::message::Segment::text(text)],
        mentions_bot: true,
        platform_ts_ms: None,
        received_at_ms: botq_core::now_ms(),
    }
}

/// Pushes events into their queue streams the way ingest does (no limits).
#[derive(Clone)]
pub struct Enqueuer {
    conn: botq_core::redis_conn::Redis,
    keys: Keys,
    fair_share: botq_core::config::FairShare,
}

impl Enqueuer {
    /// # Panics
    /// When Redis is unreachable.
    pub async fn new(redis_url: &str, prefix: &str, queues: u16) -> Self {
        let target = botq_core::redis_conn::Target { url: redis_url.to_owned().into(), cluster: false };
        let conn = botq_core::redis_conn::connect_lazy(&target, Duration::from_millis(500)).expect("redis url");
        let fair_share =
            botq_core::config::FairShare { max_queued_per_chat: None, counter_ttl: Duration::from_secs(600) };
        Self { conn, keys: Keys::new(prefix, queues), fair_share }
    }

    /// Enqueues with ingest's per-chat fair share (off by default here).
    #[must_use]
    pub fn with_fair_share(mut self, share: botq_core::config::FairShare) -> Self {
        self.fair_share = share;
        self
    }

    /// Enqueues `env` with dedupe key `id:<event id>`; returns whether it was accepted.
    ///
    /// # Panics
    /// On a Redis error.
    pub async fn push(&mut self, env: Envelope) -> bool {
        self.try_push(env).await.expect("enqueue")
    }

    /// As [`Enqueuer::push`], but the error is returned (Redis may be down on purpose).
    ///
    /// # Errors
    /// The queue's error.
    pub async fn try_push(&mut self, env: Envelope) -> Result<bool, botq_core::queue::QueueError> {
        let queue = self.keys.chat_home(&env.bot, &env.chat_id);
        let event = Event { aliases: Vec::new(), envelope: env };
        let params = EnqueueParams {
            now_ms: botq_core::now_ms(),
            dedupe_ttl: Duration::from_secs(3600),
            max_backlog: u64::MAX,
            limits: RateLimit { group: None, sender: None },
            fair_share: self.fair_share,
        };
        let fut = enqueue(&mut self.conn, &queue, &event, params);
        let outcome = botq_core::redis_conn::bounded(Duration::from_secs(1), fut).await?;
        Ok(matches!(outcome, EnqueueOutcome::Accepted { .. } | EnqueueOutcome::AcceptedInChatBacklog))
    }

    /// Adds `env` to its stream directly, bypassing ingest's dedupe: how a
    /// platform redelivery that slipped past ingest looks to the worker.
    ///
    /// # Panics
    /// On a Redis error.
    pub async fn push_raw(&mut self, env: &Envelope) {
        let queue = self.keys.chat_home(&env.bot, &env.chat_id);
        let _: String = redis::cmd("XADD")
            .arg(queue.stream())
            .arg("*")
            .arg("env")
            .arg(env.encode())
            .query_async(&mut self.conn)
            .await
            .expect("xadd");
    }
}
