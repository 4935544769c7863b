//! Signing the requests of a rate step, before the clock starts when they fit.
//!
//! A QQ webhook costs 42–48 µs of CPU in `botq_testkit::sign::qq` (measured
//! in release on the project's machine; it derives the Ed25519 key and signs),
//! about as much as ingest spends verifying it. Signing inside the timed loop
//! would take half of a 2-core machine at 25 000/s away from the system under
//! test and add the signing time to every latency. So each step's requests
//! are signed and built into complete requests first, on one OS thread per
//! core, into a channel of chunks that the sender tasks drain in the timed
//! phase, where they only hand each request to its connection. The cost per
//! request is printed before every step (Lark and OneBot: 2–6 µs).
//!
//! Memory bounds this: a built request takes about 1.5 KiB, so
//! `--max-pregen-mib` (default 1 GiB) holds about 700 000. A step that does
//! not fit is streamed: the channel is filled to the budget before the clock
//! starts and the threads keep signing beside the load, blocked whenever they
//! are a budget ahead. Their CPU is then read per thread and reported apart
//! from the sender's, and a generator that falls behind shows up as send lag.
//!
//! Request `i` sends event `duplicates.event(i)` ([`crate::duplicates`]):
//! the chat, sender and ids follow the event, not the request, so a
//! deliberate duplicate is the same webhook again.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::mpsc;

use crate::conn;
use crate::cpu;
use crate::duplicates::Duplicates;
use crate::hooks::{Hooks, Message};
use crate::schedule::Spread;

/// Requests per channel message: one lock and one wake-up per chunk, not per request.
pub const CHUNK: u64 = 256;

/// Memory per request on top of its header and body bytes: the request
/// itself, the header map's tables and allocations (measured: about 900
/// bytes for the 3–5 headers of OneBot and QQ webhooks).
const OVERHEAD_BYTES: u64 = 1024;

/// One request ready to send, moved whole into the connection when due.
#[derive(Debug)]
pub struct Prepared {
    pub request: http::Request<conn::Body>,
}

/// What to sign for one step.
#[derive(Debug, Clone)]
pub struct Plan {
    pub total: u64,
    pub spread: Spread,
    pub text: Text,
    /// Event numbers of this step are `event_base + e`; with [`Text::Echo`]
    /// the base is also the run id the replies name.
    pub event_base: u64,
    /// Which requests re-send an earlier event.
    pub duplicates: Duplicates,
    pub unix_secs: i64,
    /// `Host` header and request path, from the target URL.
    pub host: String,
    pub path: String,
    /// Break every request's signature: the load is a flood of forgeries.
    pub forge: bool,
}

/// What each event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    /// The same text for every event (`--text`).
    Fixed(String),
    /// `/echo` naming the run and the event, so the reply can be matched
    /// to it ([`crate::replies`]).
    Echo,
}

impl Text {
    /// The text of event `e` of the run with base `run`.
    #[must_use]
    pub fn of(&self, run: u64, e: u64) -> Cow<'_, str> {
        match self {
            Self::Fixed(text) => Cow::Borrowed(text),
            Self::Echo => Cow::Owned(crate::replies::message_text(run, e)),
        }
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Self::Fixed(text.to_owned())
    }
}

/// Whether signing happens before or during the timed phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pregenerated,
    Streamed,
}

impl Mode {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pregenerated => "pregenerated",
            Self::Streamed => "streamed",
        }
    }
}

/// The signing threads of one step.
#[derive(Debug)]
pub struct Generator {
    pub mode: Mode,
    /// Requests signed before the clock started, and what that took.
    pub prefilled: u64,
    pub prefill_wall: Duration,
    pub est_bytes_per_request: u64,
    pub threads: usize,
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    next_chunk: AtomicU64,
    sent_chunks: AtomicU64,
    exited: AtomicUsize,
    /// Each thread's own CPU time in milliseconds, updated after every chunk.
    cpu_ms: Vec<AtomicU64>,
    error: Mutex<Option<String>>,
}

/// Starts signing `plan` and returns once the channel holds everything (or
/// the memory budget's worth), so the timed phase starts with work ready.
///
/// # Errors
/// When a request cannot be built (a header value the HTTP stack refuses).
pub async fn start(
    hooks: Arc<Hooks>,
    plan: Plan,
    budget_bytes: u64,
) -> anyhow::Result<(mpsc::Receiver<Vec<Prepared>>, Generator)> {
    let route = conn::Route::new(&plan.host, &plan.path).map_err(anyhow::Error::msg)?;
    let sample = prepare(&hooks, &plan, &route, 0).map_err(anyhow::Error::msg).context("building a sample request")?;
    let est = estimated_bytes(&sample.request);
    let total_chunks = plan.total.div_ceil(CHUNK).max(1);
    let fits = (budget_bytes / (est * CHUNK)).max(4);
    let (mode, capacity) =
        if total_chunks <= fits { (Mode::Pregenerated, total_chunks) } else { (Mode::Streamed, fits) };
    let (tx, rx) = mpsc::channel(usize::try_from(capacity).unwrap_or(usize::MAX));
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let shared = Arc::new(Shared {
        next_chunk: AtomicU64::new(0),
        sent_chunks: AtomicU64::new(0),
        exited: AtomicUsize::new(0),
        cpu_ms: (0..threads).map(|_| AtomicU64::new(0)).collect(),
        error: Mutex::new(None),
    });
    let plan = Arc::new(plan);
    let started = Instant::now();
    let handles = (0..threads)
        .map(|n| {
            let (hooks, plan, route, shared, tx) =
                (hooks.clone(), plan.clone(), route.clone(), shared.clone(), tx.clone());
            std::thread::Builder::new()
                .name(format!("bench-sign-{n}"))
                .spawn(move || sign_chunks(n, &hooks, &plan, &route, &shared, &tx))
                .context("starting a signing thread")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    drop(tx);
    let needed = capacity.min(total_chunks);
    while shared.sent_chunks.load(Ordering::Acquire) < needed {
        if shared.exited.load(Ordering::Acquire) == threads {
            if let Some(e) = shared.error.lock().ok().and_then(|e| e.clone()) {
                bail!("signing failed: {e}");
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let prefilled = (shared.sent_chunks.load(Ordering::Acquire) * CHUNK).min(plan.total);
    let generator = Generator {
        mode,
        prefilled,
        prefill_wall: started.elapsed(),
        est_bytes_per_request: est,
        threads,
        shared,
        handles,
    };
    Ok((rx, generator))
}

impl Generator {
    /// CPU used by the signing threads so far.
    #[must_use]
    pub fn cpu(&self) -> Duration {
        Duration::from_millis(self.shared.cpu_ms.iter().map(|c| c.load(Ordering::Relaxed)).sum())
    }

    /// Waits for the threads to stop. They stop by themselves once everything
    /// is signed or the receiver is gone, within one chunk.
    pub async fn join(self) {
        let handles = self.handles;
        drop(tokio::task::spawn_blocking(move || handles.into_iter().for_each(|h| drop(h.join()))).await);
    }
}

fn sign_chunks(
    n: usize,
    hooks: &Hooks,
    plan: &Plan,
    route: &conn::Route,
    shared: &Shared,
    tx: &mpsc::Sender<Vec<Prepared>>,
) {
    let base_cpu = cpu::thread().unwrap_or_default();
    loop {
        let c = shared.next_chunk.fetch_add(1, Ordering::Relaxed);
        let lo = c.saturating_mul(CHUNK);
        if lo >= plan.total {
            break;
        }
        let chunk: Result<Vec<_>, _> =
            (lo..plan.total.min(lo + CHUNK)).map(|i| prepare(hooks, plan, route, i)).collect();
        let used = cpu::thread().unwrap_or_default().saturating_sub(base_cpu);
        shared.cpu_ms[n].store(u64::try_from(used.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
        match chunk {
            Ok(chunk) => {
                if tx.blocking_send(chunk).is_err() {
                    break; // the step is over and nobody wants more
                }
                shared.sent_chunks.fetch_add(1, Ordering::AcqRel);
            }
            Err(e) => {
                if let Ok(mut slot) = shared.error.lock() {
                    slot.get_or_insert(e);
                }
                break;
            }
        }
    }
    shared.exited.fetch_add(1, Ordering::AcqRel);
}

/// Memory one prepared request holds, roughly.
fn estimated_bytes(request: &http::Request<conn::Body>) -> u64 {
    use hyper::body::Body as _;
    let headers = request.headers();
    let header_bytes: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    let body = request.body().size_hint().exact().unwrap_or(0);
    header_bytes as u64 + body + OVERHEAD_BYTES
}

/// Signs request `i` of `plan` and builds it, so the timed phase only moves it.
fn prepare(hooks: &Hooks, plan: &Plan, route: &conn::Route, i: u64) -> Result<Prepared, String> {
    let (e, _) = plan.duplicates.event(i);
    let chat = hooks.chat_id(plan.spread.chat(e));
    let sender = hooks.sender_id(plan.spread.sender(e));
    let text = plan.text.of(plan.event_base, e);
    let msg = Message {
        event: plan.event_base.wrapping_add(e),
        chat: &chat,
        sender: &sender,
        text: &text,
        // Stamped when signed: a streamed step signs just ahead of sending, so a
        // long run stays inside the platforms' timestamp windows.
        unix_secs: plan.unix_secs.max(crate::unix_secs()),
    };
    let mut hook = hooks.build(&msg).map_err(|e| e.to_string())?;
    if plan.forge {
        forge(&mut hook.headers)?;
    }
    Ok(Prepared { request: route.request(hook.headers, hook.body)? })
}

/// Changes the last character of the signature header, so the request is a
/// well-formed webhook that fails verification.
fn forge(headers: &mut [(String, String)]) -> Result<(), String> {
    let (_, sig) = headers
        .iter_mut()
        .find(|(k, _)| k.to_ascii_lowercase().contains("signature") && !k.eq_ignore_ascii_case("x-signature-timestamp"))
        .ok_or("--forge needs a bot whose webhooks are signed")?;
    let last = sig.pop().unwrap_or('0');
    sig.push(if last == '0' { '1' } else { '0' });
    Ok(())
}
