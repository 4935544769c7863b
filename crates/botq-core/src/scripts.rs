//! The Lua scripts botq runs in Redis, each compiled into the binary from its
//! `.lua` file and invoked by SHA (`EVALSHA`, loaded on first `NOSCRIPT`).
//!
//! Every script takes `now` as an argument instead of calling `TIME`, so tests
//! control time and replicas with the same clock agree.

use std::sync::LazyLock;

use redis::Script;

/// The one GCRA, put in front of each script that limits a rate (see `scripts/gcra.lua`).
macro_rules! with_gcra {
    ($file:literal) => {
        concat!(include_str!("scripts/gcra.lua"), include_str!($file))
    };
}

/// Backlog check, dedupe, ingest rate limits and `XADD`, atomically. See `scripts/ingest.lua`.
pub static INGEST: LazyLock<Script> = LazyLock::new(|| Script::new(with_gcra!("scripts/ingest.lua")));

/// Worker claim: lease + per-chat lock, or why not. See `scripts/claim.lua`.
pub static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/claim.lua")));

/// Ack + delete + done/retry/dead in one step. See `scripts/finish.lua`.
pub static FINISH: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/finish.lua")));

/// Due retries back into the stream. See `scripts/promote.lua`.
pub static PROMOTE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/promote.lua")));

/// `XAUTOCLAIM` + delivery limit. See `scripts/reclaim.lua`.
pub static RECLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/reclaim.lua")));

/// Deletes an idle consumer only if it owns nothing. See `scripts/prune.lua`.
pub static PRUNE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/prune.lua")));

/// One GCRA slot for a reply. See `scripts/throttle.lua`.
pub static THROTTLE: LazyLock<Script> = LazyLock::new(|| Script::new(with_gcra!("scripts/throttle.lua")));

/// A dead letter back into its stream with a fresh retry budget. See `scripts/replay.lua`.
pub static REPLAY: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/replay.lua")));

/// Append to a conversation window within its budget. See `scripts/context.lua`.
pub static CONTEXT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/context.lua")));

/// Every script, for loading at startup.
pub fn all() -> [&'static Script; 9] {
    [&INGEST, &CLAIM, &FINISH, &PROMOTE, &RECLAIM, &PRUNE, &THROTTLE, &REPLAY, &CONTEXT]
}
