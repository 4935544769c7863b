//! The worker claims and settles deliveries in batches (one `claim.lua` or
//! `finish.lua` call for many). Each member of a batch must get exactly the
//! answer and the effects it would get alone: these tests run mixed batches
//! against a real Redis and check every member's answer and every key.

use std::time::Duration;

use botq_core::keys::{GROUP, Keys};
use botq_core::queue::{self, ChatShare, Claim, ClaimRequest, Delivery, Held, Settlement, Verdict};
use botq_core::redis_conn::Redis;
use botq_testkit::events::{Enqueuer, envelope};
use botq_testkit::redis::RedisServer;
use redis::AsyncCommands;

const LEASE: Duration = Duration::from_secs(30);

struct Env {
    _redis: RedisServer,
    conn: Redis,
    keys: botq_core::keys::QueueKeys,
    deliveries: Vec<Delivery>,
}

/// One queue holding `events` (bot, chat, event id), read by consumer `c1`.
async fn env(events: &[(&str, &str, &str)]) -> Env {
    let redis = RedisServer::start();
    let keys = Keys::new("bq", 1);
    let queue = keys.queue(0);
    let mut conn = redis.redis();
    queue::ensure_group(&mut conn, &queue).await.unwrap();
    let mut enq = Enqueuer::new(&redis.url(), "bq", 1).await;
    for (bot, chat, id) in events {
        assert!(enq.push(envelope(bot, chat, id, "/ping")).await);
    }
    let deliveries = queue::read(&mut conn, 0, &queue, "c1", 100, Duration::from_millis(100)).await.unwrap();
    assert_eq!(deliveries.len(), events.len());
    Env { _redis: redis, conn, keys: queue, deliveries }
}

fn token(d: &Delivery) -> String {
    format!("c1/{}", d.id)
}

fn request(keys: &botq_core::keys::QueueKeys, d: &Delivery) -> ClaimRequest {
    let e = d.envelope.as_ref().unwrap();
    ClaimRequest {
        claim_key: keys.claim(&e.bot, &e.event_id),
        chat_lock: keys.chat_lock(&e.bot, &e.chat_id),
        stream_id: d.id.clone(),
        token: token(d),
        verify: true,
    }
}

#[tokio::test]
async fn each_claim_in_a_batch_gets_the_answer_it_would_get_alone() {
    let mut e =
        env(&[("qq-main", "g1", "e1"), ("qq-main", "g1", "e2"), ("qq-main", "g2", "e3"), ("qq-main", "g3", "e4")])
            .await;
    let k = e.keys.clone();
    let d = &e.deliveries;
    // e3 was handled already; e4's entry was settled elsewhere (no longer pending for us).
    let _: () = e.conn.set(k.claim(&botq_core::ids::BotId::parse("qq-main").unwrap(), "e3"), "done").await.unwrap();
    let _: () = redis::cmd("XACK").arg(k.stream()).arg(GROUP).arg(&d[3].id).query_async(&mut e.conn).await.unwrap();
    let batch: Vec<_> = d.iter().map(|x| request(&k, x)).collect();

    let answers = queue::claim(&mut e.conn, &k, "c1", LEASE, true, &batch).await.unwrap();

    // e2 shares e1's chat: e1 took the chat lock earlier in the same batch.
    assert_eq!(answers, vec![Claim::Fresh, Claim::ChatBusy, Claim::Duplicate, Claim::Lost]);
    let lock: Option<String> = e.conn.get(&batch[0].chat_lock).await.unwrap();
    assert_eq!(lock.as_deref(), Some(batch[0].token.as_str()));
    let e1: Option<String> = e.conn.get(&batch[0].claim_key).await.unwrap();
    assert_eq!(e1.as_deref(), Some(batch[0].token.as_str()));
    let e2: Option<String> = e.conn.get(&batch[1].claim_key).await.unwrap();
    assert_eq!(e2, None, "a busy chat's event takes no lease");
    let e4: Option<String> = e.conn.get(&batch[3].claim_key).await.unwrap();
    assert_eq!(e4, None, "a lost delivery takes no lease");

    // Claimed again by the same delivery (its token): still ours, and the lock is not contested.
    let again = queue::claim(&mut e.conn, &k, "c1", LEASE, true, &batch[..1]).await.unwrap();
    assert_eq!(again, vec![Claim::Fresh]);
}

#[tokio::test]
async fn each_settlement_in_a_batch_has_the_effects_it_would_have_alone() {
    let mut e =
        env(&[("qq-main", "g1", "e1"), ("qq-main", "g2", "e2"), ("qq-main", "g3", "e3"), ("qq-main", "g4", "e4")])
            .await;
    let k = e.keys.clone();
    let batch: Vec<_> = e.deliveries.iter().map(|x| request(&k, x)).collect();
    let answers = queue::claim(&mut e.conn, &k, "c1", LEASE, true, &batch).await.unwrap();
    assert_eq!(answers, vec![Claim::Fresh; 4]);

    let verdicts = [
        Verdict::Done { done_ttl: Duration::from_secs(60) },
        Verdict::Retry { due_ms: 4_000_000_000_000, attempts: 1 },
        Verdict::Dead { reason: "permanent: no".into(), attempts: 1, now_ms: 1, dlq_max_len: 100 },
        Verdict::Drop,
    ];
    let settlements: Vec<_> = e
        .deliveries
        .iter()
        .zip(&batch)
        .zip(&verdicts)
        .map(|((d, r), v)| {
            let held = Held { id: &d.id, token: &r.token, claim_key: &r.claim_key, chat_lock: &r.chat_lock };
            Settlement::new(&k, &held, None, &d.raw, v)
        })
        .collect();
    queue::finish(&mut e.conn, &k, "w-1", &settlements).await.unwrap();

    let len: usize = e.conn.xlen(k.stream()).await.unwrap();
    assert_eq!(len, 0, "every entry is acked and deleted");
    let done: Option<String> = e.conn.get(&batch[0].claim_key).await.unwrap();
    assert_eq!(done.as_deref(), Some("done"));
    for r in &batch[1..3] {
        let lease: Option<String> = e.conn.get(&r.claim_key).await.unwrap();
        assert_eq!(lease, None, "a retried or dead event's lease is released");
    }
    for r in &batch[..3] {
        let lock: Option<String> = e.conn.get(&r.chat_lock).await.unwrap();
        assert_eq!(lock, None, "every chat lock of ours is released");
    }
    let delayed: Vec<(String, i64)> = e.conn.zrange_withscores(k.delayed(), 0, -1).await.unwrap();
    assert_eq!(delayed.len(), 1);
    assert_eq!(delayed[0].1, 4_000_000_000_000);
    assert!(delayed[0].0.starts_with("1:"), "{:?}", delayed[0].0);
    let dead: Vec<queue::DeadLetter> = queue::dead_letters(&mut e.conn, 0, &k, None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, "permanent: no");
    assert_eq!(dead[0].by, "w-1", "a dead letter names the replica that gave up on it");
}

#[tokio::test]
async fn a_claim_moments_after_the_read_skips_the_ownership_check_and_the_idle_reset() {
    let mut e = env(&[("qq-main", "g1", "e1"), ("qq-main", "g2", "e2")]).await;
    let k = e.keys.clone();
    assert!(!queue::needs_verify(e.deliveries[0].received.elapsed()), "just read");
    assert!(queue::needs_verify(Duration::from_secs(3)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut batch: Vec<_> = e.deliveries.iter().map(|x| request(&k, x)).collect();
    batch[0].verify = false;

    let answers = queue::claim(&mut e.conn, &k, "c1", LEASE, true, &batch).await.unwrap();

    assert_eq!(answers, vec![Claim::Fresh, Claim::Fresh], "both claimed, the first without the two extra commands");
    let pending: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(k.stream())
        .arg(GROUP)
        .arg("-")
        .arg("+")
        .arg(10)
        .query_async(&mut e.conn)
        .await
        .unwrap();
    let idle_of = |id: &str| pending.iter().find(|p| p.0 == id).map(|p| p.2).unwrap();
    assert!(idle_of(&e.deliveries[0].id) >= 300, "unverified: the idle time runs on from the read");
    assert!(idle_of(&e.deliveries[1].id) < 300, "verified: XCLAIM reset it");
}

#[tokio::test]
async fn a_batch_of_pumps_moves_each_chats_backlog_within_its_share() {
    let redis = RedisServer::start();
    let keys = Keys::new("bq", 1);
    let k = keys.queue(0);
    let mut conn = redis.redis();
    queue::ensure_group(&mut conn, &k).await.unwrap();
    let share = botq_core::config::FairShare { max_queued_per_chat: Some(1), counter_ttl: Duration::from_secs(600) };
    let mut enq = Enqueuer::new(&redis.url(), "bq", 1).await.with_fair_share(share);
    for chat in ["g1", "g2"] {
        for n in 0..3 {
            assert!(enq.push(envelope("qq-main", chat, &format!("{chat}-{n}"), "/ping")).await);
        }
    }
    let len: usize = conn.xlen(k.stream()).await.unwrap();
    assert_eq!(len, 2, "one event of each chat in the stream, the rest in backlogs");
    // Both chats' first events leave the queue elsewhere (released), in one batch.
    let bot = botq_core::ids::BotId::parse("qq-main").unwrap();
    let pumps: Vec<_> =
        ["g1", "g2"].iter().map(|c| Settlement::pump(&k, &ChatShare::new(&k, &bot, c, share), true)).collect();
    queue::finish(&mut conn, &k, "w-1", &pumps).await.unwrap();
    let len: usize = conn.xlen(k.stream()).await.unwrap();
    assert_eq!(len, 4, "each chat's next event moved in");
    for c in ["g1", "g2"] {
        let left: usize = conn.llen(k.backlog(&bot, c)).await.unwrap();
        assert_eq!(left, 1, "and only one per chat");
    }
}

#[tokio::test]
async fn each_event_of_an_ingest_batch_is_decided_as_if_alone_and_a_refused_one_leaves_no_trace() {
    use botq_core::config::{FairShare, RateLimit};
    use botq_core::platform::Event;
    use botq_core::queue::{BatchParams, Enqueue, EnqueueOutcome};

    let redis = RedisServer::start();
    let k = Keys::new("bq", 1).queue(0);
    let mut conn = redis.redis();
    let share = FairShare { max_queued_per_chat: None, counter_ttl: Duration::from_secs(600) };
    let limits = RateLimit { group: None, sender: None };
    let event = |id: &str| Event { aliases: Vec::new(), envelope: envelope("qq-main", "g1", id, "/ping") };
    let batch: Vec<_> = ["a", "a", "b", "c"].iter().map(|id| Enqueue::new(&k, &event(id), limits, share)).collect();
    let params = BatchParams {
        now_ms: botq_core::now_ms(),
        dedupe_ttl: Duration::from_secs(60),
        max_backlog: 2,
        fair_share: share,
    };

    let outcomes = queue::enqueue_batch(&mut conn, &k, params, &batch).await.unwrap();

    assert!(matches!(outcomes[0], EnqueueOutcome::Accepted { .. }), "{outcomes:?}");
    assert_eq!(outcomes[1], EnqueueOutcome::Duplicate, "the second copy in the same batch is the duplicate");
    assert!(matches!(outcomes[2], EnqueueOutcome::Accepted { .. }), "{outcomes:?}");
    assert_eq!(outcomes[3], EnqueueOutcome::Backlogged, "the stream reached its backlog within the batch");
    let len: usize = conn.xlen(k.stream()).await.unwrap();
    assert_eq!(len, 2);
    let bot = botq_core::ids::BotId::parse("qq-main").unwrap();
    let trace: bool = conn.exists(k.dedupe(&bot, &botq_core::platform::identity_key("c"))).await.unwrap();
    assert!(!trace, "a refused event leaves no dedupe key, so the platform's retry is stored");
}
