//! The public listener under abuse: raw sockets that stall, flood, break
//! their framing or forge signatures; every refusal is the JSON error body,
//! nothing reaches Redis, and real webhooks keep being answered.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

/// Sends `request` on a fresh connection and reads until the server closes
/// it or `within` passes; returns what was read.
async fn exchange(addr: SocketAddr, request: &[u8], within: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    read_until_closed(&mut s, within).await.0
}

/// Reads until EOF (or a reset) or `within`; returns the text and whether the server closed.
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

/// The status and JSON `code` of a raw HTTP/1.1 response.
fn status_and_code(response: &str) -> (u16, String) {
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("a JSON error body, got {response:?}"));
    (status, json["code"].as_str().unwrap_or_default().to_owned())
}

fn post_head(path: &str, extra: &str) -> String {
    format!("POST {path} HTTP/1.1\r\nHost: botq\r\nContent-Type: application/json\r\n{extra}\r\n")
}

#[tokio::test]
async fn every_refusal_of_the_listener_is_the_json_error_with_its_code() {
    let t = env().await;
    let a = t.ingest.addr;
    let close = "Connection: close\r\n";
    let cases: Vec<(String, u16, &str)> = vec![
        (post_head("/webhooks/%ff%fe", &format!("{close}Content-Length: 2\r\n")) + "{}", 404, "unknown_bot"),
        (post_head("/webhooks/", &format!("{close}Content-Length: 2\r\n")) + "{}", 404, "not_found"),
        (post_head("/webhooks/a/b", &format!("{close}Content-Length: 2\r\n")) + "{}", 404, "not_found"),
        (post_head("/nope", &format!("{close}Content-Length: 2\r\n")) + "{}", 404, "not_found"),
        (format!("GET /webhooks/qq-main HTTP/1.1\r\nHost: botq\r\n{close}\r\n"), 405, "method_not_allowed"),
        // A chunk whose size is not hex, and a chunked body that ends mid-chunk.
        (
            post_head("/webhooks/qq-main", "Transfer-Encoding: chunked\r\n") + "zz\r\nhello\r\n0\r\n\r\n",
            400,
            "malformed_body",
        ),
    ];
    for (request, status, code) in cases {
        let response = exchange(a, request.as_bytes(), Duration::from_secs(5)).await;
        assert_eq!(status_and_code(&response), (status, code.to_owned()), "{request:?} → {response}");
        assert!(response.to_ascii_lowercase().contains("x-request-id:"), "{response}");
    }
    let get = exchange(
        a,
        format!("GET /webhooks/qq-main HTTP/1.1\r\nHost: b\r\n{close}\r\n").as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert!(get.to_ascii_lowercase().contains("allow: post"), "{get}");

    // A body cut short: the client promises 100 bytes, sends 10 and closes its side.
    let mut s = TcpStream::connect(a).await.unwrap();
    s.write_all((post_head("/webhooks/qq-main", "Content-Length: 100\r\n") + "{\"op\":0,\"d").as_bytes())
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    let (response, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert_eq!(status_and_code(&response), (400, "malformed_body".to_owned()), "{response}");
    assert_eq!(t.key_count(), 0, "no refusal left anything in Redis");
}

#[tokio::test]
async fn stalled_heads_and_bodies_and_idle_connections_are_closed_in_time() {
    let t = env_with("[ingest.listener]\nheader_timeout_ms = 300\nbody_timeout_ms = 300\nidle_timeout_secs = 1").await;
    let a = t.ingest.addr;

    // Half a request line, then nothing: dropped once the head is late.
    let started = Instant::now();
    let mut s = TcpStream::connect(a).await.unwrap();
    s.write_all(b"POST /webhooks/qq-main HTT").await.unwrap();
    let (_, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(closed && started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());

    // A connection that sends nothing at all is a late head too.
    let started = Instant::now();
    let mut s = TcpStream::connect(a).await.unwrap();
    assert!(read_until_closed(&mut s, Duration::from_secs(5)).await.1);
    assert!(started.elapsed() < Duration::from_secs(3));

    // Headers in time, a body that trickles: 408 body_timeout.
    let mut s = TcpStream::connect(a).await.unwrap();
    s.write_all((post_head("/webhooks/qq-main", "Content-Length: 100\r\n") + "{\"op\"").as_bytes()).await.unwrap();
    let (response, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert_eq!(status_and_code(&response), (408, "body_timeout".to_owned()), "{response}");

    // A keep-alive connection that served a webhook, then goes quiet: closed after the idle timeout,
    // not after the (shorter) head timeout.
    let mut s = TcpStream::connect(a).await.unwrap();
    let hook = onebot_hook(4242);
    let mut request = post_head("/webhooks/onebot-main", &format!("Content-Length: {}\r\n", hook.body.len()));
    for (k, v) in &hook.headers {
        request = request.replacen("\r\n\r\n", &format!("\r\n{k}: {v}\r\n\r\n"), 1);
    }
    s.write_all(request.as_bytes()).await.unwrap();
    s.write_all(&hook.body).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 204"), "{}", String::from_utf8_lossy(&buf[..n]));
    let idle_from = Instant::now();
    let (_, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    let idle = idle_from.elapsed();
    assert!(closed && idle >= Duration::from_millis(900) && idle < Duration::from_secs(3), "idle close after {idle:?}");
    assert_eq!(t.stream().len(), 1, "the webhook itself was stored");

    let metrics = t.http.get(t.ingest.admin_url("/metrics")).send().await.unwrap().text().await.unwrap();
    for outcome in ["header_timeout", "idle"] {
        let line = format!("botq_ingest_connections_total{{outcome=\"{outcome}\"}}");
        assert!(metrics.contains(&line), "{line} missing: {metrics}");
    }
}

/// At the cap a new connection pushes out the most stalled one, so sockets
/// held open by a slow-loris client cannot lock real webhooks out; only when
/// every connection has a request in flight is the new one refused.
#[tokio::test]
async fn at_the_connection_cap_stalled_sockets_make_room_and_busy_ones_do_not() {
    let t = env_with(
        "[ingest]\nredis_timeout_ms = 5000\n[ingest.listener]\nmax_connections = 16\nheader_timeout_ms = 60000",
    )
    .await;
    let a = t.ingest.addr;
    let mut stalled = Vec::new();
    for _ in 0..16 {
        let mut s = TcpStream::connect(a).await.unwrap();
        s.write_all(b"POST /webhooks/qq-main HTTP/1.1\r\n").await.unwrap();
        stalled.push(s);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _, body) = t.send("onebot-main", &onebot_hook(777)).await;
    assert_eq!(status, 204, "a real webhook gets in at the cap: {body}");
    let (_, oldest_closed) = read_until_closed(&mut stalled[0], Duration::from_secs(2)).await;
    assert!(oldest_closed, "the longest-stalled socket made room");

    // Now fill every slot with a request in flight: Redis is kept busy for 2 s
    // by a script (it runs one command at a time), so each webhook waits for its answer.
    let sleeper = t.redis.busy_for(Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let busy: Vec<_> = (0..16)
        .map(|i| {
            let (http, url, hook) = (reqwest::Client::new(), t.ingest.webhook_url("onebot-main"), onebot_hook(900 + i));
            tokio::spawn(async move { post(&http, &url, &hook).await.0 })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut over = TcpStream::connect(a).await.unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut over, Duration::from_secs(3)).await;
    assert!(closed && started.elapsed() < Duration::from_millis(1500), "refused at once: {:?}", started.elapsed());
    for b in busy {
        assert_eq!(b.await.unwrap(), 204, "every in-flight webhook was answered");
    }
    sleeper.join().unwrap();
    let metrics = t.http.get(t.ingest.admin_url("/metrics")).send().await.unwrap().text().await.unwrap();
    for outcome in ["evicted", "refused"] {
        let line = format!("botq_ingest_connections_total{{outcome=\"{outcome}\"}}");
        assert!(metrics.contains(&line), "{line} missing: {metrics}");
    }
    assert!(metrics.contains("botq_ingest_open_connections"), "{metrics}");
}

#[tokio::test]
async fn shutdown_does_not_wait_for_stalled_connections() {
    let redis = RedisServer::start();
    let ingest = IngestHandle::start(&config(
        &toml("[ingest]\nshutdown_grace_secs = 20\n[ingest.listener]\nheader_timeout_ms = 60000"),
        &redis.url(),
    ))
    .await;
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(ingest.addr).await.unwrap();
        s.write_all(b"POST /webhooks/qq-main HTTP/1.1\r\nContent-").await.unwrap();
        stalled.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    ingest.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2), "drained in {:?}, not the 20 s grace", started.elapsed());
}

/// A flood of forgeries from one address spends that address's budget: it is
/// answered 429 without verification, while other addresses, and the same
/// address's other bots, are served as before.
#[tokio::test]
async fn forgeries_spend_a_per_client_budget_and_then_get_429_unverified() {
    let t = env_with("[ingest.listener]\nrejections_per_sec = 0.01\nrejections_burst = 5").await;
    let forged = || tamper(qq_hook("e", "ROBOT1.0_m"));
    for i in 0..5 {
        assert_eq!(t.send("qq-main", &forged()).await.0, 401, "refusal {i} is verified and refused");
    }
    let (status, headers, body) = t.send("qq-main", &forged()).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("too_many_rejections"), "{body}");
    assert!(headers.get("retry-after").is_some());
    // The budget is spent for this client and this bot, and only for them.
    assert_eq!(t.send("qq-main", &qq_hook("real-1", "ROBOT1.0_real1")).await.0, 429);
    assert_eq!(t.send("onebot-main", &onebot_hook(31)).await.0, 204, "another bot of the same client");
    let elsewhere =
        reqwest::Client::builder().local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    let (status, _, body) =
        post(&elsewhere, &t.ingest.webhook_url("qq-main"), &qq_hook("real-2", "ROBOT1.0_real2")).await;
    assert_eq!(status, 200, "another client: {body}");
    let metrics = t.http.get(t.ingest.admin_url("/metrics")).send().await.unwrap().text().await.unwrap();
    // (Other tests of this binary share the recorder: the count is theirs too.)
    assert!(
        metrics.contains(r#"botq_ingest_requests_total{bot="qq-main",outcome="too_many_rejections"}"#),
        "{metrics}"
    );
    assert_eq!(t.stream().len(), 2, "the two real webhooks that were let in");
}

/// Behind a trusted proxy the budget follows the address the proxy names.
#[tokio::test]
async fn behind_a_trusted_proxy_the_budget_is_per_forwarded_client() {
    let t = env_with(
        "[ingest.listener]\nrejections_per_sec = 0.01\nrejections_burst = 2\nclient_ip_header = \"x-forwarded-for\"\ntrusted_proxies = [\"127.0.0.1\"]",
    )
    .await;
    let from = |client: &str| with_header(tamper(qq_hook("e", "ROBOT1.0_m")), "X-Forwarded-For", client);
    for _ in 0..2 {
        assert_eq!(t.send("qq-main", &from("198.51.100.7")).await.0, 401);
    }
    assert_eq!(t.send("qq-main", &from("198.51.100.7")).await.0, 429);
    assert_eq!(t.send("qq-main", &from("198.51.100.8")).await.0, 401, "another forwarded client has its own budget");
    let real = with_header(qq_hook("real", "ROBOT1.0_real"), "X-Forwarded-For", "203.0.113.1");
    assert_eq!(t.send("qq-main", &real).await.0, 200);
}
