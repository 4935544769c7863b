//! The service shell: what botq's service binaries (`botq-ingest`,
//! `botq-worker`) share around their real work, so both start, answer
//! probes, reload and stop the same way.
//!
//! - [`ServiceMain`]: the command line (`--config`, `healthcheck`),
//!   loading and checking the config, logging, and running the service.
//! - [`admin`]: the admin listener (`/metrics`, `/health/live`,
//!   `/health/ready`), with [`Readiness`] and [`RedisReady`].
//! - [`reload`]: config reloads on SIGHUP ([`Reloads`]).
//! - [`shutdown_signal`]: SIGTERM or Ctrl-C, which every binary (the console
//!   and the fake platform too) stops on.
//! - `probe`: the `healthcheck` subcommand's HTTP probe.

pub mod admin;
mod cli;
mod probe;
mod ready;
pub mod reload;
mod shutdown;

pub use admin::{Readiness, router, serve};
pub use cli::{NoArgs, ServiceMain};
pub use probe::ProbeError;
pub use ready::RedisReady;
pub use reload::Reloads;
pub use shutdown::shutdown_signal;
