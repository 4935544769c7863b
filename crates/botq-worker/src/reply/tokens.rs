//! Platform access tokens, shared by every worker replica through Redis.
//!
//! QQ and Lark tokens live about two hours. Each replica keeps the token in
//! memory until shortly before it expires; on a miss it reads Redis; only if
//! Redis has none does one replica (holder of a short `SET NX` lock) fetch a
//! new one from the platform and store it with a TTL a margin shorter than the
//! platform's, while the others wait for it to appear. So N replicas fetch a
//! token once per expiry, not N times (no stampede on the token endpoint).
//! A token the platform rejects is dropped everywhere and fetched anew.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use botq_core::redis_conn::Redis;

use crate::handler::HandleError;

/// Refresh this long before the platform's expiry (a tenth of the lifetime for short ones).
const MARGIN: Duration = Duration::from_secs(120);
/// How long a replica waits for another's fetch before failing the attempt.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(5);
const LOCK_TTL_MS: u64 = 10_000;

#[derive(Default)]
pub struct TokenCache {
    local: Mutex<HashMap<String, (String, Instant)>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache(***)")
    }
}

/// How the platform hands out a token.
pub type Fetch<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<botq_core::reply::Token, HandleError>> + Send + 'a>>;

impl TokenCache {
    fn cached(&self, bot: &str) -> Option<String> {
        let local = self.local.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        local.get(bot).filter(|(_, until)| *until > Instant::now()).map(|(t, _)| t.clone())
    }

    fn remember(&self, bot: &str, token: &str, ttl: Duration) {
        let mut local = self.local.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        local.insert(bot.to_owned(), (token.to_owned(), Instant::now() + ttl));
    }

    /// The bot's token: from memory, from Redis, or fetched with `fetch` by one replica.
    ///
    /// # Errors
    /// Transient when Redis or the platform cannot give one now.
    pub async fn get<'a>(
        &self,
        redis: &Redis,
        (key, lock): &(String, String),
        bot: &str,
        fetch: impl FnOnce() -> Fetch<'a>,
    ) -> Result<String, HandleError> {
        if let Some(t) = self.cached(bot) {
            return Ok(t);
        }
        let mut conn = redis.clone();
        let deadline = Instant::now() + WAIT_FOR_OTHERS;
        let mut fetch = Some(fetch);
        loop {
            let (token, pttl): (Option<String>, i64) =
                redis::pipe().get(key).pttl(key).query_async(&mut conn).await.map_err(HandleError::from)?;
            if let (Some(token), Ok(ms)) = (token, u64::try_from(pttl)) {
                self.remember(bot, &token, Duration::from_millis(ms));
                return Ok(token);
            }
            let won: bool = redis::cmd("SET")
                .arg(lock)
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(LOCK_TTL_MS)
                .query_async::<Option<String>>(&mut conn)
                .await
                .map_err(HandleError::from)?
                .is_some();
            if won && let Some(fetch) = fetch.take() {
                let result = fetch().await;
                let stored = match &result {
                    Ok(t) => {
                        let margin = MARGIN.min(t.expires_in / 10);
                        let ttl = t.expires_in.saturating_sub(margin).max(Duration::from_secs(1));
                        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
                        let set: Result<(), _> = redis::pipe()
                            .cmd("SET")
                            .arg(key)
                            .arg(&t.value)
                            .arg("PX")
                            .arg(ttl_ms)
                            .ignore()
                            .del(lock)
                            .ignore()
                            .query_async(&mut conn)
                            .await;
                        set.map_err(HandleError::from).map(|()| (t.value.clone(), ttl))
                    }
                    Err(e) => {
                        let _: Result<(), _> = redis::cmd("DEL").arg(lock).query_async(&mut conn).await;
                        Err(e.clone())
                    }
                };
                let (token, ttl): (String, Duration) = stored?;
                self.remember(bot, &token, ttl);
                return Ok(token);
            }
            if Instant::now() > deadline {
                return Err(HandleError::Transient("waited too long for another replica's token fetch".to_owned()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Forgets a token the platform refused, here and in Redis.
    pub async fn invalidate(&self, redis: &Redis, key: &str, bot: &str) {
        self.local.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(bot);
        let mut conn = redis.clone();
        let _: Result<(), _> = redis::cmd("DEL").arg(key).query_async(&mut conn).await;
    }
}
