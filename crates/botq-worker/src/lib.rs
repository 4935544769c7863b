//! botq-worker: consumes the ingest streams and runs each event exactly as
//! reliably as docs/TESTING.md's guarantees 3–9 say.
//!
//! - [`handler`]: the pluggable [`Handler`] and its failure classes: the seam
//!   between the two halves.
//! - [`engine`]: the queue engine (read, claim, dispatch, settle, background
//!   duties, shutdown), which knows nothing about bots.
//! - [`app`]: the bot application ([`BotHandler`]: route, guards, skills,
//!   replies, audit).
//! - [`metrics`]: the worker's metric names.

pub mod app;
pub mod engine;
pub mod handler;
pub mod metrics;

pub use app::bot_handler::BotHandler;
pub use engine::{Engine, run};
pub use handler::{HandleError, HandleFuture, Handler, Job, NoopHandler, SkillPlan};
