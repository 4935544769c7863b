//! Where the console's signed-in sessions and its sign-in budget live:
//! Redis, so every console replica shares them (see the parent module for
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

/// The Redis that keeps the signed-in sessions: the console's own.
#[derive(Clone)]
pub struct Sessions {
    pub redis: Redis,
    pub keys: Keys,
}

/// [`Sessions`] with the key that names a session's Redis key.
pub(super) struct Store {
    sessions: Sessions,
    key: [u8; 32],
}

impl Store {
    pub(super) fn new(sessions: Sessions, key: [u8; 32]) -> Self {
        Self { sessions, key }
    }

    fn redis(&self) -> Redis {
        self.sessions.redis.clone()
    }

    /// The Redis key of session `sid`.
    fn key_of(&self, sid: &str) -> String {
        self.sessions.keys.console_session(&hex::encode(super::hmac(&self.key, sid.as_bytes())))
    }

    /// Whether session `sid` is signed in.
    pub(super) async fn exists(&self, sid: &str) -> Result<bool, WebError> {
        Ok(redis::cmd("EXISTS").arg(self.key_of(sid)).query_async(&mut self.redis()).await?)
    }

    /// Signs session `sid` in until [`SESSION_TTL`].
    pub(super) async fn insert(&self, sid: &str) -> Result<(), WebError> {
        let ttl_ms = u64::try_from(SESSION_TTL.as_millis()).unwrap_or(u64::MAX);
        let () =
            redis::cmd("SET").arg(self.key_of(sid)).arg(1).arg("PX").arg(ttl_ms).query_async(&mut self.redis()).await?;
        Ok(())
    }

    pub(super) async fn remove(&self, sid: &str) -> Result<(), WebError> {
        let () = redis::cmd("DEL").arg(self.key_of(sid)).query_async(&mut self.redis()).await?;
        Ok(())
    }

    /// Takes a try from the minute's sign-in budget, before the token is
    /// checked (so parallel guesses cannot all pass a check made earlier);
    /// `false` once it is spent. The first try of a window starts it.
    pub(super) async fn take_try(&self) -> Result<bool, WebError> {
        let key = self.sessions.keys.console_login_failures();
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
            .query_async(&mut self.redis())
            .await?;
        Ok(tries <= MAX_TRIES_PER_MINUTE)
    }

    /// Gives back the try of a sign-in that succeeded.
    pub(super) async fn give_back_try(&self) -> Result<(), WebError> {
        let key = self.sessions.keys.console_login_failures();
        let () = redis::cmd("DECR").arg(key).query_async(&mut self.redis()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_on(server: &botq_testkit::redis::RedisServer, prefix: &str, key: [u8; 32]) -> Store {
        Store::new(Sessions { redis: server.redis(), keys: Keys::new(prefix, 1) }, key)
    }

    /// Signed in on one replica is signed in on all; signed out on one, on
    /// none; a console with another key (another token) knows none of them.
    #[tokio::test]
    async fn sessions_live_in_redis_shared_by_every_replica() {
        let server = botq_testkit::redis::RedisServer::start();
        let (a, b) = (store_on(&server, "botq", [7; 32]), store_on(&server, "botq", [7; 32]));
        let sid = hex::encode([1u8; 32]);
        a.insert(&sid).await.unwrap();
        assert!(b.exists(&sid).await.unwrap());
        assert!(!b.exists(&hex::encode([0u8; 32])).await.unwrap(), "a made-up session id is not signed in");
        assert!(!store_on(&server, "botq", [8; 32]).exists(&sid).await.unwrap(), "another token, other keys");
        let keys: Vec<String> = redis::cmd("KEYS").arg("botq:console:session:*").query(&mut server.conn()).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(!keys[0].contains(&sid), "Redis keeps the id's digest, not the id");
        let ttl: i64 = redis::cmd("PTTL").arg(&keys[0]).query(&mut server.conn()).unwrap();
        assert!(ttl > 11 * 3_600_000, "for the session's 12 hours: {ttl}");
        b.remove(&sid).await.unwrap();
        assert!(!a.exists(&sid).await.unwrap());
    }

    /// Each try is taken before the token is checked: a hundred guesses at
    /// once get ten checks between them, not a hundred.
    #[tokio::test]
    async fn parallel_sign_ins_share_ten_tries_a_minute() {
        let server = botq_testkit::redis::RedisServer::start();
        let store = store_on(&server, "botq", [7; 32]);
        let tries = futures_util::future::join_all((0..100).map(|_| store.take_try())).await;
        let allowed = tries.into_iter().filter(|t| *t.as_ref().unwrap()).count();
        assert_eq!(allowed, usize::try_from(MAX_TRIES_PER_MINUTE).unwrap());

        let other = store_on(&server, "other", [7; 32]);
        for _ in 0..MAX_TRIES_PER_MINUTE {
            assert!(other.take_try().await.unwrap());
        }
        other.give_back_try().await.unwrap();
        assert!(other.take_try().await.unwrap(), "a sign-in that succeeded gave its try back");
        assert!(!other.take_try().await.unwrap());
    }
}
