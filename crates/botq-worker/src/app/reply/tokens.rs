//! Platform access tokens, shared by every worker replica through Redis.
//!
//! QQ and Lark tokens live about two hours. Each replica keeps the token in
//! memory until shortly before it expires; on a miss it reads Redis; only if
//! Redis has none does one replica (holder of a short `SET NX` lock) fetch a
//! new one from the platform and store it with a TTL a margin shorter than the
//! platform's, while the others wait for it to appear. So N replicas fetch a
//! token once per expiry, not N times (no stampede on the token endpoint).
//! A token the platform rejects is dropped everywhere and fetched anew.
//!
//! Reading the token and taking the lock are one atomic step
//! ([`READ_OR_LOCK`]): with two separate commands, a replica that found no
//! token could win the lock just after another replica stored the token and
//! released it, and fetch a second one.

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

/// KEYS[1] the token, KEYS[2] the fetch lock; ARGV[1] the lock's TTL in ms.
/// Returns `{token, pttl}` when a token is stored, `{false, 1}` when this
/// caller took the lock (it fetches), `{false, 0}` when another holds it.
const READ_OR_LOCK: &str = r"
local token = redis.call('GET', KEYS[1])
if token then
  return {token, redis.call('PTTL', KEYS[1])}
end
if redis.call('SET', KEYS[2], 1, 'NX', 'PX', ARGV[1]) then
  return {false, 1}
end
return {false, 0}
";

/// What [`READ_OR_LOCK`] found.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    Token {
        value: String,
        pttl_ms: u64,
    },
    /// This caller holds the lock and must fetch.
    Won,
    /// Another replica is fetching.
    Wait,
}

async fn read_or_lock(conn: &mut Redis, key: &str, lock: &str) -> Result<Found, HandleError> {
    static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| redis::Script::new(READ_OR_LOCK));
    let (token, n): (Option<String>, i64) =
        SCRIPT.key(key).key(lock).arg(LOCK_TTL_MS).invoke_async(conn).await.map_err(HandleError::from)?;
    Ok(match token {
        // A token without a TTL (set by hand) is kept for the margin, then read again.
        Some(value) => Found::Token { value, pttl_ms: u64::try_from(n).unwrap_or(MARGIN.as_secs() * 1000) },
        None if n == 1 => Found::Won,
        None => Found::Wait,
    })
}

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
            let found = read_or_lock(&mut conn, key, lock).await?;
            if let Found::Token { value, pttl_ms } = found {
                self.remember(bot, &value, Duration::from_millis(pttl_ms));
                return Ok(value);
            }
            if found == Found::Won
                && let Some(fetch) = fetch.take()
            {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Many replicas asking at once, over and over: the platform is asked
    /// once per round, never twice (the read and the lock are one step).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_replicas_fetch_one_token_per_expiry() {
        let server = botq_testkit::redis::RedisServer::start();
        let redis = server.redis();
        let fetches = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let keys = ("tok".to_owned(), "tok-lock".to_owned());
        for round in 0..30u32 {
            let mut c = server.conn();
            let _: () = redis::cmd("DEL").arg(&keys.0).query(&mut c).unwrap();
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let (redis, keys, fetches) = (redis.clone(), keys.clone(), fetches.clone());
                    tokio::spawn(async move {
                        let replica = TokenCache::default();
                        replica
                            .get(&redis, &keys, "bot", move || {
                                Box::pin(async move {
                                    fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                    Ok(botq_core::reply::Token {
                                        value: format!("t{round}"),
                                        expires_in: Duration::from_secs(7200),
                                    })
                                })
                            })
                            .await
                    })
                })
                .collect();
            for t in tasks {
                assert_eq!(t.await.unwrap().unwrap(), format!("t{round}"));
            }
            assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), round + 1, "round {round}");
        }
    }

    #[tokio::test]
    async fn the_script_reads_a_stored_token_before_it_would_take_the_lock() {
        let server = botq_testkit::redis::RedisServer::start();
        let mut redis = server.redis();
        assert_eq!(read_or_lock(&mut redis, "k", "l").await.unwrap(), Found::Won);
        assert_eq!(read_or_lock(&mut redis, "k", "l").await.unwrap(), Found::Wait, "the lock is held");
        let mut c = server.conn();
        let _: () = redis::cmd("SET").arg("k").arg("tok").arg("PX").arg(60_000).query(&mut c).unwrap();
        let found = read_or_lock(&mut redis, "k", "l").await.unwrap();
        assert!(
            matches!(found, Found::Token { ref value, pttl_ms } if value == "tok" && pttl_ms > 50_000),
            "{found:?}"
        );
        let _: () = redis::cmd("DEL").arg("l").query(&mut c).unwrap();
        assert!(
            matches!(read_or_lock(&mut redis, "k", "l").await.unwrap(), Found::Token { .. }),
            "a free lock is not taken while a token is stored"
        );
    }
}
