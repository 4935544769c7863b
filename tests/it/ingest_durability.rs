//! Ack means durable (docs/TESTING.md, guarantee 1): 2xx only after Redis has the event,
//! 503 + Retry-After while it cannot, and nothing acknowledged is ever lost.

use std::collections::BTreeSet;
use std::time::Duration;

use botq_core::envelope::Envelope;
use botq_e2e::post;
use botq_testkit::fixtures::{NO_INGEST_RATE_LIMIT, QQ_MAIN_BOT, QQ_SECRET};
use botq_testkit::ingest::{IngestHandle, config};
use botq_testkit::redis::RedisServer;
use botq_testkit::sign;
use redis::Commands;

/// Ingest gives up on Redis after 300 ms and asks for a retry in 7 s.
fn toml(extra: &str) -> String {
    format!(
        r#"
[ingest]
redis_timeout_ms = 300
retry_after_secs = 7
{extra}{NO_INGEST_RATE_LIMIT}{QQ_MAIN_BOT}"#
    )
}

fn hook(i: usize) -> sign::Webhook {
    let body = sign::qq_group_at_body(&format!("ev{i}"), &format!("ROBOT1.0_{i}"), "G", "U", "hi");
    sign::qq("102000000", QQ_SECRET, botq_core::now_ms() / 1000, &body)
}

/// Every stored event: in the stream, or waiting in its chat's backlog
/// (fair share keeps a few events per chat in the stream).
fn stream_event_ids(redis: &RedisServer) -> Vec<String> {
    let mut c = redis.conn();
    let reply: redis::streams::StreamRangeReply = c.xrange_all("botq:{q0}:stream").unwrap();
    let mut ids: Vec<String> =
        reply.ids.iter().map(|e| Envelope::decode(&e.get::<Vec<u8>>("env").unwrap()).unwrap().event_id).collect();
    let backlogs: Vec<String> = redis::cmd("KEYS").arg("botq:{q0}:backlog:*").query(&mut c).unwrap();
    for key in backlogs {
        let waiting: Vec<Vec<u8>> = c.lrange(&key, 0, -1).unwrap();
        ids.extend(waiting.iter().map(|raw| Envelope::decode(raw).unwrap().event_id));
    }
    ids
}

#[tokio::test]
async fn redis_outage_gets_503_with_retry_after_and_no_acked_event_is_lost() {
    let mut redis = RedisServer::start_durable();
    let ingest = IngestHandle::start(&config(&toml(""), &redis.url())).await;
    let http = reqwest::Client::new();
    let url = ingest.webhook_url("qq-main");
    let mut acked = BTreeSet::new();
    let mut refused = Vec::new();

    for i in 0..40 {
        if i == 15 {
            redis.stop();
        }
        if i == 30 {
            redis.start_again();
        }
        let (status, headers, _) = post(&http, &url, &hook(i)).await;
        match status {
            200 => {
                acked.insert(format!("GROUP_AT_MESSAGE_CREATE:ev{i}"));
            }
            503 => {
                assert_eq!(headers.get("retry-after").unwrap(), "7");
                refused.push(i);
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(refused.len() >= 10, "Redis was down for 15 requests, 503s: {refused:?}");
    // Reconnecting after the restart may cost the first few requests.
    assert!(refused.iter().all(|i| (15..36).contains(i)), "only requests during the outage are refused: {refused:?}");

    // The platform retries what was refused; once Redis is back, each lands exactly once.
    for &i in &refused {
        let mut status = 0;
        for _ in 0..50 {
            status = post(&http, &url, &hook(i)).await.0;
            if status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, 200, "retry of event {i} accepted after Redis came back");
        acked.insert(format!("GROUP_AT_MESSAGE_CREATE:ev{i}"));
    }
    let stored = stream_event_ids(&redis);
    let stored_set: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), stored_set.len(), "no event stored twice");
    assert_eq!(stored_set, acked, "every acknowledged event is stored, across a Redis crash");
}

#[tokio::test]
async fn readiness_reports_redis_outage_and_recovery() {
    let mut redis = RedisServer::start();
    let ingest = IngestHandle::start(&config(&toml(""), &redis.url())).await;
    let http = reqwest::Client::new();
    let ready = ingest.admin_url("/health/ready");
    assert_eq!(http.get(&ready).send().await.unwrap().status(), 200);
    redis.stop();
    let resp = http.get(&ready).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["reason"], "redis_unreachable");
    redis.start_again();
    let mut status = 0;
    for _ in 0..50 {
        status = http.get(&ready).send().await.unwrap().status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
}

/// An ingest idle through a Redis restart holds a dead connection; the first
/// webhook after it must still be stored (OneBot implementations do not
/// retry a 503), not answered 503 while the connection is replaced.
#[tokio::test]
async fn the_first_webhook_after_a_redis_restart_during_a_quiet_spell_is_stored() {
    let mut redis = RedisServer::start_durable();
    let ingest = IngestHandle::start(&config(&toml(""), &redis.url())).await;
    let http = reqwest::Client::new();
    assert_eq!(post(&http, &ingest.webhook_url("qq-main"), &hook(1)).await.0, 200);
    redis.start_again();
    // Redis answers again before the next webhook arrives; ingest has not noticed.
    let mut c = redis.conn();
    let _: String = redis::cmd("PING").query(&mut c).unwrap();
    let (status, _, body) = post(&http, &ingest.webhook_url("qq-main"), &hook(2)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stream_event_ids(&redis).len(), 2);
}

/// A Redis call that times out may still be carried out: the webhook got 503,
/// yet the event is stored, and the platform's retry is acknowledged as a
/// duplicate, counted apart from the platform's own duplicates.
#[tokio::test]
async fn a_retry_after_a_redis_timeout_is_a_duplicate_counted_apart() {
    let redis = RedisServer::start();
    let ingest = IngestHandle::start(&config(&toml(""), &redis.url())).await;
    let http = reqwest::Client::new();
    // Redis runs one command at a time: a script busy for 1 s holds the
    // webhook's script past ingest's 300 ms, and then runs it.
    let blocker = redis.busy_for(Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, headers, _) = post(&http, &ingest.webhook_url("qq-main"), &hook(7)).await;
    assert_eq!(status, 503);
    assert!(headers.contains_key("retry-after"));
    blocker.join().unwrap();
    assert_eq!(stream_event_ids(&redis).len(), 1, "stored after all");
    assert_eq!(post(&http, &ingest.webhook_url("qq-main"), &hook(7)).await.0, 200, "the retry is acknowledged");
    assert_eq!(post(&http, &ingest.webhook_url("qq-main"), &hook(7)).await.0, 200);
    assert_eq!(stream_event_ids(&redis).len(), 1, "and stored once");
    let metrics = http.get(ingest.admin_url("/metrics")).send().await.unwrap().text().await.unwrap();
    // (The recorder is shared by this binary's tests: present, not counted exactly.)
    for line in [
        r#"botq_ingest_requests_total{bot="qq-main",outcome="timeout"} "#,
        r#"botq_ingest_requests_total{bot="qq-main",outcome="duplicate_after_timeout"} "#,
        r#"botq_events_total{bot="qq-main",outcome="duplicate_after_timeout"} "#,
    ] {
        assert!(metrics.contains(line), "{line} missing: {metrics}");
    }
}

/// At `maxmemory` with `noeviction` every write is refused: readiness says
/// so, and webhooks get 503 (retry later), until memory is freed.
#[tokio::test]
async fn readiness_reports_redis_refusing_writes_at_maxmemory() {
    let redis = RedisServer::start();
    let ingest = IngestHandle::start(&config(&toml(""), &redis.url())).await;
    let http = reqwest::Client::new();
    let ready = ingest.admin_url("/health/ready");
    assert_eq!(http.get(&ready).send().await.unwrap().status(), 200);
    let mut c = redis.conn();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("noeviction").query(&mut c).unwrap();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("1").query(&mut c).unwrap();
    let resp = http.get(&ready).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["reason"], "redis_out_of_memory");
    let (status, headers, _) = post(&http, &ingest.webhook_url("qq-main"), &hook(1)).await;
    assert_eq!(status, 503);
    assert!(headers.contains_key("retry-after"));
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("0").query(&mut c).unwrap();
    assert_eq!(http.get(&ready).send().await.unwrap().status(), 200);
    assert_eq!(post(&http, &ingest.webhook_url("qq-main"), &hook(1)).await.0, 200, "the retry is stored");
}

#[tokio::test]
async fn ingest_starts_before_redis_and_answers_503_until_it_is_up() {
    let mut redis = RedisServer::start();
    redis.stop();
    let ingest = IngestHandle::start_unready(&config(&toml(""), &redis.url())).await;
    let http = reqwest::Client::new();
    let resp = http.get(ingest.admin_url("/health/ready")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let (status, _, _) = post(&http, &ingest.webhook_url("qq-main"), &hook(1)).await;
    assert_eq!(status, 503);
    redis.start_again();
    let mut status = 0;
    for _ in 0..100 {
        status = post(&http, &ingest.webhook_url("qq-main"), &hook(1)).await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    assert_eq!(stream_event_ids(&redis).len(), 1);
}

#[tokio::test]
async fn a_full_backlog_gets_503_and_stores_nothing_more() {
    let redis = RedisServer::start();
    let ingest = IngestHandle::start(&config(&toml("max_backlog = 3"), &redis.url())).await;
    let http = reqwest::Client::new();
    let url = ingest.webhook_url("qq-main");
    for i in 0..3 {
        assert_eq!(post(&http, &url, &hook(i)).await.0, 200);
    }
    let (status, headers, body) = post(&http, &url, &hook(3)).await;
    assert_eq!(status, 503);
    assert_eq!(headers.get("retry-after").unwrap(), "7");
    assert!(body.contains(r#""code":"unavailable""#), "{body}");
    assert_eq!(stream_event_ids(&redis).len(), 3, "the bound counts chat backlogs too");
    let mut c = redis.conn();
    let dedupe: Vec<String> = c.keys("botq:{q0}:dd:*ev3*").unwrap();
    assert!(dedupe.is_empty(), "a refused event leaves no dedupe key, so the retry is not a 'duplicate'");
}

#[tokio::test]
async fn shutdown_drains_and_stops_accepting() {
    let redis = RedisServer::start();
    let ingest = IngestHandle::start(&config(&toml(""), &redis.url())).await;
    let http = reqwest::Client::new();
    let url = ingest.webhook_url("qq-main");
    assert_eq!(post(&http, &url, &hook(1)).await.0, 200);
    let addr = ingest.addr;
    tokio::time::timeout(Duration::from_secs(5), ingest.shutdown()).await.expect("drains within the grace period");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer accepting");
}
