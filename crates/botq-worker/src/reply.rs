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
use std::time::Duration;

use botq_core::config::{BotConfig, Config, Gcra, PlatformBot, ReplyLimit};
use botq_core::envelope::{Envelope, Platform};
use botq_core::keys::Keys;
use botq_core::message::Outgoing;
use botq_core::platform::{lark, onebot, qq};
use botq_core::redis_conn::Redis;
use botq_core::reply::{self, ApiRequest, SendFailure, SendResult};
use botq_core::throttle::{self, Throttle};
use secrecy::ExposeSecret;
use tracing::{debug, warn};

use crate::guards::StormCap;
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

/// One bot's reply settings.
struct BotReply {
    creds: PlatformBot,
    limit: ReplyLimit,
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
}

impl std::fmt::Debug for Replier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replier").field("bots", &self.bots.len()).finish_non_exhaustive()
    }
}

impl Replier {
    /// # Errors
    /// An HTTP client that cannot be built.
    pub fn new(cfg: &Config, redis: Redis) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(cfg.worker.reply_timeout)
            .connect_timeout(cfg.worker.reply_timeout)
            .pool_max_idle_per_host(64)
            .build()?;
        let bots = cfg.bots.iter().map(|b| (b.id.as_str().to_owned(), bot_reply(b))).collect();
        Ok(Self {
            http,
            redis,
            keys: cfg.queue.keys(),
            bots,
            tokens: tokens::TokenCache::default(),
            sent_ttl: cfg.dedupe_ttl,
        })
    }

    /// Sends reply `index` (1-based), `reply`, to the chat of `env`.
    /// With `storm` (the chat's replies-per-minute cap), a chat that had its
    /// replies this minute gets none (`Dropped("dropped_storm")`), and a
    /// reply that went out is counted in it.
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
        storm: Option<&StormCap>,
    ) -> Result<Delivered, HandleError> {
        let bot = self.bots.get(env.bot.as_str()).ok_or_else(|| perm("the bot is not configured in this worker"))?;
        let api_base = bot.creds.api_base();
        let label = env.bot.as_str().to_owned();
        let shard = self.keys.chat_home(&env.bot, &env.chat_id);
        // OneBot has no idempotency handle: botq records the indexes it sent.
        let sent_key = (bot.platform() == Platform::Onebot).then(|| shard.sent_replies(&env.bot, &env.event_id));
        let mut conn = self.redis.clone();
        let (replies_this_minute, already_sent) =
            before_send(&mut conn, storm, sent_key.as_deref(), index).await.map_err(HandleError::from)?;
        if storm.is_some_and(|s| s.reached(replies_this_minute)) {
            metrics::counter!(REPLIES, "bot" => label, "outcome" => DROPPED_STORM).increment(1);
            return Ok(Delivered::Dropped(DROPPED_STORM));
        }
        let now = botq_core::now_ms();
        if let Some(reason) = expired(env, index, now) {
            metrics::counter!(REPLIES, "bot" => label, "outcome" => reason).increment(1);
            return Ok(Delivered::Dropped(reason));
        }
        if already_sent {
            return Ok(Delivered::AlreadySent);
        }
        for (key, limit) in [
            (shard.chat_reply_limit(&env.bot, &env.chat_id), bot.limit.chat),
            (self.keys.bot_reply_limit(&env.bot), bot.limit.bot),
        ] {
            if let Some(limit) = limit {
                self.take_slot(&mut conn, &key, limit, now, &label).await?;
            }
        }
        for _ in 0..2 {
            let token = self.token(env, bot).await?;
            let built = match &bot.creds {
                PlatformBot::Qq(_) => {
                    qq::reply::reply_request(api_base, token.as_deref().unwrap_or(""), env, index, reply)
                }
                PlatformBot::Lark(_) => {
                    lark::reply::reply_request(api_base, token.as_deref().unwrap_or(""), env, index, reply)
                }
                PlatformBot::Onebot(b) => {
                    let access = b.access_token.as_ref().map(|t| t.expose_secret().to_owned());
                    Ok(onebot::reply::reply_request(api_base, access.as_deref(), env, reply))
                }
            };
            // Ingest refuses such ids; an event stored before it did cannot be answered.
            let request = built.map_err(|e| HandleError::Permanent(e.to_string()))?;
            match self.execute(bot.platform(), &request).await {
                SendResult::Sent { .. } => {
                    let recorded = self.after_send(&mut conn, storm, sent_key.as_deref(), index).await;
                    if recorded.is_err() && sent_key.is_some() {
                        warn!(
                            index,
                            "reply sent but not recorded; a redelivery may send it again (OneBot has no idempotency)"
                        );
                    }
                    #[allow(clippy::cast_precision_loss)] // milliseconds since receipt fit in f64 exactly
                    let latency = (botq_core::now_ms() - env.received_at_ms).max(0) as f64 / 1000.0;
                    metrics::histogram!(REPLY_LATENCY, "platform" => bot.platform().as_str()).record(latency);
                    metrics::counter!(REPLIES, "bot" => label, "outcome" => "sent").increment(1);
                    debug!(index, "reply sent");
                    // A reply the chat's cap did not count fails the attempt
                    // (it is retried; the reply itself is not sent twice): a
                    // guard that silently stops counting is how storms happen.
                    if storm.is_some() {
                        recorded.map_err(HandleError::from)?;
                    }
                    return Ok(Delivered::Sent);
                }
                SendResult::AlreadySent => {
                    metrics::counter!(REPLIES, "bot" => label, "outcome" => "already_sent").increment(1);
                    return Ok(Delivered::AlreadySent);
                }
                SendResult::Failed(SendFailure::TokenRejected { code }) => {
                    warn!(code, "the platform rejected the access token; fetching a new one");
                    self.tokens.invalidate(&self.redis, &self.keys.token(&env.bot).0, env.bot.as_str()).await;
                }
                SendResult::Failed(f) => {
                    metrics::counter!(REPLIES, "bot" => label, "outcome" => f.class()).increment(1);
                    return match f {
                        SendFailure::Expired { .. } => Ok(Delivered::Dropped("expired")),
                        SendFailure::RetryAfter { after, code } => {
                            Err(HandleError::RetryAfter(after, format!("platform rate limit (code {code})")))
                        }
                        SendFailure::Transient { reason } => Err(HandleError::Transient(reason)),
                        SendFailure::Permanent { code, reason } => {
                            Err(HandleError::Permanent(format!("code {code}: {reason}")))
                        }
                        SendFailure::TokenRejected { code } => {
                            Err(HandleError::Transient(format!("token rejected (code {code})")))
                        }
                    };
                }
            }
        }
        Err(HandleError::Transient("the platform rejected a freshly fetched token".to_owned()))
    }

    /// Records a reply that went out, in one atomic step: its index in the
    /// OneBot sent record (`sent_key`, TTL the dedupe window) and one more
    /// reply in the chat's count of this minute (`storm`, TTL two minutes).
    /// Both keys are in the chat's home queue (one hash tag).
    async fn after_send(
        &self,
        conn: &mut Redis,
        storm: Option<&StormCap>,
        sent_key: Option<&str>,
        index: u32,
    ) -> redis::RedisResult<()> {
        if storm.is_none() && sent_key.is_none() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some(key) = sent_key {
            let ttl = i64::try_from(self.sent_ttl.as_secs()).unwrap_or(i64::MAX);
            pipe.sadd(key, index).ignore().expire(key, ttl).ignore();
        }
        if let Some(s) = storm {
            pipe.incr(&s.key, 1).ignore().pexpire(&s.key, StormCap::TTL_MS).ignore();
        }
        pipe.query_async(conn).await
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

    /// Answers a QQ button press (`PUT /interactions/{id}`), so the user's
    /// client stops showing "loading". Idempotent: a retried attempt answers
    /// again, which the platform takes as the same answer.
    ///
    /// # Errors
    /// `Transient` (retry) when the platform cannot be reached or fails.
    pub async fn acknowledge_interaction(&self, env: &Envelope) -> Result<(), HandleError> {
        let bot = self.bots.get(env.bot.as_str()).ok_or_else(|| perm("the bot is not configured in this worker"))?;
        let api_base = bot.creds.api_base();
        for _ in 0..2 {
            let token = self.token(env, bot).await?.unwrap_or_default();
            let request = qq::reply::interaction_ack(api_base, &token, env).map_err(|e| perm(&e.to_string()))?;
            match self.execute(Platform::Qq, &request).await {
                SendResult::Sent { .. } | SendResult::AlreadySent => {
                    debug!("interaction acknowledged");
                    return Ok(());
                }
                SendResult::Failed(SendFailure::TokenRejected { .. }) => {
                    self.tokens.invalidate(&self.redis, &self.keys.token(&env.bot).0, env.bot.as_str()).await;
                }
                SendResult::Failed(f @ (SendFailure::Transient { .. } | SendFailure::RetryAfter { .. })) => {
                    return Err(HandleError::Transient(format!("interaction acknowledgement: {}", f.class())));
                }
                SendResult::Failed(f) => {
                    // Refused for good (expired, unknown): the event is still answered.
                    warn!(class = f.class(), "the platform refused the interaction acknowledgement");
                    return Ok(());
                }
            }
        }
        Err(HandleError::Transient("the platform rejected a freshly fetched token".to_owned()))
    }

    async fn token(&self, env: &Envelope, bot: &BotReply) -> Result<Option<String>, HandleError> {
        let (request, parse): (ApiRequest, fn(&[u8]) -> _) = match &bot.creds {
            PlatformBot::Qq(b) => {
                (qq::reply::token_request(&b.token_url, &b.app_id, b.secret.expose_secret()), qq::reply::parse_token)
            }
            PlatformBot::Lark(b) => (
                lark::reply::token_request(&b.api_base, &b.app_id, b.app_secret.expose_secret()),
                lark::reply::parse_token,
            ),
            PlatformBot::Onebot(_) => return Ok(None),
        };
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

    async fn execute(&self, platform: Platform, request: &ApiRequest) -> SendResult {
        match self.post(request).await {
            Ok((status, reset, body)) => match platform {
                Platform::Qq => qq::reply::classify(status, reset, &body),
                Platform::Lark => lark::reply::classify(status, reset, &body),
                Platform::Onebot => onebot::reply::classify(status, reset, &body),
            },
            Err(e) => SendResult::Failed(SendFailure::Transient { reason: e }),
        }
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
/// the chat's replies this minute (with `storm`) and whether the index is in
/// the OneBot sent record (with `sent_key`).
async fn before_send(
    conn: &mut Redis,
    storm: Option<&StormCap>,
    sent_key: Option<&str>,
    index: u32,
) -> redis::RedisResult<(Option<u32>, bool)> {
    Ok(match (storm, sent_key) {
        (Some(s), Some(key)) => redis::pipe().get(&s.key).sismember(key, index).query_async(conn).await?,
        (Some(s), None) => (redis::cmd("GET").arg(&s.key).query_async(conn).await?, false),
        (None, Some(key)) => (None, redis::cmd("SISMEMBER").arg(key).arg(index).query_async(conn).await?),
        (None, None) => (None, false),
    })
}

fn bot_reply(b: &BotConfig) -> BotReply {
    BotReply { creds: b.platform.clone(), limit: b.reply_limit }
}

/// QQ refuses passive replies after the window or past 5 per message.
fn expired(env: &Envelope, index: u32, now_ms: i64) -> Option<&'static str> {
    if env.platform != Platform::Qq {
        return None;
    }
    if index > qq::reply::MAX_REPLIES {
        return Some("dropped_count");
    }
    let sent_at = env.platform_ts_ms.unwrap_or(env.received_at_ms);
    let window = i64::try_from(qq::reply::reply_window(env).as_millis()).unwrap_or(i64::MAX);
    (now_ms - sent_at > window).then_some("dropped_window")
}

fn perm(reason: &str) -> HandleError {
    HandleError::Permanent(reason.to_owned())
}
