//! The fake's state: its bots, its options, its clock, and one locked book of
//! everything that changes (tokens, idempotency ledgers, rate windows, the
//! fault script, the records).
//!
//! One `std::sync::Mutex` guards the book. Every rule check and the record of
//! its outcome happen in one critical section with no `.await` inside, so two
//! concurrent retries of the same reply cannot both be delivered, which is the
//! property botq's tests lean on. The lock is held for microseconds; the fake
//! is not the bottleneck of a benchmark.
//!
//! Time comes from one [`Clock`] (wall-clock milliseconds by default). Tests
//! that need to move time, say past a reply window or a token's expiry, give
//! the state their own clock instead of sleeping.

mod bots;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use botq_core::config::Config;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::records::{Delivery, Rejection, Stats};
pub use bots::{BotError, Credentials, FakeBot, onebot_prefix};

use crate::ledger::{LarkLedger, QqChatKind, QqLedger};
use crate::options::Options;
use crate::records::Records;
use crate::script::ScriptStep;
use crate::tokens::Tokens;

/// Where the fake reads "now" (Unix milliseconds).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Everything the fake remembers, shared by all handlers.
pub struct FakeState {
    pub(crate) opts: Options,
    pub(crate) bots: Vec<FakeBot>,
    clock: Clock,
    book: Mutex<Book>,
    delivered: watch::Sender<u64>,
    holds: CancellationToken,
}

/// The mutable part, behind one lock.
pub(crate) struct Book {
    pub tokens: Tokens,
    pub qq: QqLedger,
    pub lark: LarkLedger,
    pub onebot_next_id: i32,
    pub script: VecDeque<ScriptStep>,
    pub records: Records,
    /// Idempotency keys the fake agent refused once (`reject`, see agent.rs).
    pub agent_refused: std::collections::HashSet<String>,
}

impl Book {
    fn new(opts: &Options) -> Self {
        Self {
            tokens: Tokens::default(),
            qq: QqLedger::new(&opts.qq),
            lark: LarkLedger::new(opts.lark_chat_qps),
            onebot_next_id: 1,
            script: VecDeque::new(),
            records: Records::new(opts.max_records),
            agent_refused: std::collections::HashSet::new(),
        }
    }
}

impl std::fmt::Debug for FakeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeState").field("bots", &self.bots).field("opts", &self.opts).finish_non_exhaustive()
    }
}

impl FakeState {
    /// A fake serving `bots` with `opts`, on the wall clock.
    #[must_use]
    pub fn new(bots: Vec<FakeBot>, opts: Options) -> Self {
        let book = Mutex::new(Book::new(&opts));
        Self {
            opts,
            bots,
            clock: Arc::new(botq_core::now_ms),
            book,
            delivered: watch::Sender::new(0),
            holds: CancellationToken::new(),
        }
    }

    /// A fake serving every bot of a loaded botq config.
    ///
    /// # Errors
    /// A bot the fake cannot serve (see [`BotError`]).
    pub fn from_config(cfg: &Config, opts: Options) -> Result<Self, BotError> {
        Ok(Self::new(FakeBot::all_from_config(cfg)?, opts))
    }

    /// The same fake reading time from `clock` (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Now, from the fake's clock.
    #[must_use]
    pub fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    #[must_use]
    pub fn bots(&self) -> &[FakeBot] {
        &self.bots
    }

    #[must_use]
    pub fn options(&self) -> &Options {
        &self.opts
    }

    pub(crate) fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every delivered message still in the log, oldest first.
    #[must_use]
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.book().records.deliveries.iter().cloned().collect()
    }

    /// QQ interaction answers (`PUT /interactions/{id}`): bot, interaction id, code.
    #[must_use]
    pub fn interactions(&self) -> Vec<(String, String, i64)> {
        self.book().records.interactions.clone()
    }

    /// Every refused request still in the log, oldest first.
    #[must_use]
    pub fn rejections(&self) -> Vec<Rejection> {
        self.book().records.rejections.iter().cloned().collect()
    }

    #[must_use]
    pub fn stats(&self) -> Stats {
        self.book().records.stats.clone()
    }

    /// Forgets records, counters, idempotency ledgers, rate windows, inbound
    /// registrations and the fault script. Tokens stay valid, so a running
    /// worker's cached token keeps working across a test's reset.
    pub fn reset(&self) {
        let mut book = self.book();
        let tokens = std::mem::take(&mut book.tokens);
        *book = Book::new(&self.opts);
        book.tokens = tokens;
        drop(book);
        self.delivered.send_replace(0);
    }

    /// Makes every issued token unknown, as if all had expired.
    pub fn revoke_tokens(&self) {
        self.book().tokens.revoke_all();
    }

    /// Registers when a QQ inbound message arrived, so replies to it are
    /// checked against its passive-reply window.
    pub fn register_qq_inbound(&self, msg_id: &str, kind: QqChatKind, at_ms: i64) {
        self.book().qq.register_inbound(msg_id, kind, at_ms);
    }

    /// Registers the chat of a Lark message, so replies to it share that chat's rate limit.
    pub fn register_lark_inbound(&self, message_id: &str, chat_id: &str) {
        self.book().lark.register_inbound(message_id, chat_id);
    }

    /// Queues scripted answers for the next message requests; returns the queue length.
    pub fn push_script(&self, steps: impl IntoIterator<Item = ScriptStep>) -> usize {
        let mut book = self.book();
        book.script.extend(steps);
        book.script.len()
    }

    /// Waits until at least `count` messages have been delivered since start
    /// or reset, then returns the log; `None` if `within` passes first.
    pub async fn wait_for_deliveries(&self, count: u64, within: Duration) -> Option<Vec<Delivery>> {
        let mut rx = self.delivered.subscribe();
        tokio::time::timeout(within, rx.wait_for(|&n| n >= count)).await.ok()?.ok()?;
        Some(self.deliveries())
    }

    /// Records a delivery (the caller holds the book) and wakes waiters.
    pub(crate) fn record_delivery(&self, book: &mut Book, d: Delivery) {
        book.records.delivered(d);
        self.delivered.send_replace(book.records.stats.deliveries);
    }

    /// Resolves when held requests (injected timeouts, delays) must let go: at shutdown.
    pub(crate) async fn released(&self) {
        self.holds.cancelled().await;
    }

    /// Lets every held request answer now, so shutdown does not wait out a hold.
    pub(crate) fn release_holds(&self) {
        self.holds.cancel();
    }
}
