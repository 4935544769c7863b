//! The bot application: the [`Handler`] `botq-worker` runs, from an event to
//! its replies.
//!
//! - [`bot_handler`]: [`BotHandler`]; [`route`] picks the skill, `guards` and
//!   the access policy decide whether it may run, [`skills`] run it
//!   (built-in or upstream, with breaker, cooldown and degraded answers),
//!   replies go out through [`reply`] (throttled, idempotent) and every
//!   invocation lands in the audit log (`audit`).
//! - `setup`: the reloadable part (bots, skills, replier): SIGHUP swaps it without stopping work.
//! - [`conversation`]: the per-chat window and summary an upstream agent sees.
//!
//! [`Handler`]: crate::handler::Handler
//! [`BotHandler`]: bot_handler::BotHandler

mod audit;
pub mod bot_handler;
pub mod conversation;
mod guards;
pub mod reply;
pub mod route;
mod setup;
pub mod skills;
