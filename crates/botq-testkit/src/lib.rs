//! Test support for botq, used by unit, integration and end-to-end tests and
//! by `botq-bench`.
//!
//! - [`redis`]: a real `redis-server` on a free loopback port, per test. A
//!   missing `redis-server` is a loud failure with the install hint, never a skip.
//! - [`sign`]: builds webhooks exactly as QQ, Lark and OneBot sign them.
//! - [`ingest`]: runs botq-ingest in-process on port-0 listeners.

pub mod ingest;
pub mod redis;
pub mod sign;
