//! Sending replies: throttle, token, idempotent request, classified answer.
//!
//! For reply `index` to an event the [`Replier`]:
//! 1. drops it when the platform would refuse it anyway (QQ: past the passive
//!    reply window or beyond 5 replies per message) and counts it;
//! 2. skips it when it was already sent (OneBot only: it has no idempotency
//!    handle, so botq records sent indexes; QQ and Lark drop a repeated
//!    handle themselves, see `botq_core::reply`);
//! 3. takes a slot of the chat's and the bot's reply rate, shared in Redis —
//!    when there is none the attempt is *deferred* to the allowed time (the
//!    worker's delayed set), never spun on;
//! 4. sends with the bot's access token (shared by all replicas) and a
//!    bounded timeout, and turns the platform's answer into success or a
//!    typed failure (`RetryAfter` honours the platform's reset time).

mod tokens;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use botq_core::config::{BotConfig, Gcra, PlatformBot, ReplyLimit, ReplySettings};
use botq_core::envelope::{ChatKind, Envelope, Platform};
use botq_core::history::Counters;
use botq_core::keys::Keys;
use botq_core::message::Outgoing;
use botq_core::platform::outbound::{self, TokenFetch};
use botq_core::redis_conn::Redis;
use botq_core::reply::{self, ApiRequest, InvalidTarget, SendFailure, SendResult};
use botq_core::throttle::{self, Throttle};
use tracing::{debug, warn};

use crate::app::guards::StormCap;
use crate::handler::HandleError;
use crate::metrics::{REPLIES, REPLY_LATENCY, REPLY_THROTTLED};

/// The outcome label of a reply not sent because the chat had its replies this minute.
pub const DROPPED_STORM: &str = "dropped_storm";

/// What happened to one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    Sent,
    /// Delivered by an earlier attempt (the platform or botq's record says so).
    AlreadySent,
    /// Not sendable any more; counted and dropped.
    Dropped(&'static str),
}

/// How many of the bot's latest replies per group are remembered, so a
/// message quoting one is addressed to the bot (`reply_addresses_bot`).
const BOT_MESSAGES_KEPT: isize = 200;

/// How long that memory lasts after the chat's last reply.
const BOT_MESSAGES_TTL_SECS: i64 = 24 * 3600;

/// One bot's reply settings.
struct BotReply {
    creds: PlatformBot,
    limit: ReplyLimit,
    /// Remember the ids of its group replies (`reply_addresses_bot`).
    remember_sent: bool,
}

impl BotReply {
    fn platform(&self) -> Platform {
        self.creds.platform()
    }
}

/// Sends replies for every configured bot.
pub struct Replier {
    http: reqwest::Client,
    redis: Redis,
    keys: Keys,
    bots: HashMap<String, BotReply>,
    tokens: tokens::TokenCache,
    /// Lifetime of OneBot "sent" records: longer than any redelivery.
    sent_ttl: Duration,
    /// Replies sent, with their latency, for the history.
    history: Arc<Counters>,
}

impl std::fmt::Debug for Replier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replier").field("bots", &self.bots.len()).finish_non_exhaustive()
    }
}

impl Replier {
    /// Counts the replies it sends in `history`.
    ///
    /// # Errors
    /// An HTTP client that cannot be built.
    pub fn new(
        bots: &[BotConfig],
        keys: Keys,
        settings: ReplySettings,
        redis: Redis,
        history: Arc<Counters>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .pool_max_idle_per_host(64)
            .build()?;
        let bots = bots.iter().map(|b| (b.id.as_str().to_owned(), bot_reply(b))).collect();
        Ok(Self {
            http,
            redis,
            keys,
            bots,
            tokens: tokens::TokenCache::default(),
            sent_ttl: settings.sent_ttl,
            history,
        })
    }

    /// Sends reply `index` (1-based), `reply`, to the chat of `env`.
    /// With `storm` (the chat's replies-per-minute cap), a chat that had its
    /// replies this minute gets none (`Dropped("dropped_storm")`), and a
    /// reply that went out is counted in it; `storm.known` is left at the
    /// count as Redis last answered it (read, or counted with this reply).
    ///
    /// The Redis work around the request is two round trips at most, whatever
    /// applies: one read before (the chat's count this minute, OneBot's
    /// sent record) and one atomic write after (the sent record, the count).
    /// The reply rate slots (`throttle.lua`) are their own scripts.
    ///
    /// # Errors
    /// The failure class the worker acts on: `Deferred` (throttled),
    /// `RetryAfter` (platform rate limit), `Transient`, `Permanent`.
    pub async fn send(
        &self,
        env: &Envelope,
        index: u32,
        reply: &Outgoing,
        mut storm: Option<&mut StormCap>,
    ) -> Result<Delivered, HandleError> {
        let bot = self.bot(env)?;
        let label = env.bot.as_str().to_owned();
        let queue = self.keys.chat_home(&env.bot, &env.chat_id);
        // Without an idempotency handle botq records the indexes it sent.
        let sent_key =
            (!outbound::dedupes_replies(bot.platform())).then(|| queue.sent_replies(&env.bot, &env.event_id));
        let mut conn = self.redis.clone();
        let (replies_this_minute, already_sent) =
            before_send(&mut conn, storm.as_deref(), sent_key.as_deref(), index).await.map_err(HandleError::from)?;
        if let Some(s) = storm.as_deref_mut() {
            s.known = Some(replies_this_minute.unwrap_or(0));
        }
        if storm.as_deref().is_some_and(StormCap::reached) {
            metrics::counter!(REPLIES, "bot" => label, "outcome" => DROPPED_STORM).increment(1);
            return Ok(Delivered::Dropped(DROPPED_STORM));
        }
        let now = botq_core::now_ms();
        if let Some(reason) = outbound::unsendable(env, index, now) {
            metrics::counter!(REPLIES, "bot" => label, "outcome" => reason).increment(1);
            return Ok(Delivered::Dropped(reason));
        }
        if already_sent {
            return Ok(Delivered::AlreadySent);
        }
        for (key, limit) in [
            (queue.chat_reply_limit(&env.bot, &env.chat_id), bot.limit.chat),
            (self.keys.bot_reply_limit(&env.bot), bot.limit.bot),
        ] {
            if let Some(limit) = limit {
                self.take_slot(&mut conn, &key, limit, now, &label).await?;
            }
        }
        let media = self.upload(env, bot, reply).await?;
        let build = |token: Option<&str>| bot.creds.reply_request(token, env, index, reply, media.as_deref());
        let answer = self.with_token(env, bot, build, outbound::classify).await?;
        match answer {
            SendResult::Sent { message_id } => {
                let own = message_id
                    .filter(|_| bot.remember_sent && env.chat_kind != ChatKind::Private)
                    .map(|id| (queue.bot_messages(&env.bot, &env.chat_id), id));
                let recorded =
                    self.after_send(&mut conn, storm.as_deref(), sent_key.as_deref(), own.as_ref(), index).await;
                if let (Some(s), Ok(Some(count))) = (storm.as_deref_mut(), &recorded) {
                    s.known = Some(*count);
                }
                if recorded.is_err() && sent_key.is_some() {
                    warn!(index, "reply sent but not recorded; a redelivery may send it again (no idempotency handle)");
                }
                let latency_ms = (botq_core::now_ms() - env.received_at_ms).max(0);
                #[allow(clippy::cast_precision_loss)] // milliseconds since receipt fit in f64 exactly
                let latency = latency_ms as f64 / 1000.0;
                metrics::histogram!(REPLY_LATENCY, "platform" => bot.platform().as_str()).record(latency);
                self.history.replied(Duration::from_millis(latency_ms.unsigned_abs()));
                metrics::counter!(REPLIES, "bot" => label, "outcome" => "sent").increment(1);
                debug!(index, "reply sent");
                // A reply the chat's cap did not count fails the attempt
                // (it is retried; the reply itself is not sent twice): a
                // guard that silently stops counting is how storms happen.
                if storm.is_some() {
                    recorded.map_err(HandleError::from)?;
                }
                Ok(Delivered::Sent)
            }
            SendResult::AlreadySent => {
                metrics::counter!(REPLIES, "bot" => label, "outcome" => "already_sent").increment(1);
                Ok(Delivered::AlreadySent)
            }
            SendResult::Failed(f) => {
                metrics::counter!(REPLIES, "bot" => label, "outcome" => f.class()).increment(1);
                match f {
                    SendFailure::Expired { .. } => Ok(Delivered::Dropped("expired")),
                    f => Err(failure(f)),
                }
            }
        }
    }

    /// Builds a request with the bot's access token, sends it and reads
    /// the answer with `read` (`outbound::classify` or `read_upload`). A
    /// token the platform rejects is dropped from the cache and the request
    /// is built and sent once more with a fresh one; a second rejection is
    /// returned as it is.
    ///
    /// # Errors
    /// `Permanent` when the request cannot be built (an id ingest would
    /// have refused, stored before it did); the token's own errors.
    async fn with_token<T: Answer>(
        &self,
        env: &Envelope,
        bot: &BotReply,
        build: impl Fn(Option<&str>) -> Result<ApiRequest, InvalidTarget>,
        read: fn(Platform, u16, Option<Duration>, &[u8]) -> T,
    ) -> Result<T, HandleError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let token = self.token(env, bot).await?;
            let request = build(token.as_deref()).map_err(|e| HandleError::Permanent(e.to_string()))?;
            let answer = match self.post(&request).await {
                Ok((status, reset, body)) => read(bot.platform(), status, reset, &body),
                Err(reason) => T::failed(SendFailure::Transient { reason }),
            };
            match answer.token_rejected() {
                Some(code) if attempts < 2 => {
                    warn!(code, "the platform rejected the access token; fetching a new one");
                    self.tokens.invalidate(&self.redis, &self.keys.token(&env.bot).0, env.bot.as_str()).await;
                }
                _ => return Ok(answer),
            }
        }
    }

    /// The reply's upload, if it needs one (an image to a QQ group): the
    /// handle the reply then carries. An upload the platform refuses for
    /// good (it could not fetch the URL) does not lose the reply: it goes
    /// without, the image's URL as text.
    ///
    /// # Errors
    /// A failure worth retrying (transient, rate limited, token).
    async fn upload(&self, env: &Envelope, bot: &BotReply, reply: &Outgoing) -> Result<Option<String>, HandleError> {
        if bot.creds.upload_request(None, env, reply).is_none() {
            return Ok(None);
        }
        // Some(…) whatever the token, as just checked.
        let build = |token: Option<&str>| {
            bot.creds.upload_request(token, env, reply).unwrap_or_else(|| Err(InvalidTarget(env.chat_id.clone())))
        };
        match self.with_token(env, bot, build, outbound::read_upload).await? {
            Ok(handle) => Ok(Some(handle)),
            Err(f @ (SendFailure::Permanent { .. } | SendFailure::Expired { .. })) => {
                metrics::counter!(REPLIES, "bot" => env.bot.as_str().to_owned(), "outcome" => "upload_refused")
                    .increment(1);
                warn!(class = f.class(), "the platform refused the image upload; sending its URL as text");
                Ok(None)
            }
            Err(f) => Err(failure(f)),
        }
    }

    fn bot(&self, env: &Envelope) -> Result<&BotReply, HandleError> {
        self.bots.get(env.bot.as_str()).ok_or_else(|| perm("the bot is not configured in this worker"))
    }

    /// Records a reply that went out, in one atomic step: its index in the
    /// OneBot sent record (`sent_key`, TTL the dedupe window), one more
    /// reply in the chat's count of this minute (`storm`, TTL two minutes)
    /// and its message id among the bot's latest replies in the chat
    /// (`own`: key and id). All keys are in the chat's home queue (one hash
    /// tag). Returns the chat's count with this reply, with `storm`.
    async fn after_send(
        &self,
        conn: &mut Redis,
        storm: Option<&StormCap>,
        sent_key: Option<&str>,
        own: Option<&(String, String)>,
        index: u32,
    ) -> redis::RedisResult<Option<u32>> {
        if storm.is_none() && sent_key.is_none() && own.is_none() {
            return Ok(None);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some(key) = sent_key {
            let ttl = i64::try_from(self.sent_ttl.as_secs()).unwrap_or(i64::MAX);
            pipe.sadd(key, index).ignore().expire(key, ttl).ignore();
        }
        if let Some((key, id)) = own {
            pipe.lpush(key, id).ignore().ltrim(key, 0, BOT_MESSAGES_KEPT - 1).ignore();
            pipe.expire(key, BOT_MESSAGES_TTL_SECS).ignore();
        }
        if let Some(s) = storm {
            pipe.incr(&s.key, 1).pexpire(&s.key, StormCap::TTL_MS).ignore();
        }
        // The one answer not ignored: the chat's count with this reply.
        let counts: Vec<u32> = pipe.query_async(conn).await?;
        Ok(counts.first().copied())
    }

    /// Whether `quoted` is the id of one of the bot's latest replies in the
    /// chat of `env` (see `BOT_MESSAGES_KEPT`): a message quoting it is
    /// addressed to the bot. One round trip.
    ///
    /// # Errors
    /// `Transient` when Redis fails.
    pub async fn is_own_reply(&self, env: &Envelope, quoted: &str) -> Result<bool, HandleError> {
        let key = self.keys.chat_home(&env.bot, &env.chat_id).bot_messages(&env.bot, &env.chat_id);
        let position: Option<i64> =
            redis::cmd("LPOS").arg(key).arg(quoted).query_async(&mut self.redis.clone()).await?;
        Ok(position.is_some())
    }

    async fn take_slot(
        &self,
        conn: &mut Redis,
        key: &str,
        limit: Gcra,
        now: i64,
        label: &str,
    ) -> Result<(), HandleError> {
        match throttle::acquire(conn, key, limit, now).await.map_err(HandleError::from)? {
            Throttle::Allowed => Ok(()),
            Throttle::Limited { wait } => {
                metrics::counter!(REPLY_THROTTLED, "bot" => label.to_owned()).increment(1);
                Err(HandleError::Deferred(wait))
            }
        }
    }

    /// Sends the acknowledgement the event needs before anything else, if
    /// any (a QQ button press: `PUT /interactions/{id}`, so the user's
    /// client stops showing "loading"). Idempotent: a retried attempt
    /// answers again, which the platform takes as the same answer.
    ///
    /// # Errors
    /// `Transient` (retry) when the platform cannot be reached or fails.
    pub async fn acknowledge(&self, env: &Envelope) -> Result<(), HandleError> {
        // Called for every event: one that needs nothing is not failed here
        // for a bot this worker lacks (its reply says so, as before).
        let Some(bot) = self.bots.get(env.bot.as_str()).filter(|b| b.creds.acknowledgement(None, env).is_some()) else {
            return Ok(());
        };
        // Some(…) whatever the token, as just checked.
        let build = |token: Option<&str>| {
            bot.creds.acknowledgement(token, env).unwrap_or_else(|| Err(InvalidTarget(env.message_id.clone())))
        };
        match self.with_token(env, bot, build, outbound::classify).await? {
            SendResult::Sent { .. } | SendResult::AlreadySent => {
                debug!("event acknowledged");
                Ok(())
            }
            SendResult::Failed(f @ (SendFailure::Transient { .. } | SendFailure::RetryAfter { .. })) => {
                Err(HandleError::Transient(format!("acknowledgement: {}", f.class())))
            }
            SendResult::Failed(SendFailure::TokenRejected { .. }) => {
                Err(HandleError::Transient("the platform rejected a freshly fetched token".to_owned()))
            }
            SendResult::Failed(f) => {
                // Refused for good (expired, unknown): the event is still answered.
                warn!(class = f.class(), "the platform refused the acknowledgement");
                Ok(())
            }
        }
    }

    async fn token(&self, env: &Envelope, bot: &BotReply) -> Result<Option<String>, HandleError> {
        let Some(TokenFetch { request, parse }) = bot.creds.token_fetch() else { return Ok(None) };
        let keys = self.keys.token(&env.bot);
        let token = self
            .tokens
            .get(&self.redis, &keys, env.bot.as_str(), || {
                Box::pin(async move {
                    let resp = self.post(&request).await.map_err(|e| HandleError::Transient(format!("token: {e}")))?;
                    parse(&resp.2).map_err(|e| match e {
                        reply::TokenError::Refused(_) => HandleError::Permanent(e.to_string()),
                        reply::TokenError::Malformed(_) => HandleError::Transient(e.to_string()),
                    })
                })
            })
            .await?;
        Ok(Some(token))
    }

    /// Sends `request` (`POST`, or `PUT`); returns status, the rate-limit
    /// reset hint and the body.
    async fn post(&self, request: &ApiRequest) -> Result<(u16, Option<Duration>, Vec<u8>), String> {
        let method = if request.put { reqwest::Method::PUT } else { reqwest::Method::POST };
        let mut req = self.http.request(method, &request.url).json(&request.body);
        if let Some(auth) = &request.authorization {
            req = req.header(reqwest::header::AUTHORIZATION, auth);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| if e.is_timeout() { "timeout".to_owned() } else { "connection failed".to_owned() })?;
        let status = resp.status().as_u16();
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let reset =
            reply::retry_after_secs(header("x-ogw-ratelimit-reset").or_else(|| header("retry-after")).as_deref());
        let body = resp.bytes().await.map_err(|_| "body read failed".to_owned())?;
        Ok((status, reset, body.to_vec()))
    }
}

/// The reads that decide whether reply `index` goes out, in one round trip:
/// the chat's replies this minute (with `storm`, unless the attempt already
/// knows the count) and whether the index is in the OneBot sent record
/// (with `sent_key`). No round trip when neither needs reading.
async fn before_send(
    conn: &mut Redis,
    storm: Option<&StormCap>,
    sent_key: Option<&str>,
    index: u32,
) -> redis::RedisResult<(Option<u32>, bool)> {
    let known = storm.and_then(|s| s.known);
    let unread = storm.filter(|s| s.known.is_none());
    let (read, sent) = match (unread, sent_key) {
        (Some(s), Some(key)) => redis::pipe().get(&s.key).sismember(key, index).query_async(conn).await?,
        (Some(s), None) => (redis::cmd("GET").arg(&s.key).query_async(conn).await?, false),
        (None, Some(key)) => (None, redis::cmd("SISMEMBER").arg(key).arg(index).query_async(conn).await?),
        (None, None) => (None, false),
    };
    Ok((known.or(read), sent))
}

fn bot_reply(b: &BotConfig) -> BotReply {
    BotReply { creds: b.platform.clone(), limit: b.reply_limit, remember_sent: b.routing.reply_addresses_bot }
}

/// A platform's answer as `with_token` needs to see it: whether it
/// rejected the token, and the answer for a request that never got one.
trait Answer {
    fn token_rejected(&self) -> Option<i64>;
    fn failed(f: SendFailure) -> Self;
}

impl Answer for SendResult {
    fn token_rejected(&self) -> Option<i64> {
        match self {
            Self::Failed(SendFailure::TokenRejected { code }) => Some(*code),
            _ => None,
        }
    }
    fn failed(f: SendFailure) -> Self {
        Self::Failed(f)
    }
}

impl Answer for Result<String, SendFailure> {
    fn token_rejected(&self) -> Option<i64> {
        match self {
            Err(SendFailure::TokenRejected { code }) => Some(*code),
            _ => None,
        }
    }
    fn failed(f: SendFailure) -> Self {
        Err(f)
    }
}

/// The worker's error for a failed request that is not simply dropped.
fn failure(f: SendFailure) -> HandleError {
    match f {
        SendFailure::RetryAfter { after, code } => {
            HandleError::RetryAfter(after, format!("platform rate limit (code {code})"))
        }
        SendFailure::Transient { reason } => HandleError::Transient(reason),
        SendFailure::Permanent { code, reason } => HandleError::Permanent(format!("code {code}: {reason}")),
        SendFailure::Expired { code } => HandleError::Permanent(format!("expired (code {code})")),
        SendFailure::TokenRejected { code } => HandleError::Transient(format!("token rejected (code {code})")),
    }
}

fn perm(reason: &str) -> HandleError {
    HandleError::Permanent(reason.to_owned())
}
