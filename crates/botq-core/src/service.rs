//! Process plumbing every binary shares: the shutdown signal and the
//! `healthcheck` subcommand used by container probes.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => drop(tokio::signal::ctrl_c().await),
        }
    }
    #[cfg(not(unix))]
    drop(tokio::signal::ctrl_c().await);
}

/// Asks the admin listener at `addr` for `/health/ready`; `Ok` when it answers 200.
///
/// A wildcard address (`0.0.0.0`, `[::]`) is probed on loopback. The request
/// is plain HTTP/1.0 over TCP, so the probe needs no HTTP client stack.
///
/// # Errors
/// A message saying what the probe saw (connection refused, status, timeout).
pub async fn healthcheck(addr: SocketAddr) -> Result<(), String> {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    let probe = async {
        let mut stream =
            tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        stream
            .write_all(format!("GET /health/ready HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::with_capacity(512);
        stream.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf);
        let status = text.split_whitespace().nth(1).unwrap_or("");
        if status == "200" {
            Ok(())
        } else {
            let body = text.split("\r\n\r\n").nth(1).unwrap_or("").trim();
            Err(format!("not ready (HTTP {status}): {body}"))
        }
    };
    tokio::time::timeout(Duration::from_secs(3), probe)
        .await
        .map_err(|_| format!("no answer from {addr} within 3 s"))?
}
