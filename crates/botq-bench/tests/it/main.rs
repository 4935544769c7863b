//! The load generator against the real thing, one test binary: ingest and
//! the worker in-process on port-0 listeners, a real `redis-server`, the fake
//! platform.

mod against_ingest;
mod bounded;
mod end_to_end;
