//! Where the console's signed-in sessions and its sign-in budget live: the
//! console's Redis, so every console replica shares them (see the parent module for
//! the policy around them).
//!
//! A session is one key per session, named by an HMAC of its id under a key
//! derived from the console token, with the session's TTL: Redis never
//! holds an id a browser could present, and a console with another token
//! knows none of them. The budget is one counter per minute-long window.

use std::time::Duration;

use botq_core::keys::Keys;
use botq_core::redis_conn::Redis;

use super::super::error::WebError;

/// How long a signed-in session lasts.
pub(super) const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Sign-in tries allowed per minute, all clients and replicas together (a
/// success gives its try back, so this counts failures).
pub(super) const MAX_TRIES_PER_MINUTE: u32 = 10;
/// The window those are counted in.
const TRY_WINDOW_MS: u64 = 60_000;

/// Names each session's Redis key; the console's own Redis and keys are
/// passed to every call.
pub(super) struct Store {
    key: [u8; 32],
}

impl Store {
    pub(super) fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The Redis key of session `sid`.
    fn key_of(&self, keys: &Keys, sid: &str) -> String {
        keys.console_session(&hex::encode(super::hmac(&self.key, sid.as_bytes())))
    }

    /// Whether session `sid` is signed in.
    pub(super) async fn exists(&self, redis: &Redis, keys: &Keys, sid: &str) -> Result<bool, WebError> {
        Ok(redis::cmd("EXISTS").arg(self.key_of(keys, sid)).query_async(&mut redis.clone()).await?)
    }

    /// Signs session `sid` in until [`SESSION_TTL`].
    pub(super) async fn insert(&self, redis: &Redis, keys: &Keys, sid: &str) -> Result<(), WebError> {
        let ttl_ms = u64::try_from(SESSION_TTL.as_millis()).unwrap_or(u64::MAX);
        let () = redis::cmd("SET")
            .arg(self.key_of(keys, sid))
            .arg(1)
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut redis.clone())
            .await?;
        Ok(())
    }

    pub(super) async fn remove(&self, redis: &Redis, keys: &Keys, sid: &str) -> Result<(), WebError> {
        let () = redis::cmd("DEL").arg(self.key_of(keys, sid)).query_async(&mut redis.clone()).await?;
        Ok(())
    }
}

/// Takes a try from the minute's sign-in budget, before the token is
/// checked (so parallel guesses cannot all pass a check made earlier);
/// `false` once it is spent. The first try of a window starts it.
pub(super) async fn take_try(redis: &Redis, keys: &Keys) -> Result<bool, WebError> {
    let key = keys.console_login_failures();
    let (tries,): (u32,) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(&key)
        .arg(0)
        .arg("NX")
        .arg("PX")
        .arg(TRY_WINDOW_MS)
        .ignore()
        .incr(&key, 1)
        .query_async(&mut redis.clone())
        .await?;
    Ok(tries <= MAX_TRIES_PER_MINUTE)
}

/// Gives back the try of a sign-in that succeeded.
pub(super) async fn give_back_try(redis: &Redis, keys: &Keys) -> Result<(), WebError> {
    let key = keys.console_login_failures();
    let () = redis::cmd("DECR").arg(key).query_async(&mut redis.clone()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signed in on one replica is signed in on all; signed out on one, on
    /// none; a console with another key (another token) knows none of them.
    #[tokio::test]
    async fn sessions_live_in_redis_shared_by_every_replica() {
        let server = botq_testkit::redis::RedisServer::start();
        let (redis, keys) = (server.redis(), Keys::new("botq", 1));
        let (a, b) = (Store::new([7; 32]), Store::new([7; 32]));
        let sid = hex::encode([1u8; 32]);
        a.insert(&redis, &keys, &sid).await.unwrap();
        assert!(b.exists(&redis, &keys, &sid).await.unwrap());
        assert!(
            !b.exists(&redis, &keys, &hex::encode([0u8; 32])).await.unwrap(),
            "a made-up session id is not signed in"
        );
        assert!(!Store::new([8; 32]).exists(&redis, &keys, &sid).await.unwrap(), "another token, other keys");
        let stored: Vec<String> = redis::cmd("KEYS").arg("botq:console:session:*").query(&mut server.conn()).unwrap();
        assert_eq!(stored.len(), 1);
        assert!(!stored[0].contains(&sid), "Redis keeps the id's digest, not the id");
        let ttl: i64 = redis::cmd("PTTL").arg(&stored[0]).query(&mut server.conn()).unwrap();
        assert!(ttl > 11 * 3_600_000, "for the session's 12 hours: {ttl}");
        b.remove(&redis, &keys, &sid).await.unwrap();
        assert!(!a.exists(&redis, &keys, &sid).await.unwrap());
    }

    /// Each try is taken before the token is checked: a hundred guesses at
    /// once get ten checks between them, not a hundred.
    #[tokio::test]
    async fn parallel_sign_ins_share_ten_tries_a_minute() {
        let server = botq_testkit::redis::RedisServer::start();
        let (redis, keys) = (server.redis(), Keys::new("botq", 1));
        let tries = futures_util::future::join_all((0..100).map(|_| take_try(&redis, &keys))).await;
        let allowed = tries.into_iter().filter(|t| *t.as_ref().unwrap()).count();
        assert_eq!(allowed, usize::try_from(MAX_TRIES_PER_MINUTE).unwrap());

        let other = Keys::new("other", 1);
        for _ in 0..MAX_TRIES_PER_MINUTE {
            assert!(take_try(&redis, &other).await.unwrap());
        }
        give_back_try(&redis, &other).await.unwrap();
        assert!(take_try(&redis, &other).await.unwrap(), "a sign-in that succeeded gave its try back");
        assert!(!take_try(&redis, &other).await.unwrap());
    }
}
