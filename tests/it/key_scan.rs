//! `Redis::scan_match` on one server: the bounded key scan the console's
//! Chats page finds storm counters and cooldowns with returns every
//! matching key once, and says so when its budget stopped it before the
//! end. (On a cluster, every master: `cluster_e2e`.)

use botq_testkit::redis::RedisServer;

/// A server with `n` cooldown keys and as many other keys.
fn filled(n: usize) -> RedisServer {
    let redis = RedisServer::start();
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("SET").arg(format!("botq:{{q{}}}:cd:qq-main:agent:g{i}", i % 4)).arg(1).ignore();
        pipe.cmd("SET").arg(format!("botq:{{q{}}}:chat:qq-main:g{i}", i % 4)).arg(1).ignore();
    }
    pipe.query::<()>(&mut redis.conn()).unwrap();
    redis
}

#[tokio::test]
async fn a_scan_finds_every_matching_key_once_or_says_it_was_cut() {
    let redis = filled(3000);
    let mut conn = redis.redis();

    let (all, cut) = conn.scan_match("botq:*:cd:*", 100_000).await.unwrap();
    assert!(!cut, "6000 keys are within the budget");
    assert_eq!(all.len(), 3000, "each cooldown key once, no other key");
    assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicate");

    // One call of COUNT 1000 visits about a sixth of the 6000 keys.
    let (some, cut) = conn.scan_match("botq:*:cd:*", 1000).await.unwrap();
    assert!(cut, "the budget stopped the scan before the end");
    assert!(some.len() < 3000 && some.iter().all(|k| all.contains(k)), "{} found", some.len());

    let (none, cut) = conn.scan_match("botq:*:storm:*", 100_000).await.unwrap();
    assert_eq!((none.len(), cut), (0, false));
}
