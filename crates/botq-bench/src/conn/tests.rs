//! [`Conn`] against a real HTTP/1.1 server (hyper's) on a loopback port.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use super::*;

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    /// The client's address: the same address means the same connection.
    peer: SocketAddr,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Debug, Clone, Copy, Default)]
struct Behaviour {
    /// Read the first connection's request and close it without an answer.
    hang_up_first: bool,
    /// Close every connection this long after accepting it, like an idle timeout.
    close_after: Option<Duration>,
}

struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    accepted: Arc<Mutex<usize>>,
}

impl Server {
    /// Answers each request with the status in its `x-status` header (200
    /// without), a body of `x-body-len` bytes (2 without), and
    /// `Connection: close` when it has an `x-close` header.
    async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(Mutex::new(0));
        let (seen_, accepted_) = (seen.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, peer)) = listener.accept().await {
                let n = {
                    let mut a = accepted_.lock().unwrap();
                    *a += 1;
                    *a
                };
                if behaviour.hang_up_first && n == 1 {
                    drop(sock.read(&mut [0; 4096]).await);
                    continue;
                }
                let seen = seen_.clone();
                let service = service_fn(move |req| answer(req, peer, seen.clone()));
                let serve = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(sock), service);
                tokio::spawn(async move {
                    match behaviour.close_after {
                        Some(after) => drop(tokio::time::timeout(after, serve).await),
                        None => drop(serve.await),
                    }
                });
            }
        });
        Self { addr, seen, accepted }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        *self.accepted.lock().unwrap()
    }
}

async fn answer(
    req: Request<Incoming>,
    peer: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<Response<Body>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let status = header("x-status").and_then(|s| u16::try_from(s).ok()).unwrap_or(200);
    let len = header("x-body-len").unwrap_or(2);
    let close = parts.headers.contains_key("x-close");
    let body = body.collect().await?.to_bytes();
    seen.lock().unwrap().push(Seen {
        peer,
        method: parts.method,
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body,
    });
    let mut resp = Response::new(Full::new(Bytes::from(vec![b'x'; len])));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    if close {
        resp.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(resp)
}

fn route() -> Route {
    Route::new("bench.test:8080", "/webhooks/onebot-bench").unwrap()
}

fn request(headers: &[(&str, &str)]) -> Request<Body> {
    let headers = headers.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
    route().request(headers, b"{\"post_type\":\"message\"}".to_vec()).unwrap()
}

#[tokio::test]
async fn a_request_arrives_with_its_host_path_headers_and_body() {
    let server = Server::start(Behaviour::default()).await;
    let mut conn = Conn::new(server.addr);
    let req = request(&[("Content-Type", "application/json"), ("X-Self-ID", "10001000")]);
    assert_eq!(conn.roundtrip(req).await.unwrap(), 200);
    let seen = server.seen();
    let [one] = seen.as_slice() else { panic!("{seen:?}") };
    assert_eq!((&one.method, one.path.as_str()), (&Method::POST, "/webhooks/onebot-bench"));
    assert_eq!(one.headers["host"], "bench.test:8080");
    assert_eq!(one.headers["x-self-id"], "10001000");
    assert_eq!(one.headers["content-type"], "application/json");
    assert_eq!(one.headers["content-length"], "23");
    assert_eq!(one.body.as_ref(), b"{\"post_type\":\"message\"}");
}

#[tokio::test]
async fn one_connection_carries_every_request_and_each_whole_answer() {
    let server = Server::start(Behaviour::default()).await;
    let mut conn = Conn::new(server.addr);
    let answers = [("200", "2"), ("503", "65536"), ("401", "0"), ("204", "0"), ("200", "300000"), ("202", "2")];
    for (status, len) in answers {
        let got = conn.roundtrip(request(&[("x-status", status), ("x-body-len", len)])).await.unwrap();
        assert_eq!(got.to_string(), status);
    }
    assert_eq!(server.connections(), 1, "keep-alive: bodies were read to the end, nothing left to desynchronise");
    assert_eq!(server.seen().len(), answers.len());
}

#[tokio::test]
async fn connection_close_is_honoured_and_the_next_request_opens_a_new_connection() {
    let server = Server::start(Behaviour::default()).await;
    let mut conn = Conn::new(server.addr);
    assert_eq!(conn.roundtrip(request(&[])).await.unwrap(), 200);
    assert_eq!(conn.roundtrip(request(&[("x-close", "1"), ("x-status", "413")])).await.unwrap(), 413);
    assert_eq!(conn.roundtrip(request(&[])).await.unwrap(), 200, "not an error: a new connection");
    assert_eq!(conn.roundtrip(request(&[])).await.unwrap(), 200);
    let peers: Vec<_> = server.seen().iter().map(|s| s.peer).collect();
    assert_eq!(peers[0], peers[1]);
    assert_ne!(peers[1], peers[2]);
    assert_eq!(peers[2], peers[3], "the new connection is kept alive in turn");
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn a_server_hanging_up_without_an_answer_is_an_error_and_the_next_request_reconnects() {
    let server = Server::start(Behaviour { hang_up_first: true, ..Behaviour::default() }).await;
    let mut conn = Conn::new(server.addr);
    let err = conn.roundtrip(request(&[])).await.unwrap_err();
    assert!(matches!(err, Error::Http(_)), "{err:?}");
    assert_eq!(conn.roundtrip(request(&[])).await.unwrap(), 200);
    assert_eq!(conn.roundtrip(request(&[])).await.unwrap(), 200);
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_replaced_without_an_error() {
    let server =
        Server::start(Behaviour { close_after: Some(Duration::from_millis(200)), ..Behaviour::default() }).await;
    let mut conn = Conn::new(server.addr);
    assert_eq!(conn.roundtrip(request(&[])).await.unwrap(), 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(conn.roundtrip(request(&[])).await.unwrap(), 200);
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn nothing_listening_is_an_error() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let err = Conn::new(addr).roundtrip(request(&[])).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[test]
fn headers_http_cannot_carry_are_refused_before_the_clock_starts() {
    let injected = vec![("X-A".to_owned(), "1\r\nX-B: 2".to_owned())];
    assert!(route().request(injected, Vec::new()).is_err());
    let bad_name = vec![("X A".to_owned(), "1".to_owned())];
    assert!(route().request(bad_name, Vec::new()).is_err());
    assert!(Route::new("bad\nhost", "/").is_err());
}
