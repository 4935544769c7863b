//! The real `botq-worker` binary, one test binary: readiness, SIGTERM's
//! drain, SIGHUP's reload.

mod binary;
mod reload;
