//! One keep-alive HTTP/1.1 connection per sender task, on hyper's low-level
//! client ([`hyper::client::conn::http1`]).
//!
//! Every request is built whole ([`Route::request`]) on the signing threads
//! before the clock starts, and the timed phase only moves it into hyper:
//! nothing is built or cloned per request while timing. (Each request is sent
//! once, so there is nothing to clone; for scale, cloning a webhook's 4–6
//! header map costs about 0.2 µs.) The connection is opened on first use and
//! again after any error, after the server answers `Connection: close`, or
//! when the server closed it while it sat idle; every answer's body is read
//! to its end, so one bad answer cannot desynchronise the next.
//!
//! hyper's `Connection` future, which does the socket I/O, runs as a task of
//! its own. Polling it inside the sender task, beside the request, avoids the
//! hand-off between tasks but measured dearer, likely because each of
//! hyper's internal hand-offs (request queued, response ready, body wanted)
//! then wakes the task that is already running, and tokio polls both halves
//! again. Bench CPU per request on the project's 2-core machine beside ingest
//! and Redis, OneBot at 5 000 / 10 000 / 15 000 per second: 40 / 26 / 22 µs
//! with the driver spawned, 46 / 32 / 26 µs polled in place, and 31 / 22 /
//! 18 µs for the hand-rolled HTTP/1.1 client this replaced (reqwest was
//! 37–79 µs). All three make the same syscalls, one `writev` and one
//! `recvfrom` per request; the difference is hyper's bookkeeping between the
//! request, the connection and the body. Near saturation (about 25 000/s)
//! that is worth about 10% of the throughput the machine can offer.
//!
//! `botq-bench send` keeps using reqwest, where clear errors matter more than
//! microseconds.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http::header::{HOST, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpSocket, TcpStream};

/// The body of every request: bytes signed before the clock started.
pub type Body = Full<Bytes>;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("connecting to {addr}: {source}")]
    Connect { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

/// What every request of a run shares: its path and `Host` header.
#[derive(Debug, Clone)]
pub struct Route {
    uri: Uri,
    host: HeaderValue,
}

impl Route {
    /// # Errors
    /// A path or host that is not valid in a request.
    pub fn new(host: &str, path: &str) -> Result<Self, String> {
        let uri = path.parse::<Uri>().map_err(|e| format!("path {path:?} cannot be requested: {e}"))?;
        let host = HeaderValue::from_str(host).map_err(|_| format!("host {host:?} cannot be a Host header"))?;
        Ok(Self { uri, host })
    }

    /// A POST of `body` with `headers`, ready to move into [`Conn::roundtrip`].
    /// hyper adds `Content-Length`; the shared path and host are reference-counted.
    ///
    /// # Errors
    /// A header name or value HTTP cannot carry (a line break, say).
    pub fn request(&self, headers: Vec<(String, String)>, body: Vec<u8>) -> Result<Request<Body>, String> {
        let mut map = HeaderMap::with_capacity(headers.len() + 1);
        map.insert(HOST, self.host.clone());
        for (k, v) in headers {
            let bad = || format!("header {k:?} cannot be sent: its name or value is not valid in HTTP");
            let name = HeaderName::try_from(k.as_str()).map_err(|_| bad())?;
            let value = HeaderValue::try_from(v).map_err(|_| bad())?;
            map.append(name, value);
        }
        let mut req = Request::new(Full::new(Bytes::from(body)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = map;
        Ok(req)
    }
}

/// One keep-alive connection, opened on first use and after any failure.
#[derive(Debug)]
pub struct Conn {
    addr: SocketAddr,
    /// The local address to connect from (`--source-ip`), else the system's choice.
    source: Option<IpAddr>,
    sender: Option<SendRequest<Body>>,
}

impl Conn {
    #[must_use]
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, source: None, sender: None }
    }

    /// Connects from `source` (e.g. `127.0.0.2`, so ingest sees another client).
    #[must_use]
    pub fn from_source(mut self, source: Option<IpAddr>) -> Self {
        self.source = source;
        self
    }

    /// Sends `request`, reads the whole answer, and returns its status.
    ///
    /// # Errors
    /// Connect and HTTP errors; the connection is dropped after any.
    pub async fn roundtrip(&mut self, request: Request<Body>) -> Result<u16, Error> {
        // An idle connection is ready for the next request unless it closed:
        // after a `Connection: close` answer, or on the server's idle timeout.
        let idle = match self.sender.take() {
            Some(mut sender) => sender.ready().await.is_ok().then_some(sender),
            None => None,
        };
        let mut sender = match idle {
            Some(sender) => sender,
            None => open(self.addr, self.source).await?,
        };
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        self.sender = Some(sender);
        Ok(status)
    }
}

/// Connects and starts the connection's driver task; it ends when the
/// connection closes or its [`SendRequest`] is dropped.
async fn open(addr: SocketAddr, from: Option<IpAddr>) -> Result<SendRequest<Body>, Error> {
    let stream = match from {
        None => TcpStream::connect(addr).await,
        Some(ip) => {
            let socket = if ip.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
            async {
                let socket = socket?;
                socket.bind(SocketAddr::new(ip, 0))?;
                socket.connect(addr).await
            }
            .await
        }
    }
    .map_err(|source| Error::Connect { addr, source })?;
    stream.set_nodelay(true).map_err(|source| Error::Connect { addr, source })?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move { drop(conn.await) });
    Ok(sender)
}

#[cfg(test)]
mod tests;
