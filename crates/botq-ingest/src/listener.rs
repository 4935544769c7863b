//! The public webhook listener: HTTP/1.1 with every phase of a connection bounded.
//!
//! `axum::serve` has no read timeouts and no connection cap, so a few
//! hundred sockets stalled in their headers exhaust the descriptors and
//! every real webhook times out. This accept loop serves the same router
//! with hyper directly and bounds each connection (`[ingest.listener]`):
//!
//! - **Connections:** at most `max_connections` open, so the process never
//!   runs out of descriptors for Redis and the admin listener. At the cap, a
//!   new connection pushes out the one that has waited longest with nothing
//!   in flight (stalled in its head, or idle: counted `evicted`), because a
//!   real webhook spends microseconds in that state and a slow-loris socket
//!   all its life; only when every connection has a request in flight is the
//!   new one closed at once (`refused`).
//! - **Headers:** a request's line and headers must arrive within
//!   `header_timeout` of the connection opening, or of the first byte after
//!   an idle spell; then the connection is dropped (`header_timeout`).
//! - **Idle:** a keep-alive connection with nothing in flight is closed
//!   after `idle_timeout` (`idle`).
//! - **Body:** read by the handler with `body_timeout` (a 408).
//!
//! Each connection's phase is tracked by a wrapper around its socket (a byte
//! read while idle starts the header clock) and by the service (a request
//! handed to the router is in flight until its response is ready), and the
//! connection task closes it when its phase's deadline passes. On shutdown,
//! connections without a request in flight close at once; those with one
//! finish it (its Redis answer is bounded by `redis_timeout`) and close.
//!
//! The peer address is put in each request's extensions as axum's
//! `ConnectInfo`, for the rejection budget (`client`).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use botq_core::config::ListenerConfig;
use botq_core::telemetry::{INGEST_CONNECTIONS, INGEST_OPEN_CONNECTIONS};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::{debug, warn};

/// Serves `app` on `listener` until `shutdown` is cancelled, then waits for
/// the connections still open (see the module doc for how long that is).
///
/// # Errors
/// None today: accept errors (descriptors exhausted, a reset before accept)
/// are logged and retried after a pause, as a server must.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ListenerConfig,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let limits = Arc::new(limits);
    let tracker = TaskTracker::new();
    let open = Arc::new(Registry::default());
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: pausing lets connections close instead of spinning.
                warn!(error = %e, "cannot accept a webhook connection; pausing 100 ms");
                metrics::counter!(INGEST_CONNECTIONS, "outcome" => "accept_error").increment(1);
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => Some(slot),
            // At the cap: make room by closing the most stalled connection, if one is.
            Err(_) if open.evict_most_stalled() => {
                tokio::time::timeout(Duration::from_secs(1), slots.clone().acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Err(_) => None,
        };
        let Some(slot) = slot else {
            debug!(%peer, max = limits.max_connections, "connection cap reached, every connection busy; closing the new one");
            metrics::counter!(INGEST_CONNECTIONS, "outcome" => "refused").increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        metrics::counter!(INGEST_CONNECTIONS, "outcome" => "accepted").increment(1);
        let (app, limits, shutdown, open) = (app.clone(), limits.clone(), shutdown.clone(), open.clone());
        tracker.spawn(async move {
            metrics::gauge!(INGEST_OPEN_CONNECTIONS).increment(1.0);
            let (id, handle) = open.add();
            let outcome = connection(stream, peer, app, &limits, &shutdown, handle).await;
            open.remove(id);
            metrics::gauge!(INGEST_OPEN_CONNECTIONS).decrement(1.0);
            if let Some(outcome) = outcome {
                metrics::counter!(INGEST_CONNECTIONS, "outcome" => outcome).increment(1);
            }
            drop(slot);
        });
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Where a connection is in its life; the phase decides its next deadline.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for (the rest of) a request head since `since`.
    Head { since: Instant },
    /// A request is with the router.
    InFlight,
    /// Between requests since `since`, nothing received yet.
    Idle { since: Instant },
}

/// The phase, shared by the socket wrapper, the service and the connection
/// task, which wakes on every change to move its deadline.
type SharedPhase = Arc<watch::Sender<Phase>>;

impl Phase {
    /// Since when the connection has had nothing in flight, if it has not.
    fn waiting_since(self) -> Option<Instant> {
        match self {
            Self::Head { since } | Self::Idle { since } => Some(since),
            Self::InFlight => None,
        }
    }
}

/// What the accept loop knows of a connection: its phase, and how to close it.
struct Handle {
    phase: SharedPhase,
    evict: CancellationToken,
}

/// The open connections, for eviction at the cap.
#[derive(Default)]
struct Registry {
    next: std::sync::atomic::AtomicU64,
    open: std::sync::Mutex<std::collections::HashMap<u64, (SharedPhase, CancellationToken)>>,
}

impl Registry {
    fn add(&self) -> (u64, Handle) {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let phase: SharedPhase = Arc::new(watch::Sender::new(Phase::Head { since: Instant::now() }));
        let evict = CancellationToken::new();
        self.lock().insert(id, (phase.clone(), evict.clone()));
        (id, Handle { phase, evict })
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Closes the connection that has waited longest with nothing in flight;
    /// `false` when every connection has a request in flight.
    fn evict_most_stalled(&self) -> bool {
        let open = self.lock();
        let oldest = open
            .iter()
            .filter(|(_, (_, evict))| !evict.is_cancelled())
            .filter_map(|(id, (phase, _))| phase.borrow().waiting_since().map(|since| (since, *id)))
            .min();
        match oldest.and_then(|(_, id)| open.get(&id)) {
            Some((_, evict)) => {
                evict.cancel();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, (SharedPhase, CancellationToken)>> {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Serves one connection; returns why it was closed early, if it was.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: &ListenerConfig,
    shutdown: &CancellationToken,
    handle: Handle,
) -> Option<&'static str> {
    let Handle { phase: shared, evict } = handle;
    let mut changes = shared.subscribe();
    let io = TokioIo::new(Watched { io: stream, phase: shared.clone() });
    let in_service = shared.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        in_service.send_replace(Phase::InFlight);
        let (app, done) = (app.clone(), in_service.clone());
        async move {
            let response = app.oneshot(req.map(axum::body::Body::new)).await;
            done.send_replace(Phase::Idle { since: Instant::now() });
            response
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    // Idle and head timeouts are kept here (hyper's header timer cannot tell the two apart).
    http.timer(TokioTimer::new()).keep_alive(true).max_buf_size(64 * 1024);
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        let now_phase = *changes.borrow_and_update();
        let deadline = match now_phase {
            Phase::Head { since } => Some(since + limits.header_timeout),
            Phase::Idle { since } => Some(since + limits.idle_timeout),
            Phase::InFlight => None,
        };
        if draining && !matches!(now_phase, Phase::InFlight) {
            // Nothing accepted is pending on this connection: the client retries elsewhere.
            return None;
        }
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    debug!(%peer, error = %e, "webhook connection ended with an error");
                }
                return None;
            }
            () = sleep_until(deadline) => {
                // The phase may have moved on while the timer fired.
                match *changes.borrow() {
                    Phase::Head { since } if since + limits.header_timeout <= Instant::now() => {
                        debug!(%peer, "request head not received in time; closing");
                        return Some("header_timeout");
                    }
                    Phase::Idle { since } if since + limits.idle_timeout <= Instant::now() => {
                        return Some("idle");
                    }
                    _ => {}
                }
            }
            _ = changes.changed() => {}
            // Only ever chosen with nothing in flight; a request that began since finishes first.
            () = evict.cancelled(), if !draining => {
                if matches!(*changes.borrow(), Phase::InFlight) {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                } else {
                    return Some("evicted");
                }
            }
            () = shutdown.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The socket, noting the first byte that arrives while the connection is idle.
struct Watched {
    io: TcpStream,
    phase: SharedPhase,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.phase.send_if_modified(|p| {
                let idle = matches!(p, Phase::Idle { .. });
                if idle {
                    *p = Phase::Head { since: Instant::now() };
                }
                idle
            });
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Raises the soft open-file limit to the hard one and returns the
/// connection cap that fits under it: `wanted`, or fewer when the limit is
/// lower (descriptors are kept for Redis, the admin listener and logs).
#[must_use]
pub fn fit_connection_cap(wanted: usize) -> usize {
    const RESERVED: u64 = 128;
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            warn!(error = %e, "cannot read or raise the open-file limit; keeping max_connections as configured");
            return wanted;
        }
    };
    let fits = usize::try_from(soft.saturating_sub(RESERVED).max(16)).unwrap_or(usize::MAX);
    if fits < wanted {
        warn!(
            max_connections = wanted,
            open_file_limit = soft,
            using = fits,
            "ingest.listener.max_connections does not fit under the open-file limit; lowering it"
        );
        return fits;
    }
    wanted
}
