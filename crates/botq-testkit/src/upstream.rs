//! A real upstream skill service on loopback, for tests of `http` skills.
//!
//! It speaks the skill contract: answers `{"replies": ["<prefix><args>"]}` (a
//! skill named `summarizer` gets `"summary of: <context texts>"`),
//! records every request (body and headers) and can be switched between
//! answering, answering slowly, failing with a status, and being down
//! (connections refused: the listener is closed and re-opened on the same
//! port when it comes back).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

/// How the upstream behaves now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// 200 with one reply: `prefix` + the request's `args`.
    Answer { prefix: String },
    /// Like `Answer`, after this long.
    Slow { prefix: String, delay: Duration },
    /// This status with an empty body.
    Fail(u16),
    /// 200 with this JSON answer, whatever the request (e.g. segment replies).
    Json(serde_json::Value),
}

/// One request the upstream received.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: serde_json::Value,
    /// The body bytes as sent (what a signature covers).
    pub raw: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Received {
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Shared {
    mode: Mutex<Mode>,
    received: Mutex<Vec<Received>>,
}

/// The running upstream; stops when dropped.
#[derive(Debug)]
pub struct Upstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Mutex<CancellationToken>,
}

impl Upstream {
    /// Starts answering with `prefix` + args on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(prefix: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Answer { prefix: prefix.to_owned() }),
            received: Mutex::new(Vec::new()),
        });
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, shared.clone(), stop.clone()));
        Self { addr, shared, stop: Mutex::new(stop) }
    }

    /// The URL to configure as the skill's `url`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}/skill", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().expect("mode lock") = mode;
    }

    /// Every request so far, in arrival order.
    #[must_use]
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received lock").clone()
    }

    /// Closes the listener: connections are refused until [`Upstream::up`].
    pub fn down(&self) {
        self.stop.lock().expect("stop lock").cancel();
    }

    /// Listens again on the same port.
    ///
    /// # Panics
    /// When the port was taken meanwhile.
    pub async fn up(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.expect("re-bind the upstream's port");
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, self.shared.clone(), stop.clone()));
        *self.stop.lock().expect("stop lock") = stop;
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Ok(s) = self.stop.lock() {
            s.cancel();
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let (stream, _) = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
        };
        let shared = shared.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| answer(req, shared.clone()));
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                () = stop.cancelled() => {}
            }
        });
    }
}

async fn answer(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<Full<Bytes>>, Infallible> {
    let headers =
        req.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned())).collect();
    let bytes = req.into_body().collect().await.map(http_body_util::Collected::to_bytes).unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    let args = body["args"].as_str().unwrap_or_default().to_owned();
    // A skill named "summarizer" condenses the context it is given.
    let summary = (body["skill"] == "summarizer").then(|| {
        let texts: Vec<&str> =
            body["context"]["messages"].as_array().into_iter().flatten().filter_map(|m| m["text"].as_str()).collect();
        let old = body["context"]["summary"].as_str().map(|s| format!("{s} + ")).unwrap_or_default();
        format!("{old}summary of: {}", texts.join(" | "))
    });
    shared.received.lock().expect("received lock").push(Received { body, raw: bytes.to_vec(), headers });
    let mode = shared.mode.lock().expect("mode lock").clone();
    let reply = |prefix: &str| {
        let text = summary.clone().unwrap_or_else(|| format!("{prefix}{args}"));
        let json = serde_json::json!({ "replies": [text] }).to_string();
        Response::builder().header("content-type", "application/json").body(Full::new(Bytes::from(json)))
    };
    let resp = match mode {
        Mode::Answer { prefix } => reply(&prefix),
        Mode::Slow { prefix, delay } => {
            tokio::time::sleep(delay).await;
            reply(&prefix)
        }
        Mode::Fail(status) => Response::builder().status(status).body(Full::new(Bytes::new())),
        Mode::Json(answer) => Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(answer.to_string()))),
    };
    Ok(resp.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}
