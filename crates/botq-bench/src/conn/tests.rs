use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

#[test]
fn heads_are_framed_by_length_chunking_or_status() {
    let head = |s: &str| parse_head(s.as_bytes()).unwrap();
    let ok = head("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n");
    assert_eq!(ok, Head { status: 200, framing: Framing::Length(15), keep_alive: true });
    assert_eq!(head("HTTP/1.1 204 No Content\r\nx-request-id: a\r\n\r\n").framing, Framing::None);
    assert_eq!(
        head("HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n").framing,
        Framing::Chunked
    );
    assert!(!head("HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive);
    assert!(!head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
}

#[test]
fn what_ingest_never_sends_is_an_error_not_a_guess() {
    for bad in [
        "SSH-2.0-x\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\n",
    ] {
        assert!(parse_head(bad.as_bytes()).is_err(), "{bad:?}");
    }
}

#[test]
fn requests_are_serialised_with_host_length_and_headers() {
    let headers = vec![("X-Self-ID".to_owned(), "10001000".to_owned())];
    let req = request("127.0.0.1:8080", "/webhooks/b", &headers, b"{}").unwrap();
    assert_eq!(
        String::from_utf8(req).unwrap(),
        "POST /webhooks/b HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 2\r\nX-Self-ID: 10001000\r\n\r\n{}"
    );
    let injected = vec![("X-A".to_owned(), "1\r\nX-B: 2".to_owned())];
    assert!(request("h", "/", &injected, b"").is_err());
}

/// A server that answers each request on a connection with the next scripted
/// answer (written in two pieces, to exercise partial reads), then closes.
async fn scripted(answers: Vec<&'static str>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut answers = answers.into_iter();
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = sock.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let Some(a) = answers.next() else { return };
                let (x, y) = a.split_at(a.len() / 2);
                sock.write_all(x.as_bytes()).await.unwrap();
                tokio::task::yield_now().await;
                sock.write_all(y.as_bytes()).await.unwrap();
                if a.contains("Connection: close") {
                    break;
                }
            }
        }
    });
    addr
}

#[tokio::test]
async fn one_connection_carries_length_chunked_and_empty_answers_and_reopens_after_close() {
    let addr = scripted(vec![
        "HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"op\":12,\"d\":0}",
        "HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n\r\n4\r\nbusy\r\n3;x=y\r\n!!!\r\n0\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\n{}",
    ])
    .await;
    let mut conn = Conn::new(addr);
    let req = request("h", "/", &[], b"x").unwrap();
    assert_eq!(conn.roundtrip(&req).await.unwrap(), 200);
    assert_eq!(conn.roundtrip(&req).await.unwrap(), 503);
    assert_eq!(conn.roundtrip(&req).await.unwrap(), 204);
    assert!(conn.stream.is_none(), "closed as the server asked");
    assert_eq!(conn.roundtrip(&req).await.unwrap(), 401, "a new connection");
    assert!(conn.roundtrip(&req).await.is_err(), "the server hung up without an answer");
    assert!(conn.stream.is_none());
}

#[tokio::test]
async fn nothing_listening_is_an_error() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    assert!(Conn::new(addr).roundtrip(b"GET / HTTP/1.1\r\n\r\n").await.is_err());
}
