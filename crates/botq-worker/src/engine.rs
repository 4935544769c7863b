//! The queue engine: everything between the Redis streams and a [`Handler`]
//! call, and nothing about bots.
//!
//! - `state`: what the tasks share ([`Engine`]).
//! - `run`: [`run`]: start, the tasks, graceful shutdown.
//! - `reader`: permits first, then `XREADGROUP` (the hard concurrency cap).
//! - `job`: per-chat order, claim, isolated attempt, atomic settlement.
//! - `batches`: claims and settlements sent to Redis a batch per call.
//! - `chats`: the per-chat queues that keep a chat's events in order.
//! - [`retry`]: backoff delays (exponential, capped, jittered, ≥ Retry-After).
//! - `background`: promoter, reclaimer, gauge sampler.
//! - `records`: the fleet heartbeat and the history flush, and the goodbye.
//! - `supervise`: a dead background task stops the process, by name.
//!
//! The engine knows the bot application only through [`Handler`]; the
//! Redis structures and the crash-recovery path are described in
//! `botq_core::queue`.
//!
//! [`Handler`]: crate::handler::Handler

mod background;
mod batches;
mod chats;
mod job;
mod reader;
mod records;
pub mod retry;
mod run;
mod state;
mod supervise;

pub(crate) use botq_core::redis_conn::bounded;
pub use run::run;
pub use state::Engine;
