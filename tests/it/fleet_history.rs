//! The fleet records and the history against real Redis: heartbeats,
//! goodbyes, expiry and pruning; counts of several replicas adding up;
//! steps read back with the gaps as zeros; and a real ingest + worker stack
//! registering itself and leaving a trace of a webhook and its reply.

use std::sync::Arc;
use std::time::Duration;

use botq_core::fleet::{self, Liveness, Replica, Role};
use botq_core::history::{self, BUCKETS, Counters, QueueGauges, STEP};
use botq_core::keys::Keys;
use botq_e2e::{REPLY_WORKER, Stack, eventually, worker_toml};
use botq_testkit::events::{Enqueuer, envelope};
use botq_testkit::fixtures::{QQ_SECRET, qq_main_bot_replying_to};
use botq_testkit::ingest::IngestHandle;
use botq_testkit::recorder::{Act, Recorder};
use botq_testkit::redis::{RedisCluster, RedisServer};
use botq_testkit::sign;
use botq_testkit::worker::{WorkerHandle, config};
use botq_worker::BotHandler;
use redis::AsyncCommands;

const HOUR: Duration = Duration::from_secs(3600);

fn keys() -> Keys {
    Keys::new("botq", 1)
}

fn replica(name: &str, role: Role) -> Replica {
    Replica::new(name.to_owned(), role, "host-a".to_owned(), botq_core::now_ms())
}

fn names(seen: &[fleet::Seen]) -> Vec<(&str, Liveness)> {
    seen.iter().map(|s| (s.replica.name.as_str(), s.liveness)).collect()
}

#[tokio::test]
async fn a_beat_registers_a_goodbye_stops_and_a_missed_heartbeat_is_gone() {
    let redis = RedisServer::start();
    let mut conn = redis.async_conn().await;
    let keys = keys();
    let (worker, ingest) = (replica("w-1", Role::Worker), replica("i-1", Role::Ingest));
    fleet::beat_with_ttl(&mut conn, &keys, &worker, Duration::from_millis(300)).await.unwrap();
    fleet::beat(&mut conn, &keys, &ingest).await.unwrap();
    let seen = fleet::list(&mut conn, &keys, botq_core::now_ms()).await.unwrap();
    assert_eq!(names(&seen), [("i-1", Liveness::Alive), ("w-1", Liveness::Alive)], "alive, then by role");
    assert_eq!(seen[1].replica, worker, "the record reads back whole");
    let ttl: i64 = conn.pttl(keys.fleet_heartbeat("i-1")).await.unwrap();
    assert!((15_000..=20_000).contains(&ttl), "heartbeat TTL {ttl} ms");

    tokio::time::sleep(Duration::from_millis(400)).await;
    let left = Replica { stopped_at_ms: Some(botq_core::now_ms()), ..ingest.clone() };
    fleet::leave(&mut conn, &keys, &left).await.unwrap();
    let alive = replica("w-2", Role::Worker);
    fleet::beat(&mut conn, &keys, &alive).await.unwrap();
    let seen = fleet::list(&mut conn, &keys, botq_core::now_ms()).await.unwrap();
    assert_eq!(
        names(&seen),
        [("w-2", Liveness::Alive), ("i-1", Liveness::Stopped), ("w-1", Liveness::Gone)],
        "alive first; the one that left said so; the silent one is gone"
    );
    assert!(!conn.exists::<_, bool>(keys.fleet_heartbeat("i-1")).await.unwrap(), "goodbye deletes the heartbeat");
}

#[tokio::test]
async fn old_and_undecodable_records_are_pruned_and_do_not_break_the_list() {
    let redis = RedisServer::start();
    let mut conn = redis.async_conn().await;
    let keys = keys();
    let now = botq_core::now_ms();
    let day_ms = i64::try_from(fleet::FORGET_AFTER.as_millis()).unwrap();
    let mut old = replica("w-old", Role::Worker);
    old.heartbeat_ms = now - day_ms - 1000;
    let mut yesterday = replica("w-yesterday", Role::Worker);
    yesterday.heartbeat_ms = now - day_ms + 60_000;
    for r in [&old, &yesterday] {
        fleet::beat_with_ttl(&mut conn, &keys, r, Duration::from_millis(1)).await.unwrap();
    }
    let _: () = conn.hset(keys.fleet_replicas(), "junk", "not a record").await.unwrap();
    let _: () = conn.hset(keys.fleet_replicas(), "i-9", r#"{"name":"i-9"}"#).await.unwrap();
    // A newer botq's record this build cannot read, whose replica beats.
    let _: () = conn.hset(keys.fleet_replicas(), "w-next", r#"{"name":"w-next","v":2}"#).await.unwrap();
    let _: () = conn.set_ex(keys.fleet_heartbeat("w-next"), now, 20).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    let seen = fleet::list(&mut conn, &keys, now).await.unwrap();
    assert_eq!(names(&seen), [("w-yesterday", Liveness::Gone)], "kept for a day after its last heartbeat");
    let mut on_record: Vec<String> = conn.hkeys(keys.fleet_replicas()).await.unwrap();
    on_record.sort();
    assert_eq!(on_record, ["i-9", "junk", "w-next", "w-old", "w-yesterday"], "reading wrote nothing");

    assert_eq!(fleet::prune(&mut conn, &keys, now).await.unwrap(), 3);
    let mut left: Vec<String> = conn.hkeys(keys.fleet_replicas()).await.unwrap();
    left.sort();
    assert_eq!(left, ["w-next", "w-yesterday"], "the old and the dead undecodable records were pruned");
}

#[tokio::test]
async fn a_replica_prunes_the_fleet_from_its_heartbeat_loop() {
    let redis = RedisServer::start();
    let conn = redis.async_conn().await;
    let keys = keys();
    let _: () = conn.clone().hset(keys.fleet_replicas(), "junk", "not a record").await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let beating = {
        let (conn, keys, stop) = (conn.clone(), keys.clone(), stop.clone());
        tokio::spawn(async move {
            fleet::beat_every(conn, &keys, Duration::from_secs(1), stop.cancelled(), |now| Replica {
                heartbeat_ms: now,
                ..replica("w-1", Role::Worker)
            })
            .await;
        })
    };
    // The first beat prunes: junk goes at once, the replica's own record stays.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut on_record: Vec<String> = Vec::new();
    while tokio::time::Instant::now() < deadline {
        on_record = conn.clone().hkeys(keys.fleet_replicas()).await.unwrap();
        if on_record == ["w-1"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(on_record, ["w-1"], "the heartbeat loop pruned the undecodable record");
    stop.cancel();
    beating.await.unwrap();
}

/// One second into a step, so a test's flushes at `NOW` all land in one.
const NOW: i64 = 1_700_000_001_000;

#[tokio::test]
async fn the_counts_of_two_replicas_add_up_in_one_step() {
    let redis = RedisServer::start();
    let mut conn = redis.async_conn().await;
    let keys = keys();
    let (a, b) = (Counters::default(), Counters::default());
    a.ingested();
    a.ingested();
    a.acked(Duration::from_millis(3));
    b.ingested();
    b.acked(Duration::from_millis(80));
    b.replied(Duration::from_millis(700));
    b.dead();
    history::flush(&mut conn, &keys, &a, NOW, HOUR).await.unwrap();
    history::flush(&mut conn, &keys, &b, NOW, HOUR).await.unwrap();
    a.ingested();
    history::flush(&mut conn, &keys, &a, NOW, HOUR).await.unwrap();

    let points = history::read(&mut conn, &keys, NOW, STEP).await.unwrap();
    assert_eq!(points.len(), 1);
    let p = &points[0];
    assert_eq!((p.at_ms, p.ingested, p.replies, p.dead), (1_700_000_000_000, 4, 1, 1));
    let mut ack = vec![0; BUCKETS];
    ack[0] = 1; // ≤ 5 ms
    ack[4] = 1; // ≤ 100 ms
    assert_eq!(p.ack, ack);
    assert_eq!(p.reply[7], 1, "≤ 1000 ms");
    assert_eq!(history::quantile(&p.ack, 0.95), Some(Duration::from_millis(100)));
    assert_eq!(history::share_within(&p.ack, 50), Some(0.5));

    let ttl: i64 = conn.ttl(keys.history_step(1_700_000_000)).await.unwrap();
    assert!((3600..=3610).contains(&ttl), "retention + one step: {ttl} s");
    history::flush(&mut conn, &keys, &a, NOW, HOUR).await.unwrap();
    assert_eq!(history::read(&mut conn, &keys, NOW, STEP).await.unwrap()[0].ingested, 4, "flushed counts are gone");
}

#[tokio::test]
async fn a_span_reads_every_step_oldest_first_with_missing_ones_as_zeros() {
    let redis = RedisServer::start();
    let mut conn = redis.async_conn().await;
    let keys = keys();
    let gauges = QueueGauges { depth: 7, lag: 2, pending: 5, delayed: 1, dlq: 3, backlogged: 4 };
    history::record_gauges(&mut conn, &keys, NOW - 30_000, &[(0, gauges.clone())], HOUR).await.unwrap();
    let c = Counters::default();
    c.ingested();
    history::flush(&mut conn, &keys, &c, NOW, HOUR).await.unwrap();
    c.ingested();
    history::flush(&mut conn, &keys, &c, NOW - 70_000, HOUR).await.unwrap();

    let points = history::read(&mut conn, &keys, NOW, Duration::from_secs(60)).await.unwrap();
    let at: Vec<i64> = points.iter().map(|p| (p.at_ms - 1_700_000_000_000) / 1000).collect();
    assert_eq!(at, [-50, -40, -30, -20, -10, 0], "six steps, oldest first");
    assert_eq!(points[2].queues.get(&0), Some(&gauges));
    assert_eq!(points[5].ingested, 1);
    assert!(points[5].queues.is_empty());
    for p in [&points[0], &points[1], &points[3], &points[4]] {
        assert_eq!((p.ingested, p.replies, p.dead, p.ack.len(), p.reply.len()), (0, 0, 0, BUCKETS, BUCKETS));
        assert!(p.ack.iter().chain(&p.reply).all(|&n| n == 0) && p.queues.is_empty(), "a zero point");
    }
    assert_eq!(points.iter().map(|p| p.ingested).sum::<u64>(), 1, "the step 70 s back is outside the span");
    let two = history::read(&mut conn, &keys, NOW, Duration::from_secs(15)).await.unwrap();
    assert_eq!(two.iter().map(|p| p.at_ms).collect::<Vec<_>>(), [1_699_999_990_000, 1_700_000_000_000]);
}

#[tokio::test]
async fn a_running_stack_registers_its_replicas_and_records_a_webhook_and_its_reply() {
    let s = Stack::builder().start(|at| format!("{REPLY_WORKER}\n{}", qq_main_bot_replying_to(at.fake_port))).await;
    let worker = s.worker().await;
    let (ingest_name, worker_name) = (s.ingest.state.replica.name.clone(), worker.engine.consumer().to_owned());
    let mut conn = s.redis.async_conn().await;
    let keys = s.cfg.queue.keys();

    let mut seen = Vec::new();
    for _ in 0..500 {
        seen = fleet::list(&mut conn, &keys, botq_core::now_ms()).await.unwrap();
        if seen.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(names(&seen), [(ingest_name.as_str(), Liveness::Alive), (worker_name.as_str(), Liveness::Alive)]);
    let w = &seen[1].replica;
    assert_eq!(
        (w.role, w.lanes.as_slice(), w.version.as_str()),
        (Role::Worker, &["default".to_owned()][..], botq_core::build::VERSION)
    );
    assert_eq!(seen[0].replica.role, Role::Ingest);

    let now = botq_core::now_ms() / 1000;
    let body = sign::qq_group_at_body("e1", "ROBOT1.0_e1", "GROUP1", "M1", " /ping");
    let hook = sign::qq("102000000", QQ_SECRET, now, &body);
    let status = s.send("qq-main", &hook).await;
    assert_eq!(status, 200);
    assert!(s.fake.wait_for_deliveries(1, Duration::from_secs(10)).await.is_some(), "the reply went out");

    // A graceful stop flushes what is left and says goodbye.
    worker.shutdown().await.unwrap();
    s.ingest.shutdown().await;
    let points = history::read(&mut conn, &keys, botq_core::now_ms(), Duration::from_secs(60)).await.unwrap();
    let sum = |f: fn(&history::Point) -> u64| points.iter().map(f).sum::<u64>();
    assert!(sum(|p| p.ingested) >= 1, "{points:?}");
    assert!(sum(|p| p.replies) >= 1, "{points:?}");
    assert!(sum(|p| p.ack.iter().sum()) >= 1, "the webhook's ack latency: {points:?}");
    assert!(points.iter().any(|p| p.queues.contains_key(&0)), "the sampler recorded queue 0's gauges");
    let seen = fleet::list(&mut conn, &keys, botq_core::now_ms()).await.unwrap();
    assert_eq!(names(&seen), [(ingest_name.as_str(), Liveness::Stopped), (worker_name.as_str(), Liveness::Stopped)]);
    assert!(seen.iter().all(|s| s.replica.stopped_at_ms.is_some() && s.replica.in_flight == 0));
}

#[tokio::test]
async fn on_redis_cluster_a_beat_and_a_flush_are_each_one_slot() {
    let cluster = RedisCluster::start(3);
    let client = redis::cluster::ClusterClient::new(vec![cluster.url()]).unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    let keys = keys();
    fleet::beat(&mut conn, &keys, &replica("w-1", Role::Worker)).await.unwrap();
    let seen = fleet::list(&mut conn, &keys, botq_core::now_ms()).await.unwrap();
    assert_eq!(names(&seen), [("w-1", Liveness::Alive)]);
    let c = Counters::default();
    c.ingested();
    history::flush(&mut conn, &keys, &c, NOW, HOUR).await.unwrap();
    history::record_gauges(&mut conn, &keys, NOW, &[(0, QueueGauges::default())], HOUR).await.unwrap();
    let points = history::read(&mut conn, &keys, NOW, Duration::from_secs(60)).await.unwrap();
    assert_eq!(points.iter().map(|p| p.ingested).sum::<u64>(), 1);
}

#[tokio::test]
async fn a_workers_record_counts_the_deliveries_it_handles_not_the_permits_its_readers_hold() {
    let redis = RedisServer::start();
    let cfg = config(&worker_toml(""), &redis.url());
    let h = Recorder::rec(Duration::from_millis(500), |_| Act::Succeed);
    let w = WorkerHandle::start(&cfg, Arc::new(h.clone())).await;
    let idle = w.engine.record(botq_core::now_ms());
    assert_eq!((idle.in_flight, idle.lanes.as_slice(), idle.breakers.len()), (0, &["default".to_owned()][..], 0));
    let mut q = Enqueuer::new(&redis.url(), "botq", 1).await;
    assert!(q.push(envelope("qq-main", "chat-1", "e1", "/ping")).await);
    assert!(eventually(Duration::from_secs(5), || w.engine.record(0).in_flight == 1).await);
    assert!(eventually(Duration::from_secs(5), || w.engine.record(0).in_flight == 0).await);
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_ingest_record_counts_the_webhooks_it_is_handling() {
    use tokio::io::AsyncWriteExt;
    let redis = RedisServer::start();
    let cfg = botq_testkit::ingest::config(&worker_toml(""), &redis.url());
    let ingest = IngestHandle::start(&cfg).await;
    assert_eq!(ingest.state.record().in_flight, 0);
    // A webhook whose body is still on its way is in flight.
    let mut slow = tokio::net::TcpStream::connect(ingest.addr).await.unwrap();
    slow.write_all(
        b"POST /webhooks/qq-main HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    assert!(eventually(Duration::from_secs(5), || ingest.state.record().in_flight == 1).await, "counted while read");
    // The client goes away: the handler is dropped, and so is its count.
    drop(slow);
    assert!(eventually(Duration::from_secs(5), || ingest.state.record().in_flight == 0).await, "uncounted when gone");
    ingest.shutdown().await;
}

#[tokio::test]
async fn a_workers_record_shows_its_upstream_skills_breakers() {
    let redis = RedisServer::start();
    let bot = qq_main_bot_replying_to(9);
    let toml = format!("{REPLY_WORKER}\n[[skill]]\nname = \"agent\"\nurl = \"http://127.0.0.1:9/agent\"\n\n{bot}");
    let cfg = config(&toml, &redis.url());
    let w = WorkerHandle::start(&cfg, Arc::new(BotHandler::new(&cfg.app()).unwrap())).await;
    let breakers = w.engine.record(botq_core::now_ms()).breakers;
    assert_eq!(breakers, [fleet::Breaker { skill: "agent".into(), state: "closed".into() }], "built-ins have none");
    w.shutdown().await.unwrap();
}
