//! botq-worker: consumes the ingest streams and runs each event exactly as
//! reliably as docs/TESTING.md's guarantees 3–9 say.
//!
//! - [`handler`]: the pluggable [`Handler`] and its failure classes.
//! - [`bot_handler`]: the handler `botq-worker` runs: [`route`] picks the
//!   skill, `guards` and the access policy decide whether it may run,
//!   [`skills`] run it (built-in or upstream, with breaker, cooldown and
//!   degraded answers), replies go out through [`reply`] (throttled,
//!   idempotent) and every invocation lands in the audit log (`audit`).
//!   `brain` is the reloadable part: SIGHUP swaps it without stopping work.
//! - `reader`: permits first, then `XREADGROUP` (the hard concurrency cap).
//! - `job`: per-chat order, claim, isolated attempt, atomic settlement.
//! - `batches`: claims and settlements sent to Redis a batch per call.
//! - `retry`: backoff delays (exponential, capped, jittered, ≥ Retry-After).
//! - `background`: promoter, reclaimer, gauge sampler.
//! - `supervise`: a dead background task stops the process, by name.
//! - [`engine`]: shared state, [`run`], graceful shutdown.
//!
//! The Redis structures and the crash-recovery path are described in
//! `botq_core::queue`.

mod audit;
mod background;
mod batches;
pub mod bot_handler;
mod brain;
mod chats;
pub mod conversation;
pub mod engine;
mod guards;
pub mod handler;
mod job;
pub mod metrics;
mod reader;
pub mod reply;
pub mod retry;
pub mod route;
pub mod skills;
mod supervise;

pub use bot_handler::BotHandler;
pub use engine::{Engine, run};
pub use handler::{HandleError, HandleFuture, Handler, Job, NoopHandler, SkillPlan};
