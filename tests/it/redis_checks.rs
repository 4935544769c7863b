//! Startup checks of the Redis botq runs on (warn about eviction and no persistence).

use botq_testkit::redis::RedisServer;

async fn warnings(redis: &RedisServer) -> Vec<String> {
    let mut conn = redis.async_conn().await;
    botq_core::redis_conn::server_warnings(&mut conn).await
}

#[tokio::test]
async fn a_redis_without_persistence_or_with_eviction_is_reported() {
    let redis = RedisServer::start();
    let mut c = redis.conn();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("allkeys-lru").query(&mut c).unwrap();
    let w = warnings(&redis).await;
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("allkeys-lru") && w[0].contains("noeviction"), "{w:?}");
    assert!(w[1].contains("no persistence"), "{w:?}");
}

#[tokio::test]
async fn a_durable_noeviction_redis_passes() {
    let redis = RedisServer::start_durable();
    let mut c = redis.conn();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("noeviction").query(&mut c).unwrap();
    assert!(warnings(&redis).await.is_empty());
}
