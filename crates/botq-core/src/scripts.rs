//! The Lua scripts botq runs in Redis, each compiled into the binary from its
//! `.lua` file and invoked by SHA (`EVALSHA`, loaded on first `NOSCRIPT`).
//!
//! Every script takes `now` as an argument instead of calling `TIME`, so tests
//! control time and replicas with the same clock agree.

use std::sync::LazyLock;

use redis::Script;

/// Backlog check, dedupe, ingest rate limits and `XADD`, atomically. See `scripts/ingest.lua`.
pub static INGEST: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/ingest.lua")));
