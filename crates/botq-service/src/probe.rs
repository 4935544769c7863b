//! The `healthcheck` subcommand's probe, for container health checks: an
//! image without curl can still ask its own service whether it is ready.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Asks the admin listener at `addr` for `/health/ready`; `Ok` when it answers 200.
///
/// A wildcard address (`0.0.0.0`, `[::]`) is probed on loopback. The request
/// is plain HTTP/1.0 over TCP, so the probe needs no HTTP client stack.
///
/// # Errors
/// What the probe saw: no connection, a broken exchange, a status other than
/// 200 (with the body, which says why), or no answer in time.
pub async fn healthcheck(addr: SocketAddr) -> Result<(), ProbeError> {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    let probe = async {
        let mut stream =
            tokio::net::TcpStream::connect(addr).await.map_err(|source| ProbeError::Connect { addr, source })?;
        stream.write_all(format!("GET /health/ready HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
        let mut buf = Vec::with_capacity(512);
        stream.read_to_end(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf);
        let status = text.split_whitespace().nth(1).unwrap_or("");
        if status == "200" {
            Ok(())
        } else {
            let body = text.split("\r\n\r\n").nth(1).unwrap_or("").trim();
            Err(ProbeError::NotReady { status: status.to_owned(), body: body.to_owned() })
        }
    };
    tokio::time::timeout(Duration::from_secs(3), probe).await.map_err(|_| ProbeError::NoAnswer { addr })?
}

/// What the `healthcheck` probe saw instead of a ready service.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Exchange(#[from] std::io::Error),
    #[error("not ready (HTTP {status}): {body}")]
    NotReady { status: String, body: String },
    #[error("no answer from {addr} within 3 s")]
    NoAnswer { addr: SocketAddr },
}
